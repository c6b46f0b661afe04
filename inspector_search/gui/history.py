"""Equipment history: one equipment's inspections in date order, each with its notes and photo strip."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QLabel,
    QListView,
    QMenu,
    QScrollArea,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from inspector_search.core.records import EquipmentHistory, InspectionRecord, PhotoRecord

from .messages import describe_error, plural
from .results import PhotoGridView, ResultItem, ResultsModel, Role, ThumbnailDelegate, format_date
from .thumbnails import ThumbnailLoader
from .workers import TaskRunner

PhotoMenuFactory = Callable[[PhotoRecord, QWidget], QMenu]
STRIP_THUMBNAIL = 128


def summary_line(history: EquipmentHistory) -> str:
    equipment = history.equipment
    photos = sum(len(inspection.photos) for inspection in history.inspections)
    inspections = len(history.inspections)
    where = " · ".join(filter(None, [equipment.type, equipment.site, equipment.area]))
    counts = f"{plural(photos, 'photo')} in {plural(inspections, 'inspection')}"
    return f"{where} — {counts}" if where else counts


class InspectionStrip(QWidget):
    """One inspection: date, inspector, notes, and its photos in a horizontal strip."""

    def __init__(
        self,
        inspection: InspectionRecord,
        thumbnails: ThumbnailLoader,
        menu_factory: PhotoMenuFactory | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._menu_factory = menu_factory
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 6)
        who = f" — {inspection.inspector}" if inspection.inspector else ""
        heading = QLabel(f"<b>{format_date(inspection.inspected_on)}</b>{who}")
        heading.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(heading)
        if inspection.notes:
            notes = QLabel(inspection.notes)
            notes.setWordWrap(True)
            notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(notes)
        self.model = ResultsModel(thumbnails, self)
        self.model.set_items(ResultItem(photo) for photo in inspection.photos)
        self.view = PhotoGridView()
        self.view.setFlow(QListView.Flow.LeftToRight)
        self.view.setWrapping(False)
        self.view.setHorizontalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.delegate = ThumbnailDelegate(STRIP_THUMBNAIL, self.view)
        self.view.setItemDelegate(self.delegate)
        self.view.setModel(self.model)
        self.model.set_thumbnail_pixels(STRIP_THUMBNAIL * self.devicePixelRatioF())
        cell = self.delegate.sizeHint(QStyleOptionViewItem(), self.model.index(0))
        scrollbar = self.view.horizontalScrollBar().sizeHint().height()
        self.view.setFixedHeight(cell.height() + scrollbar + 4 * self.view.frameWidth() + 8)
        self.view.customContextMenuRequested.connect(self._context_menu)
        layout.addWidget(self.view)

    def photos(self) -> list[PhotoRecord]:
        return [item.photo for item in self.model.items()]

    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if index.isValid() and self._menu_factory is not None:
            menu = self._menu_factory(index.data(Role.PHOTO), self)
            menu.exec(self.view.viewport().mapToGlobal(pos))


class HistoryDialog(QDialog):
    """The history of one equipment tag, loaded from the archive on a worker thread.

    The load runs on the caller's ``runner`` (the main window's), never on a pool the dialog owns: closing
    the dialog must not wait for a worker on the GUI thread. A result arriving after the dialog was
    deleted is ignored."""

    loaded = Signal()
    photoActivated = Signal(object)
    viewRequested = Signal(object, int)  # every photo of the history, in the order shown, and which one

    def __init__(
        self,
        archive: Any,
        tag: str,
        thumbnails: ThumbnailLoader,
        runner: TaskRunner,
        menu_factory: PhotoMenuFactory | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.tag = tag
        self._thumbnails = thumbnails
        self._menu_factory = menu_factory
        self.strips: list[InspectionStrip] = []
        self.history: EquipmentHistory | None = None
        self.setWindowTitle(f"History — {tag}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(860, 640)
        layout = QVBoxLayout(self)
        self.heading = QLabel(f"<h3>{tag}</h3>")
        self.summary = QLabel("Loading…")
        self.summary.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(self.heading)
        layout.addWidget(self.summary)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.body)
        layout.addWidget(scroll, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._runner = runner
        self._task = runner.submit(
            lambda _p: archive.history(tag), self._show_history, self._show_error, name="history", context=self
        )

    def shows(self, tag: str | None) -> bool:
        """Whether this window is the history of ``tag`` (as asked for, or as the archive spells it)."""
        if not tag:
            return False
        return tag == self.tag or (self.history is not None and tag == self.history.equipment.tag)

    def _show_history(self, history: EquipmentHistory) -> None:
        self.history = history
        equipment = history.equipment
        name = f" — {equipment.name}" if equipment.name else ""
        self.heading.setText(f"<h3>{equipment.tag}{name}</h3>")
        self.summary.setText(summary_line(history))
        for inspection in history.inspections:
            strip = InspectionStrip(inspection, self._thumbnails, self._menu_factory)
            strip.view.openRequested.connect(lambda index: self.photoActivated.emit(index.data(Role.PHOTO)))
            strip.view.viewRequested.connect(lambda index: self._view(index.data(Role.PHOTO)))
            self.strips.append(strip)
            self.body_layout.insertWidget(self.body_layout.count() - 1, strip)
            line = QFrame()
            line.setFrameShape(QFrame.Shape.HLine)
            line.setFrameShadow(QFrame.Shadow.Sunken)
            self.body_layout.insertWidget(self.body_layout.count() - 1, line)
        self.loaded.emit()

    def _show_error(self, error: BaseException) -> None:
        self.summary.setText(describe_error(error))
        self.loaded.emit()

    def _view(self, photo: PhotoRecord) -> None:
        photos = [p for strip in self.strips for p in strip.photos()]
        self.viewRequested.emit(photos, next(n for n, p in enumerate(photos) if p is photo))

    def photo_dates(self) -> list[date | None]:
        """The inspection date of every listed photo, in the order shown (for tests and checks)."""
        return [photo.inspected_on for strip in self.strips for photo in strip.photos()]

    def done(self, result: int) -> None:
        # Nothing waits here: a load that has not started is dropped, one that has is ignored when it ends.
        self._runner.drop(self._task)
        for strip in self.strips:
            strip.model.drop_pending_thumbnails()
        super().done(result)
