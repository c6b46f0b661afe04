"""API tokens: created and revoked on the command line, checked by the server on every request.

Tokens live in ``<archive>/api_tokens.json`` as SHA-256 hashes only (the token itself is shown once,
when it is created), with an id, a name, a scope (``read`` or ``write``; write includes read) and the
creation time. The file is written atomically with owner-only permissions; the server reads it again
whenever it changes, so a revoked token stops working at once, without a restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..core.atomic import atomic_write
from ..core.errors import InspectorSearchError

TOKENS_FILE = "api_tokens.json"
FORMAT_VERSION = 1
SCOPES = ("read", "write")
TOKEN_PREFIX = "isk_"


class TokenError(InspectorSearchError):
    """The token file cannot be used, or a token command was given something wrong."""


@dataclass(frozen=True)
class TokenRecord:
    """One stored token: never the token itself, only its hash."""

    id: str
    name: str
    scope: str
    created: str
    sha256: str

    def allows(self, scope: str) -> bool:
        """Whether this token may do what ``scope`` needs (write tokens may also read)."""
        return self.scope == "write" or scope == "read"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """The tokens of one archive folder. Thread-safe; re-reads the file when it changed on disk."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / TOKENS_FILE
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._records: tuple[TokenRecord, ...] = ()

    # -- reading ------------------------------------------------------------------------------------
    def records(self) -> tuple[TokenRecord, ...]:
        """Every stored token, oldest first (read again if the file changed)."""
        with self._lock:
            try:
                info = os.stat(self.path)
            except FileNotFoundError:
                self._stamp, self._records = None, ()
                return ()
            except OSError as exc:
                raise TokenError(f"{self.path}: cannot read ({exc.strerror})") from exc
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp != self._stamp:
                self._records = self._read()
                self._stamp = stamp
            return self._records

    def _read(self) -> tuple[TokenRecord, ...]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TokenError(f"{self.path}: not a readable token file ({exc})") from exc
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION or not isinstance(data.get("tokens"),
                                                                                                  list):
            raise TokenError(f"{self.path}: not a token file of version {FORMAT_VERSION}")
        try:
            return tuple(TokenRecord(**{k: str(row[k]) for k in TokenRecord.__dataclass_fields__})
                         for row in data["tokens"])
        except (KeyError, TypeError) as exc:
            raise TokenError(f"{self.path}: a token entry lacks {exc}") from exc

    def verify(self, token: str) -> TokenRecord | None:
        """The stored token matching ``token``, or None (compared in constant time)."""
        digest = _digest(token)
        found = None
        for record in self.records():
            if hmac.compare_digest(record.sha256, digest):
                found = record
        return found

    # -- writing ------------------------------------------------------------------------------------
    def create(self, scope: str, name: str = "") -> tuple[TokenRecord, str]:
        """A new token of ``scope``: its record and the token itself, which is not stored anywhere."""
        if scope not in SCOPES:
            raise TokenError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        existing = {r.id for r in self.records()}
        token_id = secrets.token_hex(4)
        while token_id in existing:
            token_id = secrets.token_hex(4)
        record = TokenRecord(token_id, name, scope, datetime.now(UTC).isoformat(timespec="seconds"), _digest(token))
        self._write((*self.records(), record))
        return record, token

    def revoke(self, token_id: str) -> TokenRecord:
        """Remove the token with this id; TokenError if there is none."""
        records = self.records()
        kept = tuple(r for r in records if r.id != token_id)
        if len(kept) == len(records):
            raise TokenError(f"no token with id {token_id!r} (see `inspector-search token list`)")
        self._write(kept)
        return next(r for r in records if r.id == token_id)

    def _write(self, records: tuple[TokenRecord, ...]) -> None:
        document = json.dumps({"version": FORMAT_VERSION, "tokens": [asdict(r) for r in records]}, indent=2)

        def write(handle) -> None:  # noqa: ANN001 - a binary file
            with contextlib.suppress(AttributeError, OSError):  # Windows has no fchmod; ACLs apply there
                os.fchmod(handle.fileno(), 0o600)
            handle.write(document.encode("utf-8"))

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, write)
        except OSError as exc:
            raise TokenError(f"{self.path}: cannot write ({exc.strerror or exc})") from exc
        with self._lock:
            self._stamp = None
