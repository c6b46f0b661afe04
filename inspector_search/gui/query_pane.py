"""The query pane: drop, paste or open a photo, see it, and draw a region to search by that part only.

Nothing that reads a file or encodes an image runs on the GUI thread: a dropped or opened photo is
decoded on a worker (a network share can take seconds) and a pasted image is scaled down and
PNG-encoded on one. A newer query supersedes a load still on its way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QMimeData,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QImageReader,
    QKeyEvent,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector_search.core.progress import Progress

from .icons import icon
from .messages import describe_error
from .path_list import PATH_ROLE, PathListModel
from .region_view import Box, RegionImageView
from .workers import Task, TaskRunner

#: Longest side the query preview is decoded at (JPEGs decode at reduced size, which is fast), and
#: that a pasted image is scaled to before it is searched (the model's input is 224 pixels).
PREVIEW_MAX_SIDE = 2048
#: Longest side of the quick (unsmoothed) preview shown while a pasted image is being prepared.
QUICK_PREVIEW_SIDE = 1024
LOADING_TEXT = "Loading…"
PASTED_LABEL = "Pasted image"
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
    """The image as PNG bytes (how a pasted image is handed to the search); empty if it cannot be encoded."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    saved = image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data()) if saved else b""


def fit_within(image: QImage, max_side: int, smooth: bool = True) -> QImage:
    """``image`` scaled down so that its longest side is at most ``max_side`` (unchanged if it fits)."""
    if max(image.width(), image.height()) <= max_side:
        return image
    mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
    return image.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio, mode)


def prepare_pasted(image: QImage) -> tuple[QImage, bytes]:
    """Runs on a worker: a pasted image scaled to at most ``PREVIEW_MAX_SIDE`` and its PNG bytes (a
    6000 × 4000 paste took 2 s and 72 MB as a full-size PNG; the model looks at 224 pixels)."""
    scaled = fit_within(image, PREVIEW_MAX_SIDE)
    return scaled, encode_png(scaled)


def decode_first(paths: Sequence[Path], progress: Progress | None = None) -> tuple[list[Path], Path | None,
                                                                                   QImage | None, str]:
    """Runs on a worker: the files among ``paths`` (folders left out) and the first of them that decodes,
    with its image; or, if none does, why the last one tried could not be read. Stops early when cancelled."""
    files = [path for path in paths if not is_folder(path)]
    reason = ""
    for path in files or list(paths[:1]):
        if progress is not None and progress.cancelled:
            break
        image, reason = read_image(path)
        if image is not None:
            return files, path, image, ""
    return files, None, None, reason


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


