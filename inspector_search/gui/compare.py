"""Compare the query with a match side by side, with zoom (wheel) and pan (drag) kept in step."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QTransform, QWheelEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector_search.core.records import PhotoRecord

from .query_pane import read_image
from .results import format_date, photo_title
from .workers import TaskRunner

#: Both photos are scaled to this scene width, so one zoom factor means the same to both.
SCENE_WIDTH = 1000.0
MAX_DECODE_SIDE = 4096
MIN_ZOOM, MAX_ZOOM = 0.05, 40.0


def load_full_image(path: Path) -> QImage:
    """Decode a photo for comparison (orientation applied, capped size); runs on a worker."""
    image, reason = read_image(path, MAX_DECODE_SIDE)
    if image is None:
        raise OSError(reason)
    return image


class ZoomView(QGraphicsView):
    """A photo view that asks to zoom on wheel turns and pans by dragging."""

    zoomRequested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QColor(40, 44, 52))
        self.setMinimumSize(240, 200)
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self._message = QGraphicsSimpleTextItem()
        self._message.setBrush(QColor("white"))
        self.scene().addItem(self._message)

    def set_image(self, image: QImage) -> None:
        pixmap = QPixmap.fromImage(image)
        self.item.setPixmap(pixmap)
        self.item.setScale(SCENE_WIDTH / max(pixmap.width(), 1))
        self._message.setText("")
        self.setSceneRect(self.item.sceneBoundingRect())

    def set_message(self, text: str) -> None:
        self._message.setText(text)
        self.setSceneRect(self._message.sceneBoundingRect())

    def mark_region(self, box: tuple[float, float, float, float]) -> None:
        """Outline the query region (fractions of the photo)."""
        rect = self.item.sceneBoundingRect()
        x0, y0, x1, y1 = box
        marker = QGraphicsRectItem(
            QRectF(
                rect.left() + x0 * rect.width(),
                rect.top() + y0 * rect.height(),
                (x1 - x0) * rect.width(),
                (y1 - y0) * rect.height(),
            )
        )
        pen = QPen(QColor(255, 193, 7), 2)
        pen.setCosmetic(True)
        marker.setPen(pen)
        self.scene().addItem(marker)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoomRequested.emit(1.25**steps)
        event.accept()

    def zoom(self) -> float:
        return self.transform().m11()

    def normalised_centre(self) -> QPointF:
        """The centre of what is visible, as a fraction of the scene."""
        centre = self.mapToScene(self.viewport().rect().center())
        rect = self.sceneRect()
        if rect.isEmpty():
            return QPointF(0.5, 0.5)
        return QPointF((centre.x() - rect.left()) / rect.width(), (centre.y() - rect.top()) / rect.height())

    def centre_on_fraction(self, point: QPointF) -> None:
        rect = self.sceneRect()
        self.centerOn(rect.left() + point.x() * rect.width(), rect.top() + point.y() * rect.height())


class SyncedViews(QObject):
    """Keeps two or more :class:`ZoomView` s at the same zoom and the same relative position."""

    def __init__(self, views: list[ZoomView], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.views = views
        self._syncing = False
        for view in views:
            view.zoomRequested.connect(lambda factor, v=view: self.zoom_by(factor, v))
            view.horizontalScrollBar().valueChanged.connect(lambda _value, v=view: self.follow(v))
            view.verticalScrollBar().valueChanged.connect(lambda _value, v=view: self.follow(v))

    def zoom_by(self, factor: float, source: ZoomView | None = None) -> None:
        source = source or self.views[0]
        new_zoom = min(max(source.zoom() * factor, MIN_ZOOM), MAX_ZOOM)
        self._syncing = True
        try:
            source.scale(new_zoom / source.zoom(), new_zoom / source.zoom())
            for view in self.views:
                if view is not source:
                    view.setTransform(QTransform.fromScale(new_zoom, new_zoom))
        finally:
            self._syncing = False
        self.follow(source)

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
        """The largest common zoom at which every photo fits its view."""
        zooms = []
        for view in self.views:
            rect = view.sceneRect()
            port = view.viewport().rect()
            if rect.width() > 0 and rect.height() > 0:
                zooms.append(min(port.width() / rect.width(), port.height() / rect.height()))
        zoom = min(zooms) if zooms else 1.0
        self._syncing = True
        try:
            for view in self.views:
                view.setTransform(QTransform.fromScale(zoom, zoom))
                view.centerOn(view.sceneRect().center())
        finally:
            self._syncing = False


class CompareDialog(QDialog):
    """Query on the left, match on the right; wheel zooms both, dragging pans both.

    The match is decoded on the caller's ``runner``: closing the dialog never waits for it, and a
    decode finishing after the dialog was deleted is ignored."""

    def __init__(
        self,
        query: QImage,
        region: tuple[float, float, float, float] | None,
        photo: PhotoRecord,
        score: float | None,
        runner: TaskRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare with query — {photo_title(photo)}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(1100, 640)
        self.photo = photo
        self.query_view = ZoomView()
        self.match_view = ZoomView()
        self.sync = SyncedViews([self.query_view, self.match_view], self)
        self._build(photo, score)
        self.query_view.set_image(query)
        if region is not None:
            self.query_view.mark_region(region)
        self.match_view.set_message("Loading…")
        self._runner = runner
        self._task = runner.submit(
            lambda _p: load_full_image(photo.path), self._match_loaded, self._match_failed, name="compare",
            context=self,
        )

    def _build(self, photo: PhotoRecord, score: float | None) -> None:
        layout = QVBoxLayout(self)
        grid = QGridLayout()
        match_caption = " · ".join(
            filter(None, [photo_title(photo), photo.site, format_date(photo.inspected_on)])
        )
        if score is not None:
            match_caption += f" · similarity {score:.3f}"
        grid.addWidget(QLabel("<b>Query</b>"), 0, 0)
        grid.addWidget(QLabel(f"<b>{match_caption}</b>"), 0, 1)
        grid.addWidget(self.query_view, 1, 0)
        grid.addWidget(self.match_view, 1, 1)
        layout.addLayout(grid, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        for text, slot in (
            ("Fit", self.sync.fit),
            ("Zoom in", lambda: self.sync.zoom_by(1.25)),
            ("Zoom out", lambda: self.sync.zoom_by(0.8)),
        ):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        hint = QLabel("Wheel to zoom, drag to pan: both photos follow.")
        hint.setEnabled(False)
        layout.addWidget(hint)
        layout.addWidget(buttons)

    def _match_loaded(self, image: QImage) -> None:
        self.match_view.set_image(image)
        self.sync.fit()

    def _match_failed(self, error: BaseException) -> None:
        self.match_view.set_message(f"Cannot show this photo:\n{error}")

    def showEvent(self, event: object) -> None:
        super().showEvent(event)  # type: ignore[arg-type]
        self.sync.fit()

    def done(self, result: int) -> None:
        self._runner.drop(self._task)  # no waiting on the GUI thread; a decode already running is ignored
        super().done(result)
