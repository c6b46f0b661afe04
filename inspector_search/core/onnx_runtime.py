"""The one way into ONNX Runtime: its telemetry is switched off before its native code starts.

Official onnxruntime wheels (1.31 and later on Linux and macOS) carry Microsoft's 1DS telemetry. When
its native module starts it creates a device id and an offline event store under
``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` (``deviceid``, ``onnxruntime.db``), queues a
"ProcessInfo" event (OS, CPU model, executable name) and, in a process that lives longer than about
nine seconds, resolves ``mobile.events.data.microsoft.com`` and uploads over HTTPS. That breaks the
product's promise: never online, nothing written outside the archive and the user's data folders.

What each switch does, from onnxruntime's own source (``core/platform/telemetry_1ds.cc``,
``core/platform/telemetry_environment.h``):

- ``ORT_DISABLE_TELEMETRY`` set to ``1`` (or true/yes/on/y) when the runtime initialises is the *full*
  opt-out on POSIX: it is latched for the whole process, the uploader is never created, no event is
  queued, no device id and no offline database are written. It is read once, from the process
  environment, when the native module starts: setting it later has no effect.
- ``onnxruntime.disable_telemetry_events()`` only stops *session* events; the uploader stays alive and
  ProcessInfo is still written and sent (the source says so), so on its own it is not enough. On
  Windows the runtime logs through ETW instead, which does not read the variable; there this call is
  the switch, and it is made too.
- A CI-like variable (``CI``, ``GITHUB_ACTIONS``, ...) also suppresses everything, which is why tests
  that want to prove *our* switch works must remove those variables from the child's environment.

``inspector_search/__init__.py`` sets the variable (overriding any value the user's environment
gives it), so every entry point that imports the package is covered before anything can load
onnxruntime; the frozen launchers, ``models/export.py`` and the benchmarks set it themselves too.
This module sets it again and is the only module that imports onnxruntime (a test checks that).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

TELEMETRY_SWITCH = "ORT_DISABLE_TELEMETRY"
TELEMETRY_OFF = "1"


def switch_off_telemetry() -> None:
    """Set onnxruntime's process-wide telemetry opt-out in this process's environment, whatever it was.

    Must run before onnxruntime is first imported; children started from here inherit it.
    """
    os.environ[TELEMETRY_SWITCH] = TELEMETRY_OFF


def import_onnxruntime() -> ModuleType:
    """``import onnxruntime`` with its telemetry off (see the module docstring); the module."""
    switch_off_telemetry()
    import onnxruntime

    onnxruntime.disable_telemetry_events()  # the switch on Windows (ETW); harmless where the variable ruled
    return onnxruntime