class QueryPane(QWidget):
    """Holds the query photo (a path, or PNG bytes when pasted), the region drawn on it and a drop queue.

    Loading is asynchronous: ``loadFinished(ok)`` follows each load that was not superseded by a newer
    one. ``queryChanged`` is emitted when a new photo can be searched or the region changes.
    """

    queryChanged = Signal()
    loadFinished = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._source: Path | bytes | None = None
        self._image: QImage | None = None
        self._label = ""
        self._generation = 0
        self._load: Task | None = None
        # Decoding reads no archive, and a photo on an offline share may never finish: nothing waits for it,
        # and a second thread lets a newer photo load while a superseded one hangs.
        self._runner = TaskRunner(max_threads=2, parent=self, daemon=True)
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
        """What to search with: the photo's path, or PNG bytes of a pasted image (``None`` while a pasted
        image is being prepared)."""
        return self._source

    @property
    def loading(self) -> bool:
        """A photo is being decoded, or a pasted image prepared, on a worker."""
        return self._load is not None

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
        """Start loading the photo at ``path`` as the query; on failure the current one is kept and the
        message says why. ``keep_queue`` leaves the list of dropped photos as it is."""
        return self._load_files([path], list_files=not keep_queue)

    def load_paths(self, paths: list[Path]) -> bool:
        """Several photos dropped at once: search with the first that loads, list all of them."""
        return self._load_files(paths, list_files=True)

    def load_image(self, image: QImage, label: str = PASTED_LABEL) -> bool:
        """Use an in-memory image (clipboard) as the query: shown at once, searched as PNG bytes once a
        worker has scaled and encoded it."""
        if image.isNull():
            self.show_message("The clipboard image is empty.")
            return False
        generation = self._supersede()
        self.queue_model.set_paths([])
        self.queue_box.hide()
        self._source = None  # nothing to search until the bytes are ready
        self._show_image(fit_within(image, QUICK_PREVIEW_SIDE, smooth=False), label)
        self._start(lambda _progress: prepare_pasted(image), generation,
                    lambda result: self._pasted(generation, label, result), f"{label} — preparing…")
        return True

    def load_mime(self, mime: QMimeData) -> bool:
        """Take a query from dropped or pasted data: file URLs, an image, or a path as text. False if
        there is nothing to load (the message says why); True if a load started."""
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

    def shutdown(self) -> None:
        """Forget loads on their way (a decode stuck on an offline share is not waited for)."""
        self._generation += 1
        self._load = None
        self._runner.cancel_all()

    def _load_files(self, paths: Sequence[Path], list_files: bool) -> bool:
        if not paths:
            return False
        generation = self._supersede()
        if list_files:
            self.queue_model.set_paths([])
            self.queue_box.hide()
        paths = list(paths)
        self._start(lambda progress: decode_first(paths, progress), generation,
                    lambda result: self._decoded(generation, list_files, result),
                    f"Loading {shorten(paths[0].name)}…")
        return True

    def _supersede(self) -> int:
        """A new load begins: the one on its way (if any) is dropped, or stopped and its result ignored."""
        self._generation += 1
        if self._load is not None:
            self._runner.drop(self._load)
            self._load.cancel()
        self.show_message("")
        return self._generation

    def _start(self, job: Any, generation: int, on_finished: Any, caption: str) -> None:
        self._load = self._runner.submit(
            job, on_finished, lambda error: self._load_failed(generation, error), name="query-load", context=self
        )
        self.caption.setText(caption)
        self.hint.setText(LOADING_TEXT)

    def _done_loading(self, generation: int) -> bool:
        """True if ``generation`` is the latest load (it is then over); False for a superseded one."""
        if generation != self._generation:
            return False
        self._load = None
        self.caption.setText(self._label)
        self.hint.setText(HINT)
        return True

    def _decoded(self, generation: int, list_files: bool,
                 result: tuple[list[Path], Path | None, QImage | None, str]) -> None:
        if not self._done_loading(generation):
            return
        files, path, image, reason = result
        if list_files:
            self.queue_model.set_paths(files if len(files) > 1 else [])
            self.queue_label.setText(f"{len(files)} photos dropped — click one to search with it:")
            self.queue_box.setVisible(len(files) > 1)
        if path is None or image is None:
            self._failed(reason)
            return
        self._source = path
        self._show_image(image, path.name)
        self._select_in_queue(path)
        self.queryChanged.emit()
        self.loadFinished.emit(True)

    def _pasted(self, generation: int, label: str, result: tuple[QImage, bytes]) -> None:
        if not self._done_loading(generation):
            return
        image, data = result
        if not data:
            self._failed("The pasted image cannot be used (it could not be encoded).")
            return
        self._source = data
        self._show_image(image, label, keep_region=True)
        self.queryChanged.emit()
        self.loadFinished.emit(True)

    def _load_failed(self, generation: int, error: BaseException) -> None:
        if self._done_loading(generation):
            self._failed(describe_error(error))

    def _failed(self, reason: str) -> None:
        """The latest load failed: the previous query stays, unless it was a paste still being prepared
        (it was given up for this load), which leaves no query."""
        if self._source is None and self._image is not None:
            self._image = None
            self._label = ""
            self.view.set_image(None)
            self.caption.setText("")
            self.stack.setCurrentWidget(self.hint)
            self._update_region_button()
        self.show_message(reason)
        self.loadFinished.emit(False)

    def _show_image(self, image: QImage, label: str, keep_region: bool = False) -> None:
        self._image = image
        self._label = label
        self.view.set_image(image, keep_region=keep_region)
        self.caption.setText(label)
        self.caption.setToolTip(str(self._source) if isinstance(self._source, Path) else label)
        self.stack.setCurrentWidget(self.view)
        self._update_region_button()

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
