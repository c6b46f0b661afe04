"""The map of the archive: every photo as a dot placed so that look-alike photos lie close together,
a sample of them as thumbnails; wheel zooms, dragging pans (or, in Select mode, draws a rectangle
that selects); the selection can be labelled or searched with ("more like these"). Laid out on a
worker with progress and Cancel."""

from __future__ import annotations

import getpass
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QMouseEvent, QPen, QShortcut, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGraphicsEllipseItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .clusters_dialog import LABEL_KINDS
from .messages import describe_error, plural
from .thumbnails import ThumbnailLoader
from .workers import TaskRunner

EXTENT = 4000.0  # scene units across the map
DOT = 14.0
THUMBNAILS = 300  # photos drawn as thumbnails (the others as dots)
THUMB_SIZE = 64
ID_ROLE = 0


class MapView(QGraphicsView):
    """Zoom with the wheel, pan by dragging; in select mode a rectangle selects; a double click on a
    photo asks for it in the viewer."""

    photoActivated = Signal(int)

    def __init__(self, scene: QGraphicsScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)

    def wheelEvent(self, event: QWheelEvent) -> None:
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self.scale(factor, factor)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        item = self.itemAt(event.position().toPoint())
        if item is not None and item.data(ID_ROLE) is not None:
            self.photoActivated.emit(int(item.data(ID_ROLE)))
        else:
            super().mouseDoubleClickEvent(event)

    def set_select_mode(self, on: bool) -> None:
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag if on else QGraphicsView.DragMode.ScrollHandDrag)


