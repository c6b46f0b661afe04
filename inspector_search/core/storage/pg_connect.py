"""Connections to a shared archive's PostgreSQL server: URL handling, passwords, typed errors.

A URL is a libpq connection string (``postgresql://user@host:5432/plant?sslmode=verify-full``
or ``host=... dbname=...``). A password never goes into a file of ours: if the URL carries none,
libpq's own sources are used (``PGPASSWORD``, the passfile ``~/.pgpass``) and, before them, the
OS keyring entry that :func:`remember_password` stored (``keyring``). psycopg is imported on first
use, so the offline app never loads it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import SharedArchiveError

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

KEYRING_SERVICE = "inspector-search"
URL_PREFIXES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_SECONDS = 10


def is_server_url(text: str | object) -> bool:
    """Whether an ``--archive`` value names a PostgreSQL server rather than a folder."""
    return isinstance(text, str) and text.startswith(URL_PREFIXES)


def _driver() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # an installation without the shared-archive extra
        raise SharedArchiveError("a shared archive needs psycopg: pip install 'inspector-search[shared]'") from exc
    return psycopg


def parse_url(url: str) -> dict[str, str]:
    """The URL's connection parameters (raises SharedArchiveError naming the problem, not the password)."""
    psycopg = _driver()
    try:
        return psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise SharedArchiveError(f"not a PostgreSQL URL: {redact(url)} ({str(exc).splitlines()[0]})") from None


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.split("@", 1)
        if ":" in credentials:
            credentials = credentials.split(":", 1)[0] + ":***"
        url = f"{scheme}://{credentials}@{host}"
    if "password=" in url:
        url = " ".join("password=***" if part.startswith("password=") else part for part in url.split(" "))
    return url


def keyring_key(params: dict[str, str]) -> str:
    """The keyring user name of a server login: ``user@host:port/dbname``."""
    return (f"{params.get('user', '')}@{params.get('host', '')}:{params.get('port', '5432')}/"
            f"{params.get('dbname', '')}")


def _keyring_password(params: dict[str, str]) -> str | None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, keyring_key(params))
    except (KeyringError, RuntimeError) as exc:  # no usable backend on this machine
        log.debug("keyring unavailable: %s", exc)
        return None


def remember_password(url: str, password: str) -> str:
    """Store the password of the URL's login in the OS keyring (never in a file of ours); returns the key.
    Raises SharedArchiveError when this machine has no keyring (then use PostgreSQL's passfile)."""
    params = parse_url(url)
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError as exc:
        raise SharedArchiveError("remembering a password needs the keyring package") from exc
    key = keyring_key(params)
    try:
        keyring.set_password(KEYRING_SERVICE, key, password)
    except (KeyringError, RuntimeError) as exc:
        raise SharedArchiveError(f"no OS keyring on this machine ({exc}); put the password in PostgreSQL's "
                                 "passfile (~/.pgpass, mode 0600) instead") from None
    return key


def connect(url: str, *, autocommit: bool = False, vectors: bool = True) -> psycopg.Connection:
    """A new connection to the server (``vectors``: with pgvector's numpy adapters registered).
    Raises SharedArchiveError naming the server (password redacted) when it cannot be reached."""
    psycopg = _driver()
    params = parse_url(url)
    extra: dict[str, Any] = {"connect_timeout": params.get("connect_timeout", CONNECT_TIMEOUT_SECONDS),
                             "application_name": params.get("application_name", "inspector-search")}
    if "password" not in params:
        stored = _keyring_password(params)
        if stored is not None:
            extra["password"] = stored
    try:
        conn = psycopg.connect(url, autocommit=autocommit, **extra)
    except psycopg.OperationalError as exc:
        raise SharedArchiveError(f"{redact(url)}: cannot connect ({_first_line(exc)})") from None
    if vectors:
        try:
            from pgvector.psycopg import register_vector

            register_vector(conn)
        except psycopg.ProgrammingError:
            conn.close()
            raise SharedArchiveError(f"{redact(url)}: the pgvector extension is not installed in this database; "
                                     "run `inspector-search server init URL`") from None
        if not autocommit:
            conn.commit()
    return conn


@contextlib.contextmanager
def translated(url: str, doing: str) -> Iterator[None]:
    """Turn psycopg errors raised inside into SharedArchiveError ``<server>: <doing> failed (<reason>)``."""
    psycopg = _driver()
    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        raise SharedArchiveError(f"{redact(url)}: {doing}: permission denied ({_first_line(exc)})") from None
    except psycopg.OperationalError as exc:
        raise SharedArchiveError(f"{redact(url)}: {doing}: connection lost ({_first_line(exc)}); "
                                 "nothing half-done was kept, run it again") from None
    except psycopg.Error as exc:
        raise SharedArchiveError(f"{redact(url)}: {doing} failed ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
