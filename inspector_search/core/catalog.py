"""The catalog: one SQLite file (WAL) holding sites, equipment, inspections, photos, files and features.

The catalog is the archive's single source of truth; the vector index and PCA are derived from the
feature vectors stored here. Every thread gets its own connection, so a GUI can read while a
worker writes. Writes happen inside :meth:`Catalog.transaction` (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .catalog_guards import (
    refuse_damaged_wal,
    refuse_read_only_folder,
    shorter_than_its_header,
    unreadable_reason,
)
from .clustering import CLUSTER_SCHEMA
from .errors import CatalogError, SchemaTooNewError
from .filter_columns import FilterColumns
from .labels import LABELS_SCHEMA
from .records import SearchFilter
from .text_search import TEXT_SCHEMA

if TYPE_CHECKING:
    import sqlite_utils

APPLICATION_ID = 0x49535231  # "ISR1": marks the file as ours
SCHEMA_VERSION = 5
QUICK_CHECK_MAX_BYTES = 256 * 1024 * 1024
"""Catalogs up to this size get SQLite's ``quick_check`` at every open (it reads the whole file: ~0.4 s
per 256 MB from the page cache); bigger ones (256 MB is ~55k photos) only the O(1) truncation check,
because at 1M photos (4.5 GB) quick_check made opening take 4 s warm and 100 s cold."""
_OPEN_RETRY_SECONDS = 30.0  # as long as busy_timeout: the other instance finishes well before
FEATURE_DTYPE = np.float16  # stored features: half the size of float32, PCA/index rebuilt from these

_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sites (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE equipment (
    id INTEGER PRIMARY KEY, tag TEXT NOT NULL UNIQUE, name TEXT, type TEXT,
    site_id INTEGER REFERENCES sites(id), area TEXT, extra TEXT);
CREATE TABLE inspections (
    id INTEGER PRIMARY KEY, equipment_id INTEGER NOT NULL REFERENCES equipment(id),
    inspected_on TEXT, inspector TEXT, notes TEXT);
CREATE UNIQUE INDEX inspections_key ON inspections(equipment_id, COALESCE(inspected_on, ''),
    COALESCE(inspector, ''));
CREATE TABLE images (
    id INTEGER PRIMARY KEY, content_hash TEXT NOT NULL UNIQUE, byte_size INTEGER NOT NULL,
    width INTEGER, height INTEGER, format TEXT, taken_at TEXT,
    site_id INTEGER REFERENCES sites(id), equipment_id INTEGER REFERENCES equipment(id),
    inspection_id INTEGER REFERENCES inspections(id), notes TEXT, extra TEXT,
    deleted INTEGER NOT NULL DEFAULT 0, added_at TEXT NOT NULL);
CREATE INDEX images_equipment ON images(equipment_id);
CREATE INDEX images_site ON images(site_id);
CREATE TABLE files (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, image_id INTEGER NOT NULL REFERENCES images(id),
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    seen_at TEXT NOT NULL);
CREATE INDEX files_image ON files(image_id);
CREATE TABLE features (
    image_id INTEGER NOT NULL REFERENCES images(id), model_id TEXT NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (image_id, model_id));
CREATE TABLE skipped (path TEXT PRIMARY KEY, reason TEXT NOT NULL, seen_at TEXT NOT NULL);
"""

_LOCAL_FEATURES_V5 = """
CREATE TABLE local_features (image_id INTEGER PRIMARY KEY REFERENCES images(id), data BLOB NOT NULL);
"""
"""Keypoints for geometric verification (``core.local_features``), one blob per photo. An archive made
before this table gets them from ``fill_local_features`` (resumable); photos without a row are
simply not verified."""

# Named migrations: index i upgrades schema version i to i + 1. Version 0 is an empty file.
MIGRATIONS: list[tuple[str, str]] = [
    ("create schema v1", _SCHEMA_V1),
    ("labels and the label log", LABELS_SCHEMA),
    ("text search (FTS5) over labels, notes, equipment, sites, inspectors", TEXT_SCHEMA),
    ("clusters: centres and members", CLUSTER_SCHEMA),
    ("local features for geometric verification", _LOCAL_FEATURES_V5),
]

