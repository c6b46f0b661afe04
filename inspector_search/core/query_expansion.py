"""Query expansion: search a second time with the query averaged with its best matches.

Why: the best matches of a query are usually right, and what they have in common with it (the
defect, the equipment) is a better query than the photo alone, so a second search with their
average finds more of the relevant photos further down the list. Measured on neu_det (see
``docs/quality.md``) it raises leave-one-out mAP by about 0.03 at the cost of a second index
query. It can also pull a generic "average" photo above the one exact match of a re-shot photo,
so the photo nearest to the plain query always stays first: precision@1, and with it the
near-duplicate re-identification, is exactly that of the plain search.

The same functions serve the archive's search (over hnswlib) and the evaluation (exact), so both
rank the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["DEFAULT_ALPHA", "DEFAULT_NEIGHBOURS", "expanded_queries", "pinned_ranking"]

DEFAULT_NEIGHBOURS = 20
"""Best matches averaged into the query (0 turns expansion off); chosen on neu_det, docs/quality.md."""

DEFAULT_ALPHA = 1.0
"""Each match weighs ``similarity ** alpha`` (alpha-QE); 0 would be a plain average."""


def expanded_queries(queries: np.ndarray, neighbours: np.ndarray, similarities: np.ndarray,
                     alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """Unit rows ``q + sum_j w_j * n_j`` with ``w_j = max(s_j, 0) ** alpha``.

    ``queries`` is (B, D), ``neighbours`` (B, K, D) the vectors of each query's K best matches and
    ``similarities`` (B, K) their cosine similarities to it. A match that is not similar at all
    (s <= 0) adds nothing.
    """
    queries = np.asarray(queries, dtype=np.float32)
    sims = np.asarray(similarities, dtype=np.float32)
    weights = np.where(sims > 0, np.maximum(sims, 0) ** np.float32(alpha), 0).astype(np.float32)
    summed = queries + np.einsum("bk,bkd->bd", weights, np.asarray(neighbours, dtype=np.float32))
    norms = np.linalg.norm(summed, axis=1, keepdims=True)
    return np.divide(summed, norms, out=np.zeros_like(summed), where=norms > 0)


def pinned_ranking(nearest: tuple[int, float], expanded: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """The final ranking: the ``nearest`` photo to the plain query (id, plain similarity) first, then the
    ``expanded`` ranking (id, similarity to the expanded query, best first) without it.

    Every score is a cosine similarity and the list stays sorted by score: the nearest photo keeps
    its plain similarity (1.0 for the query photo itself) unless an expanded score is higher, in
    which case it takes that one (it still comes first).
    """
    first, plain = nearest
    rest = [(i, float(s)) for i, s in expanded if i != first]
    return [(first, max(float(plain), rest[0][1] if rest else -1.0)), *rest]
