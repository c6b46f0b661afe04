"""A map of the archive: every photo placed in 2-D so that look-alike photos lie close together.

t-SNE (scikit-learn) lays out a random sample of the searchable vectors (at most ``SAMPLE``: the
cost of t-SNE grows fast with the number of points); every other photo is put at the similarity-
weighted mean position of its ``PLACE_BY`` most similar sample photos, so a million photos cost one
chunked matrix product more. Positions are scaled to the unit square. Too few photos for t-SNE are
laid out by their two principal components.
"""

from __future__ import annotations

import numpy as np

from .progress import Progress

SAMPLE = 1000
PLACE_BY = 5
MIN_TSNE = 30
_CHUNK = 65536


def layout_2d(vectors: np.ndarray, sample: int = SAMPLE, seed: int = 0,
              progress: Progress | None = None) -> np.ndarray:
    """(N, 2) positions in [0, 1] for unit row vectors (see the module docstring)."""
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, min(n, sample), replace=False))
    if progress is not None:
        progress.report(0, 3, "map: laying out a sample")
    positions = np.zeros((n, 2), dtype=np.float32)
    positions[rows] = _layout_sample(vectors[rows], seed)
    if progress is not None:
        progress.check()
        progress.report(1, 3, "map: placing the other photos")
    rest = np.setdiff1d(np.arange(n), rows)
    anchors, anchor_positions = vectors[rows], positions[rows]
    k = min(PLACE_BY, len(rows))
    for start in range(0, len(rest), _CHUNK):
        if progress is not None:
            progress.check()
        part = rest[start:start + _CHUNK]
        sims = vectors[part] @ anchors.T
        near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        weights = np.maximum(np.take_along_axis(sims, near, axis=1), 1e-6) ** 4
        positions[part] = np.einsum("nk,nkd->nd", weights, anchor_positions[near]) / weights.sum(axis=1, keepdims=True)
    low, high = positions.min(axis=0), positions.max(axis=0)
    if progress is not None:
        progress.report(3, 3, "map")
    return ((positions - low) / np.maximum(high - low, 1e-9)).astype(np.float32)


def _layout_sample(vectors: np.ndarray, seed: int) -> np.ndarray:
    if len(vectors) < MIN_TSNE:
        centred = vectors - vectors.mean(axis=0)
        if len(vectors) < 2:
            return np.zeros((len(vectors), 2), dtype=np.float32)
        _u, _s, vt = np.linalg.svd(centred, full_matrices=False)
        return (centred @ vt[:2].T).astype(np.float32) if vt.shape[0] >= 2 else np.zeros((len(vectors), 2), np.float32)
    from sklearn.manifold import TSNE  # deferred: scikit-learn takes ~0.5 s to import

    perplexity = float(min(30.0, (len(vectors) - 1) / 3))
    tsne = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed, metric="cosine")
    return tsne.fit_transform(vectors).astype(np.float32)