_PHOTO_COLUMNS = """
    i.id, i.width, i.height, i.taken_at, i.notes, i.extra, e.tag, e.name, e.type, s.name, e.area,
    n.inspected_on, n.inspector, n.notes,
    (SELECT f.path FROM files f WHERE f.image_id = i.id AND f.deleted = 0 ORDER BY f.id LIMIT 1)
"""
_PHOTO_JOINS = """
    FROM images i LEFT JOIN equipment e ON e.id = i.equipment_id
    LEFT JOIN sites s ON s.id = COALESCE(i.site_id, e.site_id)
    LEFT JOIN inspections n ON n.id = i.inspection_id
"""


def now_iso() -> str:
    """The current UTC time as an ISO string, for ``seen_at``/``added_at`` columns."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Catalog:
    """Opens (creating or migrating as needed) the catalog file; refuses damaged, foreign or newer files."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []  # and the thread of each
        self._lock = threading.Lock()
        self._columns: FilterColumns | None = None  # see filtered_image_ids
        self._columns_lock = threading.Lock()
        self._open_and_migrate()

    # -- connections -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise CatalogError(self.path, f"cannot open the catalog ({exc})") from exc
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (created on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._configure(conn)
            self._local.conn = conn
            with self._lock:
                self._close_orphans()
                self._connections.append((threading.current_thread(), conn))
        return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA temp_store = MEMORY")

    def close(self) -> None:
        """Close every connection this catalog opened (from any thread)."""
        with self._lock:
            for _thread, conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    def _close_orphans(self) -> None:
        """Close the connections of threads that have ended (decoding pools, GUI workers that expired),
        which would otherwise stay open until :meth:`close`. Called with ``_lock`` held."""
        alive = []
        for thread, conn in self._connections:
            if thread.is_alive():
                alive.append((thread, conn))
            else:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
        self._connections = alive

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken at once (``BEGIN IMMEDIATE``): all or nothing. SQLite failures
        (disk full, I/O error, read-only file, lock timeout) become :class:`CatalogError`, so callers
        and the CLI see a clear message instead of a raw ``sqlite3`` exception."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:  # SQLite may already have rolled back (SQLITE_FULL does)
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
                raise self._write_error(exc) from exc
            raise

    def _write_error(self, exc: sqlite3.Error) -> CatalogError:
        return CatalogError(self.path, f"cannot write to the catalog ({exc}); the unfinished step was rolled "
                                       "back and everything saved before it is kept")

    # -- opening and migrations ----------------------------------------------------------------
    def _open_and_migrate(self) -> None:
        """Inspect, create or migrate the file. SQLite answers "database is locked" at once, without
        waiting, when two processes creating the same file at the same moment both try to switch it to
        WAL; the open is then simply tried again (another app instance is doing the same work)."""
        deadline = time.monotonic() + _OPEN_RETRY_SECONDS
        while True:
            try:
                return self._open_and_migrate_once()
            except CatalogError as exc:
                locked = isinstance(exc.__cause__, sqlite3.OperationalError) and "locked" in str(exc.__cause__)
                if not locked or time.monotonic() > deadline:
                    raise
            time.sleep(random.uniform(0.02, 0.2))

    def _open_and_migrate_once(self) -> None:
        refuse_read_only_folder(self.path)
        existed = self.path.exists() and self.path.stat().st_size > 0
        version = 0
        if existed:  # inspected through a read-only connection: a refused file is never written to
            refuse_damaged_wal(self.path)
            version = self._read_only_version()
        conn = self._connect()
        try:
            if version < SCHEMA_VERSION:
                if existed and version > 0:  # version 0: a creation cut short, nothing in it to keep
                    self._backup(conn, version)
                conn.execute("PRAGMA journal_mode = WAL")  # first: a creation killed half-way leaves no hot journal
                self._migrate(conn)
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:
            raise CatalogError(self.path, f"not a usable Inspector Search catalog ({exc})") from exc
        finally:
            conn.close()

    def _read_only_version(self) -> int:
        """The schema version of the existing file, read without any write (not even a WAL checkpoint
        on close); raises for damaged, foreign and newer files."""
        uri = f"{self.path.absolute().as_uri()}?mode=ro"
        journal = self.path.with_name(self.path.name + "-journal")
        if journal.exists() and journal.stat().st_size > 0:
            uri = str(self.path)  # an interrupted write: SQLite's crash recovery needs a writable connection
        try:
            conn = sqlite3.connect(uri, uri=uri != str(self.path), timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise CatalogError(self.path, f"cannot open the catalog ({exc}); left untouched") from exc
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            version = self._inspect(conn)
        finally:
            conn.close()
        _refuse_newer(self.path, version)
        return version

    def _inspect(self, conn: sqlite3.Connection) -> int:
        """Read the schema version of an existing file without writing anything to it."""
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise CatalogError(self.path, unreadable_reason(self.path, exc)) from exc
        if app_id != APPLICATION_ID:
            if not tables:
                return 0
            raise CatalogError(self.path, "an SQLite database of another program; left untouched")
        if shorter_than_its_header(self.path):
            raise CatalogError(self.path, "damaged database (shorter than its header says: truncated); left untouched")
        if self.path.stat().st_size > QUICK_CHECK_MAX_BYTES:
            return int(version)  # too big to read whole at every start: ``inspector-search check`` does it
        try:
            verdict = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise CatalogError(self.path, f"damaged database ({exc}); left untouched") from exc
        if verdict != "ok":
            raise CatalogError(self.path, f"damaged database ({verdict}); left untouched")
        return int(version)

    def _backup(self, conn: sqlite3.Connection, version: int) -> None:
        backup_path = self.path.with_name(f"{self.path.name}.v{version}.bak")
        target = sqlite3.connect(backup_path)
        try:
            conn.backup(target)
        finally:
            target.close()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read the version again under the write lock: another process may have just created or
            # migrated the same file (two app instances started at once).
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = int(conn.execute("PRAGMA user_version").fetchone()[0]) if app_id == APPLICATION_ID else 0
            _refuse_newer(self.path, version)
            if app_id != APPLICATION_ID and conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                raise CatalogError(self.path, "an SQLite database of another program; left untouched")
            for step in range(version, SCHEMA_VERSION):
                _name, script = MIGRATIONS[step]
                for statement in filter(str.strip, script.split(";\n")):
                    conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            if version == 0:
                conn.execute("INSERT INTO meta VALUES ('generation', '0')")
                conn.execute("INSERT INTO meta VALUES ('created', ?)", (now_iso(),))
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (disk full)
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    # -- meta --------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A value from the key-value ``meta`` table, or ``None``."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, conn: sqlite3.Connection, key: str, value: str) -> None:
        """Set a meta value inside the caller's transaction."""
        conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     (key, value))

    @property
    def generation(self) -> int:
        """A counter bumped by every committed change to photos or features; readers poll it."""
        return int(self.get_meta("generation") or 0)

    def bump_generation(self, conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    # -- sites, equipment, inspections -----------------------------------------------------------
    def site_id(self, conn: sqlite3.Connection, name: str) -> int:
        """The id of the named site, created if new."""
        conn.execute("INSERT OR IGNORE INTO sites(name) VALUES (?)", (name,))
        return conn.execute("SELECT id FROM sites WHERE name = ?", (name,)).fetchone()[0]

    def equipment_id(self, conn: sqlite3.Connection, tag: str, *, name: str | None = None,
                     type: str | None = None, site_id: int | None = None, area: str | None = None,
                     extra: dict[str, str] | None = None) -> int:
        """The id of the equipment with this tag, created if new; given (non-None) fields overwrite
        (the row is written only when one differs, so ``total_changes`` tells real changes)."""
        conn.execute("INSERT OR IGNORE INTO equipment(tag) VALUES (?)", (tag,))
        values = (name, type, site_id, area, json.dumps(extra, sort_keys=True) if extra else None)
        conn.execute(
            "UPDATE equipment SET name = COALESCE(?, name), type = COALESCE(?, type), "
            "site_id = COALESCE(?, site_id), area = COALESCE(?, area), extra = COALESCE(?, extra) "
            "WHERE tag = ? AND NOT (name IS COALESCE(?, name) AND type IS COALESCE(?, type) AND "
            "site_id IS COALESCE(?, site_id) AND area IS COALESCE(?, area) AND extra IS COALESCE(?, extra))",
            (*values, tag, *values),
        )
        return conn.execute("SELECT id FROM equipment WHERE tag = ?", (tag,)).fetchone()[0]

    def inspection_id(self, conn: sqlite3.Connection, equipment_id: int, inspected_on: date | None,
                      inspector: str | None, notes: str | None) -> int:
        """The id of the (equipment, date, inspector) inspection, created if new; new notes are appended."""
        day = inspected_on.isoformat() if inspected_on else None
        row = conn.execute(
            "SELECT id, notes FROM inspections WHERE equipment_id = ? AND COALESCE(inspected_on, '') = "
            "COALESCE(?, '') AND COALESCE(inspector, '') = COALESCE(?, '')",
            (equipment_id, day, inspector),
        ).fetchone()
        if row is None:
            cur = conn.execute(
                "INSERT INTO inspections(equipment_id, inspected_on, inspector, notes) VALUES (?, ?, ?, ?)",
                (equipment_id, day, inspector, notes),
            )
            return int(cur.lastrowid)
        if notes and f"\n{notes}\n" not in f"\n{row[1] or ''}\n":  # each note once, as whole lines
            merged = f"{row[1]}\n{notes}" if row[1] else notes
            conn.execute("UPDATE inspections SET notes = ? WHERE id = ?", (merged, row[0]))
        return int(row[0])

    # -- images and files ------------------------------------------------------------------------
    def files_under(self, roots: Sequence[Path]) -> dict[str, tuple[int, int, int, int]]:
        """Catalogued files below the given roots: path -> (size, mtime_ns, image_id, deleted)."""
        result: dict[str, tuple[int, int, int, int]] = {}
        for root in roots:
            root_text = str(root)
            if root_text.encode("utf-8", "surrogateescape") != root_text.encode("utf-8", "replace"):
                continue  # a name that is not UTF-8 cannot be stored, so nothing below it is catalogued
            if Path(root_text).is_file() or not root_text:
                rows = self.conn.execute("SELECT path, size, mtime_ns, image_id, deleted FROM files WHERE path = ?",
                                         (root_text,))
            else:
                prefix = root_text.rstrip("/\\") + ("\\" if "\\" in root_text and "/" not in root_text else "/")
                rows = self.conn.execute(
                    "SELECT path, size, mtime_ns, image_id, deleted FROM files WHERE substr(path, 1, ?) = ?",
                    (len(prefix), prefix),
                )
            for path, size, mtime_ns, image_id, deleted in rows:
                result[path] = (size, mtime_ns, image_id, deleted)
        return result

    def image_by_hash(self, content_hash: str, model_id: str) -> tuple[int, bool] | None:
        """(image id, has features for ``model_id``) of the photo with this content, or ``None``."""
        row = self.conn.execute(
            "SELECT i.id, EXISTS(SELECT 1 FROM features f WHERE f.image_id = i.id AND f.model_id = ?) "
            "FROM images i WHERE i.content_hash = ?",
            (model_id, content_hash),
        ).fetchone()
        return (int(row[0]), bool(row[1])) if row else None

    def is_live(self, image_id: int) -> bool:
        """Whether the photo exists and is not deleted."""
        row = self.conn.execute("SELECT deleted FROM images WHERE id = ?", (int(image_id),)).fetchone()
        return row is not None and not row[0]

    def insert_image(self, conn: sqlite3.Connection, content_hash: str, byte_size: int, width: int, height: int,
                     format: str, taken_at: str | None) -> int:
        """Add a new photo (one per distinct content) and return its id."""
        cur = conn.execute(
            "INSERT INTO images(content_hash, byte_size, width, height, format, taken_at, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (content_hash, byte_size, width, height, format, taken_at, now_iso()),
        )
        return int(cur.lastrowid)

    def put_file(self, conn: sqlite3.Connection, path: str, image_id: int, size: int, mtime_ns: int) -> None:
        """Record that ``path`` holds the photo ``image_id`` (revives a photo that was deleted)."""
        conn.execute(
            "INSERT INTO files(path, image_id, size, mtime_ns, deleted, seen_at) VALUES (?, ?, ?, ?, 0, ?) "
            "ON CONFLICT(path) DO UPDATE SET image_id = excluded.image_id, size = excluded.size, "
            "mtime_ns = excluded.mtime_ns, deleted = 0, seen_at = excluded.seen_at",
            (path, image_id, size, mtime_ns, now_iso()),
        )
        conn.execute("UPDATE images SET deleted = 0 WHERE id = ? AND deleted = 1", (image_id,))
        conn.execute("DELETE FROM skipped WHERE path = ?", (path,))

    def mark_files_deleted(self, conn: sqlite3.Connection, paths: Iterable[str]) -> list[int]:
        """Flag vanished files; returns the ids of photos that now have no file left (flagged too)."""
        orphaned: list[int] = []
        for path in paths:
            row = conn.execute("SELECT image_id FROM files WHERE path = ? AND deleted = 0", (path,)).fetchone()
            if row is None:
                continue
            conn.execute("UPDATE files SET deleted = 1 WHERE path = ?", (path,))
            left = conn.execute("SELECT COUNT(*) FROM files WHERE image_id = ? AND deleted = 0", (row[0],))
            if left.fetchone()[0] == 0:
                conn.execute("UPDATE images SET deleted = 1 WHERE id = ?", (row[0],))
                orphaned.append(int(row[0]))
        return orphaned

    def set_photo_metadata(self, conn: sqlite3.Connection, image_id: int, *, site_id: int | None,
                           equipment_id: int | None, inspection_id: int | None, notes: str | None,
                           extra: dict[str, str] | None) -> None:
        """Attach metadata to a photo; given (non-None) values overwrite (the row is written only when
        one differs, so ``total_changes`` tells real changes)."""
        conn.execute(
            "UPDATE images SET site_id = COALESCE(?, site_id), equipment_id = COALESCE(?, equipment_id), "
            "inspection_id = COALESCE(?, inspection_id), notes = COALESCE(?, notes), "
            "extra = COALESCE(?, extra) WHERE id = ? AND NOT ("
            "site_id IS COALESCE(?, site_id) AND equipment_id IS COALESCE(?, equipment_id) AND "
            "inspection_id IS COALESCE(?, inspection_id) AND notes IS COALESCE(?, notes) AND "
            "extra IS COALESCE(?, extra))",
            (site_id, equipment_id, inspection_id, notes, _json(extra), image_id,
             site_id, equipment_id, inspection_id, notes, _json(extra)),
        )

    # -- features ----------------------------------------------------------------------------------
    def put_features(self, conn: sqlite3.Connection, image_ids: Sequence[int], model_id: str,
                     vectors: np.ndarray) -> None:
        """Store the raw (L2-normalised) feature vectors of photos for one model."""
        blobs = np.ascontiguousarray(vectors, dtype=FEATURE_DTYPE)
        conn.executemany(
            "INSERT OR REPLACE INTO features(image_id, model_id, vector) VALUES (?, ?, ?)",
            ((int(i), model_id, blobs[n].tobytes()) for n, i in enumerate(image_ids)),
        )

    def features(self, model_id: str, image_ids: Sequence[int] | None = None,
                 batch: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Stored features of live photos, in chunks of (ids int64, vectors float32)."""
        if image_ids is None:
            rows = self.conn.execute(
                "SELECT f.image_id, f.vector FROM features f JOIN images i ON i.id = f.image_id "
                "WHERE f.model_id = ? AND i.deleted = 0 ORDER BY f.image_id", (model_id,))
            yield from _feature_chunks(rows, batch)
            return
        ids = list(image_ids)
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                f"SELECT image_id, vector FROM features WHERE model_id = ? AND image_id IN ({marks})",
                (model_id, *part))
            yield from _feature_chunks(rows, batch)

    def max_image_id(self) -> int:
        """The highest photo id the catalog has given (0 when empty); deleted photos keep their rows."""
        return int(self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM images").fetchone()[0])

    def live_image_ids(self, model_id: str) -> np.ndarray:
        """Ids of photos that exist and have features for ``model_id`` (what the index must hold)."""
        rows = self.conn.execute(
            "SELECT i.id FROM images i JOIN features f ON f.image_id = i.id AND f.model_id = ? "
            "WHERE i.deleted = 0", (model_id,))
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def photos_missing_features(self, model_id: str) -> list[tuple[int, str]]:
        """Live photos without features for this model: (image id, one of its paths)."""
        rows = self.conn.execute(
            "SELECT i.id, (SELECT path FROM files WHERE image_id = i.id AND deleted = 0 LIMIT 1) FROM images i "
            "WHERE i.deleted = 0 AND NOT EXISTS (SELECT 1 FROM features f WHERE f.image_id = i.id AND "
            "f.model_id = ?)", (model_id,))
        return [(int(r[0]), r[1]) for r in rows if r[1] is not None]

    # -- local features (geometric verification) ---------------------------------------------------
    def put_local_features(self, conn: sqlite3.Connection, image_id: int, blob: bytes) -> None:
        """Store (or replace) a photo's keypoint blob inside the caller's transaction."""
        conn.execute("INSERT OR REPLACE INTO local_features(image_id, data) VALUES (?, ?)", (int(image_id), blob))

    def local_features(self, image_ids: Sequence[int]) -> dict[int, bytes]:
        """Stored keypoint blobs of the given photos (photos without one are left out)."""
        ids = [int(i) for i in image_ids]
        found: dict[int, bytes] = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            found.update(self.conn.execute(
                f"SELECT image_id, data FROM local_features WHERE image_id IN ({marks})", part))
        return found

    def photos_missing_local_features(self, limit: int | None = None) -> list[tuple[int, str]]:
        """Live photos without a keypoint blob: (image id, one of its paths), by id."""
        rows = self.conn.execute(
            "SELECT i.id, (SELECT path FROM files WHERE image_id = i.id AND deleted = 0 LIMIT 1) FROM images i "
            "WHERE i.deleted = 0 AND NOT EXISTS (SELECT 1 FROM local_features l WHERE l.image_id = i.id) "
            "ORDER BY i.id LIMIT ?", (-1 if limit is None else int(limit),))
        return [(int(r[0]), r[1]) for r in rows if r[1] is not None]

    def all_local_features(self, batch: int = 2000) -> Iterator[list[tuple[int, bytes]]]:
        """Every live photo's keypoint blob, in chunks of (image id, blob), by id (for ``check``)."""
        rows = self.conn.execute("SELECT l.image_id, l.data FROM local_features l JOIN images i ON "
                                 "i.id = l.image_id WHERE i.deleted = 0 ORDER BY l.image_id")
        while chunk := rows.fetchmany(batch):
            yield [(int(i), bytes(d)) for i, d in chunk]

    def delete_local_features(self, conn: sqlite3.Connection, image_ids: Iterable[int]) -> None:
        """Drop keypoint blobs (damaged ones, before they are made again)."""
        conn.executemany("DELETE FROM local_features WHERE image_id = ?", ((int(i),) for i in image_ids))

    # -- skipped files -----------------------------------------------------------------------------
    def record_skipped(self, conn: sqlite3.Connection, path: str, reason: str) -> None:
        """Remember that a file was not indexed, and why (replaces an older reason)."""
        conn.execute("INSERT OR REPLACE INTO skipped(path, reason, seen_at) VALUES (?, ?, ?)",
                     (path, reason, now_iso()))

    def skipped(self) -> list[tuple[str, str, str]]:
        """Skipped files as (path, reason, seen_at), by path."""
        return [tuple(r) for r in self.conn.execute("SELECT path, reason, seen_at FROM skipped ORDER BY path")]

    def forget_skipped(self, conn: sqlite3.Connection, paths: Iterable[str]) -> None:
        """Drop skip records of files that are gone."""
        conn.executemany("DELETE FROM skipped WHERE path = ?", ((p,) for p in paths))

    # -- reading for search, history and status --------------------------------------------------
    def filtered_image_ids(self, flt: SearchFilter) -> np.ndarray:
        """Ids (ascending) of live photos passing a metadata filter (the 'allowed' set for a filtered
        search), from in-memory columns read again whenever the generation moves
        (:mod:`~inspector_search.core.filter_columns`)."""
        return self.filter_columns().select(self.conn, flt)

    def filter_columns(self) -> FilterColumns:
        """The photos' filterable metadata as numpy columns, read again when the generation has moved."""
        generation = self.generation
        with self._columns_lock:
            if self._columns is None or self._columns.generation != generation:
                self._columns = FilterColumns.read(self.conn, generation)
            return self._columns

    def photo_rows(self, image_ids: Sequence[int]) -> dict[int, tuple]:
        """Raw photo rows (see ``_PHOTO_COLUMNS``) for the given ids."""
        result: dict[int, tuple] = {}
        ids = [int(i) for i in image_ids]
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            for row in self.conn.execute(f"SELECT {_PHOTO_COLUMNS} {_PHOTO_JOINS} WHERE i.id IN ({marks})", part):
                result[row[0]] = row
        return result

    def equipment_photo_rows(self, equipment_id: int) -> list[tuple]:
        """Raw photo rows of one equipment's live photos, oldest inspection first."""
        return list(self.conn.execute(
            f"SELECT {_PHOTO_COLUMNS}, i.inspection_id {_PHOTO_JOINS} "
            "WHERE i.equipment_id = ? AND i.deleted = 0 "
            "ORDER BY n.inspected_on IS NULL, n.inspected_on, i.taken_at, i.id", (equipment_id,)))

    def equipment_rows(self, site: str | None = None, tag: str | None = None) -> list[tuple]:
        """(id, tag, name, type, site, area, live photo count) per equipment, by site then tag."""
        clauses, params = [], []
        if site is not None:
            clauses.append("s.name = ?")
            params.append(site)
        if tag is not None:
            clauses.append("e.tag = ?")
            params.append(tag)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return list(self.conn.execute(
            "SELECT e.id, e.tag, e.name, e.type, s.name, e.area, "
            "(SELECT COUNT(*) FROM images i WHERE i.equipment_id = e.id AND i.deleted = 0) "
            f"FROM equipment e LEFT JOIN sites s ON s.id = e.site_id {where} "
            "ORDER BY s.name IS NULL, s.name, e.tag", params))

    def distinct(self, sql: str) -> list[str]:
        """Distinct non-null values of a one-column query (site names, equipment types)."""
        return [r[0] for r in self.conn.execute(sql) if r[0] is not None]

    def counts(self) -> dict[str, int]:
        """Row counts for status reports."""
        q = self.conn.execute
        return {
            "photos": q("SELECT COUNT(*) FROM images WHERE deleted = 0").fetchone()[0],
            "deleted": q("SELECT COUNT(*) FROM images WHERE deleted = 1").fetchone()[0],
            "files": q("SELECT COUNT(*) FROM files WHERE deleted = 0").fetchone()[0],
            "equipment": q("SELECT COUNT(*) FROM equipment").fetchone()[0],
            "sites": q("SELECT COUNT(*) FROM sites").fetchone()[0],
            "inspections": q("SELECT COUNT(*) FROM inspections").fetchone()[0],
        }

    def database(self) -> sqlite_utils.Database:
        """A sqlite-utils view of this thread's connection (for ad-hoc reads and exports)."""
        import sqlite_utils  # deferred: it pulls in click and pluggy, ~0.2 s of every CLI start

        return sqlite_utils.Database(self.conn)


def _refuse_newer(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(path, f"written by a newer Inspector Search (schema {version}, this version reads "
                                      f"up to {SCHEMA_VERSION}); refusing to open it, left untouched")


def _json(value: dict[str, str] | None) -> str | None:
    return json.dumps(dict(value), sort_keys=True, ensure_ascii=False) if value else None


def _feature_chunks(rows: Iterable[tuple[int, bytes]], batch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    ids: list[int] = []
    blobs: list[bytes] = []
    for image_id, blob in rows:
        ids.append(image_id)
        blobs.append(blob)
        if len(ids) >= batch:
            yield _decode(ids, blobs)
            ids, blobs = [], []
    if ids:
        yield _decode(ids, blobs)


def _decode(ids: list[int], blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    matrix = np.frombuffer(b"".join(blobs), dtype=FEATURE_DTYPE).reshape(len(ids), -1).astype(np.float32)
    return np.asarray(ids, dtype=np.int64), matrix
