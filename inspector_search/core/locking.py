"""One writer at a time per archive: an OS-level lock on ``<archive>/lock``.

The lock is released by the operating system when the process dies, so a killed ``add`` never
leaves the archive locked.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from types import TracebackType

from .errors import ArchiveBusyError, LockFileError

_BUSY = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, errno.EDEADLK}
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
"""What the OS answers when another process holds the lock (flock: EWOULDBLOCK; msvcrt: EACCES/EDEADLK)."""


class WriterLock:
    """An exclusive, non-blocking lock file; raises :class:`ArchiveBusyError` if another writer holds it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock now; ArchiveBusyError naming the holder, LockFileError if the file is unusable."""
        fd = self._open()
        try:
            _lock(fd)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in _BUSY:
                reason = f"{exc.strerror or exc} (the file system may not support locks)"
                raise LockFileError(self.path, reason) from None
            raise ArchiveBusyError(
                f"another Inspector Search process{holder} is writing to {self.path.parent}; "
                "try again when it has finished"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError as exc:
            if exc.errno not in _DISK_FULL:  # the pid is only a courtesy to the next writer: a full disk may keep it
                _unlock(fd)
                os.close(fd)
                raise LockFileError(self.path, f"cannot write to it ({exc.strerror or exc})") from None
        self._fd = fd

    def _open(self) -> int:
        """The lock file opened for writing (created if missing); LockFileError saying why it cannot be."""
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except IsADirectoryError:
            reason = "a folder is in its place (remove the folder; the lock file is created again)"
        except PermissionError:
            reason = ("it is not writable by this user (give yourself write permission on it or delete it; "
                      "it holds no data)") if self.path.exists() else "the archive folder is not writable"
        except OSError as exc:
            reason = exc.strerror or str(exc)
        raise LockFileError(self.path, reason)

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        if self._fd is not None:
            try:
                _unlock(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        pid = os.read(fd, 32).decode(errors="replace").strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
