"""The "Add photos…" dialog: choose folders, metadata and layout, preview, then index on a worker."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from inspector_search.core.archive import preview_import
from inspector_search.core.errors import ArchiveBusyError, Cancelled
from inspector_search.core.progress import ProgressEvent
from inspector_search.core.records import AddReport, ImportPreview

from .icons import icon
from .messages import BUSY_MESSAGE, describe_error
from .path_list import PathListModel
from .preview_model import PreviewTableModel
from .workers import Task, TaskRunner

PREVIEW_LIMIT = 20
PREVIEW_DEBOUNCE_MS = 300
CANCELLED_TEXT = "Cancelled — the photos indexed so far are kept; add again to finish the rest."
LAYOUT_HELP = "Optional. Folder names as metadata, e.g. {site}/{equipment}/{date}"


class RateEstimator:
    """Photos per second over the last few seconds of one phase, and the time left at that rate."""

    WINDOW_SECONDS = 8.0
    #: No rate over less time than this: 189 photos saved in 2 ms are not "77242.8 photos/s".
    MIN_SECONDS = 1.0

    def __init__(self) -> None:
        self._phase = ""
        self._samples: deque[tuple[float, int]] = deque()
        self._last_time: float | None = None

    def add(self, event: ProgressEvent, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if event.phase != self._phase:
            self._phase = event.phase
            self._samples.clear()
            if event.done > 0 and self._last_time is not None:
                # The phase began at the previous report (jobs report once per batch).
                self._samples.append((self._last_time, 0))
        self._last_time = now
        self._samples.append((now, event.done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.WINDOW_SECONDS:
            self._samples.popleft()

    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 - t0 >= self.MIN_SECONDS and d1 > d0 else None

    def seconds_left(self, event: ProgressEvent) -> float | None:
        rate = self.rate()
        if rate is None or event.total <= 0:
            return None
        return max(event.total - event.done, 0) / rate


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_text(event: ProgressEvent, estimator: RateEstimator) -> str:
    phase = (event.phase or "Indexing").capitalize()
    parts = [f"{phase}: {event.done} of {event.total}" if event.total else f"{phase}…"]
    rate = estimator.rate()
    if rate is not None:
        parts.append(f"{rate:.1f} photos/s")
    left = estimator.seconds_left(event)
    if left is not None:
        parts.append(f"about {format_duration(left)} left")
    text = " — ".join(parts)
    return f"{text}\n{event.message}" if event.message else text


def report_text(report: AddReport) -> str:
    """The end-of-run summary: what was added, kept, moved and skipped (with reasons)."""
    head = (
        f"Cancelled after adding {report.added} photos; they are kept. Add the same folders again to finish."
        if report.cancelled
        else "Done."
    )
    lines = [
        head,
        f"Added {report.added} photos, {report.unchanged} unchanged, {report.moved} moved, "
        f"{report.copies} copies, {len(report.skipped)} skipped ({format_duration(report.seconds)}).",
    ]
    if report.updated_metadata:
        lines.append(f"Metadata updated for {report.updated_metadata} photos.")
    if report.removed:
        lines.append(f"{report.removed} photos no longer on disk were removed from the archive.")
    for skipped in report.skipped[:50]:
        lines.append(f"Skipped {skipped.path}: {skipped.reason}")
    if len(report.skipped) > 50:
        lines.append(f"… and {len(report.skipped) - 50} more (see Skipped files in the status bar).")
    lines.extend(f"Metadata: {error}" for error in report.metadata_errors[:20])
    lines.extend(f"Note: {note}" for note in report.notes)
    return "\n".join(lines)


class AddPhotosDialog(QDialog):
    """Indexes folders into the archive on a worker; the main window stays usable meanwhile.

    Closing the dialog while photos are being added only hides it: the work goes on (and
    ``progress`` keeps reporting) until it ends or is cancelled. ``addFinished`` carries the
    :class:`AddReport`, or ``None`` if the run failed.
    """

    previewReady = Signal()
    addStarted = Signal()
    progress = Signal(object)
    addFinished = Signal(object)

    def __init__(self, archive: Any, preferences: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add photos")
        self.resize(820, 640)
        self._archive = archive
        self._preferences = preferences
        self._preview_generation = 0
        self._task: Task | None = None
        self._estimator = RateEstimator()
        self.last_report: AddReport | None = None
        self.last_preview: ImportPreview | None = None
        self._runner = TaskRunner(max_threads=1, parent=self)
        # preview_import walks the folders and cannot be stopped, and reads no archive: daemon threads, so
        # neither closing the app nor (with a second thread) a newer preview waits for a walk hung on a share.
        self._preview_runner = TaskRunner(max_threads=2, parent=self, daemon=True)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DEBOUNCE_MS)
        self._preview_timer.timeout.connect(self.refresh_preview)
        layout = QVBoxLayout(self)
        layout.addWidget(self._build_sources())
        layout.addWidget(self._build_preview(), 1)
        layout.addWidget(self._build_progress())
        layout.addLayout(self._build_buttons())
        self._update_buttons()

    # -- building ------------------------------------------------------------------------------
    def _build_sources(self) -> QWidget:
        box = QGroupBox("Photos to add")
        form = QFormLayout(box)
        self.folders = PathListModel(full_paths=True, parent=self)
        self.folder_view = QListView()
        self.folder_view.setModel(self.folders)
        self.folder_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.folder_view.setMaximumHeight(96)
        add_button = QPushButton(icon("folder"), "Add folder…")
        add_button.clicked.connect(self.choose_folder)
        files_button = QPushButton(icon("open"), "Add files…")
        files_button.setToolTip("Single photos instead of a whole folder")
        files_button.clicked.connect(self.choose_files)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QVBoxLayout()
        buttons.addWidget(add_button)
        buttons.addWidget(files_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.folder_view, 1)
        row.addLayout(buttons)
        form.addRow("Folders / files", row)
        self.metadata_edit = QLineEdit()
        self.metadata_edit.setPlaceholderText("Optional. A CSV with one row per photo (path, equipment, date…)")
        self.metadata_edit.setClearButtonEnabled(True)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.choose_metadata)
        csv_row = QHBoxLayout()
        csv_row.addWidget(self.metadata_edit, 1)
        csv_row.addWidget(browse)
        form.addRow("Metadata CSV", csv_row)
        self.layout_edit = QLineEdit()
        self.layout_edit.setPlaceholderText(LAYOUT_HELP)
        self.layout_edit.setClearButtonEnabled(True)
        if last_layout := self._preference("last_layout"):  # offered as the user starts typing, never imposed
            self.layout_edit.setCompleter(QCompleter([last_layout], self.layout_edit))
        form.addRow("Folder layout", self.layout_edit)
        self.folders.rowsInserted.connect(self._inputs_changed)
        self.folders.rowsRemoved.connect(self._inputs_changed)
        self.folders.modelReset.connect(self._inputs_changed)
        self.metadata_edit.textChanged.connect(self._inputs_changed)
        self.layout_edit.textChanged.connect(self._inputs_changed)
        return box

    def _build_preview(self) -> QWidget:
        box = QGroupBox("Preview")
        layout = QVBoxLayout(box)
        self.preview_summary = QLabel("Add a folder to see what will be imported.")
        self.preview_summary.setWordWrap(True)
        self.preview_model = PreviewTableModel(self)
        self.preview_table = QTableView()
        self.preview_table.setModel(self.preview_model)
        self.preview_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.preview_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.preview_table.horizontalHeader().setStretchLastSection(True)
        self.preview_table.verticalHeader().setDefaultSectionSize(self.fontMetrics().lineSpacing() + 6)
        self.preview_errors = QPlainTextEdit()
        self.preview_errors.setReadOnly(True)
        self.preview_errors.setMaximumHeight(80)
        self.preview_errors.hide()
        layout.addWidget(self.preview_summary)
        layout.addWidget(self.preview_table, 1)
        layout.addWidget(self.preview_errors)
        return box

    def _build_progress(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.report_view = QPlainTextEdit()
        self.report_view.setReadOnly(True)
        self.report_view.setMaximumHeight(110)
        self.report_view.hide()
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.report_view)
        return box

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addStretch(1)
        self.add_button = QPushButton(icon("add"), "Add photos")
        self.add_button.setDefault(True)
        self.add_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop adding; photos indexed so far are kept")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.hide)
        for button in (self.add_button, self.cancel_button, self.close_button):
            row.addWidget(button)
        return row

    # -- inputs --------------------------------------------------------------------------------
    def add_folder(self, folder: Path) -> None:
        self.folders.append(Path(folder))

    def set_metadata(self, path: Path | None) -> None:
        self.metadata_edit.setText(str(path) if path else "")

    def set_layout(self, pattern: str) -> None:
        self.layout_edit.setText(pattern)

    def metadata_path(self) -> Path | None:
        text = self.metadata_edit.text().strip()
        return Path(text) if text else None

    def layout_pattern(self) -> str | None:
        return self.layout_edit.text().strip() or None

    def choose_folder(self) -> None:
        start = self._preference("last_add_folder")
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of photos", start)
        if folder:
            self.add_folder(Path(folder))
            self._remember("last_add_folder", folder)

    def choose_files(self) -> None:
        start = self._preference("last_add_folder")
        photos = "Photos (*.jpg *.jpeg *.png *.tif *.tiff *.bmp *.webp);;All files (*)"
        names, _filter = QFileDialog.getOpenFileNames(self, "Add photos", start, photos)
        for name in names:
            self.add_folder(Path(name))  # the archive adds files and folders alike
        if names:
            self._remember("last_add_folder", str(Path(names[0]).parent))

    def choose_metadata(self) -> None:
        start = self._preference("last_metadata_folder")
        csv_filter = "CSV files (*.csv);;All files (*)"
        name, _filter = QFileDialog.getOpenFileName(self, "Metadata CSV", start, csv_filter)
        if name:
            self.set_metadata(Path(name))
            self._remember("last_metadata_folder", str(Path(name).parent))

    def remove_selected(self) -> None:
        self.folders.remove_rows(index.row() for index in self.folder_view.selectionModel().selectedRows())

    def _preference(self, key: str) -> str:
        return self._preferences.get(key) if self._preferences is not None else ""

    def _remember(self, key: str, value: str) -> None:
        if self._preferences is not None:
            self._preferences.set(key, value)

    def _inputs_changed(self, *_args: object) -> None:
        self._update_buttons()
        self._preview_timer.start()

    # -- preview -------------------------------------------------------------------------------
    def refresh_preview(self) -> None:
        """Ask the core what an add would import (on a worker; a newer request wins: one not started yet
        is dropped, one running is left to finish and its result ignored)."""
        self._preview_timer.stop()
        self._preview_runner.drop_queued()
        self._preview_generation += 1
        generation = self._preview_generation
        paths = self.folders.paths()
        if not paths:
            self._show_preview(generation, None)
            return
        metadata, layout = self.metadata_path(), self.layout_pattern()
        self.preview_summary.setText("Looking at the folders…")
        self._preview_runner.submit(
            lambda _p: preview_import(paths, metadata=metadata, layout=layout, limit=PREVIEW_LIMIT),
            lambda preview: self._show_preview(generation, preview),
            lambda error: self._preview_failed(generation, error),
            name="preview",
            context=self,
        )

    def _show_preview(self, generation: int, preview: ImportPreview | None) -> None:
        if generation != self._preview_generation:
            return
        self.last_preview = preview
        self.preview_model.set_preview(preview)
        self.preview_table.resizeColumnsToContents()
        if preview is None:
            self.preview_summary.setText("Add a folder to see what will be imported.")
            self.preview_errors.hide()
        else:
            shown = len(preview.rows)
            text = f"{preview.photo_count} photos found"
            if preview.csv_rows:
                text += f"; {preview.matched_metadata} of them match a row of the CSV ({preview.csv_rows} rows)"
            if shown < preview.photo_count:
                text += f". The first {shown} are shown."
            self.preview_summary.setText(text)
            self.preview_errors.setPlainText("\n".join(preview.errors))
            self.preview_errors.setVisible(bool(preview.errors))
        self.previewReady.emit()

    def _preview_failed(self, generation: int, error: BaseException) -> None:
        if generation != self._preview_generation:
            return
        self.last_preview = None
        self.preview_model.set_preview(None)
        self.preview_summary.setText(describe_error(error))
        self.preview_errors.hide()
        self.previewReady.emit()

    # -- adding --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Index the chosen folders on a worker thread."""
        paths = self.folders.paths()
        if not paths or self.running:
            return
        metadata, layout = self.metadata_path(), self.layout_pattern()
        if layout:
            self._remember("last_layout", layout)
        archive = self._archive
        self._estimator = RateEstimator()
        self.report_view.hide()
        self.progress_bar.setRange(0, 0)
        self.progress_label.setText("Starting…")
        self._task = self._runner.submit(
            lambda progress: archive.add(paths, metadata=metadata, layout=layout, progress=progress),
            self._finished,
            self._failed,
            self._progress,
            name="add",
        )
        self._update_buttons()
        self.addStarted.emit()

    def cancel(self) -> None:
        """Ask the add to stop; the core keeps what it has committed."""
        if self._task is not None:
            self._task.cancel()
            self.progress_label.setText("Cancelling — finishing the current batch…")
            self.cancel_button.setEnabled(False)

    def _progress(self, event: ProgressEvent) -> None:
        if self._task is None:
            return
        self._estimator.add(event)
        if event.total > 0:
            self.progress_bar.setRange(0, event.total)
            self.progress_bar.setValue(min(event.done, event.total))
        else:
            self.progress_bar.setRange(0, 0)
        if not self._task.cancelled:
            self.progress_label.setText(progress_text(event, self._estimator))
        self.progress.emit(event)

    def _finished(self, report: AddReport) -> None:
        self._task = None
        self.last_report = report
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        self.progress_label.setText("Cancelled." if report.cancelled else "Finished.")
        self._show_report(report_text(report))
        self._update_buttons()
        self.addFinished.emit(report)

    def _failed(self, error: BaseException) -> None:
        self._task = None
        self.last_report = None
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        if isinstance(error, Cancelled):
            text = CANCELLED_TEXT
        elif isinstance(error, ArchiveBusyError):
            text = BUSY_MESSAGE
        else:
            text = describe_error(error)
        self.progress_label.setText(text)
        self._update_buttons()
        self.addFinished.emit(None)

    def _show_report(self, text: str) -> None:
        self.report_view.setPlainText(text)
        self.report_view.show()

    def _update_buttons(self) -> None:
        running = self.running
        self.add_button.setEnabled(not running and bool(self.folders.paths()))
        self.cancel_button.setEnabled(running)
        for widget in (self.folder_view, self.metadata_edit, self.layout_edit, self.remove_button):
            widget.setEnabled(not running)

    def wait(self, msecs: int = -1) -> bool:
        """Block until the add and preview workers are idle (tests)."""
        return self._runner.wait(msecs) and self._preview_runner.wait(msecs)

    def shutdown(self, msecs: int = 60000) -> bool:
        """Cancel an add and wait for it (it writes to the archive; committed photos are kept). Previews
        are forgotten, not waited for: they read no archive and a walk of a large share cannot be stopped."""
        self._preview_timer.stop()
        self._preview_generation += 1
        self._preview_runner.cancel_all()
        self.cancel()
        return self._runner.wait(msecs)

    def closeEvent(self, event: QCloseEvent) -> None:
        # Closing hides the dialog; an add in progress carries on (the status bar shows it).
        event.accept()
        self.hide()

    def reject(self) -> None:
        self.hide()

