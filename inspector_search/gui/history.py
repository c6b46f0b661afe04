"""Equipment history as a timeline: every inspection (newest or oldest first) with its date, inspector,
notes and all its photos; the photo the history was opened from highlighted; a strip of years to
jump through; any two inspections ticked and compared side by side."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QPushButton,
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
    """One inspection: date, inspector, notes, and its photos in a horizontal strip; a box to tick it
    for comparing."""

    def __init__(
        self,
        inspection: InspectionRecord,
        thumbnails: ThumbnailLoader,
        menu_factory: PhotoMenuFactory | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.inspection = inspection
        self._menu_factory = menu_factory
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 6)
        who = f" — {html.escape(inspection.inspector)}" if inspection.inspector else ""
        count = plural(len(inspection.photos), "photo")
        head = QHBoxLayout()
        self.heading = QLabel(f"<b>{format_date(inspection.inspected_on)}</b>{who} <span style='color:gray'>"
                              f"· {count}</span>")
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.pick = QCheckBox("Compare")
        self.pick.setToolTip("Tick two inspections, then Compare ticked inspections")
        self.pick.setAccessibleName(f"Compare the inspection of {format_date(inspection.inspected_on)}")
        head.addWidget(self.heading, 1)
        head.addWidget(self.pick)
        layout.addLayout(head)
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
        self.view.setAccessibleName(f"Photos of the inspection of {format_date(inspection.inspected_on)}")
        layout.addWidget(self.view)

    def photos(self) -> list[PhotoRecord]:
        return [item.photo for item in self.model.items()]

    def chosen_photo(self) -> PhotoRecord:
        """The photo selected in the strip, else its first."""
        current = self.view.currentIndex()
        return current.data(Role.PHOTO) if current.isValid() else self.photos()[0]

    def highlight(self, image_id: int) -> bool:
        """Select and mark the photo ``image_id`` (the one the history was opened from); False if absent."""
        for row, photo in enumerate(self.photos()):
            if photo.image_id == image_id:
                self.view.setCurrentIndex(self.model.index(row))
                self.view.scrollTo(self.model.index(row))
                self.heading.setText(self.heading.text() + " <b style='color:#ef6c00'>· ★ the matched photo</b>")
                return True
        return False

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
    compareRequested = Signal(object, object)  # photos of two inspections: older, newer
    reportRequested = Signal(str)  # the equipment tag

    def __init__(
        self,
        archive: Any,
        tag: str,
        thumbnails: ThumbnailLoader,
        runner: TaskRunner,
        menu_factory: PhotoMenuFactory | None = None,
        parent: QWidget | None = None,
        highlight: int | None = None,
    ) -> None:
        super().__init__(parent)
        self.tag = tag
        self.highlight_id = highlight
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
        controls = QHBoxLayout()
        self.order = QComboBox()
        self.order.addItem("Newest first", True)
        self.order.addItem("Oldest first", False)
        self.order.setAccessibleName("Order of the inspections")
        self.order.currentIndexChanged.connect(lambda _i: self._arrange())
        self.years = QHBoxLayout()
        self.years.setSpacing(2)
        controls.addWidget(QLabel("Years:"))
        controls.addLayout(self.years)
        controls.addStretch(1)
        controls.addWidget(self.order)
        layout.addLayout(controls)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(self.body)
        layout.addWidget(self.scroll, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.compare_button = QPushButton("Compare ticked inspections")
        self.compare_button.setToolTip("Tick two inspections to compare them side by side")
        self.compare_button.setEnabled(False)
        self.compare_button.clicked.connect(self.compare_ticked)
        buttons.addButton(self.compare_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.report_button = QPushButton("Report…")
        self.report_button.setToolTip("A PDF or HTML report of this history: inspections, photos, notes")
        self.report_button.clicked.connect(lambda: self.reportRequested.emit(self.history.equipment.tag
                                                                            if self.history else self.tag))
        buttons.addButton(self.report_button, QDialogButtonBox.ButtonRole.ActionRole)
        layout.addWidget(buttons)
        self.year_buttons: dict[int, QPushButton] = {}
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
            strip.pick.toggled.connect(self._picks_changed)
            self.strips.append(strip)
        self._build_years()
        self._arrange()
        wanted = self.highlight_id
        marked = [strip for strip in self.strips if wanted is not None and strip.highlight(wanted)]
        if marked:
            QTimer.singleShot(150, self, lambda: self.scroll.ensureWidgetVisible(marked[0]))  # once laid out
        self.loaded.emit()

    def _arrange(self) -> None:
        """Lay the strips out newest or oldest first (undated ones last either way), with rules between."""
        while self.body_layout.count() > 1:
            item = self.body_layout.takeAt(0)
            widget = item.widget()
            if widget is not None and not isinstance(widget, InspectionStrip):
                widget.deleteLater()
        newest_first = bool(self.order.currentData())
        dated = sorted((s for s in self.strips if s.inspection.inspected_on is not None),
                       key=lambda s: s.inspection.inspected_on, reverse=newest_first)
        self.strips = dated + [s for s in self.strips if s.inspection.inspected_on is None]
        for strip in self.strips:
            self.body_layout.insertWidget(self.body_layout.count() - 1, strip)
            line = QFrame()
            line.setFrameShape(QFrame.Shape.HLine)
            line.setFrameShadow(QFrame.Shadow.Sunken)
            self.body_layout.insertWidget(self.body_layout.count() - 1, line)

    def _build_years(self) -> None:
        """One button per year with inspections (and how many): it scrolls to that year's first one."""
        counts: dict[int, int] = {}
        for strip in self.strips:
            if strip.inspection.inspected_on is not None:
                year = strip.inspection.inspected_on.year
                counts[year] = counts.get(year, 0) + 1
        for year in sorted(counts):
            button = QPushButton(str(year))
            button.setToolTip(f"{plural(counts[year], 'inspection')} in {year}")
            button.setFlat(True)
            button.clicked.connect(lambda _checked=False, y=year: self.show_year(y))
            self.years.addWidget(button)
            self.year_buttons[year] = button

    def show_year(self, year: int) -> InspectionStrip | None:
        """Scroll to the first inspection of ``year`` in the order shown."""
        strip = next((s for s in self.strips if s.inspection.inspected_on and s.inspection.inspected_on.year == year),
                     None)
        if strip is not None:
            self.scroll.ensureWidgetVisible(strip, 0, 0)
            self.scroll.verticalScrollBar().setValue(strip.y())
            strip.view.setFocus()
        return strip

    def ticked(self) -> list[InspectionStrip]:
        return [strip for strip in self.strips if strip.pick.isChecked()]

    def _picks_changed(self, _checked: bool) -> None:
        ticked = self.ticked()
        self.compare_button.setEnabled(len(ticked) == 2)
        self.compare_button.setText("Compare ticked inspections" if len(ticked) <= 2 else "Tick only two to compare")

    def compare_ticked(self) -> None:
        """Ask to compare the chosen photos of the two ticked inspections, older on the left."""
        ticked = self.ticked()
        if len(ticked) != 2:
            return
        older, newer = sorted(ticked, key=lambda s: s.inspection.inspected_on or date.max)
        self.compareRequested.emit(older.chosen_photo(), newer.chosen_photo())

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
