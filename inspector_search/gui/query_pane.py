"""The query pane: drop, paste or open a photo, see it, and draw a region to search by that part only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QMargins,
    QMimeData,
    QPointF,
    QRectF,
    QSize,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QImageReader,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .icons import icon
from .path_list import PATH_ROLE, PathListModel

Box = tuple[float, float, float, float]

#: Longest side the query preview is decoded at (JPEGs decode at reduced size, which is fast).
PREVIEW_MAX_SIDE = 2048
#: A drag smaller than this fraction of the photo is a click, not a region.
MIN_REGION = 0.02
HINT = "Drop a photo here, paste (Ctrl+V) or open (Ctrl+O)"
WEB_ADDRESS_MESSAGE = "Only photos on this computer can be searched (not web addresses)."
#: Longest file name or path quoted in full in a message.
QUOTE_LIMIT = 60


def shorten(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text``, elided in the middle if it is longer than ``limit`` characters."""
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return f"{text[:head]}…{text[len(text) - (limit - 1 - head):]}"


def path_problem(text: str, error: Exception) -> str:
    """Why ``text`` cannot even be looked up as a path (too long, unknown home folder, a NUL character…)."""
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return f"“{shorten(text)}” cannot be used as a photo path ({reason.rstrip('.') or type(error).__name__})."


def is_folder(path: Path) -> bool:
    """``path.is_dir()``, False for a path the system refuses to look up (``read_image`` says why)."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def read_image(path: Path, max_side: int = PREVIEW_MAX_SIDE) -> tuple[QImage | None, str]:
    """Decode a photo for display, EXIF orientation applied; ``(None, reason)`` if it cannot be read."""
    name = shorten(path.name)
    try:
        if not path.exists():
            return None, f"“{name}” does not exist."
        if path.is_dir():
            return None, f"“{name}” is a folder. Drop a photo to search; use Add photos… to index a folder."
    except (OSError, ValueError) as exc:
        return None, path_problem(str(path), exc)
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > max_side:
        reader.setScaledSize(size.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return None, f"“{name}” cannot be read as a photo ({reader.errorString().rstrip('.')})."
    return image, ""


def encode_png(image: QImage) -> bytes:
    """The image as PNG bytes (how a pasted image is handed to the search)."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def _local_paths(mime: QMimeData) -> list[Path]:
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def _text_query(mime: QMimeData) -> Path | str | None:
    """A path pasted or dropped as text (plain or a file:// URL): the path, or a message saying why the
    text cannot be one (a web address, an unknown ``~user``); ``None`` if there is no one-line text."""
    if not mime.hasText():
        return None
    text = mime.text().strip().strip('"')
    if not text or "\n" in text:
        return None
    url = QUrl(text)
    if url.isLocalFile():
        return Path(url.toLocalFile())
    if len(url.scheme()) > 1 and url.host():  # http://host/a.jpg (one letter is a Windows drive: C:/…)
        return WEB_ADDRESS_MESSAGE
    try:
        return Path(text).expanduser()
    except (RuntimeError, ValueError, OSError) as exc:  # ~nosuchuser/…: no such home folder
        return path_problem(text, exc)


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

    def set_image(self, image: QImage | None) -> None:
        self._pixmap = QPixmap.fromImage(image) if image is not None else QPixmap()
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



