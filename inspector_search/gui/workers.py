"""Run core calls off the GUI thread and hand their results back to it through Qt signals.

A :class:`Task` wraps one function call. It is a ``QObject`` created on the GUI thread, so its
signals, emitted on a pool thread, reach slots on the GUI thread through queued connections.
The function receives a Qt-free :class:`~inspector_search.core.progress.Progress`: progress it
reports becomes the ``progress`` signal, and :meth:`Task.cancel` asks the job to stop.
A task that has not started yet can be dropped (:meth:`TaskRunner.drop`): it never runs and never reports,
so a superseded request costs nothing.

A ``QThreadPool`` waits for its running jobs when it is destroyed, so a window closing would wait for a
folder walk or a ``stat()`` hung on an offline share. Work that holds nothing the app must close (no
archive access) runs on a ``TaskRunner(daemon=True)`` instead: Python daemon threads, never waited for.
"""

from __future__ import annotations

import inspect
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal, Slot

from inspector_search.core.progress import Progress, ProgressEvent


class _Reporter:
    """Emits a task's ``progress`` signal while the task exists, without keeping it alive."""

    def __init__(self, task: Task) -> None:
        self._task = weakref.ref(task)

    def __call__(self, event: ProgressEvent) -> None:
        task = self._task()
        if task is not None:
            task.progress.emit(event)


class Task(QObject):
    """One function call on a worker thread; exactly one of ``finished``/``failed`` is emitted,
    unless the task was dropped before it started (then neither is)."""

    finished = Signal(object)
    failed = Signal(object)
    progress = Signal(object)

    def __init__(self, fn: Callable[[Progress], Any], name: str = "") -> None:
        super().__init__()
        self.setObjectName(name)
        self._fn = fn
        # The channel must not hold the task: a task in a reference cycle is freed by the garbage collector,
        # which can run inside another QObject's destructor and deadlock on Qt's connection lock.
        self.channel = Progress(_Reporter(self))
        self._lock = threading.Lock()
        self._started = False
        self._dropped = False

    def cancel(self) -> None:
        """Ask the job to stop at its next check point (it decides what "stop" keeps)."""
        self.channel.cancel()

    @property
    def cancelled(self) -> bool:
        return self.channel.cancelled

    def drop(self) -> bool:
        """Make sure the job never runs if it has not started yet; True if it will not run."""
        with self._lock:
            if not self._started:
                self._dropped = True
            return self._dropped

    @property
    def dropped(self) -> bool:
        return self._dropped

    def run(self) -> None:
        """Runs on a pool thread (a dropped task returns at once)."""
        with self._lock:
            if self._dropped:
                return
            self._started = True
        try:
            result = self._fn(self.channel)
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the GUI thread
            self.failed.emit(exc)
        else:
            self.finished.emit(result)