class MapDialog(QDialog):
    """Loads ``archive.photo_map()`` on the runner and draws it."""

    loaded = Signal()
    labelled = Signal(object)
    searchRequested = Signal(object)  # tuple of photo ids to search "more like"
    viewRequested = Signal(object, int)  # photo ids to step through in the viewer, and the one to show first

    def __init__(self, archive: Any, thumbnails: ThumbnailLoader, runner: TaskRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Map of the archive")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(1000, 760)
        self._archive, self._runner, self._thumbnails = archive, runner, thumbnails
        self.items: dict[int, Any] = {}
        layout = QVBoxLayout(self)
        self.summary = QLabel("Laying out the archive…")
        layout.addWidget(self.summary)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.scene = QGraphicsScene(self)
        self.view = MapView(self.scene)
        self.view.setAccessibleName("Map of the archive's photos")
        self.view.photoActivated.connect(self.view_photo)
        layout.addWidget(self.view, 1)
        self.scene.selectionChanged.connect(self._selection_changed)
        layout.addLayout(self._build_actions())
        thumbnails.ready.connect(self._thumbnail_ready)
        self._task = runner.submit(lambda p: archive.photo_map(p), self._loaded, self._failed, self._progressed,
                                   name="map", context=self)
        self.cancel_button.clicked.connect(self._task.cancel)

    def _build_actions(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.select_button = QPushButton("Select")
        self.select_button.setCheckable(True)
        self.select_button.setToolTip("Drag a rectangle to select photos (off: dragging pans)")
        self.select_button.toggled.connect(self.view.set_select_mode)
        self.selected_label = QLabel("Nothing selected")
        self.kind = QComboBox()
        for text, kind in LABEL_KINDS:
            self.kind.addItem(text, kind)
        self.value = QLineEdit()
        self.value.setPlaceholderText("label for the selection")
        self.label_button = QPushButton("Label selection")
        self.label_button.clicked.connect(self.label_selection)
        self.search_button = QPushButton("Search like these")
        self.search_button.setToolTip("Search the archive for photos like the selected ones")
        self.search_button.clicked.connect(lambda: self.searchRequested.emit(tuple(self.selected_ids())))
        self.view_button = QPushButton("View selection")
        self.view_button.setToolTip("The selected photos in the viewer (Space; a double click views one photo)")
        self.view_button.clicked.connect(self.view_selection)
        QShortcut(QKeySequence(Qt.Key.Key_Space), self, self.view_selection)
        for widget in (self.select_button, self.selected_label, self.kind, self.value, self.label_button,
                       self.search_button, self.view_button):
            row.addWidget(widget)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        row.addWidget(close)
        self._selection_changed()
        return row

    def _progressed(self, event: Any) -> None:
        self.progress.setMaximum(max(event.total, 1))
        self.progress.setValue(event.done)

    def _failed(self, error: BaseException) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.summary.setText(describe_error(error))
        self.loaded.emit()

    def _loaded(self, result: tuple[np.ndarray, np.ndarray]) -> None:
        ids, positions = result
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.scene.clear()
        self.items = {}
        pen, brush = QPen(Qt.PenStyle.NoPen), QBrush(QColor(40, 110, 200, 160))
        shown = set(np.random.default_rng(0).choice(len(ids), min(len(ids), THUMBNAILS), replace=False).tolist())
        for row, (image_id, (x, y)) in enumerate(zip(ids.tolist(), positions.tolist(), strict=True)):
            if row in shown:
                item: Any = QGraphicsPixmapItem()
                item.setOffset(-THUMB_SIZE / 2, -THUMB_SIZE / 2)
                item.setScale(3.0)  # ~45 px on screen with the whole map in view; zooming in enlarges
                pixmap = self._thumbnails.pixmap(image_id, THUMB_SIZE)
                if pixmap is not None and not pixmap.isNull():
                    item.setPixmap(pixmap)
            else:
                item = QGraphicsEllipseItem(-DOT / 2, -DOT / 2, DOT, DOT)
                item.setPen(pen)
                item.setBrush(brush)
            item.setPos(x * EXTENT, y * EXTENT)
            item.setFlag(item.GraphicsItemFlag.ItemIsSelectable, True)
            item.setData(ID_ROLE, image_id)
            self.scene.addItem(item)
            self.items[image_id] = item
        self.scene.setSceneRect(QRectF(-100, -100, EXTENT + 200, EXTENT + 200))
        self.view.fitInView(self.scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.summary.setText(f"{plural(len(ids), 'photo')}: look-alike photos lie close together; "
                             f"{plural(len(shown), 'photo')} drawn as thumbnails. Wheel zooms, dragging pans; "
                             "Select draws a rectangle.")
        self.loaded.emit()

    def _thumbnail_ready(self, image_id: int) -> None:
        item = self.items.get(image_id)
        if isinstance(item, QGraphicsPixmapItem):
            pixmap = self._thumbnails.pixmap(image_id, THUMB_SIZE)
            if pixmap is not None and not pixmap.isNull():
                item.setPixmap(pixmap)

    def selected_ids(self) -> list[int]:
        return sorted(int(item.data(ID_ROLE)) for item in self.scene.selectedItems())

    def select_rect(self, rect: QRectF) -> None:
        """Select the photos inside a rectangle of the unit square (what a dragged rectangle does)."""
        scene_rect = QRectF(rect.x() * EXTENT, rect.y() * EXTENT, rect.width() * EXTENT, rect.height() * EXTENT)
        for item in self.scene.items():
            item.setSelected(scene_rect.contains(item.pos()))

    def _selection_changed(self) -> None:
        count = len(self.scene.selectedItems())
        self.selected_label.setText(f"{plural(count, 'photo')} selected" if count else "Nothing selected")
        for widget in (self.label_button, self.search_button, self.view_button):
            widget.setEnabled(bool(count))

    def view_selection(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.viewRequested.emit(tuple(ids), ids[0])

    def view_photo(self, image_id: int) -> None:
        """A double-clicked photo in the viewer; with a selection holding it, stepping goes through that."""
        ids = self.selected_ids()
        self.viewRequested.emit(tuple(ids) if image_id in ids else (image_id,), image_id)

    def label_selection(self) -> None:
        ids, value = self.selected_ids(), self.value.text().strip()
        if not ids or not value:
            return
        archive, kind = self._archive, self.kind.currentData()
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = None
        self._runner.submit(lambda _p: archive.assign_labels(ids, [(kind, value)], who=who), self.labelled.emit,
                            self._failed, name="label-selection", context=self)

    def done(self, result: int) -> None:
        self._task.cancel()
        self._runner.drop(self._task)
        super().done(result)