class QueryPane(QWidget):
    """Holds the query photo (a path, or PNG bytes when pasted), the region drawn on it and a drop queue.

    ``queryChanged`` is emitted when a new photo is loaded or the region changes.
    """

    queryChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._source: Path | bytes | None = None
        self._image: QImage | None = None
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title_row = QHBoxLayout()
        self.title = QLabel("<b>Query photo</b>")
        self.caption = QLabel()
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        title_row.addWidget(self.title)
        title_row.addWidget(self.caption, 1)
        layout.addLayout(title_row)
        self.stack = QStackedWidget()
        self.hint = QLabel(HINT)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setMinimumSize(160, 120)
        self.hint.setFrameShape(QLabel.Shape.StyledPanel)
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.view = RegionImageView()
        self.view.regionChanged.connect(self._region_changed)
        self.stack.addWidget(self.hint)
        self.stack.addWidget(self.view)
        layout.addWidget(self.stack, 1)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setObjectName("queryMessage")
        self.message.setStyleSheet("QLabel#queryMessage { color: #b71c1c; }")
        self.message.hide()
        layout.addWidget(self.message)
        layout.addLayout(self._build_buttons())
        layout.addWidget(self._build_queue())

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.open_button = QToolButton()
        self.paste_button = QToolButton()
        self.clear_region_button = QToolButton()
        self.clear_region_button.setText("Clear region")
        self.clear_region_button.setIcon(icon("clear"))
        self.clear_region_button.setToolTip("Search with the whole photo again (Esc)")
        self.clear_region_button.setEnabled(False)
        self.clear_region_button.clicked.connect(self.view.clear_region)
        for button in (self.open_button, self.paste_button, self.clear_region_button):
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            row.addWidget(button)
        row.addStretch(1)
        return row

    def _build_queue(self) -> QWidget:
        self.queue_box = QWidget()
        box = QVBoxLayout(self.queue_box)
        box.setContentsMargins(0, 0, 0, 0)
        self.queue_label = QLabel()
        self.queue_model = PathListModel()
        self.queue_view = QListView()
        self.queue_view.setModel(self.queue_model)
        self.queue_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.queue_view.setMaximumHeight(110)
        self.queue_view.clicked.connect(lambda index: self.load_path(index.data(PATH_ROLE), keep_queue=True))
        self.queue_view.activated.connect(lambda index: self.load_path(index.data(PATH_ROLE), keep_queue=True))
        box.addWidget(self.queue_label)
        box.addWidget(self.queue_view)
        self.queue_box.hide()
        return self.queue_box

    def set_actions(self, open_action: Any, paste_action: Any) -> None:
        """Let the pane's buttons trigger the window's Open and Paste actions."""
        self.open_button.setDefaultAction(open_action)
        self.paste_button.setDefaultAction(paste_action)

    # -- state ---------------------------------------------------------------------------------
    @property
    def source(self) -> Path | bytes | None:
        """What to search with: the photo's path, or PNG bytes of a pasted image."""
        return self._source

    @property
    def image(self) -> QImage | None:
        """The displayed query photo (orientation applied)."""
        return self._image

    def region(self) -> Box | None:
        return self.view.region()

    def set_region(self, box: Box | None) -> None:
        self.view.set_region(box)

    def show_message(self, text: str) -> None:
        """An inline message under the photo (empty text hides it)."""
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # -- loading -------------------------------------------------------------------------------
    def load_path(self, path: Path, keep_queue: bool = False) -> bool:
        """Use the photo at ``path`` as the query; on failure keep the current one and say why."""
        if not keep_queue:
            self.queue_model.set_paths([])
            self.queue_box.hide()
        image, reason = read_image(path)
        if image is None:
            self.show_message(reason)
            return False
        self._set_query(path, image, path.name)
        self._select_in_queue(path)
        return True

    def load_paths(self, paths: list[Path]) -> bool:
        """Several photos dropped at once: search with the first that loads, list all of them."""
        files = [path for path in paths if not is_folder(path)]
        if not files:
            return self.load_path(paths[0]) if paths else False
        self.queue_model.set_paths(files if len(files) > 1 else [])
        self.queue_label.setText(f"{len(files)} photos dropped — click one to search with it:")
        self.queue_box.setVisible(len(files) > 1)
        return any(self.load_path(path, keep_queue=True) for path in files)

    def load_image(self, image: QImage, label: str = "Pasted image") -> bool:
        """Use an in-memory image (clipboard) as the query; it is searched as PNG bytes."""
        if image.isNull():
            self.show_message("The clipboard image is empty.")
            return False
        self.queue_model.set_paths([])
        self.queue_box.hide()
        self._set_query(encode_png(image), image, label)
        return True

    def load_mime(self, mime: QMimeData) -> bool:
        """Take a query from dropped or pasted data: file URLs, an image, or a path as text."""
        paths = _local_paths(mime)
        if paths:
            return self.load_paths(paths)
        if mime.hasImage():
            image = mime.imageData()
            if isinstance(image, QPixmap):
                image = image.toImage()
            if isinstance(image, QImage):
                return self.load_image(image)
        if mime.hasUrls():
            self.show_message(WEB_ADDRESS_MESSAGE)
            return False
        text_query = _text_query(mime)
        if isinstance(text_query, Path):
            return self.load_path(text_query)
        if text_query is not None:
            self.show_message(text_query)
            return False
        self.show_message("There is no photo or photo path to search with. " + HINT + ".")
        return False

    def _set_query(self, source: Path | bytes, image: QImage, label: str) -> None:
        self.show_message("")
        self._source = source
        self._image = image
        self.view.set_image(image)
        self.caption.setText(label)
        self.caption.setToolTip(str(source) if isinstance(source, Path) else label)
        self.stack.setCurrentWidget(self.view)
        self._update_region_button()
        self.queryChanged.emit()

    def _select_in_queue(self, path: Path) -> None:
        paths = self.queue_model.paths()
        if path in paths:
            self.queue_view.setCurrentIndex(self.queue_model.index(paths.index(path)))

    def _region_changed(self, _box: object) -> None:
        self._update_region_button()
        self.queryChanged.emit()

    def _update_region_button(self) -> None:
        self.clear_region_button.setEnabled(self.view.region() is not None)

    # -- drag and drop -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage() or mime.hasText():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: Any) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        event.acceptProposedAction()
        self.load_mime(event.mimeData())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self.view.region() is not None:
            self.view.clear_region()
            event.accept()
            return
        super().keyPressEvent(event)
