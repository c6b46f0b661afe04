"""Query expansion: search a second time with the query averaged with its best matches.

Why: the best matches of a query are usually right, and what they have in common with it (the
defect, the equipment) is a better query than the photo alone, so a second search with their
average finds more of the relevant photos further down the list. Measured on neu_det (see
``docs/quality.md``) it raises leave-one-out mAP by about 0.03 at the cost of a second index
query. It can also pull a generic "average" photo above the one exact match of a re-shot photo,
so a photo nearest to the plain query always stays first. Which one: among the plain search's best
matches, the one whose *full* feature vector (before the PCA) is most like the query's
(:func:`refined_first`). The PCA keeps what tells defects apart and drops fine detail that tells one
re-shot photo from a look-alike; measured on the near-duplicate benchmark at PCA-128 this re-pick
takes the combined re-shots from P@1 0.920 to 0.960 and costs nothing extra, since expansion reads
those matches' stored features anyway (docs/quality.md).

Expansion only orders the results: the score shown with each photo stays its similarity to the
query itself. (Similarity to the expanded query would flatter: photos of a domain the archive has
never seen showed 0.77 at rank 1 instead of 0.53, nearly what real matches show.)

The same functions serve the archive's search (over hnswlib) and the evaluation (exact), so both
rank the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["DEFAULT_ALPHA", "DEFAULT_NEIGHBOURS", "expanded_queries", "pinned_order", "refined_first"]

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
    return _unit(queries + np.einsum("bk,bkd->bd", weights, np.asarray(neighbours, dtype=np.float32)))


def refined_first(query_features: np.ndarray, candidate_features: np.ndarray) -> int:
    """Index of the candidate whose raw features are most like any of the query's (cosine).

    ``query_features`` is (T, F): the query's raw features, one row per turn with rotations;
    ``candidate_features`` (K, F) the stored raw features of the plain search's K best matches.
    Ties keep the plain order.
    """
    queries = _unit(np.asarray(query_features, dtype=np.float32))
    candidates = _unit(np.asarray(candidate_features, dtype=np.float32))
    return int(np.argmax((candidates @ queries.T).max(axis=1)))


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def pinned_order(first: int, expanded: Sequence[int]) -> list[int]:
    """The final ranking: the ``first`` photo (chosen by :func:`refined_first`) first, then the
    ``expanded`` ranking (best first) without it."""
    return [first, *(i for i in expanded if i != first)]
