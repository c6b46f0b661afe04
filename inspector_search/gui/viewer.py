"""The photo viewer: one photo at full resolution, zoom and pan, previous/next through a list of
photos (the results, a history), and a side bar with everything the archive knows about the photo.

Opens on a double click or Space on a photo. Keys: Left/Right or Page Up/Down step through the
photos (arrows pan instead once zoomed in), + and - zoom, 0 fits, 1 shows 100 %, Esc closes.
Photos are decoded on the caller's ``runner``; closing never waits for one.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeyEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from inspector_search.core.records import PhotoRecord

from .dates import human_timestamp
from .results import format_date, photo_title
from .workers import TaskRunner
from .zoom_view import ZoomView, load_full_image

FULL_RESOLUTION = 1 << 15  # decode every pixel of all but absurd photos (the imaging guard refuses bombs)


@dataclass(frozen=True)
class ViewerItem:
    """One photo of the list the viewer steps through, with its similarity when it is a match."""

    photo: PhotoRecord
    score: float | None = None


class ViewerView(ZoomView):
    """A ZoomView where Left/Right step through the photos while it is fitted (and pan once zoomed)."""

    stepRequested = Signal(int)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown) or (
                key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and self.zoom() <= 1.0):
            self.stepRequested.emit(-1 if key in (Qt.Key.Key_Left, Qt.Key.Key_PageUp) else 1)
            event.accept()
            return
        if key == Qt.Key.Key_1:
            self.set_zoom(1.0 / max(self.fit_scale(), 1e-6))
            event.accept()
            return
        super().keyPressEvent(event)


def metadata_html(item: ViewerItem) -> str:
    """The side bar: equipment, place, inspection, notes, file facts; every value escaped."""
    photo = item.photo
    rows = [
        ("Similarity", f"{item.score:.3f}" if item.score is not None else None),
        ("Equipment", photo.equipment_tag), ("Name", photo.equipment_name), ("Type", photo.equipment_type),
        ("Site", photo.site), ("Area", photo.area),
        ("Inspected", format_date(photo.inspected_on) if photo.inspected_on else None),
        ("Inspector", photo.inspector), ("Taken", human_timestamp(photo.taken_at)),
        ("Pixels", f"{photo.width} × {photo.height}" if photo.width and photo.height else None),
        ("File", str(photo.path)),
    ]
    rows += [(key, value) for key, value in sorted(photo.extra.items())]
    body = "".join(f"<tr><td style='color:gray;padding-right:8px'>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                   for k, v in rows if v)
    notes = f"<p><b>Notes</b><br>{html.escape(photo.notes).replace(chr(10), '<br>')}</p>" if photo.notes else ""
    return f"<h3>{html.escape(photo_title(photo))}</h3><table>{body}</table>{notes}"


class PhotoViewer(QDialog):
    """A window showing ``items[index]`` large; :meth:`step` moves through ``items``."""

    photoShown = Signal(object)  # the PhotoRecord now decoded and shown
    photoDecodedAhead = Signal(int)  # the index of a photo decoded before it is asked for

    def __init__(self, items: Sequence[ViewerItem], index: int, runner: TaskRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if not items:
            raise ValueError("the viewer needs at least one photo")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(1280, 800)
        self.items = list(items)
        self.index = max(0, min(index, len(self.items) - 1))
        self._runner = runner
        self._task: object | None = None
        self._ahead_task: object | None = None
        self._ahead: dict[int, QImage] = {}  # decoded photos by index: the one shown and the next
        self._generation = 0
        self._build()
        self.show_index(self.index)

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.view = ViewerView()
        self.view.setAccessibleName("Photo")
        self.view.zoomRequested.connect(lambda factor: self.view.set_zoom(self.view.zoom() * factor))
        self.view.fitRequested.connect(self.fit)
        self.view.stepRequested.connect(self.step)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.side_bar = QLabel()
        self.side_bar.setAccessibleName("Photo details")
        self.side_bar.setWordWrap(True)
        self.side_bar.setTextFormat(Qt.TextFormat.RichText)
        self.side_bar.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.side_bar.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.side_bar.setContentsMargins(8, 4, 8, 4)
        scroll = QScrollArea()
        scroll.setWidget(self.side_bar)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(220)
        splitter.addWidget(self.view)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([960, 300])
        layout.addWidget(splitter, 1)
        row = QHBoxLayout()
        self.previous_button = self._button("◀ Previous", QKeySequence(Qt.Key.Key_PageUp), lambda: self.step(-1))
        self.next_button = self._button("Next ▶", QKeySequence(Qt.Key.Key_PageDown), lambda: self.step(1))
        self.fit_button = self._button("Fit", QKeySequence("0"), self.fit)
        self.actual_button = self._button("100 %", QKeySequence("1"), self.actual_size)
        self.zoom_in_button = self._button("Zoom in", QKeySequence("+"), lambda: self.zoom_by(1.25))
        self.zoom_out_button = self._button("Zoom out", QKeySequence("-"), lambda: self.zoom_by(0.8))
        self.position = QLabel()
        self.position.setEnabled(False)
        for widget in (self.previous_button, self.next_button, self.fit_button, self.actual_button,
                       self.zoom_in_button, self.zoom_out_button):
            row.addWidget(widget)
        row.addWidget(self.position, 1)
        row.addWidget(self._button("Close", QKeySequence(Qt.Key.Key_Escape), self.reject))
        layout.addLayout(row)

    def _button(self, text: str, shortcut: QKeySequence, slot) -> QPushButton:
        """A button; its key is handled by the photo view (which has the focus), except Esc."""
        button = QPushButton(text)
        if shortcut.matches(QKeySequence(Qt.Key.Key_Escape)) == QKeySequence.SequenceMatch.ExactMatch:
            button.setShortcut(shortcut)
        button.setToolTip(f"{text.strip('◀▶ ')} ({shortcut.toString(QKeySequence.SequenceFormat.NativeText)})")
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the photo
        button.clicked.connect(slot)
        return button

    @property
    def photo(self) -> PhotoRecord:
        return self.items[self.index].photo

    def show_index(self, index: int) -> None:
        """Show ``items[index]``: metadata at once, the photo once a worker has decoded it (at once when it
        was decoded ahead: the photo after the current one in the direction of the last step is)."""
        direction = 1 if index >= self.index else -1
        self.index = index
        item = self.items[index]
        self.setWindowTitle(f"{photo_title(item.photo)} — {item.photo.path.name}")
        self.side_bar.setText(metadata_html(item))
        self.position.setText(f"{index + 1} of {len(self.items)}")
        self.previous_button.setEnabled(index > 0)
        self.next_button.setEnabled(index < len(self.items) - 1)
        self._generation += 1
        generation = self._generation
        if self._task is not None:
            self._runner.drop(self._task)
        ready = self._ahead.get(index)
        if ready is not None:
            self._show_image(item, ready)
        else:
            self.view.set_message("Loading…")

            def loaded(image: QImage) -> None:
                if generation == self._generation:
                    self._show_image(item, image)

            def failed(error: BaseException) -> None:
                if generation == self._generation:
                    self.view.set_message(f"Cannot show this photo:\n{error}")

            path = item.photo.path
            self._task = self._runner.submit(lambda _p: load_full_image(path, FULL_RESOLUTION), loaded, failed,
                                             name="viewer", context=self)
        self._decode_ahead(index, index + direction)

    def _show_image(self, item: ViewerItem, image: QImage) -> None:
        self._ahead = {i: im for i, im in self._ahead.items() if abs(i - self.index) <= 1}  # this and the next
        self._ahead[self.index] = image
        self.view.set_image(image)
        self.view.set_zoom(1.0, QPointF(0.5, 0.5))
        self.photoShown.emit(item.photo)

    def _decode_ahead(self, current: int, target: int) -> None:
        """Decode ``items[target]`` in the background (at most it and the shown photo are kept decoded)."""
        if not 0 <= target < len(self.items) or target in self._ahead:
            return
        if self._ahead_task is not None:
            self._runner.drop(self._ahead_task)
        path = self.items[target].photo.path

        def keep(image: QImage) -> None:
            if self.index == current:
                self._ahead = {i: im for i, im in self._ahead.items() if i == current}
                self._ahead[target] = image  # kept: the shown photo and this one
                self.photoDecodedAhead.emit(target)

        self._ahead_task = self._runner.submit(lambda _p: load_full_image(path, FULL_RESOLUTION), keep, None,
                                               name="viewer-ahead", context=self)

    def step(self, delta: int) -> None:
        """The previous (-1) or next (+1) photo of the list; nothing past either end."""
        target = self.index + delta
        if 0 <= target < len(self.items):
            self.show_index(target)

    def fit(self) -> None:
        self.view.set_zoom(1.0, QPointF(0.5, 0.5))

    def zoom_by(self, factor: float) -> None:
        self.view.set_zoom(self.view.zoom() * factor)

    def actual_size(self) -> None:
        """One photo pixel per screen pixel (100 %)."""
        self.view.set_zoom(1.0 / max(self.view.fit_scale(), 1e-6))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.view.setFocus()
        QTimer.singleShot(0, self, self.fit)

    def done(self, result: int) -> None:
        self._generation += 1
        for task in (self._task, self._ahead_task):
            if task is not None:
                self._runner.drop(task)  # no waiting on the GUI thread
        self._ahead.clear()
        super().done(result)
