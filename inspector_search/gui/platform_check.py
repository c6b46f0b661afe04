"""Before Qt starts on Linux: say in words which system libraries its window system needs and lacks.

PySide6 wheels carry Qt, but Qt's X11 platform plugin (``libqxcb.so``) links against xcb libraries
that a fresh Debian or Ubuntu desktop may not have. Qt then aborts with "xcb-cursor0 or
libxcb-cursor0 is needed" even when the libraries really missing are others (libxcb-icccm4 and
libxcb-keysyms1 on a fresh Debian 12). :func:`platform_problem` asks ``ldd`` which libraries the
plugin cannot find and names the Debian/Ubuntu packages that bring them; the app prints that and
exits with :data:`EXIT_MISSING_LIBRARIES` instead of letting Qt abort. Windows and macOS need nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

EXIT_MISSING_LIBRARIES = 4

#: Library file (soname) -> the Debian/Ubuntu package that installs it.
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-util.so.1": "libxcb-util1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxcb.so.1": "libxcb1",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
#: Every library Qt's xcb platform needs beyond a minimal system: what the README and .ci/run install.
XCB_PACKAGES = ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0", "libxcb-render-util0",
                "libxcb-xkb1", "libxkbcommon-x11-0", "libxcb-randr0", "libxcb-shape0", "libxcb-xinerama0",
                "libegl1", "libgl1", "libfontconfig1", "libdbus-1-3")

_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


def missing_in_ldd_output(text: str) -> list[str]:
    """The sonames ``ldd`` reported as "not found", each once, in the order listed."""
    return list(dict.fromkeys(_NOT_FOUND.findall(text)))


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package holding ``soname`` (a guess from its name when it is not in the table)."""
    if soname in DEBIAN_PACKAGES:
        return DEBIAN_PACKAGES[soname]
    stem, _, version = soname.partition(".so.")
    stem = stem.lower()
    return f"{stem}-{version}" if stem[-1:].isdigit() else f"{stem}{version}"


def missing_libraries(library: Path, run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> list[str]:
    """Sonames ``library`` needs (directly or through another library) that the system cannot find;
    empty when all are found or when ``ldd`` is not there to ask."""
    ldd = shutil.which("ldd")
    if ldd is None or not library.is_file():
        return []
    try:
        proc = run([ldd, str(library)], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return missing_in_ldd_output(proc.stdout)


def xcb_plugin() -> Path | None:
    """Qt's X11 platform plugin as this PySide6 (or a frozen bundle) ships it, if present."""
    from PySide6.QtCore import QLibraryInfo  # QtCore only: it needs none of the window system's libraries

    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def uses_xcb(environ: Mapping[str, str]) -> bool:
    """Whether Qt will start on X11 (xcb): asked for, or the default without a Wayland session."""
    platform = environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0].split(";", 1)[0]
    if platform:
        return platform == "xcb"
    return not environ.get("WAYLAND_DISPLAY")


def explain_missing(sonames: list[str]) -> str:
    """The message for missing libraries: which, and the command that installs them."""
    packages = list(dict.fromkeys(debian_package(name) for name in sonames))
    return (
        "The desktop app cannot open a window: Qt's X11 support needs system libraries that are not "
        f"installed ({', '.join(sonames)}).\n"
        f"On Debian or Ubuntu install them with:\n    sudo apt-get install {' '.join(packages)}\n"
        f"(all of what Qt's X11 support may need: sudo apt-get install {' '.join(XCB_PACKAGES)})\n"
        "The command line (inspector-search search ...) works without them."
    )


def platform_problem(environ: Mapping[str, str] | None = None, platform: str = sys.platform,
                     plugin: Path | None = None,
                     find_missing: Callable[[Path], list[str]] = missing_libraries) -> str | None:
    """Why Qt cannot start its window system here, in words, or ``None`` when nothing is known to stop it."""
    environ = os.environ if environ is None else environ
    if not platform.startswith("linux") or not uses_xcb(environ):
        return None
    plugin = plugin or xcb_plugin()
    if plugin is not None:
        missing = find_missing(plugin)
        if missing:
            return explain_missing(missing)
    if not environ.get("DISPLAY"):
        return ("The desktop app needs a display, and DISPLAY is not set (no X11 session). Start it from a "
                "desktop session, or use the command line (inspector-search --help).")
    return None
