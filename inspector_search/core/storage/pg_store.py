"""Reading and writing a shared archive's tables: photos and their metadata documents, features,
vectors (pgvector HNSW search with the same filters as the local archive), media and the projection.

Each thread gets its own autocommit connection (writes open explicit transactions), like the local
catalog's per-thread SQLite connections. Every statement is parameterised.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import SharedArchiveError
from ..projection import Projection
from ..records import Label, PhotoRecord, SearchFilter
from .pg_connect import connect, redact, translated
from .pg_schema import check_schema

REFIT_LOCK = 0x49535232  # advisory lock: writers of vectors hold it shared, a refit exclusively
MAX_EF_SEARCH = 1000  # pgvector's limit
DEFAULT_EF_SEARCH = 128  # as the local hnswlib index's ef: recall@10 0.999 at 1M (docs/benchmarks.md)
FILTERED_EF_SEARCH = 256
"""ef_search of a filtered search: a site filter keeping 10 % of 1M photos found 0.919 of the exact top 10
at ef 128, 0.961 at 256 and 0.979 at 400 (p95 33 / 19 / 65 ms on the loaded benchmark machine)."""
DOCUMENT_FIELDS = ("site", "equipment_tag", "equipment_name", "equipment_type", "area", "inspected_on",
                   "inspector", "notes", "inspection_notes", "extra", "labels")
"""A photo's metadata document: what sync compares (by hash), pushes, pulls and audits."""

_PHOTO_SELECT = ("SELECT p.id, p.width, p.height, p.taken_at, p.notes, p.extra, p.equipment_tag, p.equipment_name, "
                 "p.equipment_type, p.site, p.area, p.inspected_on, p.inspector, p.inspection_notes, p.source_path, "
                 "p.content_hash, p.added_by, p.metadata_version FROM photos p")


@dataclass(frozen=True)
class ServerPhoto:
    """One photo as a laptop pushes it: identity, file facts, metadata document, features and media."""

    content_hash: str
    byte_size: int
    width: int | None
    height: int | None
    format: str | None
    taken_at: str | None
    source_path: str
    document: dict[str, Any]
    features: np.ndarray
    thumbnail: bytes
    display: bytes
    keypoints: bytes | None = None  # of the display copy: what a laptop that pulls it stores


