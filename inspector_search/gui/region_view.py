"""The query photo's view: the photo fitted to the widget, and a region drawn on it with the mouse."""

from __future__ import annotations

from PySide6.QtCore import QMargins, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

Box = tuple[float, float, float, float]

#: A drag smaller than this fraction of the photo is a click, not a region.
MIN_REGION = 0.02


class RegionImageView(QWidget):
    """Shows the query photo fitted to the widget; drag with the mouse to select a region, Esc clears it."""

    regionChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap = QPixmap()
        self._region: QRectF | None = None
        self._drag_start: QPointF | None = None
        self._drag_rect: QRectF | None = None
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Drag on the photo to search by that region only; Esc clears the region")

    def set_image(self, image: QImage | None, keep_region: bool = False) -> None:
        """Show ``image``; ``keep_region`` keeps the region (the same photo, sharper)."""
        self._pixmap = QPixmap.fromImage(image) if image is not None else QPixmap()
        if not keep_region:
            self._region = None
            self._drag_rect = None
        self.update()

    def has_image(self) -> bool:
        return not self._pixmap.isNull()

    def region(self) -> Box | None:
        """The selected region as fractions ``(x0, y0, x1, y1)`` of the displayed photo."""
        r = self._region
        return None if r is None else (r.left(), r.top(), r.right(), r.bottom())

    def set_region(self, box: Box | None) -> None:
        new = None if box is None else QRectF(QPointF(box[0], box[1]), QPointF(box[2], box[3])).normalized()
        if new != self._region:
            self._region = new
            self.update()
            self.regionChanged.emit(self.region())

    def clear_region(self) -> None:
        self.set_region(None)

    def sizeHint(self) -> QSize:
        return QSize(280, 220)

    def image_rect(self) -> QRectF:
        """Where the photo is drawn: fitted to the widget, centred, aspect kept."""
        if self._pixmap.isNull():
            return QRectF()
        area = self.size().shrunkBy(QMargins(4, 4, 4, 4))
        size = self._pixmap.size().scaled(area, Qt.AspectRatioMode.KeepAspectRatio)
        rect = QRectF(0, 0, size.width(), size.height())
        rect.moveCenter(QRectF(self.rect()).center())
        return rect

    def _to_fraction(self, pos: QPointF) -> QPointF:
        rect = self.image_rect()
        x = min(max((pos.x() - rect.left()) / rect.width(), 0.0), 1.0)
        y = min(max((pos.y() - rect.top()) / rect.height(), 0.0), 1.0)
        return QPointF(x, y)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        inside = self.has_image() and self.image_rect().contains(event.position())
        if event.button() == Qt.MouseButton.LeftButton and inside:
            self._drag_start = self._to_fraction(event.position())
            self._drag_rect = QRectF(self._drag_start, self._drag_start)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_start is not None:
            self._drag_rect = QRectF(self._drag_start, self._to_fraction(event.position())).normalized()
            self.update()
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag_start is None or event.button() != Qt.MouseButton.LeftButton:
            super().mouseReleaseEvent(event)
            return
        rect = QRectF(self._drag_start, self._to_fraction(event.position())).normalized()
        self._drag_start = None
        self._drag_rect = None
        if rect.width() >= MIN_REGION and rect.height() >= MIN_REGION:
            self.set_region((rect.left(), rect.top(), rect.right(), rect.bottom()))
        else:
            self.update()
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self._region is not None:
            self.clear_region()
            event.accept()
            return
        super().keyPressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.image_rect()
        if rect.isEmpty():
            return
        painter.drawPixmap(rect, self._pixmap, QRectF(self._pixmap.rect()))
        region = self._drag_rect if self._drag_rect is not None else self._region
        if region is not None:
            self._paint_region(painter, rect, region)

    def _paint_region(self, painter: QPainter, image_rect: QRectF, region: QRectF) -> None:
        selected = QRectF(
            image_rect.left() + region.left() * image_rect.width(),
            image_rect.top() + region.top() * image_rect.height(),
            region.width() * image_rect.width(),
            region.height() * image_rect.height(),
        )
        outside = QPainterPath()
        outside.addRect(image_rect)
        inner = QPainterPath()
        inner.addRect(selected)
        painter.fillPath(outside.subtracted(inner), QColor(0, 0, 0, 110))
        pen = QPen(self.palette().color(QPalette.ColorRole.Highlight), 2)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(selected)