def _while_alive(context: QObject, callback: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
    """``callback``, skipped once ``context`` is gone (a dialog closed and deleted). Neither is kept alive
    by it: a method of ``context`` is held weakly, like ``context`` itself."""
    if callback is None:
        return None
    context_ref = weakref.ref(context)
    held: Callable[[], Callable[[Any], None] | None]
    if inspect.ismethod(callback) and callback.__self__ is context:
        held = weakref.WeakMethod(callback)
    else:
        held = lambda: callback  # noqa: E731 - a plain function or a method of something else: keep it

    def call(value: Any) -> None:
        alive, fn = context_ref(), held()
        if alive is not None and fn is not None and shiboken6.isValid(alive):
            fn(value)

    return call


class DaemonPool:
    """The part of ``QThreadPool`` a :class:`TaskRunner` uses, on Python daemon threads: neither its
    destruction nor the process exit waits for a running job (its late result is simply never delivered).
    Threads start on demand, up to ``max_threads``, and never expire.

    A job that has run is not let go on its worker but kept until :meth:`release_spent` (GUI thread): a job
    holds its task, a QObject of the GUI thread, and freeing one on a worker while its runner was being
    destroyed crashed.
    """

    def __init__(self, max_threads: int) -> None:
        self._max_threads = max(1, max_threads)
        self._jobs: deque[Callable[[], None]] = deque()
        self._spent: list[Callable[[], None]] = []
        self._cond = threading.Condition()
        self._threads = 0
        self._idle = 0
        self._running = 0

    def maxThreadCount(self) -> int:
        return self._max_threads

    def expiryTimeout(self) -> int:
        return -1

    def start(self, job: Callable[[], None]) -> None:
        with self._cond:
            self._jobs.append(job)
            if self._idle < len(self._jobs) and self._threads < self._max_threads:
                self._threads += 1
                threading.Thread(target=self._work, name="daemon-task", daemon=True).start()
            self._cond.notify()

    def clear(self) -> None:
        """Forget the jobs that have not started."""
        with self._cond:
            self._jobs.clear()
            self._cond.notify_all()

    def release_spent(self) -> None:
        """Let go of the jobs that have run, on the calling thread (the GUI thread)."""
        with self._cond:
            spent, self._spent = self._spent, []
        spent.clear()

    def waitForDone(self, msecs: int = -1) -> bool:
        """Block until no job is queued or running (tests); True if so within ``msecs`` (-1: no limit)."""
        deadline = None if msecs < 0 else time.monotonic() + msecs / 1000
        with self._cond:
            while self._jobs or self._running:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _work(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                while not self._jobs:
                    self._cond.wait()
                self._idle -= 1
                job = self._jobs.popleft()
                self._running += 1
            try:
                job()
            finally:
                with self._cond:
                    self._spent.append(job)
                    job = None  # the last reference is dropped by release_spent, on the GUI thread
                    self._running -= 1
                    self._cond.notify_all()


class TaskRunner(QObject):
    """A private thread pool that keeps its tasks alive until their result reached the GUI thread.

    Its threads never expire: each one keeps whatever per-thread state the core opened (a catalog
    connection), so the number of such connections is bounded by ``max_threads``.

    With ``daemon=True`` the jobs run on a :class:`DaemonPool`, which nothing waits for: only for work
    that touches no archive (decoding a dropped photo, ``stat()``, a preview walk of folders).
    """

    def __init__(self, max_threads: int = 2, parent: QObject | None = None, daemon: bool = False) -> None:
        super().__init__(parent)
        self._pool: QThreadPool | DaemonPool
        if daemon:
            self._pool = DaemonPool(max_threads)
        else:
            self._pool = QThreadPool(self)
            self._pool.setMaxThreadCount(max_threads)
            self._pool.setExpiryTimeout(-1)
        self._tasks: set[Task] = set()

    @property
    def pool(self) -> QThreadPool | DaemonPool:
        return self._pool

    def submit(
        self,
        fn: Callable[[Progress], Any],
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[ProgressEvent], None] | None = None,
        name: str = "",
        context: QObject | None = None,
    ) -> Task:
        """Start ``fn(progress)`` on the pool; callbacks run on the GUI thread (with a ``context``,
        only while that object still exists, so a closed dialog is never called back)."""
        if context is not None:
            on_finished = _while_alive(context, on_finished)
            on_failed = _while_alive(context, on_failed)
            on_progress = _while_alive(context, on_progress)
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
        self._release_spent()
        self._pool.start(task.run)
        return task

    @Slot(object)
    def _forget(self, _result: object) -> None:
        task = self.sender()
        if isinstance(task, Task):
            self._tasks.discard(task)
        if isinstance(self._pool, DaemonPool):
            self._release_spent()
            # The worker hands the job back just after this result was sent: let go of it then, not at the
            # next submit (a pasted image's job holds the full-size image).
            QTimer.singleShot(0, self, self._release_spent)

    @Slot()
    def _release_spent(self) -> None:
        if isinstance(self._pool, DaemonPool):
            self._pool.release_spent()

    @property
    def active(self) -> int:
        """Tasks submitted (and not dropped) whose result has not reached the GUI thread yet."""
        return len(self._tasks)

    def drop(self, task: Task) -> bool:
        """Drop ``task`` if it has not started: it will never run nor report. True if it was dropped."""
        if task.drop():
            self._tasks.discard(task)
            return True
        return False

    def drop_queued(self) -> int:
        """Drop every task that has not started yet; returns how many were dropped."""
        return sum(self.drop(task) for task in list(self._tasks))

    def cancel_all(self) -> None:
        """Drop queued tasks and ask running ones to stop."""
        self._pool.clear()
        self.drop_queued()
        for task in list(self._tasks):
            task.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the pool's threads are idle (for shutdown and tests); True if they are."""
        done = self._pool.waitForDone(msecs)
        self._release_spent()
        return done

    def shutdown(self, msecs: int = 30000) -> bool:
        self.cancel_all()
        return self.wait(msecs)
