"""Atomic file replacement: a reader sees either the old file or the complete new one, never a torn mix.

The archive's derived files (``projection.npz``, ``index.hnsw``) are rewritten while a GUI may be
reading them and a power cut may strike at any moment. Every such write goes through
:func:`atomic_write`: the data is written to a temporary file in the *same folder* (so the final
``os.replace`` is a rename on one file system), flushed and fsynced, renamed over the target, and
then the folder itself is fsynced (POSIX only) so that the rename survives a crash. On any failure
the temporary file is removed and the old target is left untouched.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_write_bytes", "fsync_directory", "leftover_temporary_files", "temporary_path"]

_TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")


def temporary_path(path: Path) -> Path:
    """Return an unused-looking hidden temporary name next to ``path`` (same folder, same file system).

    The name starts with ``.`` and ends with ``.tmp`` so that a stray leftover is easy to recognise
    and sweep; a random part keeps concurrent writers from colliding.
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{_TEMP_SUFFIX}")


def atomic_write(path: Path, write_fn: Callable[[BinaryIO], object]) -> None:
    """Create or replace ``path`` atomically with whatever ``write_fn(file)`` writes to the binary file.

    Why: a crash or an exception in ``write_fn`` must never leave a half-written derived file in
    place of a good one. The temporary file is created with the usual permissions (0o666 minus the
    umask, unlike ``mkstemp``'s 0o600) so that other users of a shared archive can still read it.
    Exceptions from ``write_fn``, the disk or ``os.replace`` propagate unchanged after clean-up.
    """
    path = Path(path)
    tmp = temporary_path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write_fn(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Create or replace ``path`` atomically with ``data`` (see :func:`atomic_write`)."""
    atomic_write(path, lambda handle: handle.write(data))


def fsync_directory(folder: Path) -> None:
    """Flush a folder's entry table to disk so that a just-completed rename survives a power cut.

    Skipped on Windows, where folders cannot be opened for fsync; errors from file systems that do
    not support it (some network shares) are ignored because the data itself is already durable.
    """
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def leftover_temporary_files(folder: Path, older_than: float = 60.0) -> list[Path]:
    """Temporary files (named by :func:`temporary_path`) directly in ``folder`` whose last change is
    more than ``older_than`` seconds ago: leftovers of writes killed before they could clean up.

    Why the age: a fresh one may belong to a write or an index load in progress in another
    process, so only old ones are safe to delete. Nothing ever loads these files.
    """
    limit = time.time() - older_than
    found = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        if _TEMP_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < limit:
                    found.append(Path(entry.path))
    return sorted(found)
