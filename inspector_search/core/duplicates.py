"""Near-duplicate groups: photos of an archive that are the same picture, not just alike.

"Same picture" means re-saved, resized, recompressed, slightly cropped or re-shot a moment later
from the same spot; "similar condition" (another flange with the same corrosion) must stay apart.
Both are a matter of cosine similarity between the archive's projected vectors, so the line between
them is a threshold, calibrated on the near-duplicate benchmark (``benchmarks/quality.py``; numbers
in ``docs/quality.md``).

Groups are built without an N x N matrix: every vector asks the index for its neighbours within the
threshold (a radius query, which grows k until the last neighbour falls below it), and the pairs
found are merged with union-find, so a chain of re-saves ends up in one group. Memory and time grow
with N times the number of close neighbours, not with N squared.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .progress import Progress

__all__ = ["CALIBRATED_FOR_DIM", "DEFAULT_THRESHOLD", "IDENTITY_THRESHOLD", "UnionFind", "duplicate_groups"]

DEFAULT_THRESHOLD = 0.96
"""Cosine similarity of PCA-projected vectors from which two photos count as the same picture: the
lowest threshold at which the near-duplicate benchmark's pairs are >= 99 % right (re-saved, resized,
recompressed and re-lit copies are all found; re-shots with a 10-30 % crop or a tilt partly)."""

CALIBRATED_FOR_DIM = 128
"""PCA dimension the default threshold was calibrated for: fewer dimensions make different photos
look more alike, so a change of ``ProjectionPolicy.dim`` needs a new calibration (a test checks)."""

IDENTITY_THRESHOLD = 0.985
"""The same for an archive still too small for PCA (raw L2-normalised features are closer together)."""

RadiusQuery = Callable[[np.ndarray, float], list[list[tuple[int, float]]]]
"""``(vectors, min_similarity) -> per vector, (id, similarity) pairs``: VectorStore/VectorIndex.radius_query."""

_QUERY_ROWS = 2048  # vectors sent to the index per radius query (bounds memory, lets progress move)


class UnionFind:
    """Disjoint sets over arbitrary int ids, with path halving and union by size; each set also keeps
    the weakest similarity that joined it (the group's ``similarity``)."""

    def __init__(self) -> None:
        self._parent: dict[int, int] = {}
        self._size: dict[int, int] = {}
        self._weakest: dict[int, float] = {}

    def find(self, item: int) -> int:
        """The representative of ``item``'s set (``item`` itself if it was never joined)."""
        parent = self._parent
        parent.setdefault(item, item)
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, a: int, b: int, similarity: float) -> None:
        """Join the sets of ``a`` and ``b`` because they are ``similarity`` alike."""
        root_a, root_b = self.find(a), self.find(b)
        weakest = min(similarity, self._weakest.get(root_a, 1.0), self._weakest.get(root_b, 1.0))
        if root_a != root_b:
            if self._size.get(root_a, 1) < self._size.get(root_b, 1):
                root_a, root_b = root_b, root_a
            self._parent[root_b] = root_a
            self._size[root_a] = self._size.get(root_a, 1) + self._size.get(root_b, 1)
        self._weakest[root_a] = weakest

    def groups(self) -> list[tuple[list[int], float]]:
        """Every set of two or more ids: (sorted ids, weakest similarity), by smallest id."""
        members: dict[int, list[int]] = {}
        for item in list(self._parent):
            members.setdefault(self.find(item), []).append(item)
        found = [(sorted(ids), self._weakest.get(root, 1.0)) for root, ids in members.items() if len(ids) > 1]
        return sorted(found, key=lambda group: group[0][0])


def duplicate_groups(ids: np.ndarray, vectors: np.ndarray, radius_query: RadiusQuery, threshold: float,
                     progress: Progress | None = None) -> list[tuple[list[int], float]]:
    """Groups of ids whose vectors are at least ``threshold`` alike, directly or through a chain.

    ``ids``/``vectors`` are the indexed photos (projected, unit rows) and ``radius_query`` searches
    the index that holds them; a vector finding itself is ignored. Returns (sorted ids, weakest
    linking similarity) per group of two or more, by smallest id. Raises ValueError for a
    threshold outside (0, 1].
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    ids = np.asarray(ids, dtype=np.int64)
    sets = UnionFind()
    for start in range(0, len(ids), _QUERY_ROWS):
        chunk = ids[start : start + _QUERY_ROWS]
        for own, neighbours in zip(chunk.tolist(), radius_query(vectors[start : start + _QUERY_ROWS], threshold),
                                   strict=True):
            for other, similarity in neighbours:
                if other != own:
                    sets.union(own, other, similarity)
        if progress is not None:
            progress.report(start + len(chunk), len(ids), "comparing")
            progress.check()
    return sets.groups()
