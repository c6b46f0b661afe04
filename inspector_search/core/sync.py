"""A laptop's local archive linked to a shared plant archive: ``link URL`` once, then ``sync``.

``sync`` first *pushes* the laptop's photos the server lacks (features, metadata document, labels,
a thumbnail and a display-size copy made from the original file, and vectors through the server's
projection) and metadata edits of photos this user added; then it *pulls* the others' photos
(features, metadata, labels, thumbnail, display copy) that pass the site/date limits, within a size
budget. Pulled photos become ordinary local photos whose file is the display copy under
``<archive>/shared/``, so search, history, thumbnails and the app work offline exactly as today.

Identity is the content hash (SHA-256 of the file), on both sides, so every step is idempotent:
re-running after a kill, a dropped connection or a server restart finds what is already there and
duplicates nothing. Each batch is one server transaction; the pull cursor (the server's
transaction id horizon, ``changed_xid``) and what was exchanged are kept in ``<archive>/sync.sqlite``
(apart from the catalog, so the catalog's schema is untouched), written after each batch.

**Conflict rule: the first edit to reach the server wins.** A laptop's edit is applied only if the
server still has the version the laptop last saw; otherwise the server's stays, the laptop adopts
it, and both versions are written to the server's ``metadata_audit`` table (and to the laptop's
``conflicts`` table). Applied edits are audited too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import imaging
from .atomic import fsync_directory, temporary_path
from .catalog import now_iso
from .errors import ImageError, SharedArchiveError
from .ingest import apply_metadata
from .labels import bump_labels_generation, labels_of
from .local_feature_fill import keypoints_of
from .locking import WriterLock
from .metadata import PhotoMetadata
from .progress import Progress
from .storage.pg_connect import is_server_url, parse_url, redact, translated
from .storage.pg_store import REFIT_LOCK, PgStore, ServerPhoto, document_hash, jpeg, refuse_other_model
from .storage.pg_vectors import maybe_refit
from .vector_store import ProjectionPolicy

if TYPE_CHECKING:
    from .archive import Archive

log = logging.getLogger(__name__)

SYNC_FILE = "sync.sqlite"
SHARED_DIR = "shared"  # display copies of pulled photos: their local "files"
THUMBNAIL_SIDE, DISPLAY_SIDE = 256, 1024
DEFAULT_BATCH = 200
WRITE_THREADS = 4  # file writes and flushes of a pulled batch
FEATURE_BYTES = 2  # halfvec

_STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS photos (
    content_hash TEXT PRIMARY KEY, origin TEXT NOT NULL CHECK (origin IN ('pushed', 'pulled', 'shared')),
    server_id INTEGER NOT NULL, server_version INTEGER NOT NULL, metadata_hash TEXT, bytes INTEGER NOT NULL,
    synced_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conflicts (
    id INTEGER PRIMARY KEY, content_hash TEXT NOT NULL, at TEXT NOT NULL, outcome TEXT NOT NULL,
    laptop TEXT, server TEXT);
"""


@dataclass
class SyncReport:
    """What one sync did (counts of photos; bytes as sent or received)."""

    pushed: int = 0
    already_on_server: int = 0
    metadata_pushed: int = 0
    conflicts: int = 0
    pulled: int = 0
    updated: int = 0
    removed: int = 0
    not_pulled: int = 0  # over the size budget
    bytes_pushed: int = 0
    bytes_pulled: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class SyncStatus:
    """A laptop's link state for the app and ``sync --status``."""

    url: str | None
    last_sync: str | None
    pending: int  # local photos not yet on the server
    pushed: int
    pulled: int
    pulled_bytes: int


@dataclass(frozen=True)
class PullLimits:
    """Which others' photos a laptop carries: sites (None = all), inspected since, a size budget."""

    sites: tuple[str, ...] | None = None
    since: date | None = None
    budget_bytes: int | None = None

    def signature(self) -> str:
        return json.dumps({"sites": sorted(self.sites) if self.sites else None,
                           "since": self.since.isoformat() if self.since else None})


