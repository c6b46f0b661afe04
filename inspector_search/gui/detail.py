"""The detail pane: a large preview of the selected photo and everything the archive knows about it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QMargins, QRectF, QSize, Qt
from PySide6.QtGui import QAction, QPainter, QPaintEvent, QPalette, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector_search.core.records import PhotoRecord

from .dates import human_timestamp
from .label_panel import SuggestionsBox, labels_text
from .results import format_date, photo_title
from .thumbnails import ThumbnailLoader
from .workers import TaskRunner

PREVIEW_SIZE = 512
EMPTY_TEXT = "Select a match to see its photo, equipment, inspection and notes."
CHECKING_TEXT = "checking the file…"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def file_size_text(path: Path) -> str:
    """The file's size in words, or a note that it is missing now. Runs on a worker: ``stat()`` of a file
    on an offline share can hang."""
    try:
        return human_size(path.stat().st_size)
    except (OSError, ValueError):
        return "file not found"


def file_facts(photo: PhotoRecord, size_text: str) -> str:
    """Pixel size (from the archive) and ``size_text`` (from :func:`file_size_text`)."""
    parts = [f"{photo.width} × {photo.height} px"] if photo.width and photo.height else []
    return ", ".join([*parts, size_text])


class PixmapView(QWidget):
    """Paints a pixmap fitted to the widget, aspect kept; a text while there is none."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap = QPixmap()
        self._text = placeholder
        self.setMinimumSize(160, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_pixmap(self, pixmap: QPixmap | None, text: str = "") -> None:
        self._pixmap = pixmap if pixmap is not None else QPixmap()
        self._text = text
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, 260)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        area = self.rect().marginsRemoved(QMargins(2, 2, 2, 2))
        if self._pixmap.isNull():
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._text)
            return
        size = self._pixmap.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRectF(0, 0, size.width(), size.height())
        target.moveCenter(QRectF(area).center())
        painter.drawPixmap(target, self._pixmap, QRectF(self._pixmap.rect()))


class DetailPane(QWidget):
    """Shows one photo (a match or a history photo) with its metadata and buttons to act on it."""

    FIELDS = (
        ("score", "Similarity"),
        ("tag", "Equipment"),
        ("name", "Name"),
        ("type", "Type"),
        ("site", "Site"),
        ("area", "Area"),
        ("date", "Inspected"),
        ("inspector", "Inspector"),
        ("notes", "Notes"),
        ("labels", "Labels"),
        ("taken", "Taken"),
        ("file", "File"),
        ("path", "Path"),
    )

    def __init__(self, thumbnails: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumbnails = thumbnails
        self._photo: PhotoRecord | None = None
        self._score: float | None = None
        self._facts_generation = 0
        # stat() reads no archive and may hang on an offline share: daemon threads, never waited for.
        self._facts_runner = TaskRunner(max_threads=2, parent=self, daemon=True)
        thumbnails.ready.connect(self._thumbnail_ready)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("<b>Details</b>")
        layout.addWidget(self.title)
        self.stack = QStackedWidget()
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self._build_content())
        layout.addWidget(self.stack, 1)

    def _build_content(self) -> QWidget:
        content = QWidget()
        box = QVBoxLayout(content)
        box.setContentsMargins(0, 0, 0, 0)
        self.preview = PixmapView("Loading…")
        box.addWidget(self.preview, 3)
        self.buttons = QHBoxLayout()
        box.addLayout(self.buttons)
        self.labels: dict[str, QLabel] = {}
        form_widget = QWidget()
        self.form = QFormLayout(form_widget)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for key, caption in self.FIELDS:
            label = QLabel()
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setTextFormat(Qt.TextFormat.PlainText)
            self.labels[key] = label
            self.form.addRow(caption, label)
        self.suggestions = SuggestionsBox()
        self.form.addRow(self.suggestions)
        self.extra = QLabel()
        self.extra.setWordWrap(True)
        self.extra.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.form.addRow(self.extra)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(form_widget)
        box.addWidget(scroll, 2)
        return content

    def set_actions(self, actions: Iterable[QAction]) -> None:
        """Buttons under the preview, bound to the window's actions on the current photo."""
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            self.buttons.addWidget(button)
        self.buttons.addStretch(1)

    @property
    def photo(self) -> PhotoRecord | None:
        return self._photo

    @property
    def score(self) -> float | None:
        """The shown photo's similarity to the query (``None`` outside search results)."""
        return self._score

    def show_photo(self, photo: PhotoRecord | None, score: float | None = None) -> None:
        """Show a photo's preview and metadata (``None`` shows the empty state)."""
        self._photo, self._score = photo, score
        self._facts_generation += 1
        self._facts_runner.drop_queued()
        if photo is None:
            self.title.setText("<b>Details</b>")  # not the last photo's tag over an empty pane
            self.stack.setCurrentWidget(self.empty)
            return
        self.stack.setCurrentIndex(1)
        values = {
            "score": f"{score:.3f}" if score is not None else None,
            "tag": photo.equipment_tag,
            "name": photo.equipment_name,
            "type": photo.equipment_type,
            "site": photo.site,
            "area": photo.area,
            "date": format_date(photo.inspected_on) if photo.inspected_on else None,
            "inspector": photo.inspector,
            "notes": photo.notes,
            "labels": labels_text(photo),
            "taken": human_timestamp(photo.taken_at),
            "file": file_facts(photo, CHECKING_TEXT),
            "path": str(photo.path),
        }
        for key, value in values.items():
            self._set_field(key, value)
        extra = "\n".join(f"{key}: {value}" for key, value in sorted(photo.extra.items()))
        self.extra.setText(extra)
        self.extra.setVisible(bool(extra))
        self.title.setText(f"<b>{photo_title(photo)}</b>")
        self._refresh_preview()
        self._check_file(photo)

    def _check_file(self, photo: PhotoRecord) -> None:
        """Fill in the file's size from a worker, unless another photo is shown by then."""
        generation, path = self._facts_generation, photo.path

        def show(size_text: str) -> None:
            if generation == self._facts_generation:
                self._set_field("file", file_facts(photo, size_text))

        self._facts_runner.submit(lambda _progress: file_size_text(path), show, name="file-facts", context=self)

    def shutdown(self) -> None:
        """Forget file checks on their way (one hung on an offline share is not waited for)."""
        self._facts_generation += 1
        self._facts_runner.cancel_all()

    def _set_field(self, key: str, value: str | None) -> None:
        label = self.labels[key]
        label.setText(value or "")
        label.setVisible(bool(value))
        caption = self.form.labelForField(label)
        if caption is not None:
            caption.setVisible(bool(value))

    def _refresh_preview(self) -> None:
        if self._photo is None:
            return
        pixmap = self._thumbnails.pixmap(self._photo.image_id, PREVIEW_SIZE)
        failed = self._thumbnails.failed(self._photo.image_id, PREVIEW_SIZE)
        self.preview.set_pixmap(pixmap, "No preview: the file is missing or unreadable" if failed else "Loading…")

    def _thumbnail_ready(self, image_id: int) -> None:
        if self._photo is not None and self._photo.image_id == image_id:
            self._refresh_preview()
