"""Nearest-neighbour index of projected image vectors: hnswlib (cosine) behind an id-keyed API.

Why a wrapper: hnswlib raises when it finds fewer neighbours than asked, lists deleted labels,
has a Python filter that is slow when few items pass it, cannot hand vectors back quickly, and its
``load_index`` can crash the process on a truncated or garbage file. :class:`VectorIndex` hides
all of that:

* ``add``/``remove`` keyed by int64 ids (re-adding replaces the vector, capacity doubles as
  needed); ``query``/``radius_query`` return ``(id, similarity)``, similarity = 1 - cosine distance.
* A filtered query (``allowed`` = ids passing the metadata filter) takes the cheapest of three
  paths, never returning fewer than ``min(k, allowed live ids)`` results:
  when at least ``POST_FILTER_MIN_FRACTION`` of the live ids are allowed, an unfiltered hnswlib
  search for enough neighbours that ~3 k of them pass (then the filter is applied in numpy);
  otherwise, up to ``exact_threshold`` allowed ids, an exact scan of their vectors; beyond that,
  hnswlib's (slow, Python-callback) filter with a larger ef.
* The exact scan reads a compact second copy of the vectors (:mod:`~inspector_search.core.vector_copy`,
  int8 codes and a scale per vector: 136 MB at 1M x 128) and rescores with hnswlib's float32 vectors
  the candidates that the copy's error bounds cannot rule out, so it is exact. The copy is not
  stored on disk: ``load`` rebuilds it from the hnswlib payload while checking it.
* ``save`` is atomic; ``load`` checks magic, lengths and a CRC-32 *before* hnswlib sees the
  payload, so a damaged file raises IndexFileError instead of crashing (file layout and checks:
  :mod:`~inspector_search.core.index_file`).

Thread safety: queries may run on a worker thread; they are serialised by an internal lock since
they adjust hnswlib's ef. Writes (``add``, ``remove``, ``save``) must be serialised by the caller
and must not overlap queries (in the app, the archive's writer lock).
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import shutil
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import hnswlib
import numpy as np

from .atomic import atomic_write, temporary_path
from .errors import IndexFileError
from .index_file import (
    COPY_CHUNK,
    FORMAT_VERSION,
    MAGIC,
    SPACE,
    check_payload_header,
    crc32_file,
    read_header,
    read_ids,
    read_payload,
)
from .vector_copy import VectorCopy

__all__ = ["DEFAULT_EXACT_THRESHOLD", "FORMAT_VERSION", "MAGIC", "POST_FILTER_MIN_FRACTION", "Neighbours",
           "VectorIndex"]

Neighbours = list[list[tuple[int, float]]]
"""Per query vector, ``(id, similarity)`` pairs sorted by similarity, best first."""

DEFAULT_EXACT_THRESHOLD = 50_000
"""Filtered queries with at most this many allowed live ids (and too few for the post-filter) are
answered by an exact scan, which costs ~0.1-0.3 us per 128-d vector (10,000 of a million in 1-3 ms,
benchmarks/search.py); a filter that keeps more but under 5 % goes to hnswlib's filter, whose Python
callback is slower still at such shares."""
POST_FILTER_MIN_FRACTION = 0.05
"""Filters letting at least this fraction of the live ids through are applied after an unfiltered
search for 3 k / fraction neighbours (300 for k = 10 at 10 %, 600 at 5 %)."""

_EXACT_CHUNK = 65_536  # vectors scored per step of the exact scan (bounds temporary memory)
_RESCORE_MARGIN = 128  # the exact scan keeps its best k + this many candidates to find the contenders among
_RETRIES = 3  # hnswlib searches with a 4x larger ef before falling back to exact search
_RADIUS_START_K = 16
_FILTER_EF_REFERENCE = 0.4  # below this allowed fraction, the filtered search gets a larger ef ...
_FILTER_EF_MAX_BOOST = 4.0  # ... by sqrt(0.4 / fraction), at most 4x
_POST_FILTER_OVERSAMPLE = 3.0  # the post-filter fetches enough neighbours that 3 x k pass, on average ...
# ... at ef = that many, or 1.5 x that from 300k vectors on, where hnswlib's deep neighbours get less
# accurate: 10 % allowed, recall@10 0.997 at 100k with ef = fetch; at 1M 0.964-0.977, 0.981-0.989 with 1.5x.
_POST_FILTER_EF = 1.5
_POST_FILTER_DEEP_FROM = 300_000


class VectorIndex:
    """An hnswlib cosine index keyed by int64 ids, with exact filtered search and safe persistence.

    ``m`` and ``ef_construction`` shape the graph (memory and build time versus recall);
    ``ef_search`` is the default search breadth (raised automatically to at least k). The defaults
    come from the sweep in ``benchmarks/search.py`` (docs/benchmarks.md): on 100k clustered 128-d
    vectors ef_construction 100 builds 2.3x faster than 200 for the same recall@10 (>= 0.996 at
    ef 64), and M 16 beats 8 on recall and 32 on speed and memory. ef_search 128: recall@10 0.993 on
    1M vectors (0.980 at 64) for ~0.7 ms of CPU.
    ``capacity`` is the initial number of slots (doubles as needed). ``exact_threshold`` may be
    changed on the instance (tests force either filtered path with it).
    """

    def __init__(
        self, dim: int, *, m: int = 16, ef_construction: int = 100, ef_search: int = 128, capacity: int = 1024
    ) -> None:
        """Create an empty index for ``dim``-long vectors; ValueError for non-positive parameters."""
        for name, value, minimum in (
            ("dim", dim, 1), ("m", m, 2), ("ef_construction", ef_construction, 1),
            ("ef_search", ef_search, 1), ("capacity", capacity, 1),
        ):  # fmt: skip
            _check_int(name, value, minimum)
        index = hnswlib.Index(space=SPACE, dim=dim)
        index.init_index(max_elements=capacity, M=m, ef_construction=ef_construction)
        self._setup(index, dim, m, ef_construction, ef_search, np.empty(0, dtype=np.int64), VectorCopy(dim))

    def _setup(
        self, index: hnswlib.Index, dim: int, m: int, ef_construction: int, ef_search: int, live: np.ndarray,
        copy: VectorCopy,
    ) -> None:
        """Set every attribute; shared by ``__init__`` and ``load``."""
        self.dim = int(dim)
        self.m = int(m)
        self.ef_construction = int(ef_construction)
        self.ef_search = int(ef_search)
        self.exact_threshold = DEFAULT_EXACT_THRESHOLD
        self._index = index
        self._index.set_ef(self.ef_search)
        self._live = live  # sorted unique int64 ids that are in the index and not deleted
        self._copy = copy  # the same vectors, quantised, for exact scans over a subset
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ contents

    def __len__(self) -> int:
        """Number of live (added and not removed) ids."""
        return int(self._live.size)

    def __contains__(self, item: object) -> bool:
        """True when ``item`` is a live id."""
        try:
            value = np.array([operator.index(item)], dtype=np.int64)  # type: ignore[arg-type]
        except (TypeError, OverflowError):
            return False
        return bool(_member_mask(value, self._live)[0])

    def ids(self) -> np.ndarray:
        """The live ids, sorted ascending (a copy)."""
        return self._live.copy()

    @property
    def capacity(self) -> int:
        """Slots currently allocated in hnswlib (live + deleted + free); grows by doubling."""
        return int(self._index.get_max_elements())

    @property
    def deleted_count(self) -> int:
        """Slots held by removed ids; a large number means a rebuild would save memory."""
        return int(self._index.element_count) - len(self)

    # ------------------------------------------------------------------ writes

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Insert vectors under ``ids``; an id already present (or removed earlier) gets the new vector.

        ``vectors`` is (n, dim) (or (dim,) for a single id) and is expected to be L2-normalised;
        hnswlib's cosine space normalises it again anyway. If an id occurs twice in one call the
        last vector wins. Raises ValueError for mismatched lengths, a wrong dimension, negative
        ids or non-finite values. Not thread-safe: see the module docstring.
        """
        id_array = _as_ids(ids)
        matrix = _as_matrix(vectors, self.dim, "vectors")
        if id_array.size != matrix.shape[0]:
            raise ValueError(f"{id_array.size} ids but {matrix.shape[0]} vectors")
        if id_array.size == 0:
            return
        if id_array.min() < 0:
            raise ValueError("ids must be >= 0")
        id_array, matrix = _keep_last_occurrence(id_array, matrix)
        new = id_array[~_member_mask(id_array, self._live)]
        # Replacing a live id reuses its slot; a removed id coming back does too, so this may over-count.
        self._ensure_capacity(int(self._index.element_count) + new.size)
        self._index.add_items(matrix, id_array.astype(np.uint64))
        self._copy.put(id_array, _normalised(matrix))
        if new.size:  # a stable sort merges the two sorted runs in linear time
            self._live = np.sort(np.concatenate([self._live, np.sort(new)]), kind="stable")

    def remove(self, ids: np.ndarray) -> None:
        """Remove ``ids`` from search results (hnswlib mark_deleted); ids not present are ignored.

        The slot stays allocated until the index is rebuilt (see :attr:`deleted_count`); re-adding
        the same id later reuses it. Not thread-safe: see the module docstring.
        """
        id_array = _sorted_unique(np.asarray(ids, dtype=np.int64).ravel())
        present = id_array[_member_mask(id_array, self._live)]
        for label in present.tolist():
            self._index.mark_deleted(label)
        if present.size:
            self._live = self._live[~_member_mask(self._live, present)]
            self._copy.drop(present)

    def set_ef(self, ef: int) -> None:
        """Set the default search breadth (higher = better recall, slower); it never drops below k."""
        _check_int("ef", ef, 1)
        with self._lock:
            self.ef_search = int(ef)
            self._index.set_ef(self.ef_search)

    def _ensure_capacity(self, needed: int) -> None:
        """Grow hnswlib's slot count (at least doubling) so that ``needed`` elements fit."""
        current = self.capacity
        if needed > current:
            self._index.resize_index(max(needed, 2 * current))

    # ------------------------------------------------------------------ queries

    def query(self, vectors: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Neighbours:
        """The ``k`` most similar live ids for each query vector ((n, dim) or (dim,)).

        ``allowed`` restricts results to those ids (ids not in the index are ignored); which search
        answers a filtered query is explained in the module docstring. Each list holds
        ``min(k, candidates)`` pairs: an empty index or an empty allowed set gives empty lists.
        Raises ValueError for k < 1 or a wrong dimension.
        """
        _check_int("k", k, 1)
        queries = _normalised(_as_matrix(vectors, self.dim, "query vectors"))
        wanted = None if allowed is None else _sorted_unique(np.asarray(allowed, dtype=np.int64).ravel())
        with self._lock:
            share = 0.0 if wanted is None or not len(self) else wanted.size / len(self)
            if queries.shape[0] and POST_FILTER_MIN_FRACTION <= share < 1:
                # Tried before the allowed ids are even matched against the live ones (~1 ms for 100k).
                found = self._post_filtered(queries, k, wanted, share)
                if found is not None:
                    return found
            candidates = None if wanted is None else wanted[self._copy.rows_of(wanted) >= 0]
            k = min(k, len(self) if candidates is None else candidates.size)
            if k == 0 or queries.shape[0] == 0:
                return [[] for _ in range(queries.shape[0])]
            if candidates is not None and candidates.size < len(self) and candidates.size <= self.exact_threshold:
                return self._exact(queries, candidates, k)
            return self._approximate(queries, k, candidates)

    def radius_query(self, vectors: np.ndarray, min_similarity: float, max_results: int = 100) -> Neighbours:
        """All live ids with similarity >= ``min_similarity`` to each query (at most ``max_results``).

        Built for near-duplicate groups without an N x N matrix: each query asks hnswlib for
        k = 16, 32, 64 ... neighbours until the last one falls below the threshold (or k reaches
        ``max_results`` or the index size). A query vector that is itself in the index finds
        itself (similarity ~1); callers drop it. Results are as approximate as :meth:`query`.
        """
        _check_int("max_results", max_results, 1)
        queries = _normalised(_as_matrix(vectors, self.dim, "query vectors"))
        results: Neighbours = [[] for _ in range(queries.shape[0])]
        limit = min(max_results, len(self))
        if limit == 0:
            return results
        pending = np.arange(queries.shape[0])
        k = min(_RADIUS_START_K, limit)
        with self._lock:
            while pending.size:
                still_open = []
                for row, pairs in zip(pending.tolist(), self._approximate(queries[pending], k, None), strict=True):
                    if k < limit and pairs[-1][1] >= min_similarity:
                        still_open.append(row)
                    else:
                        results[row] = [pair for pair in pairs if pair[1] >= min_similarity]
                pending = np.array(still_open, dtype=np.int64)
                k = min(2 * k, limit)
        return results

    def similarities(self, vectors: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact similarities (n_queries, len(ids)) of query vectors to the stored vectors of ``ids``
        (the similarity a search reports); ValueError when an id is not live."""
        queries = _normalised(_as_matrix(vectors, self.dim, "query vectors"))
        id_array = _as_ids(ids)
        if not id_array.size:
            return np.zeros((queries.shape[0], 0), dtype=np.float32)
        missing = id_array[~_member_mask(id_array, self._live)]
        if missing.size:
            raise ValueError(f"id {int(missing[0])} is not in the index")
        with self._lock:
            return queries @ self._stored(id_array).T

    def _stored(self, ids: np.ndarray) -> np.ndarray:
        """hnswlib's float32 vectors of live ``ids`` (n, dim): the exact ones that searches score."""
        return np.asarray(self._index.get_items(ids, return_type="list"), dtype=np.float32).reshape(-1, self.dim)

    def _approximate(self, queries: np.ndarray, k: int, candidates: np.ndarray | None) -> Neighbours:
        """hnswlib search (filtered when ``candidates`` is a strict subset); retries, then exact.

        hnswlib raises when it finds fewer than k results (a tight filter, many deletions); the
        search is retried with a 4x larger ef a few times and finally answered exactly.
        """
        ef = max(self.ef_search, k)
        accept: Callable[[int], bool] | None = None
        if candidates is not None and candidates.size < len(self):
            accept = self._membership_test(candidates)
            ef = _filtered_ef(ef, candidates.size / len(self))
        for _ in range(_RETRIES + 1):
            found = self._knn(queries, k, ef, accept)
            if found is not None:
                return found
            if ef >= self._index.element_count:
                break
            ef *= 4
        return self._exact(queries, self._live if candidates is None else candidates, k)

    def _post_filtered(self, queries: np.ndarray, k: int, allowed: np.ndarray, share: float) -> Neighbours | None:
        """An unfiltered hnswlib search for enough neighbours that ~3k pass, then the filter in numpy.

        ``allowed`` is sorted and unique (its ids need not be live). Answers what an exact filtered
        search would, as far as the unfiltered neighbours are right (in a big index the deep ones
        need a larger ef); None when some query got fewer than k allowed neighbours
        (the filter is at odds with that part of the index, or allows fewer than k live ids), so that
        another path answers.
        """
        fetch = min(len(self), math.ceil(_POST_FILTER_OVERSAMPLE * k / share))
        ef = math.ceil(fetch * (_POST_FILTER_EF if len(self) >= _POST_FILTER_DEEP_FROM else 1.0))
        found = self._knn_arrays(queries, fetch, max(self.ef_search, ef), None)
        if found is None:
            return None
        labels, sims = found
        passed = _member_mask(labels, allowed)
        if np.any(passed.sum(axis=1) < k):
            return None
        first = np.argsort(~passed, axis=1, kind="stable")[:, :k]  # the first k allowed, by rank
        return _pairs(np.take_along_axis(labels, first, axis=1), np.take_along_axis(sims, first, axis=1))

    def _membership_test(self, candidates: np.ndarray) -> Callable[[int], bool]:
        """A fast ``label -> allowed?`` callable for hnswlib's filter, built from the smaller set.

        A bound ``set.__contains__`` is the cheapest Python callable; when most ids are allowed the
        excluded ones make the smaller set.
        """
        if candidates.size <= len(self) // 2:
            return set(candidates.tolist()).__contains__
        excluded = set(self._live[~_member_mask(self._live, candidates)].tolist())
        return lambda label: label not in excluded

    def _knn(self, queries: np.ndarray, k: int, ef: int, accept: Callable[[int], bool] | None) -> Neighbours | None:
        """One hnswlib knn_query at breadth ``ef``; None when hnswlib cannot find k results."""
        found = self._knn_arrays(queries, k, ef, accept)
        return None if found is None else _pairs(*found)

    def _knn_arrays(self, queries: np.ndarray, k: int, ef: int,
                    accept: Callable[[int], bool] | None) -> tuple[np.ndarray, np.ndarray] | None:
        """(labels int64, similarities) of one hnswlib knn_query, or None when it cannot find k results."""
        self._index.set_ef(ef)
        try:
            # A Python filter runs under the GIL anyway, so extra threads would only contend for it.
            labels, distances = self._index.knn_query(queries, k=k, num_threads=1 if accept else -1, filter=accept)
        except RuntimeError:
            return None
        finally:
            self._index.set_ef(self.ef_search)
        return labels.astype(np.int64), 1.0 - distances

    def _exact(self, queries: np.ndarray, candidates: np.ndarray, k: int, margin: int = _RESCORE_MARGIN) -> Neighbours:
        """Exact top-k over ``candidates`` (sorted live ids): scan the quantised copy in chunks, keep
        the best k + ``margin`` per query, and rescore with hnswlib's float32 vectors those whose
        error bound lets them still make the top k (a few dozen: fetching vectors from hnswlib is the
        slow part). When even one left out could (a crowd of near-duplicates), scan again keeping more."""
        short = min(candidates.size, k + margin)
        best_ids = best_sims = None
        for start in range(0, candidates.size, _EXACT_CHUNK):
            chunk = candidates[start : start + _EXACT_CHUNK]
            sims = self._copy.scores(queries, chunk)
            ids = np.broadcast_to(chunk, sims.shape)
            if best_sims is not None:
                sims, ids = np.concatenate([best_sims, sims], axis=1), np.concatenate([best_ids, ids], axis=1)
            keep = _top_k_columns(sims, short)
            best_sims, best_ids = np.take_along_axis(sims, keep, axis=1), np.take_along_axis(ids, keep, axis=1)
        # Each exact score lies within its row's error of the approximate one, so the k-th largest lower
        # bound is a floor for the k-th exact score: only candidates reaching it can be in the top k.
        errors = self._copy.errors(best_ids)
        floor = -np.partition(-(best_sims - errors), k - 1, axis=1)[:, k - 1 : k]
        if short < candidates.size and np.any(best_sims[:, -1:] + self._copy.max_error >= floor):
            return self._exact(queries, candidates, k, 4 * margin)
        contender = best_sims + errors >= floor
        unique = _sorted_unique(best_ids[contender])
        stored = self._stored(unique)[np.minimum(np.searchsorted(unique, best_ids), unique.size - 1)]  # (n, short, dim)
        sims = np.where(contender, np.matmul(stored, queries[:, :, np.newaxis])[:, :, 0], -np.inf)
        keep = _top_k_columns(sims, k)
        return _pairs(np.take_along_axis(best_ids, keep, axis=1), np.take_along_axis(sims, keep, axis=1))

    # ------------------------------------------------------------------ persistence

    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically in the checked container format (module docstring).

        hnswlib first saves to a hidden temporary file in the same folder; the container is then
        assembled through ``atomic_write``, so the previous file stays intact until the new one
        is complete, and no temporary file is left behind on failure.
        """
        path = Path(path)
        payload_path = temporary_path(path)
        try:
            self._index.save_index(str(payload_path))  # reports no error when it cannot write ...
            ids_bytes = self._live.astype("<i8").tobytes()
            payload_bytes = payload_path.stat().st_size  # ... so a missing or short file is caught here
            checksum, head = crc32_file(payload_path, zlib.crc32(ids_bytes))
            header = self._header(len(ids_bytes), payload_bytes, checksum)
            try:
                check_payload_header(head, header, path)
            except IndexFileError as exc:
                raise OSError(f"hnswlib wrote an incomplete index ({exc.reason}); is the disk full?") from None

            def write(handle: IO[bytes]) -> None:
                """Container = magic + JSON header + ids + hnswlib payload (see the module docstring)."""
                handle.write(MAGIC)
                handle.write(json.dumps(header, sort_keys=True).encode("ascii") + b"\n")
                handle.write(ids_bytes)
                with open(payload_path, "rb") as payload:
                    shutil.copyfileobj(payload, handle, COPY_CHUNK)

            atomic_write(path, write)
        finally:
            with contextlib.suppress(OSError):
                payload_path.unlink()

    def _header(self, ids_bytes: int, payload_bytes: int, checksum: int) -> dict[str, Any]:
        """The JSON header describing this index and its payload."""
        return dict(
            format_version=FORMAT_VERSION, space=SPACE, dim=self.dim, count=len(self),
            element_count=int(self._index.element_count), max_elements=self.capacity, m=self.m,
            ef_construction=self.ef_construction, ids_bytes=ids_bytes, payload_bytes=payload_bytes,
            checksum=f"crc32:{checksum:08x}",
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path, dim: int, *, ef_search: int = 128) -> VectorIndex:
        """Read an index written by :meth:`save`, checking it fully before hnswlib parses it.

        Raises IndexFileError(path, reason) when the file is missing, unreadable, not an index
        file, written by a newer version, truncated or damaged (length or CRC mismatch), or built
        for another dimension than ``dim``; the archive then rebuilds it from the catalog.
        """
        path = Path(path)
        _check_int("dim", dim, 1)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below; open errors get their own message
        except FileNotFoundError:
            raise IndexFileError(path, "index file is missing") from None
        except OSError as exc:
            raise IndexFileError(path, f"cannot read index file ({exc.strerror or exc})") from None
        with handle:
            try:
                header = read_header(handle, path, dim)
                live = read_ids(handle, header, path)
                checksum = zlib.crc32(live.astype("<i8").tobytes())
                return cls._load_payload(handle, header, checksum, live, path, ef_search)
            except OSError as exc:
                raise IndexFileError(path, f"cannot read index file ({exc.strerror or exc})") from None

    @classmethod
    def _load_payload(
        cls, handle: IO[bytes], header: dict[str, Any], checksum: int, live: np.ndarray, path: Path, ef: int
    ) -> VectorIndex:
        """Read the payload while checking its CRC (taking the vectors for the compact copy out of it),
        verify it, then let hnswlib build the index from it in memory."""
        payload = read_payload(handle, header, checksum, path)
        if f"crc32:{payload.crc:08x}" != header["checksum"]:
            raise IndexFileError(path, "index file is damaged (checksum mismatch)")
        try:
            copy = VectorCopy.from_rows(header["dim"], payload.labels, payload.rows, live)
        except ValueError as exc:
            raise IndexFileError(path, f"index file is damaged ({exc})") from None
        try:
            index = hnswlib.Index(payload.state)
        except (RuntimeError, ValueError, MemoryError) as exc:
            raise IndexFileError(path, f"hnswlib could not load the index ({exc})") from None
        del payload  # hnswlib copied what it needs; the level-0 block is hundreds of MB at 1M photos
        obj = cls.__new__(cls)
        obj._setup(index, header["dim"], header["m"], header["ef_construction"], ef, live, copy)
        return obj


# ---------------------------------------------------------------------- array helpers


def _check_int(name: str, value: object, minimum: int) -> None:
    """ValueError unless ``value`` is an int (not bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _as_ids(ids: np.ndarray) -> np.ndarray:
    """``ids`` as a 1-D int64 array (a scalar becomes one id); ValueError for non-integers."""
    array = np.asarray(ids)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"ids must be integers, got dtype {array.dtype}")
    return array.astype(np.int64).ravel()


def _as_matrix(vectors: np.ndarray, dim: int, what: str) -> np.ndarray:
    """``vectors`` as a C-contiguous finite float32 (n, dim) matrix; (dim,) becomes one row."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[np.newaxis, :]
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"{what} must have shape (n, {dim}) or ({dim},), got {np.shape(vectors)}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{what} contain NaN or infinity")
    return np.ascontiguousarray(matrix)


def _normalised(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as hnswlib's cosine space does."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def _keep_last_occurrence(ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop earlier duplicates of an id within one batch so that the last vector wins deterministically."""
    order = np.argsort(ids, kind="stable")  # equal ids keep their input order
    ordered = ids[order]
    is_last = np.append(ordered[1:] != ordered[:-1], True)
    if is_last.all():
        return ids, vectors
    keep = np.sort(order[is_last])
    return ids[keep], np.ascontiguousarray(vectors[keep])


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted unique int64 values.

    Not ``np.unique``/``np.union1d``: with numpy 2.4 they took 120 ms for 90k already-sorted ids
    and 2.5 s to merge 256 ids into 1M, against 1.5 ms and 5 ms for a stable sort plus a mask.
    """
    if values.size > 1 and np.all(values[1:] > values[:-1]):  # already sorted and unique: a filter from SQL
        return values
    ordered = np.sort(values, kind="stable")
    if ordered.size < 2:
        return ordered
    return ordered[np.append(True, ordered[1:] != ordered[:-1])]


def _member_mask(values: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """Boolean mask of which ``values`` occur in the sorted unique array ``sorted_ids`` (binary search)."""
    if sorted_ids.size == 0:
        return np.zeros(values.shape, dtype=bool)
    positions = np.minimum(np.searchsorted(sorted_ids, values), sorted_ids.size - 1)
    return sorted_ids[positions] == values


def _filtered_ef(ef: int, fraction: float) -> int:
    """Search breadth for a filtered hnswlib query where ``fraction`` of the live ids are allowed.

    Recall@10 of hnswlib's filtered search drops as the filter gets tighter; measured on 100k
    clustered 256-d vectors with 2-10 % allowed: ef=64 0.95-0.98, ef=128 ~0.99, ef=256 >= 0.998
    (and >= 0.99 at any ef from 20 % up). So ef grows by sqrt(0.4 / fraction), at most 4x:
    x1.4 at 20 %, x2 at 10 %, x2.8 at 5 %, x4 at 2.5 % and below.
    """
    boost = min(_FILTER_EF_MAX_BOOST, max(1.0, math.sqrt(_FILTER_EF_REFERENCE / max(fraction, 1e-9))))
    return math.ceil(ef * boost)


def _top_k_columns(sims: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` largest values, best first (ties keep column order)."""
    if sims.shape[1] > k:
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
    order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _pairs(ids: np.ndarray, sims: np.ndarray) -> Neighbours:
    """Rows of ids and similarities as lists of ``(int, float)`` tuples."""
    return [list(zip(i, s, strict=True)) for i, s in zip(ids.tolist(), sims.tolist(), strict=True)]