class SyncState:
    """``<archive>/sync.sqlite``: the link, the pull cursor and what was exchanged, by content hash."""

    def __init__(self, folder: Path) -> None:
        self.conn = sqlite3.connect(Path(folder) / SYNC_FILE, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.executescript(_STATE_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str | None) -> None:
        if value is None:
            self.conn.execute("DELETE FROM state WHERE key = ?", (key,))
        else:
            self.conn.execute("INSERT INTO state VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                              (key, value))

    def known(self) -> dict[str, tuple]:
        """content hash -> (origin, server id, server version, metadata hash)."""
        return {r[0]: r[1:] for r in self.conn.execute(
            "SELECT content_hash, origin, server_id, server_version, metadata_hash FROM photos")}

    def record(self, rows: Sequence[tuple[str, str, int, int, str | None, int]]) -> None:
        """Remember exchanged photos: (hash, origin, server id, server version, metadata hash, bytes)."""
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO photos VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(content_hash) DO UPDATE SET "
                "origin = excluded.origin, server_id = excluded.server_id, server_version = excluded.server_version, "
                "metadata_hash = excluded.metadata_hash, bytes = excluded.bytes, synced_at = excluded.synced_at",
                [(*r, now_iso()) for r in rows])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def reset(self) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM photos")
            self.conn.execute("DELETE FROM state WHERE key LIKE 'cursor%' OR key = 'limits'")


# -- linking ---------------------------------------------------------------------------------------------
def link(archive: Archive, url: str) -> str:
    """Link a local archive to a shared one (checked now: reachable, schema, same model). A URL holding a
    password is refused: keep passwords in the keyring or PostgreSQL's passfile. Returns the redacted URL."""
    if not is_server_url(url):
        raise SharedArchiveError(f"not a PostgreSQL URL: {redact(url)} (expected postgresql://...)")
    if "password" in parse_url(url):
        raise SharedArchiveError(f"{redact(url)}: the URL holds a password; remove it and store the password with "
                                 "`inspector-search server remember-password URL` (or in ~/.pgpass)")
    store = PgStore(url)
    try:
        refuse_other_model(store, archive.extractor.model_id)
        state = SyncState(archive.folder)
        try:
            if state.get("archive_id") not in (None, store.archive_id):
                state.reset()  # another shared archive: what was exchanged with the old one means nothing here
            state.set("url", url)
            state.set("archive_id", store.archive_id)
        finally:
            state.close()
    finally:
        store.close()
    return redact(url)


def linked_url(archive: Archive) -> str | None:
    """The shared archive this local archive is linked to, or None (then nothing ever connects)."""
    if not (archive.folder / SYNC_FILE).exists():
        return None
    state = SyncState(archive.folder)
    try:
        return state.get("url")
    finally:
        state.close()


def sync_status(archive: Archive) -> SyncStatus:
    """Link, last sync and pending photos, read from the local files only (no connection)."""
    state = SyncState(archive.folder)
    try:
        known = state.known()
        local = [r[0] for r in archive.catalog.conn.execute("SELECT content_hash FROM images WHERE deleted = 0")]
        pulled_bytes = state.conn.execute("SELECT COALESCE(SUM(bytes), 0) FROM photos WHERE origin = 'pulled'")
        return SyncStatus(url=redact(state.get("url")) if state.get("url") else None, last_sync=state.get("last_sync"),
                          pending=sum(1 for h in local if h not in known),
                          pushed=sum(1 for v in known.values() if v[0] == "pushed"),
                          pulled=sum(1 for v in known.values() if v[0] == "pulled"),
                          pulled_bytes=int(pulled_bytes.fetchone()[0]))
    finally:
        state.close()


def sync(archive: Archive, *, limits: PullLimits | None = None, progress: Progress | None = None,
         batch: int = DEFAULT_BATCH, push_only: bool = False, policy: ProjectionPolicy | None = None) -> SyncReport:
    """Push this laptop's new photos and edits, then pull the others' within ``limits`` (see the module doc)."""
    started = time.perf_counter()
    state = SyncState(archive.folder)
    try:
        url = state.get("url")
        if url is None:
            raise SharedArchiveError(f"{archive.folder}: not linked to a shared archive; run `link URL` first")
        store = PgStore(url)
        try:
            if store.archive_id != state.get("archive_id"):
                raise SharedArchiveError(f"{redact(url)}: this is not the shared archive the laptop was linked to "
                                         "(it was re-created?); run `link URL` again")
            refuse_other_model(store, archive.extractor.model_id)
            report = SyncReport()
            push(archive, store, state, report, progress=progress, batch=batch, policy=policy)
            if not push_only:
                pull(archive, store, state, report, limits or PullLimits(), progress=progress, batch=batch)
            state.set("last_sync", datetime.now(UTC).isoformat(timespec="seconds"))
        finally:
            store.close()
    finally:
        state.close()
    report.seconds = time.perf_counter() - started
    return report


# -- push ------------------------------------------------------------------------------------------------
def local_documents(archive: Archive, ids: Sequence[int]) -> dict[int, tuple[tuple, dict[str, Any]]]:
    """Local photo rows and their metadata documents (the fields sync exchanges), by image id."""
    rows = archive.catalog.photo_rows(ids)
    labels = labels_of(archive.catalog.conn, list(rows))
    result = {}
    for image_id, row in rows.items():
        (_id, _w, _h, _taken, notes, extra, tag, name, type_, site, area, inspected_on, inspector,
         inspection_notes, _path) = row[:15]
        result[image_id] = (row, {
            "site": site, "equipment_tag": tag, "equipment_name": name, "equipment_type": type_, "area": area,
            "inspected_on": inspected_on, "inspector": inspector, "notes": notes,
            "inspection_notes": inspection_notes, "extra": json.loads(extra) if extra else None,
            "labels": sorted([lab.kind, lab.value] for lab in labels.get(image_id, ()))})
    return result


def push(archive: Archive, store: PgStore, state: SyncState, report: SyncReport, *, progress: Progress | None = None,
         batch: int = DEFAULT_BATCH, policy: ProjectionPolicy | None = None) -> None:
    """Send the laptop's photos the server lacks, in batches (one transaction each), then its metadata edits."""
    model_id = archive.extractor.model_id
    known = state.known()
    todo = [(i, h, size, w, ht, fmt, taken) for i, h, size, w, ht, fmt, taken in archive.catalog.conn.execute(
        "SELECT id, content_hash, byte_size, width, height, format, taken_at FROM images WHERE deleted = 0 "
        "ORDER BY id") if h not in known]
    if todo:
        _record_model(store, model_id)
    for start in range(0, len(todo), batch):
        if progress is not None:
            progress.check()
            progress.report(start, len(todo), "pushing")
        _push_batch(archive, store, state, report, todo[start:start + batch])
    if progress is not None and todo:
        progress.report(len(todo), len(todo), "pushing")
    _push_edits(archive, store, state, report)
    if report.pushed:  # a contributor who added photos keeps the server's projection up to date
        maybe_refit(store, policy or ProjectionPolicy())


def _record_model(store: PgStore, model_id: str) -> None:
    with translated(store.url, "record the model"):
        store.conn().execute("INSERT INTO schema_info (key, value) VALUES ('model_id', %s) ON CONFLICT DO NOTHING",
                             (model_id,))
    refuse_other_model(store, model_id)


def _push_batch(archive: Archive, store: PgStore, state: SyncState, report: SyncReport, rows: list[tuple]) -> None:
    ids = [r[0] for r in rows]
    documents = local_documents(archive, ids)
    features = _local_features(archive, ids)
    photos: list[ServerPhoto] = []
    for image_id, content_hash, size, width, height, fmt, taken_at in rows:
        if image_id not in documents or image_id not in features or documents[image_id][0][14] is None:
            continue  # no live file or no features (yet): the next sync sends it
        row, document = documents[image_id]
        try:
            display = imaging.thumbnail(Path(row[14]), DISPLAY_SIDE)
        except ImageError as exc:
            report.skipped.append(f"{row[14]}: {exc.reason}")
            continue
        small = display.copy()
        small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), reducing_gap=2.0)
        display_jpeg = jpeg(display)
        photos.append(ServerPhoto(content_hash, size, width, height, fmt, taken_at, str(row[14]), document,
                                  features[image_id], jpeg(small), display_jpeg, keypoints_of(display_jpeg)))
    if not photos:
        return
    recorded = []
    with translated(store.url, "push photos"):
        conn = store.conn()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (REFIT_LOCK,))
            projection, projection_id = store.projection()
            existing = {h: (i, by, v) for h, i, by, v in conn.execute(
                "SELECT content_hash, id, added_by, metadata_version FROM photos WHERE content_hash = ANY(%s)",
                ([p.content_hash for p in photos],))}
            for photo in photos:
                doc_hash = document_hash(photo.document)
                if photo.content_hash in existing:  # pushed before a kill, or someone else added the same photo
                    server_id, added_by, version = existing[photo.content_hash]
                    origin = "pushed" if added_by == store.user else "shared"
                    recorded.append((photo.content_hash, origin, server_id, version, doc_hash, 0))
                    report.already_on_server += 1
                    continue
                server_id = _insert_photo(conn, photo, archive.extractor.model_id)
                if projection is not None:
                    vector = projection.transform(photo.features[None])[0]
                    conn.execute("INSERT INTO vectors (photo_id, projection_id, embedding) VALUES (%s, %s, %s)",
                                 (server_id, projection_id, vector))
                sent = (photo.features.size * FEATURE_BYTES + len(photo.thumbnail) + len(photo.display)
                        + len(photo.keypoints or b""))
                recorded.append((photo.content_hash, "pushed", server_id, 1, doc_hash, sent))
                report.pushed += 1
                report.bytes_pushed += sent
    state.record(recorded)


