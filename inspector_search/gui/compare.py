"""Compare two photos: side by side at 50/50, both fitted, zoom and pan in step; or one over the other
with a slider or a blink (before/after); swap them; step back to the previous inspection.

The left photo is the query (a decoded image) or an archive photo; the right one is an archive photo.
Archive photos are decoded on the caller's ``runner``: closing the dialog never waits for them, and a
decode finishing after the dialog was deleted is ignored.

For other code that draws on the photos (matched keypoints...), :attr:`CompareDialog.left_view` and
:attr:`CompareDialog.right_view` are :class:`~inspector_search.gui.zoom_view.ZoomView` s whose
``overlays`` are painted in image pixel coordinates, and :attr:`CompareDialog.overlay_view` shows both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShowEvent, QTransform
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QGraphicsPixmapItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from inspector_search.core.records import EquipmentHistory, PhotoRecord, PointMatches

from .match_points import MatchedPointsToggle
from .results import format_date, photo_title
from .workers import TaskRunner
from .zoom_view import MAX_DECODE_SIDE, SyncedViews, ZoomView, load_full_image

__all__ = ["MAX_DECODE_SIDE", "CompareDialog", "OverlayView", "Side", "SyncedViews", "ZoomView", "load_full_image"]

BLINK_MS = 600
HistoryLoader = Callable[[str], EquipmentHistory]


@dataclass(eq=False)  # sides are told apart by identity
class Side:
    """What one side shows: the query (``photo`` None) or an archive photo, and its decoded image."""

    photo: PhotoRecord | None
    image: QImage | None = None
    score: float | None = None
    region: tuple[float, float, float, float] | None = None

    def caption(self) -> str:
        if self.photo is None:
            return "Query photo"
        photo = self.photo
        text = " · ".join(filter(None, [photo_title(photo), photo.site, format_date(photo.inspected_on)]))
        return text + (f" · similarity {self.score:.3f}" if self.score is not None else "")


class OverlayView(ZoomView):
    """The left photo with the right one on top, stretched to the same frame; its opacity is the slider."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.top = QGraphicsPixmapItem()
        self.top.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.top)

    def set_top(self, image: QImage | None) -> None:
        pixmap = QPixmap.fromImage(image) if image is not None else QPixmap()
        self.top.setPixmap(pixmap)
        base = self.item.pixmap()
        if not pixmap.isNull() and not base.isNull():
            self.top.setTransform(QTransform.fromScale(base.width() / pixmap.width(), base.height() / pixmap.height()))

    def set_top_opacity(self, opacity: float) -> None:
        self.top.setOpacity(opacity)


