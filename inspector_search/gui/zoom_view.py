"""A photo view that fits its photo, zooms with the wheel and keys, pans by dragging, and lets other
code paint on top of the photo (``overlays``), plus a helper that keeps several such views in step.

Zoom is relative to the fit: 1.0 shows the whole photo as large as the view allows, whatever the
photo's pixel size, so two photos of different resolutions side by side are both fitted at the same
zoom, and a synced pan keeps them on the same relative spot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QPointF, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QPainter, QPen, QPixmap, QResizeEvent, QTransform, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from .query_pane import read_image

MAX_DECODE_SIDE = 4096
MIN_ZOOM, MAX_ZOOM = 0.1, 64.0
ZOOM_STEP = 1.25

#: Paints on a photo: called with a painter whose coordinates are the shown image's pixels, and the
#: size of that image (``QSizeF``); pens should be cosmetic to keep their width at any zoom.
OverlayPainter = Callable[[QPainter, QSizeF], None]


def load_full_image(path: Path, max_side: int = MAX_DECODE_SIDE) -> QImage:
    """Decode a photo for viewing (orientation applied, capped size); runs on a worker."""
    image, reason = read_image(path, max_side)
    if image is None:
        raise OSError(reason)
    return image


class ZoomView(QGraphicsView):
    """One photo, fitted; the wheel and +/- ask to zoom (``zoomRequested``), dragging pans, 0 fits.

    ``overlays`` is a list of :data:`OverlayPainter` drawn over the photo in image pixel coordinates
    (e.g. matched keypoints); call ``viewport().update()`` after changing it."""

    zoomRequested = Signal(float)
    fitRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QColor(40, 44, 52))
        self.setMinimumSize(160, 140)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self._message = QGraphicsSimpleTextItem()
        self._message.setBrush(QColor("white"))
        self.scene().addItem(self._message)
        self._markers: list[QGraphicsRectItem] = []
        self._zoom = 1.0
        self.overlays: list[OverlayPainter] = []

    # -- content -------------------------------------------------------------------------------
    def set_image(self, image: QImage | QPixmap) -> None:
        pixmap = image if isinstance(image, QPixmap) else QPixmap.fromImage(image)
        self.item.setPixmap(pixmap)
        self._message.setText("")
        for marker in self._markers:
            self.scene().removeItem(marker)
        self._markers.clear()
        self.setSceneRect(self.item.sceneBoundingRect())
        self.apply_zoom()

    def has_image(self) -> bool:
        return not self.item.pixmap().isNull()

    def image_size(self) -> QSizeF:
        return QSizeF(self.item.pixmap().size())

    def set_message(self, text: str) -> None:
        self.item.setPixmap(QPixmap())
        self._message.setText(text)
        self.setSceneRect(self._message.sceneBoundingRect())
        self.apply_zoom()

    def message(self) -> str:
        return self._message.text()

    def mark_region(self, box: tuple[float, float, float, float]) -> QGraphicsRectItem:
        """Outline a region of the photo given as fractions ``(x0, y0, x1, y1)`` (the query region)."""
        rect = self.item.sceneBoundingRect()
        x0, y0, x1, y1 = box
        marker = QGraphicsRectItem(QRectF(rect.left() + x0 * rect.width(), rect.top() + y0 * rect.height(),
                                          (x1 - x0) * rect.width(), (y1 - y0) * rect.height()))
        pen = QPen(QColor(255, 193, 7), 2)
        pen.setCosmetic(True)
        marker.setPen(pen)
        self.scene().addItem(marker)
        self._markers.append(marker)
        return marker

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawForeground(painter, rect)
        if not self.overlays or not self.has_image():
            return
        for paint in self.overlays:
            painter.save()
            painter.setTransform(self.item.sceneTransform(), True)
            paint(painter, self.image_size())
            painter.restore()

    # -- zoom ----------------------------------------------------------------------------------
    def fit_scale(self) -> float:
        """The scale at which the whole photo fills the view (aspect kept)."""
        rect, port = self.sceneRect(), self.viewport().rect()
        if rect.width() <= 0 or rect.height() <= 0 or port.width() <= 0 or port.height() <= 0:
            return 1.0
        return min(port.width() / rect.width(), port.height() / rect.height())

    def zoom(self) -> float:
        """Zoom relative to the fit (1.0 = fitted)."""
        return self._zoom

    def pixel_zoom(self) -> float:
        """Screen pixels per photo pixel (1.0 = 100 %)."""
        return self.transform().m11()

    def set_zoom(self, zoom: float, centre: QPointF | None = None) -> None:
        """Zoom to ``zoom`` times the fit, keeping ``centre`` (fractions of the photo) in the middle."""
        centre = self.normalised_centre() if centre is None else centre
        self._zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        self.apply_zoom()
        self.centre_on_fraction(centre)

    def apply_zoom(self) -> None:
        scale = self.fit_scale() * self._zoom
        self.setTransform(QTransform.fromScale(scale, scale))

    def resizeEvent(self, event: QResizeEvent) -> None:
        centre = self.normalised_centre()
        super().resizeEvent(event)
        self.apply_zoom()  # the fit follows the view's size
        self.centre_on_fraction(centre)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoomRequested.emit(ZOOM_STEP**steps)
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoomRequested.emit(ZOOM_STEP)
        elif key == Qt.Key.Key_Minus:
            self.zoomRequested.emit(1 / ZOOM_STEP)
        elif key == Qt.Key.Key_0:
            self.fitRequested.emit()
        else:
            super().keyPressEvent(event)  # arrows pan
            return
        event.accept()

    # -- position ------------------------------------------------------------------------------
    def normalised_centre(self) -> QPointF:
        """The centre of what is visible, as a fraction of the photo."""
        centre = self.mapToScene(self.viewport().rect().center())
        rect = self.sceneRect()
        if rect.isEmpty():
            return QPointF(0.5, 0.5)
        return QPointF((centre.x() - rect.left()) / rect.width(), (centre.y() - rect.top()) / rect.height())

    def centre_on_fraction(self, point: QPointF) -> None:
        rect = self.sceneRect()
        self.centerOn(rect.left() + point.x() * rect.width(), rect.top() + point.y() * rect.height())


class SyncedViews(QObject):
    """Keeps two or more :class:`ZoomView` s at the same zoom (relative to each one's fit) and on the
    same relative spot of their photos."""

    def __init__(self, views: list[ZoomView], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.views = views
        self._syncing = False
        for view in views:
            view.zoomRequested.connect(lambda factor, v=view: self.zoom_by(factor, v))
            view.fitRequested.connect(self.fit)
            view.horizontalScrollBar().valueChanged.connect(lambda _value, v=view: self.follow(v))
            view.verticalScrollBar().valueChanged.connect(lambda _value, v=view: self.follow(v))

    def zoom_by(self, factor: float, source: ZoomView | None = None) -> None:
        source = source or self.views[0]
        self.set_zoom(source.zoom() * factor, source)

    def set_zoom(self, zoom: float, source: ZoomView | None = None) -> None:
        source = source or self.views[0]
        centre = source.normalised_centre()
        self._syncing = True
        try:
            for view in self.views:
                view.set_zoom(zoom, centre)
        finally:
            self._syncing = False

    def follow(self, source: ZoomView) -> None:
        """Move the other views to show the same relative spot as ``source``."""
        if self._syncing:
            return
        self._syncing = True
        try:
            centre = source.normalised_centre()
            for view in self.views:
                if view is not source:
                    view.centre_on_fraction(centre)
        finally:
            self._syncing = False

    def fit(self) -> None:
        """Every photo whole and as large as its view allows."""
        self._syncing = True
        try:
            for view in self.views:
                view.set_zoom(1.0, QPointF(0.5, 0.5))
        finally:
            self._syncing = False