def _insert_photo(conn, photo: ServerPhoto, model_id: str) -> int:
    from pgvector import HalfVector

    doc = photo.document
    server_id = conn.execute(
        "INSERT INTO photos (content_hash, byte_size, width, height, format, taken_at, site, equipment_tag, "
        "equipment_name, equipment_type, area, inspected_on, inspector, notes, inspection_notes, extra, source_path) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (photo.content_hash, photo.byte_size, photo.width, photo.height, photo.format, photo.taken_at,
         *_document_values(doc), photo.source_path)).fetchone()[0]
    conn.execute("INSERT INTO features (photo_id, model_id, features) VALUES (%s, %s, %s)",
                 (server_id, model_id, HalfVector(photo.features)))
    conn.execute("INSERT INTO media (photo_id, thumbnail, display, keypoints) VALUES (%s, %s, %s, %s)",
                 (server_id, photo.thumbnail, photo.display, photo.keypoints))
    _replace_labels(conn, server_id, doc["labels"])
    return server_id


def _document_values(doc: dict[str, Any]) -> tuple:
    from psycopg.types.json import Jsonb

    return (doc["site"], doc["equipment_tag"], doc["equipment_name"], doc["equipment_type"], doc["area"],
            doc["inspected_on"], doc["inspector"], doc["notes"], doc["inspection_notes"],
            Jsonb(doc["extra"]) if doc["extra"] else None)


