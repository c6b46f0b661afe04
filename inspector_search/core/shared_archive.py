"""A shared plant archive on PostgreSQL + pgvector, used directly (``--archive postgresql://...``).

It offers the archive façade's reading and searching surface (search with the same filters, rotations,
crops and query expansion; history, photo, listing, status, thumbnails, export) against the server.
``add`` reuses the local pipeline unchanged: photos are added to a *staging* local archive (a cache
folder per server URL, under the user cache folder) with the same decoding, model, metadata CSV and
folder layout handling, and then pushed exactly as ``sync`` pushes a laptop's photos. So the
features on the server are byte-for-byte what a local archive stores, and re-running ``add`` is
incremental.

Vectors are searched on the server with pgvector's HNSW index through the server's own projection
(:mod:`~inspector_search.core.storage.pg_vectors`); before one is fitted (fewer than 200 photos) the
stored features are scanned exactly, which is what a local archive's identity projection does.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import platformdirs

from . import imaging
from .archive import CATALOG_FILE, Archive
from .atomic import atomic_write_bytes
from .catalog import Catalog
from .checking import thumbnail_is_intact
from .errors import QueryError
from .exporting import export_table
from .extractor import FeatureExtractor, default_model_manifest
from .progress import Progress
from .query_expansion import DEFAULT_NEIGHBOURS, expanded_queries, pinned_order, refined_first
from .records import (
    AddReport,
    ArchiveStatus,
    EquipmentHistory,
    EquipmentHit,
    EquipmentRecord,
    InspectionRecord,
    PhotoRecord,
    SearchHit,
    SearchRequest,
    SkippedFile,
)
from .storage.pg_connect import redact
from .storage.pg_store import PgStore, refuse_other_model
from .storage.pg_vectors import maybe_refit
from .sync import SyncReport, SyncState, link, push
from .vector_store import ProjectionPolicy

THUMBNAIL_DIR = "thumbnails"


def staging_folder(url: str) -> Path:
    """The local staging archive of a server URL (user cache folder; disposable, rebuilt by ``add``)."""
    key = hashlib.sha256(redact(url).encode()).hexdigest()[:16]
    return platformdirs.user_cache_path("InspectorSearch", appauthor=False) / "shared" / key


class SharedArchive:
    """An opened shared archive. Use :meth:`open`; close it (or use ``with``) when done."""

    is_shared = True

    def __init__(self, url: str, extractor: FeatureExtractor, store: PgStore, staging: Path,
                 policy: ProjectionPolicy | None = None) -> None:
        self.url = url
        self.folder = staging  # local files of this archive (thumbnail cache, staging): never the photos' home
        self.extractor = extractor
        self.store = store
        self.policy = policy or ProjectionPolicy()
        self._thumb_lock = threading.Lock()

    @classmethod
    def open(cls, url: str, *, model: Path | None = None, threads: int | None = None,
             policy: ProjectionPolicy | None = None, staging: Path | None = None) -> SharedArchive:
        """Connect to the shared archive at ``url`` (schema checked) with the given or the bundled model."""
        extractor = FeatureExtractor(model or default_model_manifest(), threads=threads)
        store = PgStore(url)
        return cls(url, extractor, store, Path(staging) if staging else staging_folder(url), policy)

    def close(self) -> None:
        """Close the server connections."""
        self.store.close()

    def __enter__(self) -> SharedArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def warm_up(self) -> None:
        """Load the model now (call from a worker)."""
        self.extractor.load()

    def refresh(self) -> bool:
        """The server is always current; nothing to pick up."""
        return False

    # -- writing --------------------------------------------------------------------------------------
    def add(self, paths: Sequence[Path | str], *, metadata: Path | None = None, layout: str | None = None,
            progress: Progress | None = None, workers: int | None = None) -> AddReport:
        """Add photos through the staging archive (the local pipeline), then push them to the server."""
        refuse_other_model(self.store, self.extractor.model_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._staging() as staging:
            report = staging.add(paths, metadata=metadata, layout=layout, progress=progress, workers=workers)
            link(staging, self.url)
            state = SyncState(staging.folder)
            try:
                push(staging, self.store, state, SyncReport(), progress=progress, policy=self.policy)
            finally:
                state.close()
        return report

    def _staging(self) -> Archive:
        """The staging local archive, sharing this archive's model (loaded once)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return Archive(self.folder, self.extractor, Catalog(self.folder / CATALOG_FILE))

    def reindex(self, dim: int | None = None, progress: Progress | None = None) -> None:
        """Refit the server's projection on all stored features and rewrite every vector."""
        if dim is not None and dim != self.store.vector_dim:
            raise QueryError(f"the shared archive's vectors have {self.store.vector_dim} dimensions (set by "
                             "`server init --dim`); they cannot be changed here")
        maybe_refit(self.store, self.policy, force=True, progress=progress)

    # -- searching --------------------------------------------------------------------------------------
    _embed_region = Archive._embed_region  # a region at the scale its details have in whole photos

    def embed_query(self, request: SearchRequest) -> np.ndarray:
        """The raw feature vectors of a query photo (one, or four with ``rotations``), as the local archive
        embeds them (a ``crop`` region at the scale it has in the whole photo)."""
        if request.image is None:
            raise QueryError("no query photo given (a shared archive searches by photo)")
        spec = self.extractor.spec
        min_side = min(spec.input_size)
        if request.crop is not None:
            x0, y0, x1, y1 = request.crop
            min_side = int(min_side / max(min(x1 - x0, y1 - y0), 0.05))
        source = io.BytesIO(request.image) if isinstance(request.image, bytes) else Path(request.image)
        image = imaging.open_image(source, min_side=min_side)[0]
        turns = range(4) if request.rotations else range(1)
        if request.crop is not None:
            region = imaging.crop_relative(image, request.crop)
            return np.stack([self._embed_region(imaging.rotate(region, t), request.crop, t % 2 == 1) for t in turns])
        return self.extractor.embed(np.stack([imaging.preprocess(imaging.rotate(image, t), spec) for t in turns]))
    group_by_equipment = staticmethod(Archive.group_by_equipment)

    def search(self, request: SearchRequest) -> list[SearchHit]:
        """Archive photos most like the query photo, best first, filtered during the search."""
        return self._hits(self._ranked(request, request.top_k)[: request.top_k])

    def search_by_equipment(self, request: SearchRequest) -> list[EquipmentHit]:
        """Equipment ranked by their best-matching photo (``top_k`` equipment)."""
        return self.group_by_equipment(self._hits(self._ranked(request, max(request.top_k * 20, 200))))[
            : request.top_k]

    def _ranked(self, request: SearchRequest, k: int) -> list[tuple[int, float]]:
        if request.top_k < 1:
            raise QueryError("top-k must be at least 1")
        raw = self.embed_query(request)
        expansion = DEFAULT_NEIGHBOURS if request.expansion is None else max(request.expansion, 0)
        projection, _pid = self.store.projection()
        vectors = projection.transform(raw) if projection is not None else raw
        flt = None if request.filter.is_empty() else request.filter
        ranked = self._nearest(vectors, max(k, expansion), flt, projection is not None)
        if expansion and ranked:
            ids = [i for i, _ in ranked[:expansion]]
            found = self.store.features_of(ids)
            kept = [i for i in ids if i in found]
            if kept:
                features = np.stack([found[i] for i in kept])
                neighbours = projection.transform(features) if projection is not None else features
                turn = int(np.argmax(vectors @ neighbours[0]))
                query = expanded_queries(vectors[turn: turn + 1], neighbours[None], (neighbours @ vectors[turn])[None])
                first = kept[refined_first(raw, features)]
                order = pinned_order(first, [i for i, _ in self._nearest(query, k, flt, projection is not None)])
                scores = self._similarities(vectors, order, projection)
                ranked = list(zip(order, scores, strict=True))
        return [(i, s) for i, s in ranked if s >= request.min_score][:k]

    def _nearest(self, vectors: np.ndarray, k: int, flt, projected: bool) -> list[tuple[int, float]]:
        best: dict[int, float] = {}
        for row in self.store.nearest(vectors, k, flt, projected):
            for photo_id, score in row:
                if score > best.get(photo_id, -2.0):
                    best[photo_id] = score
        return sorted(best.items(), key=lambda item: (-item[1], item[0]))

    def _similarities(self, vectors: np.ndarray, ids: list[int], projection) -> list[float]:
        """Each photo's best similarity to any query vector, from its stored features."""
        found = self.store.features_of(ids)
        rows = np.stack([found[i] for i in ids]) if ids else np.zeros((0, vectors.shape[1]), np.float32)
        projected = projection.transform(rows) if projection is not None else rows
        return (projected @ vectors.T).max(axis=1).astype(float).tolist() if ids else []

    def _hits(self, scored: list[tuple[int, float]]) -> list[SearchHit]:
        photos = self.store.photos([i for i, _ in scored])
        hits: list[SearchHit] = []
        for photo_id, score in scored:
            if photo_id in photos:
                hits.append(SearchHit(len(hits) + 1, float(score), photos[photo_id]))
        return hits

    # -- reading ------------------------------------------------------------------------------------------
    def photo(self, image_id: int) -> PhotoRecord:
        """One archive photo with its metadata."""
        found = self.store.photos([image_id])
        if image_id not in found:
            raise QueryError(f"no photo with id {image_id} in this archive")
        return found[image_id]

    def history(self, tag: str) -> EquipmentHistory:
        """An equipment's inspections in date order, each with its photos and notes."""
        photos = list(self.store.photos(tag=tag).values())
        if not photos:
            raise QueryError(f"no equipment tagged {tag!r} in this archive")
        first = photos[0]
        record = EquipmentRecord(tag, first.equipment_name, first.equipment_type, first.site, first.area, len(photos))
        groups: dict[tuple, list[PhotoRecord]] = {}
        for photo in photos:
            key = (photo.inspected_on, photo.inspector) if (photo.inspected_on or photo.inspector) else ("photo",)
            groups.setdefault(key, []).append(photo)
        inspections = [InspectionRecord(None if key == ("photo",) else n + 1, group[0].inspected_on, group[0].inspector,
                                        group[0].notes, tuple(group)) for n, (key, group) in enumerate(groups.items())]
        inspections.sort(key=lambda r: (r.inspected_on is None, r.inspected_on or date.min))
        return EquipmentHistory(record, tuple(inspections))

    def sites(self) -> list[str]:
        """Site names, sorted."""
        return self.store.distinct("site")

    def equipment_types(self) -> list[str]:
        """Equipment types in use, sorted."""
        return self.store.distinct("equipment_type")

    def equipment_tags(self) -> list[str]:
        """Equipment tags in use, sorted."""
        return self.store.distinct("equipment_tag")

    resolve_filter = Archive.resolve_filter  # typed names matched as the local archive matches them

    def equipment(self, site: str | None = None) -> list[EquipmentRecord]:
        """Equipment (of one site, or all) with photo counts, by site then tag."""
        groups: dict[str, list[PhotoRecord]] = {}
        for photo in self.store.photos().values():
            if photo.equipment_tag and (site is None or photo.site == site):
                groups.setdefault(photo.equipment_tag, []).append(photo)
        records = [EquipmentRecord(tag, g[0].equipment_name, g[0].equipment_type, g[0].site, g[0].area, len(g))
                   for tag, g in groups.items()]
        return sorted(records, key=lambda r: (r.site or "", r.tag))

    def listing(self) -> list[PhotoRecord]:
        """Every live photo with its metadata, by id."""
        return list(self.store.photos().values())

    @staticmethod
    def export(items: Sequence[PhotoRecord | SearchHit], fmt: str) -> str:
        """Photos or search hits as CSV or HTML (see :mod:`~inspector_search.core.exporting`)."""
        return export_table(items, fmt)

    def skipped(self) -> list[SkippedFile]:
        """Files skipped by this machine's adds (the staging archive's record)."""
        if not (self.folder / "catalog.sqlite").exists():
            return []
        with self._staging() as staging:
            return staging.skipped()

    def status(self) -> ArchiveStatus:
        """Counts, model, projection and vector index state of the server."""
        counts = self.store.counts()
        projection, pid = self.store.projection()
        if projection is None:
            described = f"none yet (exact search of {self.extractor.dim}-d features until PCA is fitted)"
            vector_dim, index_state = self.extractor.dim, "exact scan (no projection yet)"
        else:
            fitted = self.store.fitted_on()
            described = f"PCA {projection.in_dim}->{projection.out_dim} ({pid[:12]}, on {fitted} photos)"
            vector_dim, index_state = projection.out_dim, "pgvector HNSW (cosine), on the server"
        return ArchiveStatus(
            folder=redact(self.url), photos=counts["photos"], files=counts["photos"], deleted=counts["deleted"],
            equipment=counts["equipment"], sites=counts["sites"], inspections=counts["inspections"],
            model_id=self.store.info("model_id") or self.extractor.model_id, feature_dim=self.extractor.dim,
            projection=described, vector_dim=vector_dim, index_state=index_state, indexed=counts["indexed"],
            skipped=tuple(self.skipped()), schema_version=int(self.store.info("version") or 0))

    def thumbnail(self, image_id: int, size: int = 256) -> Path:
        """A JPEG thumbnail made from the server's stored copies, cached in the local thumbnail folder."""
        found = self.store.media(image_id)
        if found is None:
            raise QueryError(f"no photo with id {image_id} in this archive")
        content_hash, small, display = found
        target = self.folder / THUMBNAIL_DIR / str(size) / content_hash[:2] / f"{content_hash}.jpg"
        if thumbnail_is_intact(target):
            return target
        image = imaging.thumbnail(small if size <= 256 else display, size)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        with self._thumb_lock:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, buffer.getvalue())
        return target

    def display_copy(self, image_id: int) -> bytes:
        """The display-size JPEG stored on the server (shown when the original file is not reachable)."""
        found = self.store.media(image_id)
        if found is None:
            raise QueryError(f"no photo with id {image_id} in this archive")
        return found[2]

    # -- not (yet) on a shared archive -------------------------------------------------------------------
    def check(self, repair: bool = False, progress: Progress | None = None):
        """Not available: the server's integrity is PostgreSQL's (see docs/shared-archive.md)."""
        raise _unsupported("check")

    def duplicates(self, threshold: float | None = None, progress: Progress | None = None):
        """Not available on a shared archive yet."""
        raise _unsupported("duplicates")

    def default_duplicate_threshold(self) -> float:
        raise _unsupported("duplicates")


def _unsupported(what: str) -> QueryError:
    return QueryError(f"{what} is not available on a shared archive yet; run it on a laptop's linked local archive")
