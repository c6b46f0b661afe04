"""Duplicate review: the archive's groups of near-identical photos, each shown side by side; keep one
(the others are its copies) or dismiss the group (not duplicates). Decisions are remembered in the
archive, so a resolved group stays resolved (until a new copy joins it)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from inspector_search.core.records import ReviewGroup

from .messages import describe_error, plural
from .results import PhotoGridView, ResultItem, ResultsModel, Role, ThumbnailDelegate
from .thumbnails import ThumbnailLoader
from .workers import TaskRunner

AnyIndex = QModelIndex | QPersistentModelIndex
DECISION_TEXT = {None: "to review", "kept": "resolved: one kept", "dismissed": "resolved: not duplicates"}


class ReviewGroupModel(QAbstractListModel):
    """One row per duplicate group: its size, similarity and decision."""

    GROUP = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.groups: list[ReviewGroup] = []

    def set_groups(self, groups: list[ReviewGroup]) -> None:
        self.beginResetModel()
        self.groups = list(groups)
        self.endResetModel()

    def replace(self, row: int, group: ReviewGroup) -> None:
        self.groups[row] = group
        self.dataChanged.emit(self.index(row), self.index(row))

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.groups)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        review = self.groups[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            first = review.group.photos[0]
            return (f"{plural(len(review.group.photos), 'photo')} · {first.equipment_tag or first.path.name} · "
                    f"≥ {review.group.similarity:.2f} — {DECISION_TEXT[review.decision]}")
        if role == self.GROUP:
            return review
        return None


class DuplicatesDialog(QDialog):
    """Loads ``archive.duplicate_review()`` on the runner; decisions are written on it too."""

    loaded = Signal()
    decided = Signal(object)  # the ReviewGroup as decided

    def __init__(self, archive: Any, thumbnails: ThumbnailLoader, runner: TaskRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Duplicate review")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(1100, 560)
        self._archive, self._runner = archive, runner
        layout = QVBoxLayout(self)
        self.summary = QLabel("Looking for near-identical photos…")
        layout.addWidget(self.summary)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.groups = ReviewGroupModel(self)
        self.group_list = QListView()
        self.group_list.setModel(self.groups)
        self.group_list.setAccessibleName("Duplicate groups")
        self.group_list.selectionModel().currentChanged.connect(lambda current, _p: self._show_group(current.row()))
        self.photos = ResultsModel(thumbnails, self)
        self.photo_view = PhotoGridView()
        self.photo_view.setFlow(QListView.Flow.LeftToRight)  # one row: the copies side by side
        self.photo_view.setWrapping(False)
        self.photo_view.setHorizontalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.photo_view.setAccessibleName("Photos of the group, side by side")
        self.photo_view.setItemDelegate(ThumbnailDelegate(224, self.photo_view))
        self.photo_view.setModel(self.photos)
        self.photos.set_thumbnail_pixels(224 * self.devicePixelRatioF())
        splitter.addWidget(self.group_list)
        splitter.addWidget(self.photo_view)
        splitter.setSizes([330, 770])
        layout.addWidget(splitter, 1)
        row = QHBoxLayout()
        self.keep_button = QPushButton("Keep the selected photo")
        self.keep_button.setToolTip("The others are copies of it (K)")
        self.keep_button.setShortcut("K")
        self.keep_button.clicked.connect(self.keep_selected)
        self.dismiss_button = QPushButton("Not duplicates")
        self.dismiss_button.setToolTip("Dismiss the group: these photos only look alike (D)")
        self.dismiss_button.setShortcut("D")
        self.dismiss_button.clicked.connect(self.dismiss)
        self.show_resolved = QCheckBox("Show resolved groups")
        self.show_resolved.toggled.connect(lambda _on: self._apply_filter())
        for widget in (self.keep_button, self.dismiss_button, self.show_resolved):
            row.addWidget(widget)
        row.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        row.addWidget(buttons)
        layout.addLayout(row)
        self._all: list[ReviewGroup] = []
        self._set_buttons(False)
        self._task = runner.submit(lambda _p: archive.duplicate_review(), self._loaded, self._failed,
                                   name="duplicates", context=self)

    def _loaded(self, groups: list[ReviewGroup]) -> None:
        self._all = list(groups)
        self._apply_filter()
        self.loaded.emit()

    def _failed(self, error: BaseException) -> None:
        self.summary.setText(describe_error(error))
        self.loaded.emit()

    def _apply_filter(self) -> None:
        shown = [g for g in self._all if self.show_resolved.isChecked() or g.decision is None]
        self.groups.set_groups(shown)
        open_count = sum(g.decision is None for g in self._all)
        self.summary.setText(f"{plural(len(self._all), 'group')} of near-identical photos, {open_count} to review."
                             if self._all else "No near-identical photos in this archive.")
        if shown:
            self.group_list.setCurrentIndex(self.groups.index(0))
        else:
            self.photos.clear()
            self._set_buttons(False)

    def _show_group(self, row: int) -> None:
        if not 0 <= row < len(self.groups.groups):
            return
        review = self.groups.groups[row]
        self.photos.set_items(ResultItem(photo) for photo in review.group.photos)
        keep = next((n for n, p in enumerate(review.group.photos) if p.image_id == review.keep_id), 0)
        self.photo_view.setCurrentIndex(self.photos.index(keep))
        self._set_buttons(True)

    def _set_buttons(self, on: bool) -> None:
        self.keep_button.setEnabled(on)
        self.dismiss_button.setEnabled(on)

    def current(self) -> ReviewGroup | None:
        row = self.group_list.currentIndex().row()
        return self.groups.groups[row] if 0 <= row < len(self.groups.groups) else None

    def keep_selected(self) -> None:
        review, index = self.current(), self.photo_view.currentIndex()
        if review is not None and index.isValid():
            self._decide(review, "kept", index.data(Role.PHOTO).image_id)

    def dismiss(self) -> None:
        review = self.current()
        if review is not None:
            self._decide(review, "dismissed", None)

    def _decide(self, review: ReviewGroup, decision: str, keep_id: int | None) -> None:
        archive = self._archive
        self._set_buttons(False)

        def recorded(done: ReviewGroup) -> None:
            self._all = [done if g is review else g for g in self._all]
            self._apply_filter()
            self.decided.emit(done)

        self._runner.submit(lambda _p: archive.decide_duplicates(review.group, decision, keep_id), recorded,
                            self._failed, name="duplicate-decision", context=self)

    def done(self, result: int) -> None:
        self._runner.drop(self._task)
        self.photos.drop_pending_thumbnails()
        super().done(result)
