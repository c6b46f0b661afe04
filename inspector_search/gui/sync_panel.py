"""Sync with the linked plant archive from the app: a File menu action, the sync state in the status
bar (last sync, photos not yet on the server, read from local files only: no connection), and the sync
itself on a worker with progress and cancel. Nothing connects unless the user chose to sync an
archive that was linked with ``inspector-search link URL``."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QProgressDialog, QWidget

from inspector_search.core.archive import sync_archive, sync_state
from inspector_search.core.errors import Cancelled, SharedArchiveError
from inspector_search.core.progress import ProgressEvent

from .messages import describe_error
from .workers import Task, TaskRunner


def describe_state(state: Any) -> str:
    """The status bar text of a sync state ("" when not linked)."""
    if state is None or state.url is None:
        return ""
    last = state.last_sync.replace("T", " ")[:16] + " UTC" if state.last_sync else "never"
    return f"Plant archive: last sync {last}, {state.pending} to send"


def describe_report(report: Any) -> str:
    text = (f"Synced: {report.pushed} photos sent, {report.pulled} received, {report.updated} updated"
            f"{f', {report.conflicts} edits kept from the server' if report.conflicts else ''}")
    if report.not_pulled:
        text += f"; {report.not_pulled} not received (size budget)"
    return text + "."


class SyncController(QObject):
    """Owns the sync action, the state label and the running sync of one main window."""

    synced = Signal(object)  # the SyncReport, after a sync that completed

    def __init__(self, archive: Any, window: QWidget) -> None:
        super().__init__(window)
        self.archive = archive
        self.window = window
        self.action = QAction("Sync with plant archive", window)
        self.action.setToolTip("Send new photos and edits to the linked plant archive and receive the others'")
        self.action.setEnabled(False)
        self.action.triggered.connect(self.start)
        self.label = QLabel()
        self.label.hide()
        self.dialog: QProgressDialog | None = None
        self.task: Task | None = None
        self.state: Any = None
        self._runner = TaskRunner(max_threads=1, parent=self)
        self.refresh_state()

    def refresh_state(self) -> None:
        """Re-read the sync state on a worker (local files only)."""
        archive = self.archive
        if getattr(archive, "is_shared", False):
            return
        self._runner.submit(lambda _p: sync_state(archive), self._state_read, lambda _e: None, context=self)

    def _state_read(self, state: Any) -> None:
        self.state = state
        text = describe_state(state)
        self.label.setText(text)
        self.label.setVisible(bool(text))
        self.action.setEnabled(bool(text) and self.task is None)

    def start(self) -> None:
        """Sync on a worker; the progress dialog's Cancel stops it between batches (what was exchanged stays)."""
        if self.task is not None:
            return
        self.dialog = QProgressDialog("Connecting to the plant archive…", "Cancel", 0, 0, self.window)
        self.dialog.setWindowTitle("Sync")
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(0)
        self.action.setEnabled(False)
        archive = self.archive
        self.task = self._runner.submit(lambda progress: sync_archive(archive, progress=progress),
                                        self._finished, self._failed, self._progress, context=self)
        self.dialog.canceled.connect(self.task.cancel)

    def _progress(self, event: ProgressEvent) -> None:
        if self.dialog is None:
            return
        what = "Sending" if event.phase == "pushing" else "Receiving"
        if event.total:
            self.dialog.setMaximum(event.total)
            self.dialog.setValue(event.done)
            self.dialog.setLabelText(f"{what} photos: {event.done} of {event.total}")
        else:
            self.dialog.setLabelText(f"{what} photos: {event.done}")

    def _done(self, message: str) -> None:
        self.task = None
        if self.dialog is not None:
            self.dialog.reset()
            self.dialog.deleteLater()
            self.dialog = None
        status_bar = getattr(self.window, "statusBar", None)
        if status_bar is not None:
            status_bar().showMessage(message, 10000)
        self.refresh_state()

    def _finished(self, report: Any) -> None:
        self._done(describe_report(report))
        self.synced.emit(report)

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, Cancelled):
            self._done("Sync cancelled; what was already exchanged is kept.")
        elif isinstance(error, SharedArchiveError):
            self._done(f"Sync failed: {error}")
        else:
            self._done(describe_error(error))

    def shutdown(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self._runner.shutdown()
