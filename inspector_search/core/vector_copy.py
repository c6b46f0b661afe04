"""A compact second copy of the indexed vectors, keyed by id, for exact search over a subset of them.

hnswlib cannot hand its vectors back quickly (``get_items`` builds Python lists), yet a filtered
search that lets 1 % of a million photos through is answered fastest and exactly by scanning those
10,000 vectors. So :class:`~inspector_search.core.vector_index.VectorIndex` keeps this copy, each
vector as int8 codes times its own scale (``peak / 127``): a quarter of float32's memory (128 MB at
1M x 128). Measured on 10,000 rows gathered at random from a million (benchmarks/search.py machine):
0.42 ms per scan, against 0.72-0.86 ms for the bfloat16 layout used before (twice the bytes to
gather and a slow widening) and 1.3 ms for float32. Each row also keeps a bound on its error,
``||x - scale * codes||`` (~0.012 for 128-d unit vectors), which bounds the error of its score
against any unit query (Cauchy-Schwarz), so callers can tell which candidates could still be in
the top k and rescore just those with the exact vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Codes", "VectorCopy", "quantise"]

_GROWTH = 2
_MIN_ROWS = 1024
_TABLE_SLACK = 4  # a dense id -> row table is kept while the largest id < 4 x live ids + 2**20
_TABLE_BASE = 1 << 20
_SCAN_ROWS = 1024  # rows widened to float32 per step of a scan, in the CPU cache (10,000 at once: 0.77 ms)
_ROUNDING_SLACK = 1e-5  # added to each error bound: float32 rounding of the scan's and the rescoring's dot products


@dataclass(frozen=True)
class Codes:
    """Quantised rows: ``vector ~= scale * codes``, with ``|q . (vector - scale * codes)| <= error``
    for every unit ``q``."""

    codes: np.ndarray  # (n, dim) int8
    scale: np.ndarray  # (n,) float32
    error: np.ndarray  # (n,) float32

    @classmethod
    def empty(cls, n: int, dim: int) -> Codes:
        """Room for ``n`` rows (uninitialised)."""
        return cls(np.empty((n, dim), np.int8), np.empty(n, np.float32), np.empty(n, np.float32))

    def __len__(self) -> int:
        """Number of rows."""
        return int(self.scale.size)

    @property
    def nbytes(self) -> int:
        """Memory held by the three arrays."""
        return int(self.codes.nbytes + self.scale.nbytes + self.error.nbytes)

    def take(self, rows: np.ndarray | slice) -> Codes:
        """The given rows (views for a slice, copies otherwise)."""
        return Codes(self.codes[rows], self.scale[rows], self.error[rows])

    def store(self, rows: np.ndarray | slice, values: Codes) -> None:
        """Write ``values`` into the given rows."""
        self.codes[rows], self.scale[rows], self.error[rows] = values.codes, values.scale, values.error


def quantise(vectors: np.ndarray) -> Codes:
    """float32 rows -> int8 codes with a scale and an error bound per row."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if not x.size:
        return Codes.empty(x.shape[0], x.shape[1])
    peak = np.maximum(x.max(axis=1), -x.min(axis=1))
    scale = np.where(peak > 0, peak / np.float32(127), np.float32(1)).astype(np.float32)
    scaled = x * (np.float32(1) / scale)[:, np.newaxis]
    codes = np.rint(scaled)
    scaled -= codes  # the rounding residual, in units of the scale
    error = np.sqrt(np.einsum("ij,ij->i", scaled, scaled)) * scale + np.float32(_ROUNDING_SLACK)
    return Codes(codes.astype(np.int8), scale, error.astype(np.float32))


