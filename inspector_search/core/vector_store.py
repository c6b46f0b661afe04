"""Keeps the PCA projection and the vector index in step with the features stored in the catalog.

Both files are derived data: when either is missing, stale or damaged it is rebuilt from the
catalog's stored features, never from the photos. The index is synced incrementally (add what
the catalog has and the index lacks, remove what the catalog no longer has), so an ``add`` that
was killed half-way costs nothing more than the vectors it did not save.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes
from .catalog import Catalog
from .errors import IndexFileError
from .projection import MAX_FIT_SAMPLES, Projection
from .vector_index import VectorIndex

log = logging.getLogger(__name__)

PROJECTION_FILE = "projection.npz"
PCA_DIM_KEY = "pca_dim"  # catalog meta: the PCA dimension a user chose with `reindex --dim`
INDEX_FILE = "index.hnsw"
INDEX_STATE_FILE = "index.json"
INDEX_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ProjectionPolicy:
    """When to fit (and refit) PCA: ``dim`` components once ``min_photos`` photos have features;
    refit when the archive has grown to ``growth`` times the photos it was fitted on, until
    ``refit_until`` photos (after that only ``reindex`` refits). ``power`` is the power normalisation
    fitted into the PCA (0.5: square root of every feature; chosen by measurement, ``docs/quality.md``);
    a projection fitted before keeps its own until the next refit. ``dim`` 128 rather than 256: the same
    neu_det mAP (0.8657 vs 0.8655 with power 0.5) at half the index memory and search time, which is
    what lets a 1,000,000-photo archive stay under 1.5 GB (``docs/benchmarks.md``)."""

    dim: int = 128
    min_photos: int = 200
    growth: float = 2.0
    refit_until: int = 50_000
    power: float = 0.5


class VectorStore:
    """The projection + index of one archive for one model; thread-safe for readers and one writer."""

    def __init__(self, folder: Path, catalog: Catalog, model_id: str, feature_dim: int,
                 policy: ProjectionPolicy | None = None) -> None:
        self.folder = Path(folder)
        self.catalog = catalog
        self.model_id = model_id
        self.feature_dim = feature_dim
        self.policy = policy or ProjectionPolicy()
        self.messages: list[str] = []
        self._lock = threading.RLock()
        self._projection: Projection | None = None
        self._projection_unsaved = False  # fitted here, written by the next save() (the writer's)
        self._index: VectorIndex | None = None
        self._synced_generation = -1
        self.lost_photos = 0
        """Photos the index on disk held that the catalog no longer knows at all (its last commits were lost)."""
        self.catalog_behind = False
        """The catalog is older than the index made from it (generation went back): saved changes were lost."""

    # -- loading ---------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._index is not None

    def load(self) -> None:
        """Load projection and index from disk, rebuilding what is missing, stale or damaged."""
        with self._lock:
            if self._index is not None:
                return
            self._projection = self._load_projection()
            self._index = self._load_index(self._projection)
            self.sync()

    def _load_projection(self) -> Projection:
        path = self.folder / PROJECTION_FILE
        if path.exists():
            try:
                projection = Projection.load(path)
                if projection.in_dim == self.feature_dim:
                    return projection
                self._note(f"{path.name} was fitted for {projection.in_dim}-d features; refitting")
            except IndexFileError as exc:
                self._note(f"{path.name} is damaged ({exc.reason}); refitting it from the catalog")
            return self._fit_projection()
        count = len(self.catalog.live_image_ids(self.model_id))
        if count >= self.policy.min_photos:
            self._note(f"{path.name} is missing; fitting it from the catalog")
            return self._fit_projection()
        return Projection.identity(self.feature_dim)

    def _load_index(self, projection: Projection) -> VectorIndex:
        path, state = self.folder / INDEX_FILE, self._read_state()
        if not path.exists():
            if state is not None or len(self.catalog.live_image_ids(self.model_id)):
                self._note(f"{path.name} is missing; rebuilding it from the catalog")
            return VectorIndex(projection.out_dim)
        if state is None or state.get("projection_id") != projection.projection_id:
            self._note(f"{path.name} does not match the projection; rebuilding it from the catalog")
            return VectorIndex(projection.out_dim)
        try:
            index = VectorIndex.load(path, projection.out_dim)
        except IndexFileError as exc:
            self._note(f"{path.name} is damaged ({exc.reason}); rebuilding it from the catalog")
            return VectorIndex(projection.out_dim)
        self._synced_generation = int(state.get("generation", -1))
        self._compare_with_catalog(index, self._synced_generation)
        return index

    def _compare_with_catalog(self, index: VectorIndex, generation: int) -> None:
        """Notice a catalog that lost its last saved changes (a write-ahead log truncated, garbled or deleted):
        SQLite then opens the file as it was before them without a word, and the index made after them holds
        photos the catalog has never heard of, or a later generation. Said in ``messages``; the index file is
        kept as it is (readers do not save over it), so the next ``add`` still knows what to restore."""
        ids = index.ids()
        # Photo ids only grow (deleted photos keep their rows), and lost commits are the latest ones: the photos
        # they held have ids above the catalog's highest. One indexed look-up, not a scan of a 1M-photo table.
        lost = ids[ids > self.catalog.max_image_id()] if len(ids) else ids
        self.lost_photos = len(lost)
        self.catalog_behind = bool(len(lost)) or self.catalog.generation < generation
        if not self.catalog_behind:
            return
        what = f"{len(lost)} photos that {INDEX_FILE} holds" if len(lost) else f"changes that {INDEX_FILE} reflects"
        self._note(f"the catalog lacks {what}: its last saved changes were lost (a damaged or deleted "
                   f"{self.catalog.path.name}-wal?). Run `inspector-search add` on the same folders again: the "
                   "photos are added again, with the metadata CSV or layout recorded by the earlier add")

    def _read_state(self) -> dict | None:
        try:
            state = json.loads((self.folder / INDEX_STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(state, dict) or state.get("format_version") != INDEX_FORMAT_VERSION:
            return None
        return state if state.get("model_id") == self.model_id else None

    def _note(self, message: str) -> None:
        log.warning(message)
        self.messages.append(message)

    # -- keeping in step with the catalog ----------------------------------------------------------
    def sync(self) -> bool:
        """Make the index hold exactly the catalog's live photos with features; True if it changed."""
        with self._lock:
            generation = self.catalog.generation
            if self._index is None or generation == self._synced_generation:
                return False
            wanted = self.catalog.live_image_ids(self.model_id)
            have = self._index.ids()
            missing = np.setdiff1d(wanted, have, assume_unique=True)
            extra = np.setdiff1d(have, wanted, assume_unique=True)
            if len(extra):
                self._index.remove(extra)
            for ids, features in self.catalog.features(self.model_id, missing.tolist() if len(missing) else []):
                self._index.add(ids, self._projection.transform(features))
            self._synced_generation = generation
            return bool(len(missing) or len(extra))

    def add(self, ids: np.ndarray, features: np.ndarray) -> None:
        """Index freshly embedded photos (features are raw, L2-normalised)."""
        with self._lock:
            if self._index is not None and len(ids):
                self._index.add(np.asarray(ids, dtype=np.int64), self._projection.transform(features))

    def remove(self, ids: np.ndarray) -> None:
        """Take photos out of the index."""
        with self._lock:
            if self._index is not None and len(ids):
                self._index.remove(np.asarray(ids, dtype=np.int64))

    def mark_synced(self) -> None:
        """The writer calls this after committing a batch it has also indexed itself."""
        with self._lock:
            self._synced_generation = self.catalog.generation

    # -- projection fitting --------------------------------------------------------------------------
    def _fit_projection(self, dim: int | None = None) -> Projection:
        ids = self.catalog.live_image_ids(self.model_id)
        if len(ids) > MAX_FIT_SAMPLES:  # read only the rows the fit uses: all of 1M photos would take 10 GB
            ids = np.sort(np.random.default_rng(0).choice(ids, MAX_FIT_SAMPLES, replace=False))
        chunks = [f for _ids, f in self.catalog.features(self.model_id, ids.tolist())]
        if not chunks or sum(len(c) for c in chunks) < 3:
            return Projection.identity(self.feature_dim)
        chosen = self.catalog.get_meta(PCA_DIM_KEY)  # `reindex --dim N` is remembered for later refits
        dim = dim or (int(chosen) if chosen else self.policy.dim)
        projection = Projection.fit(np.concatenate(chunks), dim=dim, power=self.policy.power)
        self._projection_unsaved = True  # a reader must not write it: save() does, under the writer lock
        return projection

    def fitted_on(self) -> int:
        """How many photos the current projection was fitted on (0 for the identity)."""
        projection = self._projection
        return 0 if projection is None or projection.kind == "identity" else int(projection.n_fit)

    def refit_due(self, count: int) -> bool:
        """Whether the policy wants PCA (re)fitted once ``count`` photos have features (the writer uses it
        to skip indexing batches that the refit would rebuild anyway)."""
        fitted = self.fitted_on()
        return count >= self.policy.min_photos and (
            fitted == 0 or (count >= self.policy.growth * fitted and fitted < self.policy.refit_until))

    def maybe_refit(self, force: bool = False, dim: int | None = None) -> bool:
        """Refit PCA when the policy says so (or when forced) and rebuild the index; True if refitted."""
        with self._lock:
            if not (force or self.refit_due(len(self.catalog.live_image_ids(self.model_id)))):
                return False
            projection = self._fit_projection(dim)
            self._projection, self._index, self._synced_generation = projection, VectorIndex(projection.out_dim), -1
            self.sync()
            return True

    # -- saving and querying ------------------------------------------------------------------------
    def save(self) -> None:
        """Write a newly fitted projection, then the index and its state file, each atomically (the
        writer only). A failing disk (full, read-only) raises IndexFileError: the catalog is intact and
        projection and index are rebuilt from it."""
        with self._lock:
            if self._index is None:
                return
            if self._projection_unsaved:
                try:
                    self._projection.save(self.folder / PROJECTION_FILE)
                except OSError as exc:
                    raise IndexFileError(self.folder / PROJECTION_FILE, f"cannot save the projection "
                                         f"({exc.strerror or exc}); it is refitted from the catalog") from exc
                self._projection_unsaved = False
            state = {
                "format_version": INDEX_FORMAT_VERSION, "model_id": self.model_id,
                "projection_id": self._projection.projection_id, "dim": self._projection.out_dim,
                "count": len(self._index), "generation": self._synced_generation,
            }
            try:
                self._index.save(self.folder / INDEX_FILE)
                atomic_write_bytes(self.folder / INDEX_STATE_FILE, json.dumps(state, indent=1).encode())
            except OSError as exc:
                raise IndexFileError(self.folder / INDEX_FILE, f"cannot save the index ({exc.strerror or exc}); "
                                     "the catalog is intact and the index is rebuilt from it next time") from exc

    def reload(self) -> None:
        """Load projection and index from disk again, rebuilding what is missing or damaged (``check
        --repair``); searches in other threads wait for it and then use the new ones."""
        with self._lock:
            self._projection, self._index, self._synced_generation = None, None, -1
            self._projection_unsaved = False
            self.load()

    def rebuild_index(self) -> None:
        """Rebuild the index from the catalog's stored features with the current projection."""
        with self._lock:
            self.load()
            self._index, self._synced_generation = VectorIndex(self._projection.out_dim), -1
            self.sync()

    @contextlib.contextmanager
    def consistent(self) -> Iterator[None]:
        """Hold projection and index still (no refit, reload or add in between) for several calls of
        :meth:`project` and :meth:`query` that must agree, e.g. one search."""
        with self._lock:
            self.load()
            yield

    def project(self, features: np.ndarray) -> np.ndarray:
        """Raw features -> searchable vectors with the current projection."""
        with self._lock:
            self.load()
            return self._projection.transform(features)

    def query(self, vectors: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[list[tuple[int, float]]]:
        """Nearest photos for each projected query vector: lists of (image id, similarity)."""
        self.load()
        with self._lock:
            return self._index.query(vectors, k, allowed=allowed)

    def similarities(self, vectors: np.ndarray, ids: Sequence[int]) -> np.ndarray:
        """Each indexed photo's best similarity to any of the projected query vectors (same order)."""
        self.load()
        with self._lock:
            return self._index.similarities(vectors, np.asarray(ids, dtype=np.int64)).max(axis=0)

    def radius_query(self, vectors: np.ndarray, min_similarity: float,
                     max_results: int = 100) -> list[list[tuple[int, float]]]:
        """All indexed photos at least ``min_similarity`` alike to each projected vector."""
        self.load()
        with self._lock:
            return self._index.radius_query(vectors, min_similarity, max_results)

    def describe(self) -> tuple[str, int, str, int]:
        """(projection description, vector dim, index state, indexed count) for status reports."""
        projection, index = self._projection, self._index
        if projection is None or index is None:
            return "not loaded", 0, "not loaded", 0
        kind = "identity (too few photos for PCA)" if projection.kind == "identity" else (
            f"PCA {projection.in_dim}->{projection.out_dim}, fitted on {projection.n_fit} photos")
        fresh = self.catalog.generation == self._synced_generation
        return kind, projection.out_dim, "up to date" if fresh else "stale", len(index)