def _replace_labels(conn, server_id: int, labels: Sequence[Sequence[str]]) -> None:
    conn.execute("DELETE FROM labels WHERE photo_id = %s", (server_id,))
    for kind, value in labels:
        conn.execute("INSERT INTO labels (photo_id, kind, label) VALUES (%s, %s, %s)", (server_id, kind, value))


def _local_features(archive: Archive, ids: Sequence[int]) -> dict[int, np.ndarray]:
    found: dict[int, np.ndarray] = {}
    for chunk_ids, chunk in archive.catalog.features(archive.extractor.model_id, ids):
        found.update(zip(chunk_ids.tolist(), chunk, strict=True))
    return found


def _push_edits(archive: Archive, store: PgStore, state: SyncState, report: SyncReport) -> None:
    """Metadata edits of photos this user pushed: applied if the server still has the version the laptop
    saw, otherwise the server's stays (first to the server wins) and both are audited."""
    from psycopg.types.json import Jsonb

    mine = {h: v for h, v in state.known().items() if v[0] == "pushed"}
    if not mine:
        return
    by_hash = dict(archive.catalog.conn.execute("SELECT content_hash, id FROM images WHERE deleted = 0").fetchall())
    ids = {by_hash[h]: h for h in mine if h in by_hash}
    documents = local_documents(archive, list(ids))
    edits = [(ids[i], doc) for i, (_row, doc) in documents.items() if document_hash(doc) != mine[ids[i]][3]]
    for content_hash, doc in edits:
        _origin, server_id, version, _old = mine[content_hash]
        with translated(store.url, "push a metadata edit"):
            conn = store.conn()
            with conn.transaction():
                server_doc, server_version = _server_document(conn, server_id)
                updated = conn.execute(
                    "UPDATE photos SET site = %s, equipment_tag = %s, equipment_name = %s, equipment_type = %s, "
                    "area = %s, inspected_on = %s, inspector = %s, notes = %s, inspection_notes = %s, extra = %s, "
                    "metadata_version = metadata_version + 1 WHERE id = %s AND metadata_version = %s "
                    "RETURNING metadata_version", (*_document_values(doc), server_id, version)).fetchone()
                if updated is not None:
                    _replace_labels(conn, server_id, doc["labels"])
                    outcome, new_version = "applied", updated[0]
                else:
                    outcome, new_version = ("not applied: the server had a newer edit (first to the server wins)",
                                            server_version)
                conn.execute("INSERT INTO metadata_audit (photo_id, content_hash, outcome, base_version, "
                             "server_version, proposed, kept) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                             (server_id, content_hash, outcome, version, server_version, Jsonb(doc),
                              Jsonb(doc if updated is not None else server_doc)))
        if updated is not None:
            state.record([(content_hash, "pushed", server_id, new_version, document_hash(doc), 0)])
            report.metadata_pushed += 1
        else:
            _note_conflict(state, content_hash, outcome, doc, server_doc)
            report.conflicts += 1  # the pull below brings the server's version to the laptop


