"""A small Qt-free progress and cancellation channel for long core jobs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from .errors import Cancelled


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: ``done`` of ``total`` units finished, with a short phase label."""

    done: int
    total: int
    phase: str = ""
    message: str = ""


class Progress:
    """Passed into long jobs: they call :meth:`report` and :meth:`check`; the caller may :meth:`cancel`.

    The callback runs on the job's thread; a GUI must marshal it to its own thread.
    """

    def __init__(self, callback: Callable[[ProgressEvent], None] | None = None) -> None:
        self._callback = callback
        self._cancel = threading.Event()

    def report(self, done: int, total: int, phase: str = "", message: str = "") -> None:
        """Tell the caller how far the job has got."""
        if self._callback is not None:
            self._callback(ProgressEvent(done, total, phase, message))

    def cancel(self) -> None:
        """Ask the job to stop at its next check point (thread-safe)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._cancel.is_set():
            raise Cancelled("cancelled by the user")
