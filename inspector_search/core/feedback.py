"""More like this / less like this: refining a query with results people marked (Rocchio).

The refined query is ``a * q + b * mean(liked) - c * mean(unliked)`` in the searchable (projected)
space, made unit length again: it moves towards what the marked good results have in common and away
from the bad ones. The weights are the textbook ones (Rocchio 1971 as used in most IR systems:
1, 0.75, 0.15); the measured effect on neu_det is in ``docs/quality.md`` (``benchmarks/labels.py``).
"""

from __future__ import annotations

import numpy as np

QUERY_WEIGHT = 1.0
LIKE_WEIGHT = 0.75
UNLIKE_WEIGHT = 0.15
MAX_MARKED = 200
"""More marked photos than this in one search are refused (a selection, not a whole archive)."""


def rocchio(queries: np.ndarray, liked: np.ndarray, unliked: np.ndarray, *, query_weight: float = QUERY_WEIGHT,
            like_weight: float = LIKE_WEIGHT, unlike_weight: float = UNLIKE_WEIGHT) -> np.ndarray:
    """Unit rows of the refined queries. ``queries`` is (T, D) (one row per turn with rotations, or
    none: (0, D) when the search starts from the liked photos alone), ``liked`` (L, D) and ``unliked``
    (U, D) unit vectors of the marked photos; either may be empty."""
    queries = np.asarray(queries, dtype=np.float32)
    dim = queries.shape[1] if queries.ndim == 2 else np.asarray(liked).shape[1]
    shift = np.zeros(dim, dtype=np.float32)
    if len(liked):
        shift += np.float32(like_weight) * np.asarray(liked, dtype=np.float32).mean(axis=0)
    if len(unliked):
        shift -= np.float32(unlike_weight) * np.asarray(unliked, dtype=np.float32).mean(axis=0)
    rows = queries * np.float32(query_weight) + shift if len(queries) else shift[None, :]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
