"""Labels and suggested labels in the detail pane: the photo's labels, and the labels its nearest
labelled photos suggest (calibrated: only those right at least 90 % of the time) with Accept and
Reject, one click each. Suggestions are fetched and accepted on a worker."""

from __future__ import annotations

import getpass
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from inspector_search.core.records import PhotoRecord, Suggestion

from .workers import TaskRunner

KIND_NAMES = {"defect": "Defect", "severity": "Severity", "equipment_type": "Equipment type", "tag": "Tag"}


def labels_text(photo: PhotoRecord) -> str:
    """A photo's labels for people: ``Defect: crack · Tag: flange``."""
    return " · ".join(f"{KIND_NAMES.get(label.kind, label.kind)}: {label.value}" for label in photo.labels)


class SuggestionsBox(QWidget):
    """One row per suggestion: what, how sure, Accept, Reject."""

    accepted = Signal(object)  # Suggestion
    rejected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.rows: list[tuple[Suggestion, QPushButton, QPushButton]] = []
        self.setVisible(False)

    def set_suggestions(self, suggestions: list[Suggestion]) -> None:
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.rows = []
        for suggestion in suggestions:
            row = QWidget()
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            text = QLabel(f"Suggested {KIND_NAMES.get(suggestion.kind, suggestion.kind).lower()}: "
                          f"<b>{suggestion.value}</b> ({suggestion.confidence:.0%} sure)")
            text.setWordWrap(True)
            text.setToolTip("From the labels of the most similar labelled photos; suggestions this sure were "
                            "right at least 90 % of the time on this archive's labels")
            accept, reject = QPushButton("Accept"), QPushButton("Reject")
            accept.clicked.connect(lambda _c=False, s=suggestion: self.accepted.emit(s))
            reject.clicked.connect(lambda _c=False, s=suggestion: self.rejected.emit(s))
            line.addWidget(text, 1)
            line.addWidget(accept)
            line.addWidget(reject)
            self._layout.addWidget(row)
            self.rows.append((suggestion, accept, reject))
        self.setVisible(bool(suggestions))


class LabelController(QObject):
    """Feeds the detail pane's suggestions for the photo it shows and applies Accept / Reject."""

    changed = Signal(object)  # the photo again, with its new labels

    def __init__(self, archive: Any, runner: TaskRunner, box: SuggestionsBox, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._archive, self._runner, self.box = archive, runner, box
        self._photo_id: int | None = None
        self._rejected: set[tuple[int, str, str]] = set()  # for this session
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)

    def show_photo(self, photo: PhotoRecord | None) -> None:
        """Fetch the suggestions for this photo (none for ``None``)."""
        self._photo_id = None if photo is None else photo.image_id
        self.box.set_suggestions([])
        if photo is None:
            return
        archive, image_id = self._archive, photo.image_id

        def shown(found: dict) -> None:
            if self._photo_id == image_id:
                self.box.set_suggestions([s for s in found.get(image_id, ())
                                          if (image_id, s.kind, s.value) not in self._rejected])

        self._runner.submit(lambda _p: archive.suggest_for_photos([image_id]), shown, lambda _e: None,
                            name="suggestions", context=self)

    def accept(self, suggestion: Suggestion) -> None:
        archive = self._archive
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = None

        def assign(_progress: Any) -> PhotoRecord:
            archive.accept_suggestions([suggestion], who=who)
            return archive.photo(suggestion.image_id)

        self._runner.submit(assign, self.changed.emit, lambda _e: None, name="accept-suggestion", context=self)

    def reject(self, suggestion: Suggestion) -> None:
        if suggestion.image_id is not None:
            self._rejected.add((suggestion.image_id, suggestion.kind, suggestion.value))
        self.box.set_suggestions([s for s, _a, _r in self.box.rows if s != suggestion])