def document_hash(document: dict[str, Any]) -> str:
    """A stable hash of a metadata document (sync compares these to find edits)."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


class PgStore:
    """The tables of one shared archive; opened with the schema version checked."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._connections: list[Any] = []
        self._guard = threading.Lock()
        self._projection: Projection | None = None
        self._projection_id: str | None = None
        with translated(url, "open"):
            conn = self.conn()
            check_schema(conn, url)
            self.vector_dim = int(self.info("vector_dim") or 0)
            self.archive_id = self.info("archive_id") or ""
            version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
            self.iterative_scan = tuple(int(x) for x in version.split(".")[:2]) >= (0, 8)
            self.user = conn.execute("SELECT current_user").fetchone()[0]

    # -- connections ------------------------------------------------------------------------------------
    def conn(self):
        """This thread's connection (autocommit; use ``conn.transaction()`` to write)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = connect(self.url, autocommit=True)
            self._local.conn = conn
            with self._guard:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection."""
        with self._guard:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def info(self, key: str) -> str | None:
        row = self.conn().execute("SELECT value FROM schema_info WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    # -- projection ---------------------------------------------------------------------------------------
    def projection(self) -> tuple[Projection | None, str | None]:
        """The active (server-authoritative) PCA projection and its id, or (None, None) before one was fitted."""
        row = self.conn().execute("SELECT id FROM projections WHERE active").fetchone()
        if row is None:
            return None, None
        if row[0] != self._projection_id:
            data = self.conn().execute("SELECT data FROM projections WHERE id = %s", (row[0],)).fetchone()[0]
            self._projection, self._projection_id = projection_from_bytes(bytes(data)), row[0]
        return self._projection, self._projection_id

    def features_count(self) -> int:
        return int(self.conn().execute(
            "SELECT count(*) FROM features f JOIN photos p ON p.id = f.photo_id WHERE NOT p.deleted").fetchone()[0])

    def fitted_on(self) -> int:
        row = self.conn().execute("SELECT fitted_on FROM projections WHERE active").fetchone()
        return int(row[0]) if row else 0

    # -- searching ------------------------------------------------------------------------------------------
    def nearest(self, vectors: np.ndarray, k: int, flt: SearchFilter | None,
                projected: bool) -> list[list[tuple[int, float]]]:
        """For each query row, the ``k`` most similar live photos passing the filter: by the HNSW index on
        the projected vectors (pgvector, iterative scan so filters do not starve it), or before a
        projection exists by an exact scan of the stored features."""
        from pgvector import HalfVector
        from psycopg import sql

        where, params = filter_clause(flt)
        if projected:
            query = sql.SQL("SELECT v.photo_id, 1 - (v.embedding <=> %(q)s) FROM vectors v JOIN photos p "
                            "ON p.id = v.photo_id WHERE {} ORDER BY v.embedding <=> %(q)s LIMIT %(k)s").format(where)
        else:
            query = sql.SQL("SELECT f.photo_id, 1 - (f.features <=> %(q)s) FROM features f JOIN photos p "
                            "ON p.id = f.photo_id WHERE {} ORDER BY f.features <=> %(q)s LIMIT %(k)s").format(where)
        results = []
        conn = self.conn()
        with translated(self.url, "search"):
            ef_search = DEFAULT_EF_SEARCH if flt is None or flt.is_empty() else FILTERED_EF_SEARCH
            self._search_settings(conn, min(MAX_EF_SEARCH, max(ef_search, k)))
            for row in np.asarray(vectors, dtype=np.float32):
                q = row if projected else HalfVector(row)
                found = conn.execute(query, {**params, "q": q, "k": int(k)}).fetchall()
                results.append(sorted(((int(i), float(s)) for i, s in found), key=lambda t: (-t[1], t[0])))
        return results

    def _search_settings(self, conn, ef_search: int) -> None:
        """Session settings of this thread's connection for HNSW searches, set when they change (one
        statement per search instead of a transaction with SET LOCAL)."""
        if getattr(self._local, "ef_search", None) == ef_search and getattr(self._local, "conn_id", None) == id(conn):
            return
        conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef_search),))
        if self.iterative_scan:
            conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', false)")
        self._local.ef_search, self._local.conn_id = ef_search, id(conn)

    def features_of(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored raw features of the given photos (float32), by id."""
        with self.conn().cursor(binary=True) as cursor:  # binary: no text parsing of 1280 numbers a row
            rows = cursor.execute("SELECT photo_id, features FROM features WHERE photo_id = ANY(%s)",
                                  ([int(i) for i in ids],)).fetchall()
        return {int(i): f.to_numpy().astype(np.float32) for i, f in rows}

    def iter_features(self, batch: int = 20_000, sample: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All live photos' features in chunks of (ids, float32 rows), or a seeded random ``sample`` of them."""
        conn = self.conn()
        ids = [r[0] for r in conn.execute("SELECT f.photo_id FROM features f JOIN photos p ON p.id = f.photo_id "
                                          "WHERE NOT p.deleted ORDER BY f.photo_id")]
        if sample is not None and len(ids) > sample:
            ids = sorted(np.random.default_rng(0).choice(ids, sample, replace=False).tolist())
        for start in range(0, len(ids), batch):
            part = ids[start:start + batch]
            found = self.features_of(part)
            kept = [i for i in part if i in found]
            yield np.array(kept, dtype=np.int64), np.stack([found[i] for i in kept])

    # -- reading photos -----------------------------------------------------------------------------------
    def photos(self, ids: Sequence[int] | None = None, *, tag: str | None = None) -> dict[int, PhotoRecord]:
        """Live photos by id (all of them, the given ids, or one equipment's), with labels."""
        conn = self.conn()
        if ids is not None:
            rows = conn.execute(_PHOTO_SELECT + " WHERE NOT p.deleted AND p.id = ANY(%s)", ([int(i) for i in ids],))
        elif tag is not None:
            rows = conn.execute(_PHOTO_SELECT + " WHERE NOT p.deleted AND p.equipment_tag = %s ORDER BY p.id", (tag,))
        else:
            rows = conn.execute(_PHOTO_SELECT + " WHERE NOT p.deleted ORDER BY p.id")
        rows = rows.fetchall()
        labels = self.labels([r[0] for r in rows])
        return {r[0]: photo_record(r, labels.get(r[0], ())) for r in rows}

    def labels(self, ids: Sequence[int]) -> dict[int, tuple[Label, ...]]:
        found: dict[int, list[Label]] = {}
        for photo_id, kind, value, who, at in self.conn().execute(
                "SELECT photo_id, kind, label, added_by, added_at FROM labels WHERE photo_id = ANY(%s) "
                "ORDER BY photo_id, kind, label", ([int(i) for i in ids],)):
            found.setdefault(photo_id, []).append(Label(kind, value, who, at.isoformat(timespec="seconds")))
        return {i: tuple(v) for i, v in found.items()}

    def counts(self) -> dict[str, int]:
        row = self.conn().execute(
            "SELECT count(*) FILTER (WHERE NOT deleted), count(*) FILTER (WHERE deleted), "
            "count(DISTINCT equipment_tag) FILTER (WHERE NOT deleted), "
            "count(DISTINCT site) FILTER (WHERE NOT deleted), "
            "count(DISTINCT (equipment_tag, inspected_on, inspector)) FILTER (WHERE NOT deleted AND equipment_tag "
            "IS NOT NULL AND (inspected_on IS NOT NULL OR inspector IS NOT NULL OR inspection_notes IS NOT NULL)) "
            "FROM photos").fetchone()
        indexed = self.conn().execute("SELECT count(*) FROM vectors").fetchone()[0]
        return {"photos": row[0], "deleted": row[1], "equipment": row[2], "sites": row[3], "inspections": row[4],
                "indexed": indexed}

    def distinct(self, column: str) -> list[str]:
        """Distinct non-empty values of ``site``, ``equipment_type`` or ``equipment_tag`` of live photos, sorted."""
        from psycopg import sql

        if column not in ("site", "equipment_type", "equipment_tag"):
            raise ValueError(column)
        query = sql.SQL("SELECT DISTINCT {c} FROM photos WHERE NOT deleted AND {c} IS NOT NULL ORDER BY 1").format(
            c=sql.Identifier(column))
        return [r[0] for r in self.conn().execute(query)]

    def media(self, photo_id: int) -> tuple[str, bytes, bytes] | None:
        """(content hash, thumbnail JPEG, display-size JPEG) of a photo, or None."""
        row = self.conn().execute("SELECT p.content_hash, m.thumbnail, m.display FROM photos p JOIN media m "
                                  "ON m.photo_id = p.id WHERE p.id = %s", (int(photo_id),)).fetchone()
        return (row[0], bytes(row[1]), bytes(row[2])) if row else None


def filter_clause(flt: SearchFilter | None):
    """The SQL condition (on alias ``p``) and parameters of a search filter, as the local catalog applies it."""
    from psycopg import sql

    parts = [sql.SQL("NOT p.deleted")]
    params: dict[str, Any] = {}
    if flt is not None:
        for name, column, op in (("site", "site", "="), ("equipment_tag", "equipment_tag", "="),
                                 ("equipment_type", "equipment_type", "="), ("since", "inspected_on", ">="),
                                 ("until", "inspected_on", "<=")):
            value = getattr(flt, name)
            if value is not None:
                parts.append(sql.SQL("p.{} " + op + " {}").format(sql.Identifier(column), sql.Placeholder(name)))
                params[name] = value
    return sql.SQL(" AND ").join(parts), params


def photo_record(row: Sequence[Any], labels: tuple[Label, ...] = ()) -> PhotoRecord:
    """A PhotoRecord from a ``_PHOTO_SELECT`` row (its path is where the contributor's file was)."""
    (photo_id, width, height, taken_at, notes, extra, tag, name, type_, site, area, inspected_on, inspector,
     inspection_notes, source_path) = row[:15]
    return PhotoRecord(
        image_id=int(photo_id), path=Path(source_path) if source_path else Path(), equipment_tag=tag,
        equipment_name=name, equipment_type=type_, site=site, area=area, inspected_on=inspected_on,
        inspector=inspector, notes=notes or inspection_notes, width=width, height=height, taken_at=taken_at,
        extra=MappingProxyType(dict(extra or {})), labels=labels)


def projection_to_bytes(projection: Projection) -> bytes:
    """The projection's ``.npz`` file as bytes (the same format and checks as the local ``projection.npz``)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "projection.npz"
        projection.save(path)
        return path.read_bytes()


def projection_from_bytes(data: bytes) -> Projection:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "projection.npz"
        path.write_bytes(data)
        return Projection.load(path)


def day(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def jpeg(image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def refuse_other_model(store: PgStore, model_id: str) -> None:
    """The server's features must come from the same model as this program's (one archive, one model)."""
    held = store.info("model_id")
    if held is not None and held != model_id:
        raise SharedArchiveError(f"{redact(store.url)}: the archive holds features of model {held}; this program "
                                 f"uses {model_id} (use the same model on every laptop)")