class ComparePane(QWidget):
    """A caption over a :class:`ZoomView`; the caption never widens the pane (both stay half the width)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel()
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        self.view = ZoomView()
        self.view.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        layout.addWidget(self.caption)
        layout.addWidget(self.view, 1)

    def show_side(self, side: Side) -> None:
        self.caption.setText(side.caption())
        self.caption.setToolTip(str(side.photo.path) if side.photo is not None else "The photo searched with")
        self.view.setAccessibleName(side.caption())
        if side.image is not None:
            self.view.set_image(side.image)
            if side.region is not None:
                self.view.mark_region(side.region)
        else:
            self.view.set_message("Loading…")


class CompareDialog(QDialog):
    """Two photos: the query (or an archive photo) on the left, an archive photo on the right."""

    photosShown = Signal()  # both sides decoded and shown (after a swap or a step back as well)

    def __init__(
        self,
        query: QImage | PhotoRecord,
        region: tuple[float, float, float, float] | None,
        photo: PhotoRecord,
        score: float | None,
        runner: TaskRunner,
        parent: QWidget | None = None,
        history_loader: HistoryLoader | None = None,
        point_matches: Callable[[], PointMatches] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(1200, 700)
        self._runner = runner
        self._tasks: list[object] = []
        self._history_loader = history_loader
        left = Side(None, query, region=region) if isinstance(query, QImage) else Side(query)
        self.sides = [left, Side(photo, score=score)]
        #: "Matched points" (gui/match_points.py), when the archive can tell which keypoints match
        self.points = None if point_matches is None else MatchedPointsToggle(self, point_matches, runner,
                                                                             photo.image_id, region)
        self._build()
        self._blink_timer = QTimer(self)
        self._blink_timer.setInterval(BLINK_MS)
        self._blink_timer.timeout.connect(self._blink_step)
        self._show_sides()
        for index in (0, 1):
            self._decode(index)

    # -- construction --------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.stack = QStackedWidget()
        side_by_side = QWidget()
        row = QHBoxLayout(side_by_side)
        row.setContentsMargins(0, 0, 0, 0)
        self.left_pane, self.right_pane = ComparePane(), ComparePane()
        row.addWidget(self.left_pane, 1)
        row.addWidget(self.right_pane, 1)
        self.left_view, self.right_view = self.left_pane.view, self.right_pane.view
        self.sync = SyncedViews([self.left_view, self.right_view], self)
        self.overlay_view = OverlayView()
        self.overlay_view.setAccessibleName("Both photos, one over the other")
        self.overlay_view.zoomRequested.connect(lambda f: self.overlay_view.set_zoom(self.overlay_view.zoom() * f))
        self.overlay_view.fitRequested.connect(lambda: self.overlay_view.set_zoom(1.0))
        self.stack.addWidget(side_by_side)
        self.stack.addWidget(self.overlay_view)
        layout.addWidget(self.stack, 1)
        layout.addLayout(self._build_controls())
        hint = QLabel("Wheel or +/− to zoom, drag or arrows to pan (both photos follow), 0 to fit; "
                      "O overlays them, B blinks, S swaps, P steps back one inspection.")
        hint.setEnabled(False)
        hint.setWordWrap(True)
        layout.addWidget(hint)

    def _button(self, text: str, shortcut: str, slot: Callable[[], object], tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setShortcut(QKeySequence(shortcut))
        button.setToolTip(f"{tip} ({shortcut})")
        button.clicked.connect(slot)
        return button

    def _build_controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.fit_button = self._button("Fit", "0", self.fit, "Both photos whole")
        self.zoom_in_button = self._button("Zoom in", "+", lambda: self.zoom_by(1.25), "Zoom both")
        self.zoom_out_button = self._button("Zoom out", "-", lambda: self.zoom_by(0.8), "Zoom both")
        self.swap_button = self._button("Swap", "S", self.swap, "Exchange left and right")
        self.previous_button = self._button("Previous inspection", "P", self.compare_with_previous,
                                            "Compare with the inspection of this equipment before this one")
        self.previous_button.setEnabled(self._history_loader is not None)
        self.overlay_button = self._button("Overlay", "O", lambda: self.set_overlay(not self.overlaid()),
                                           "Show the right photo over the left one")
        self.overlay_button.setCheckable(True)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setMaximumWidth(180)
        self.opacity.setAccessibleName("How much of the right photo shows over the left one")
        self.opacity.setToolTip("0: only the left photo · 100: only the right one")
        self.opacity.valueChanged.connect(lambda v: self.overlay_view.set_top_opacity(v / 100))
        self.blink = QCheckBox("Blink")
        self.blink.setShortcut(QKeySequence("B"))
        self.blink.setToolTip(f"Alternate the two photos every {BLINK_MS} ms (B)")
        self.blink.toggled.connect(self._blink_toggled)
        self.status = QLabel()
        self.status.setEnabled(False)
        close = self._button("Close", "Esc", self.reject, "Close the comparison")
        for widget in (self.fit_button, self.zoom_in_button, self.zoom_out_button, self.swap_button,
                       self.previous_button, self.overlay_button, self.opacity, self.blink):
            row.addWidget(widget)
        if self.points is not None:
            row.addWidget(self.points)
        row.addWidget(self.status, 1)
        row.addWidget(close)
        self._overlay_controls(False)
        return row

    # -- showing -------------------------------------------------------------------------------
    def _show_sides(self) -> None:
        left, right = self.sides
        self.setWindowTitle(f"Compare — {left.caption()} | {right.caption()}")
        self.left_pane.show_side(left)
        self.right_pane.show_side(right)
        if left.image is not None:
            self.overlay_view.set_image(left.image)
        self.overlay_view.set_top(right.image)
        self.overlay_view.set_top_opacity(self.opacity.value() / 100)
        QTimer.singleShot(0, self, self.fit)  # once the panes have their sizes
        if left.image is not None and right.image is not None:
            self.photosShown.emit()

    def _decode(self, index: int) -> None:
        side = self.sides[index]
        if side.image is not None or side.photo is None:
            return
        path = side.photo.path

        def loaded(image: QImage) -> None:
            if side in self.sides:
                side.image = image
                self._show_sides()

        def failed(error: BaseException) -> None:
            if side in self.sides:
                pane = self.left_pane if self.sides[0] is side else self.right_pane
                pane.view.set_message(f"Cannot show this photo:\n{error}")

        self._tasks.append(self._runner.submit(lambda _p: load_full_image(path), loaded, failed, name="compare",
                                               context=self))

    def fit(self) -> None:
        self.sync.fit()
        self.overlay_view.set_zoom(1.0)

    def zoom_by(self, factor: float) -> None:
        if self.overlaid():
            self.overlay_view.set_zoom(self.overlay_view.zoom() * factor)
        else:
            self.sync.zoom_by(factor, self.left_view)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self, self.fit)

    # -- modes ---------------------------------------------------------------------------------
    def overlaid(self) -> bool:
        return self.stack.currentWidget() is self.overlay_view

    def set_overlay(self, on: bool) -> None:
        """One photo over the other (slider, blink) instead of side by side."""
        self.stack.setCurrentWidget(self.overlay_view if on else self.stack.widget(0))
        self.overlay_button.setChecked(on)
        self._overlay_controls(on)
        if not on:
            self.blink.setChecked(False)
        QTimer.singleShot(0, self, self.fit)

    def _overlay_controls(self, on: bool) -> None:
        self.opacity.setEnabled(on)
        self.blink.setEnabled(on)

    def _blink_toggled(self, on: bool) -> None:
        if on:
            self._blink_timer.start()
        else:
            self._blink_timer.stop()
            self.overlay_view.set_top_opacity(self.opacity.value() / 100)

    def _blink_step(self) -> None:
        self.overlay_view.set_top_opacity(0.0 if self.overlay_view.top.opacity() > 0.5 else 1.0)

    def swap(self) -> None:
        """Exchange the two photos (and their captions)."""
        self.sides.reverse()
        self._show_sides()

    # -- previous inspection -------------------------------------------------------------------
    def compare_with_previous(self) -> None:
        """Show, on the left, a photo of the inspection of the same equipment before the oldest photo
        shown (the right one when the left is the query); the newer photo goes right."""
        anchor = self.sides[0].photo or self.sides[1].photo
        if self._history_loader is None or anchor is None or not anchor.equipment_tag:
            self.status.setText("This photo has no equipment, so no earlier inspection.")
            return
        loader, tag = self._history_loader, anchor.equipment_tag
        self.status.setText("Looking for the previous inspection…")
        self._tasks.append(self._runner.submit(lambda _p: loader(tag), lambda h: self._previous_found(anchor, h),
                                               lambda e: self.status.setText(str(e)), name="history", context=self))

    def _previous_found(self, anchor: PhotoRecord, history: EquipmentHistory) -> None:
        earlier = previous_inspection_photo(history, anchor)
        if earlier is None:
            self.status.setText(f"No inspection of {anchor.equipment_tag} before {format_date(anchor.inspected_on)}.")
            return
        newer = self.sides[0] if self.sides[0].photo is anchor else self.sides[1]
        self.sides = [Side(earlier), newer]
        self.status.setText(f"Before: {format_date(earlier.inspected_on)} · after: {format_date(anchor.inspected_on)}")
        self._show_sides()
        self._decode(0)

    def done(self, result: int) -> None:
        self._blink_timer.stop()
        for task in self._tasks:  # no waiting on the GUI thread; a decode already running is ignored
            self._runner.drop(task)
        super().done(result)

    # -- compatibility names -------------------------------------------------------------------
    @property
    def photo(self) -> PhotoRecord | None:
        """The archive photo on the right (the match the dialog was opened for, until swapped)."""
        return self.sides[1].photo

    @property
    def query_view(self) -> ZoomView:
        return self.left_view

    @property
    def match_view(self) -> ZoomView:
        return self.right_view


def previous_inspection_photo(history: EquipmentHistory, photo: PhotoRecord) -> PhotoRecord | None:
    """A photo of the latest inspection of the equipment dated before ``photo`` (its first photo)."""
    if photo.inspected_on is None:
        return None
    earlier = [i for i in history.inspections
               if i.inspected_on is not None and i.inspected_on < photo.inspected_on and i.photos]
    return max(earlier, key=lambda i: i.inspected_on).photos[0] if earlier else None
