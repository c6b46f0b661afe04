"""Run core calls off the GUI thread and hand their results back to it through Qt signals.

A :class:`Task` wraps one function call. It is a ``QObject`` created on the GUI thread, so its
signals, emitted on a pool thread, reach slots on the GUI thread through queued connections.
The function receives a Qt-free :class:`~inspector_search.core.progress.Progress`: progress it
reports becomes the ``progress`` signal, and :meth:`Task.cancel` asks the job to stop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot

from inspector_search.core.progress import Progress, ProgressEvent


class Task(QObject):
    """One function call on a worker thread; exactly one of ``finished``/``failed`` is emitted."""

    finished = Signal(object)
    failed = Signal(object)
    progress = Signal(object)

    def __init__(self, fn: Callable[[Progress], Any], name: str = "") -> None:
        super().__init__()
        self.setObjectName(name)
        self._fn = fn
        self.channel = Progress(self._report)

    def _report(self, event: ProgressEvent) -> None:
        self.progress.emit(event)

    def cancel(self) -> None:
        """Ask the job to stop at its next check point (it decides what "stop" keeps)."""
        self.channel.cancel()

    @property
    def cancelled(self) -> bool:
        return self.channel.cancelled

    def run(self) -> None:
        """Runs on a pool thread."""
        try:
            result = self._fn(self.channel)
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the GUI thread
            self.failed.emit(exc)
        else:
            self.finished.emit(result)


class TaskRunner(QObject):
    """A private thread pool that keeps its tasks alive until their result reached the GUI thread."""

    def __init__(self, max_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._tasks: set[Task] = set()

    def submit(
        self,
        fn: Callable[[Progress], Any],
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[ProgressEvent], None] | None = None,
        name: str = "",
    ) -> Task:
        """Start ``fn(progress)`` on the pool; callbacks run on the GUI thread."""
        task = Task(fn, name)
        if on_finished is not None:
            task.finished.connect(on_finished)
        if on_failed is not None:
            task.failed.connect(on_failed)
        if on_progress is not None:
            task.progress.connect(on_progress)
        task.finished.connect(self._forget)
        task.failed.connect(self._forget)
        self._tasks.add(task)
        self._pool.start(task.run)
        return task

    @Slot(object)
    def _forget(self, _result: object) -> None:
        task = self.sender()
        if isinstance(task, Task):
            self._tasks.discard(task)

    @property
    def active(self) -> int:
        """Tasks submitted whose result has not reached the GUI thread yet."""
        return len(self._tasks)

    def cancel_all(self) -> None:
        """Drop queued tasks and ask running ones to stop."""
        self._pool.clear()
        for task in list(self._tasks):
            task.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the pool's threads are idle (for shutdown and tests); True if they are."""
        return self._pool.waitForDone(msecs)

    def shutdown(self, msecs: int = 30000) -> bool:
        self.cancel_all()
        return self.wait(msecs)
