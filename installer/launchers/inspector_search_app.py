"""Entry script of the frozen windowed executable ``InspectorSearch`` (the desktop app).

It runs ``inspector_search.gui.app.main`` and adds one thing a desktop app on Linux needs: SIGTERM
(logout, shutdown, ``kill``) and SIGINT (Ctrl+C in a terminal) close the windows the way the user
would, so window state is saved, background work is stopped and the archive is closed, and the
process exits with status 0. Without it Qt's event loop never lets Python see the signal and the
process dies mid-write. On Windows these signals do not reach a windowed process; nothing changes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import sys

# onnxruntime's telemetry off before anything can load it (inspector_search/core/onnx_runtime.py).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

CLOSE_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT") if hasattr(signal, name))
_KEEP_ALIVE: list[object] = []


def close_windows_on_signals() -> None:
    """Make SIGTERM and SIGINT close every window and end the event loop (see the module docstring).

    The signal's C handler writes to a socket (``signal.set_wakeup_fd``); a ``QSocketNotifier`` on
    the other end wakes the Qt event loop, which then runs the Python code that closes the windows.
    """
    from PySide6.QtCore import QSocketNotifier

    from inspector_search.gui.app import create_application

    app = create_application()
    receiver, sender = socket.socketpair()
    receiver.setblocking(False)
    sender.setblocking(False)
    signal.set_wakeup_fd(sender.fileno(), warn_on_full_buffer=False)
    for number in CLOSE_SIGNALS:
        signal.signal(number, lambda *_: None)  # the work happens in the Qt event loop below
    notifier = QSocketNotifier(receiver.fileno(), QSocketNotifier.Type.Read, app)

    def close_everything() -> None:
        with contextlib.suppress(BlockingIOError):
            receiver.recv(64)
        app.closeAllWindows()
        app.quit()

    notifier.activated.connect(close_everything)
    _KEEP_ALIVE.extend((receiver, sender, notifier))  # alive as long as the process


def run() -> int:
    """Start the desktop app with signal handling; the process exit code."""
    from inspector_search.gui.app import main, parse_args

    parse_args(sys.argv[1:])  # --help and --version answer before any window system is needed
    close_windows_on_signals()
    return main()


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(run())