def _server_document(conn, server_id: int) -> tuple[dict[str, Any], int]:
    row = conn.execute(
        "SELECT site, equipment_tag, equipment_name, equipment_type, area, inspected_on, inspector, notes, "
        "inspection_notes, extra, metadata_version FROM photos WHERE id = %s", (server_id,)).fetchone()
    labels = sorted([k, v] for k, v in conn.execute("SELECT kind, label FROM labels WHERE photo_id = %s",
                                                    (server_id,)))
    return server_document(row[:10], labels), int(row[10])


def server_document(row: Sequence[Any], labels: list[list[str]]) -> dict[str, Any]:
    """A metadata document from the server's photo columns (dates as ISO text, as the local catalog holds them)."""
    site, tag, name, type_, area, inspected_on, inspector, notes, inspection_notes, extra = row
    return {"site": site, "equipment_tag": tag, "equipment_name": name, "equipment_type": type_, "area": area,
            "inspected_on": inspected_on.isoformat() if inspected_on else None, "inspector": inspector,
            "notes": notes, "inspection_notes": inspection_notes, "extra": dict(extra) if extra else None,
            "labels": labels}


def _note_conflict(state: SyncState, content_hash: str, outcome: str, laptop: dict, server: dict) -> None:
    state.conn.execute("INSERT INTO conflicts (content_hash, at, outcome, laptop, server) VALUES (?, ?, ?, ?, ?)",
                       (content_hash, now_iso(), outcome, json.dumps(laptop, default=str),
                        json.dumps(server, default=str)))


# -- pull ------------------------------------------------------------------------------------------------
def pull(archive: Archive, store: PgStore, state: SyncState, report: SyncReport, limits: PullLimits, *,
         progress: Progress | None = None, batch: int = DEFAULT_BATCH) -> None:
    """Bring the others' photos and the server's edits to the laptop, batch by batch from the cursor."""
    from .storage.pg_pull import pull_batches

    if state.get("limits") != limits.signature():  # other limits: look at everything again (idempotent)
        state.set("cursor_xid", None)
        state.set("cursor_id", None)
        state.set("limits", limits.signature())
    with WriterLock(archive.folder / "lock"):
        archive.store.load()
        try:
            pull_batches(archive, store, state, report, limits, progress=progress, batch=batch)
        finally:
            if not archive.store.maybe_refit():
                archive.store.sync()
            archive.store.save()


