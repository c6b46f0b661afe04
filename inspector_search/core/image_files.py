"""Which files an ``add`` reads: the folders and files a user gave, walked into photo files.

Folders are walked recursively in a deterministic order; what cannot be read, and what is not a photo
file although it is named like one (a FIFO, a device, a name that is not UTF-8), is reported with a
reason instead of stopping the walk or blocking the commit of the other photos.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .imaging import SUPPORTED_EXTENSIONS, _os_reason


def iter_image_files(paths: Iterable[Path], on_error: Callable[[Path, str], None] | None = None) -> Iterator[Path]:
    """Expand the files and folders a user gave into image files, in a deterministic order.

    Folders are walked recursively (entries sorted by name) and give the files whose suffix is in
    :data:`SUPPORTED_EXTENSIONS`; files named explicitly are yielded whatever their suffix. Hidden
    entries (name starting with ``.``) are skipped inside folders. Symlinks are followed; a folder
    already walked (symlink loop or duplicate) is not walked again. Broken symlinks, unreadable folders
    and the like go to ``on_error(path, reason)`` and the walk goes on. Paths are absolute but not
    resolved, so a symlinked path stays as the user sees it.
    """
    report = on_error if on_error is not None else _ignore
    if isinstance(paths, str | os.PathLike):
        paths = [Path(paths)]
    walked: set[str] = set()
    yielded: set[Path] = set()
    for raw in paths:
        path = Path(raw).absolute()
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            report(path, _os_reason(path, exc))
            continue
        if stat.S_ISDIR(mode):
            found: Iterable[Path] = _walk(path, walked, report)
        elif stat.S_ISREG(mode):
            found = (path,)
        else:
            report(path, _special_kind(path))
            continue
        for file in found:
            if file in yielded:  # a file named and also inside a named folder comes once
                continue
            yielded.add(file)
            if _storable_name(file):
                yield file
            else:
                report(Path(printable_path(file)), UNSTORABLE_NAME)


UNSTORABLE_NAME = "file name is not valid UTF-8 (rename the file; the archive stores names as UTF-8)"


def _storable_name(path: Path) -> bool:
    """Whether the catalog can store the path: on POSIX a name is bytes, and some are not UTF-8 (e.g. Latin-1)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_path(path: Path | str) -> str:
    """The path as text that can be stored and shown: bytes that are not UTF-8 written as ``\\xe9`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _special_kind(path: Path) -> str:
    """Why a path that is neither a folder nor a regular file is not read: what it is (a FIFO would block the
    reader, a device like ``/dev/zero`` never ends)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return _os_reason(path, exc)
    kinds = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    kind = next((name for test, name in kinds if test(mode)), "a special file")
    via = "a symlink to " if os.path.islink(path) else ""
    return f"not a regular file: {via}{kind}"


def _ignore(path: Path, reason: str) -> None:
    """Default error sink of :func:`iter_image_files`."""


def _walk(root: Path, walked: set[str], report: Callable[[Path, str], None]) -> Iterator[Path]:
    """Depth-first walk with an explicit stack (no recursion limit), sorted, loop-safe."""
    if not _first_visit(root, walked, report):
        return
    stack = [iter(_sorted_entries(root, report))]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir():
                if _first_visit(path, walked, report):
                    stack.append(iter(_sorted_entries(path, report)))
            elif entry.is_file():
                if path.suffix.lower() in SUPPORTED_EXTENSIONS:
                    yield path
            elif entry.is_symlink() and not os.path.exists(path):
                report(path, "broken symlink")
            elif path.suffix.lower() in SUPPORTED_EXTENSIONS or entry.is_symlink():
                report(path, _special_kind(path))
        except OSError as exc:
            report(path, _os_reason(path, exc))


def _first_visit(folder: Path, walked: set[str], report: Callable[[Path, str], None]) -> bool:
    """Record a folder by its real path; False (and, for a symlink, a report) if it was walked already."""
    key = os.path.normcase(os.path.realpath(folder))
    if key in walked:
        if folder.is_symlink():
            report(folder, "symlink loop or duplicate folder (already scanned)")
        return False
    walked.add(key)
    return True


def _sorted_entries(folder: Path, report: Callable[[Path, str], None]) -> list[os.DirEntry[str]]:
    """The folder's entries sorted by name; an unreadable folder is reported and gives none."""
    try:
        with os.scandir(folder) as entries:
            found = list(entries)
    except OSError as exc:
        report(folder, _os_reason(folder, exc))
        return []
    found.sort(key=lambda entry: entry.name)
    return found
