"""Checks made before SQLite touches an existing catalog file, so that a catalog that cannot be used
is refused with a clear reason and left exactly as it is: a read-only folder, a damaged write-ahead
log (which SQLite would silently discard, with the last saved changes in it), a full disk."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import struct
import time
from pathlib import Path

from .errors import CatalogError

_WAL_MAGICS = (0x377F0682, 0x377F0683)  # little- / big-endian checksums
_WAL_FORMAT = 3007000


def unreadable_reason(path: Path, exc: sqlite3.DatabaseError) -> str:
    """Why an existing catalog cannot be read: a full disk (SQLite cannot create its shared-memory
    file), another I/O failure, or a file that is damaged or not a database at all."""
    if isinstance(exc, sqlite3.OperationalError):
        with contextlib.suppress(OSError):
            if shutil.disk_usage(path.parent).free < 1 << 20:
                return f"cannot open the catalog: the disk is full ({exc}); free some space; left untouched"
        return f"cannot read the catalog ({exc}); left untouched"
    return f"damaged or not an SQLite database ({exc}); left untouched"


def refuse_read_only_folder(path: Path) -> None:
    """A clear refusal when the catalog cannot be written (SQLite would only say "unable to open")."""
    folder = path.parent
    if folder.is_dir() and not (os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))):
        raise CatalogError(path, f"the archive folder {folder} is read-only; Inspector Search must be able to "
                                 "write there (catalog journal, index, lock); copy the archive to a writable folder")


def refuse_damaged_wal(path: Path) -> None:
    """Refuse a catalog whose write-ahead log is not a WAL file. SQLite would silently discard it, and
    with it the last committed changes; both files are left for a person to look at instead. A
    zero-filled header (what a power cut can leave, the WAL not being synced) holds nothing SQLite
    could recover, so that one is let through."""
    wal = path.with_name(path.name + "-wal")
    for _attempt in range(3):
        try:
            with open(wal, "rb") as handle:
                header = handle.read(32)
        except OSError:
            return  # no WAL (the usual case) or unreadable: SQLite reports the latter itself
        if not any(header) or wal_header_is_valid(header):  # empty or zero-filled (a power cut): nothing to lose
            return
        time.sleep(0.05)  # another process may be rewriting the header this very moment
    raise CatalogError(wal, "the catalog's write-ahead log is damaged (not an SQLite WAL file); the last saved "
                            "changes may be in it, so both files are left untouched. Move this file aside to "
                            "open the catalog as it was at its last checkpoint")


def wal_header_is_valid(header: bytes) -> bool:
    """True if ``header`` (the first 32 bytes of a ``-wal`` file) is an intact SQLite WAL header:
    magic number, format version and the header checksum (sqlite.org/fileformat.html#wal_file_format)."""
    if len(header) < 32:
        return False
    magic, version = struct.unpack(">II", header[:8])
    if magic not in _WAL_MAGICS or version != _WAL_FORMAT:
        return False
    words = struct.unpack((">" if magic & 1 else "<") + "6I", header[:24])
    s1 = s2 = 0
    for x0, x1 in zip(words[::2], words[1::2], strict=True):
        s1 = (s1 + x0 + s2) & 0xFFFFFFFF
        s2 = (s2 + x1 + s1) & 0xFFFFFFFF
    return struct.unpack(">II", header[24:32]) == (s1, s2)


def shorter_than_its_header(path: Path) -> bool:
    """True when the file is shorter than the page count in its SQLite header (bytes 28-31, valid
    when bytes 92-95 match the change counter at 24-27): a truncated copy, found without reading it.
    Not judged while a WAL holds frames: a checkpoint cut short may legitimately leave the file short."""
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return False
    with open(path, "rb") as handle:
        head = handle.read(100)
    if len(head) < 100 or head[24:28] != head[92:96]:
        return False
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    return path.stat().st_size < int.from_bytes(head[28:32], "big") * page_size