def apply_pulled(archive: Archive, state: SyncState, report: SyncReport, rows: list[dict[str, Any]]) -> None:
    """Write one batch of pulled photos into the local archive: display copies and thumbnails first
    (atomic files), then one catalog transaction, then the sync state."""
    catalog, model_id = archive.catalog, archive.extractor.model_id
    recorded = []
    new = [r for r in rows if r.get("display") is not None]
    files = []
    for row in new:
        thumb = archive.folder / "thumbnails" / str(THUMBNAIL_SIDE) / row["content_hash"][:2] / \
            f"{row['content_hash']}.jpg"
        files += [(shared_path(archive.folder, row["content_hash"]), row["display"], True),
                  (thumb, row["thumbnail"], False)]  # the thumbnail cache is disposable
    write_files(files)
    with catalog.transaction() as conn:
        for row in rows:
            found = conn.execute("SELECT id FROM images WHERE content_hash = ?", (row["content_hash"],)).fetchone()
            if row.get("display") is not None and found is None:
                path = shared_path(archive.folder, row["content_hash"])
                image_id = catalog.insert_image(conn, row["content_hash"], row["byte_size"], row["width"],
                                                row["height"], row["format"] or "JPEG", row["taken_at"])
                stat = path.stat()
                catalog.put_file(conn, str(path), image_id, stat.st_size, stat.st_mtime_ns)
                catalog.put_features(conn, [image_id], model_id, row["features"][None])
                # the stored file is this copy, not the original: its keypoints (the pusher's, or made here)
                keypoints = row.get("keypoints") or keypoints_of(row["display"])
                if keypoints is not None:
                    catalog.put_local_features(conn, image_id, keypoints)
                report.pulled += 1
                report.bytes_pulled += row["bytes"]
            elif found is not None:
                image_id = found[0]
                if row["deleted"]:
                    catalog.mark_files_deleted(conn, [str(shared_path(archive.folder, row["content_hash"]))])
                    report.removed += 1
                else:
                    report.updated += 1
            else:
                continue
            _apply_document(catalog, conn, image_id, row["document"])
        catalog.bump_generation(conn)
        bump_labels_generation(conn)
    marks = ",".join("?" * len(rows))
    ids_by_hash = dict(catalog.conn.execute(f"SELECT content_hash, id FROM images WHERE content_hash IN ({marks})",
                                            [r["content_hash"] for r in rows]).fetchall())
    documents = local_documents(archive, list(ids_by_hash.values()))
    for row in rows:
        image_id = ids_by_hash.get(row["content_hash"])
        if image_id is None:
            continue
        doc_hash = document_hash(documents[image_id][1]) if image_id in documents else None
        recorded.append((row["content_hash"], row["origin"], row["id"], row["version"], doc_hash, row["bytes"]))
    state.record(recorded)


def _apply_document(catalog, conn, image_id: int, doc: dict[str, Any]) -> None:
    meta = PhotoMetadata(
        equipment_tag=doc["equipment_tag"], equipment_name=doc["equipment_name"],
        equipment_type=doc["equipment_type"], site=doc["site"], area=doc["area"],
        inspected_on=date.fromisoformat(doc["inspected_on"]) if doc["inspected_on"] else None,
        inspector=doc["inspector"], notes=doc["notes"] or doc["inspection_notes"], extra=doc["extra"] or {})
    apply_metadata(catalog, conn, image_id, meta)
    wanted = {(k, v) for k, v in doc["labels"]}
    have = {(k, v) for k, v in conn.execute("SELECT kind, value FROM labels WHERE image_id = ?", (image_id,))}
    for kind, value in have - wanted:
        conn.execute("DELETE FROM labels WHERE image_id = ? AND kind = ? AND value = ?", (image_id, kind, value))
    for kind, value in wanted - have:
        conn.execute("INSERT OR IGNORE INTO labels (image_id, kind, value, who, labelled_at) VALUES (?, ?, ?, ?, ?)",
                     (image_id, kind, value, "sync", now_iso()))


def write_files(files: Sequence[tuple[Path, bytes, bool]]) -> None:
    """Write a batch of files, each by rename over a temporary name, then flush the durable ones and their
    folders once for the whole batch, on a few threads (the kernel overlaps the flushes; fsyncing each
    file as it is written cost twice as much). Done before the catalog transaction that names them, so a
    committed photo always has its file; a crash before leaves at worst files no catalog row names."""
    for folder in {path.parent for path, _data, _keep in files}:
        folder.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        list(pool.map(_write_unsynced, files))
        list(pool.map(_fsync_file, [path for path, _data, keep in files if keep]))
        list(pool.map(fsync_directory, {path.parent for path, _data, keep in files if keep}))


def _write_unsynced(item: tuple[Path, bytes, bool]) -> None:
    path, data, _keep = item
    tmp = temporary_path(path)
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def shared_path(folder: Path, content_hash: str) -> Path:
    """Where a pulled photo's display copy lives in the local archive."""
    return Path(folder) / SHARED_DIR / content_hash[:2] / f"{content_hash}.jpg"