class VectorCopy:
    """Vectors of ``dim`` floats keyed by unique int64 ids, stored quantised (see the module docstring).

    Rows live in a buffer that grows by doubling; a replaced id keeps its row, a dropped id leaves a
    dead row until :meth:`compact` (run automatically once dead rows outnumber live ones). Ids map
    to rows through sorted arrays and, while the ids are dense enough (archive ids are SQLite row
    ids: 1, 2, 3...), also through a table indexed by id: looking up the 100,000 ids of a filter in
    a million is then one gather (~0.3 ms) instead of a binary search each (~10 ms).
    """

    def __init__(self, dim: int) -> None:
        """An empty copy for ``dim``-long vectors."""
        self.dim = int(dim)
        self._rows = Codes.empty(0, self.dim)
        self.max_error = 0.0  # the largest error bound of any row stored (dropped rows included)
        self._used = 0  # rows of the buffer handed out so far (live or dead)
        self._ids = np.empty(0, dtype=np.int64)  # sorted live ids ...
        self._slots = np.empty(0, dtype=np.int64)  # ... and the buffer row of each
        self._table: np.ndarray | None = np.empty(0, dtype=np.int64)  # row by id (-1: none), or None

    @classmethod
    def from_rows(cls, dim: int, labels: np.ndarray, rows: Codes, live: np.ndarray) -> VectorCopy:
        """A copy holding ``rows`` (quantised, one per label, as read back from an index file) for the
        sorted ``live`` ids; ValueError if a live id has no row or a label occurs twice."""
        copy = cls(dim)
        order = np.argsort(labels, kind="stable")
        ordered = labels[order]
        if ordered.size > 1 and np.any(ordered[1:] == ordered[:-1]):
            raise ValueError("a label occurs twice")
        positions = np.minimum(np.searchsorted(ordered, live), max(ordered.size - 1, 0))
        if live.size and (ordered.size == 0 or np.any(ordered[positions] != live)):
            raise ValueError("a live id has no stored vector")
        copy._rows, copy._used = rows, len(rows)
        copy.max_error = float(rows.error.max()) if len(rows) else 0.0
        copy._ids, copy._slots = live.astype(np.int64), order[positions].astype(np.int64)
        if copy.dead_rows > len(copy):
            copy.compact()
        copy._rebuild_table()
        return copy

    def __len__(self) -> int:
        """Number of live ids."""
        return int(self._ids.size)

    @property
    def dead_rows(self) -> int:
        """Rows held by dropped ids (reclaimed by :meth:`compact`)."""
        return self._used - len(self)

    @property
    def nbytes(self) -> int:
        """Memory held by the row buffer and the id arrays."""
        return int(self._rows.nbytes + self._ids.nbytes + self._slots.nbytes)

    def put(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store ``vectors`` (n, dim) float32 under the unique int64 ``ids``, replacing earlier ones."""
        rows = quantise(vectors)
        self.max_error = max(self.max_error, float(rows.error.max()) if len(rows) else 0.0)
        positions = np.searchsorted(self._ids, ids)
        present = positions < self._ids.size
        present[present] = self._ids[positions[present]] == ids[present]
        self._rows.store(self._slots[positions[present]], rows.take(present))
        new_ids, new_rows = ids[~present], rows.take(~present)
        if not new_ids.size:
            return
        slots = np.arange(self._used, self._used + new_ids.size, dtype=np.int64)
        self._reserve(self._used + new_ids.size)
        self._rows.store(slots, new_rows)
        self._used += new_ids.size
        if self._ids.size == 0 or new_ids.min() > self._ids[-1]:  # the usual case: ids only grow
            order = np.argsort(new_ids, kind="stable")
            self._ids = np.concatenate([self._ids, new_ids[order]])
            self._slots = np.concatenate([self._slots, slots[order]])
        else:
            merged = np.concatenate([self._ids, new_ids])
            order = np.argsort(merged, kind="stable")
            self._ids, self._slots = merged[order], np.concatenate([self._slots, slots])[order]
        self._table_put(new_ids, slots)

    def drop(self, ids: np.ndarray) -> None:
        """Forget the sorted unique ``ids`` (ids not held are ignored)."""
        if not ids.size or not self._ids.size:
            return
        positions = np.minimum(np.searchsorted(ids, self._ids), ids.size - 1)
        keep = ids[positions] != self._ids
        self._ids, self._slots = self._ids[keep], self._slots[keep]
        if self._table is not None:
            inside = ids[(ids >= 0) & (ids < self._table.size)]
            self._table[inside] = -1
        if self.dead_rows > max(len(self), _MIN_ROWS):
            self.compact()

    def compact(self) -> None:
        """Rewrite the buffer with only the live rows, in id order."""
        self._rows = self._rows.take(self._slots)
        self._used = len(self._rows)
        self._slots = np.arange(self._used, dtype=np.int64)
        self._rebuild_table()

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The buffer row of each of the int64 ``ids``, -1 for ids not held."""
        table = self._table
        if table is not None and ids.size and ids.min() >= 0 and ids.max() < table.size:
            return table[ids]
        positions = np.minimum(np.searchsorted(self._ids, ids), max(self._ids.size - 1, 0))
        if not self._ids.size:
            return np.full(ids.shape, -1, dtype=np.int64)
        return np.where(self._ids[positions] == ids, self._slots[positions], -1)

    def scores(self, queries: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Approximate dot products (n_queries, len(ids)) of float32 unit ``queries`` with the vectors of
        ``ids``, which must all be held; each is within :meth:`errors` of the exact one."""
        rows = self.rows_of(ids)
        out = np.empty((rows.size, queries.shape[0]), dtype=np.float32)
        widened = np.empty((min(rows.size, _SCAN_ROWS), self.dim), dtype=np.float32)
        transposed = np.ascontiguousarray(queries.T, dtype=np.float32)
        for start in range(0, rows.size, _SCAN_ROWS):
            part = rows[start : start + _SCAN_ROWS]
            block = widened[: part.size]
            block[...] = np.take(self._rows.codes, part, axis=0)
            np.matmul(block, transposed, out=out[start : start + part.size])
        out *= np.take(self._rows.scale, rows)[:, np.newaxis]
        return out.T

    def errors(self, ids: np.ndarray) -> np.ndarray:
        """The error bound of each held id's scores (same shape as ``ids``)."""
        return np.take(self._rows.error, self.rows_of(ids))

    def _table_put(self, ids: np.ndarray, slots: np.ndarray) -> None:
        """Record new ids in the id -> row table, growing it, or give the table up if ids got sparse."""
        if self._table is None:
            return
        top = int(ids.max()) + 1
        if top > self._table.size:
            if top > _TABLE_SLACK * len(self) + _TABLE_BASE:
                self._table = None
                return
            grown = np.full(max(top, _GROWTH * self._table.size), -1, dtype=np.int64)
            grown[: self._table.size] = self._table
            self._table = grown
        self._table[ids] = slots

    def _rebuild_table(self) -> None:
        """Build the id -> row table from the sorted arrays (or none if the ids are too sparse)."""
        top = int(self._ids[-1]) + 1 if self._ids.size else 0
        if top > _TABLE_SLACK * len(self) + _TABLE_BASE:
            self._table = None
            return
        self._table = np.full(top, -1, dtype=np.int64)
        self._table[self._ids] = self._slots

    def _reserve(self, rows: int) -> None:
        """Grow the row buffer (at least doubling) so that ``rows`` rows fit."""
        if rows <= len(self._rows):
            return
        grown = Codes.empty(max(rows, _GROWTH * len(self._rows), _MIN_ROWS), self.dim)
        grown.store(slice(0, self._used), self._rows.take(slice(0, self._used)))
        self._rows = grown
