"""Labels improve search: a linear map learned from the labelled photos re-ranks the archive.

Linear discriminant analysis (scikit-learn, shrinkage estimated by Ledoit-Wolf, so 5 photos per
class are enough) on the searchable vectors of the photos with a defect label finds the directions
that tell the labelled classes apart. The map ``x -> x + w * Q Q^T x`` (``Q`` an orthonormal basis of
those directions) stretches them by ``1 + w`` and leaves every other direction as it was, so what the
labels did not cover is still ranked as before: measured on classes left out of the labels, their
mAP rose too (docs/quality.md).

``w`` is chosen on the labelled photos themselves: each fold of them is ranked among the others with
the map fitted on the other folds (the fold's photos ranked among themselves, so that none of the
ranked photos was seen by the fit), for every candidate weight, and the weight with the best mean average
precision wins if it beats no map by twice what chance does (the same cross-validation with the labels
shuffled); otherwise there is no map and search ranks as without labels. So a set whose labels the
pictures do not follow (measured: DeepPCB board groups) is left alone rather than made worse.
Fitting takes well under a second for thousands of labelled photos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WEIGHTS = (0.0, 1.0, 3.0)
MIN_PER_CLASS = 4
MIN_CLASSES = 2
FOLDS = 2
REPEATS = 2
MIN_GAIN = 0.01
PERMUTATIONS = 4
CV_SAMPLE = 2000
"""A map is used only when its cross-validated gain over no map beats ``MIN_GAIN`` and twice every
gain reached with the labels shuffled (:data:`PERMUTATIONS` times): with a few dozen labelled photos
in 128 dimensions chance alone reached +0.05, with hundreds it stays near 0."""
RERANK_CANDIDATES = 1000
"""A search re-ranks this many of the index's best matches (or 20 x top-k if more) with the map."""


@dataclass(frozen=True)
class LearnedMap:
    """The map ``x -> unit(x @ matrix)``, fitted on ``photos`` labelled photos of ``classes`` classes."""

    matrix: np.ndarray
    weight: float
    photos: int
    classes: int
    cv_map: dict[float, float]

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Unit rows of the mapped vectors."""
        mapped = np.asarray(vectors, dtype=np.float32) @ self.matrix
        norms = np.linalg.norm(mapped, axis=1, keepdims=True)
        return np.divide(mapped, norms, out=np.zeros_like(mapped), where=norms > 0)


def discriminant_basis(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning the LDA directions of the labelled vectors (D x (classes - 1)):
    the leading solutions of ``Sb v = l Sw v`` as scikit-learn's eigen solver with
    ``shrinkage="auto"`` computes them (``Sw`` the prior-weighted class covariances and ``St`` the
    total covariance, each standardised, shrunk by Ledoit-Wolf and scaled back; ``Sb = St - Sw``),
    with a small ridge so that two photos of a class do not make it fail. The strong shrinkage keeps
    the directions close to the differences of the class means, which is what carried over to
    classes without labels (a pooled, less shrunk ``Sw`` fitted the labelled classes better and
    ranked unlabelled classes far worse: docs/quality.md)."""
    from scipy.linalg import eigh

    vectors = np.asarray(vectors, dtype=np.float64)
    classes, index = np.unique(labels, return_inverse=True)
    counts = np.bincount(index).astype(np.float64)
    within = sum(counts[c] / counts.sum() * _shrunk_covariance(vectors[index == c]) for c in range(len(classes)))
    between = _shrunk_covariance(vectors) - within
    dim = vectors.shape[1]
    values, vecs = eigh(between, within + np.eye(dim) * (1e-4 * np.trace(within) / dim + 1e-12))
    top = vecs[:, np.argsort(values)[::-1][: len(classes) - 1]]
    basis, _ = np.linalg.qr(top)
    return basis.astype(np.float32)


def _shrunk_covariance(rows: np.ndarray) -> np.ndarray:
    from sklearn.covariance import ledoit_wolf  # deferred: scikit-learn takes ~0.5 s to import

    scale = rows.std(axis=0)
    scale[scale == 0] = 1.0
    shrunk = ledoit_wolf((rows - rows.mean(axis=0)) / scale, assume_centered=True)[0]
    return scale[:, None] * shrunk * scale[None, :]


def stretch(basis: np.ndarray, weight: float) -> np.ndarray:
    """The D x D matrix ``I + w Q Q^T``."""
    return (np.eye(basis.shape[0], dtype=np.float32) + np.float32(weight) * basis @ basis.T).astype(np.float32)


def usable_rows(labels: np.ndarray) -> np.ndarray:
    """Mask of the labelled rows whose class has at least :data:`MIN_PER_CLASS` photos."""
    values, counts = np.unique(labels, return_counts=True)
    keep = set(values[counts >= MIN_PER_CLASS].tolist())
    return np.array([v in keep for v in labels.tolist()], dtype=bool)


def fit_learned_map(vectors: np.ndarray, labels: np.ndarray, seed: int = 0) -> LearnedMap | None:
    """The learned map for these labelled vectors, or ``None`` when there are too few labels or
    when cross-validation prefers no map."""
    keep = usable_rows(labels)
    vectors, labels = np.asarray(vectors, dtype=np.float32)[keep], labels[keep]
    classes = len(np.unique(labels))
    if classes < MIN_CLASSES:
        return None
    if len(labels) > CV_SAMPLE:  # the cross-validation ranks the sample among itself: O(n^2)
        rows = np.sort(np.random.default_rng(seed).choice(len(labels), CV_SAMPLE, replace=False))
        sample, sample_labels = vectors[rows], labels[rows]
    else:
        sample, sample_labels = vectors, labels
    scores = _cross_validated(sample, sample_labels, seed)
    weight = max(WEIGHTS, key=lambda w: (round(scores[w], 4), -w))
    if weight == 0.0 or scores[weight] - scores[0.0] < max(MIN_GAIN, 2 * _chance_gain(sample, sample_labels, seed)):
        return None
    matrix = stretch(discriminant_basis(vectors, labels), weight)
    return LearnedMap(matrix, weight, len(labels), classes, scores)


def _chance_gain(vectors: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """The largest cross-validated gain any map reached with the labels shuffled (:data:`PERMUTATIONS`
    times): what chance alone gives labels this few, in vectors this many-dimensional."""
    rng = np.random.default_rng(seed + 1)
    gains = []
    for _ in range(PERMUTATIONS):
        scores = _cross_validated(vectors, rng.permutation(labels), seed)
        gains.append(max(scores[w] for w in WEIGHTS if w) - scores[0.0])
    return float(max(gains))


def _cross_validated(vectors: np.ndarray, labels: np.ndarray, seed: int) -> dict[float, float]:
    """Mean AP, per weight, of each labelled photo ranked among the other photos of its fold, with
    the map fitted on the other folds. (Ranking among the fitted photos too would flatter any map:
    it pulls the fitted photos of a class together, and AP rewards clumps even at random.)"""
    rng = np.random.default_rng(seed)
    aps: dict[float, list[float]] = {w: [] for w in WEIGHTS}
    for _repeat in range(REPEATS):
        fold = np.zeros(len(labels), dtype=np.int64)
        for value in np.unique(labels):  # stratified: every class in every fold where it can be
            rows = np.flatnonzero(labels == value)
            fold[rng.permutation(rows)] = np.arange(rows.size) % FOLDS
        _score_folds(vectors, labels, fold, aps)
    return {w: float(np.mean(v)) if v else 0.0 for w, v in aps.items()}


def _score_folds(vectors: np.ndarray, labels: np.ndarray, fold: np.ndarray, aps: dict[float, list[float]]) -> None:
    for held in range(FOLDS):
        train = fold != held  # MIN_PER_CLASS photos per class: at least 2 of each class on either side
        if len(np.unique(labels[train])) < MIN_CLASSES or train.all():
            continue
        basis = discriminant_basis(vectors[train], labels[train])
        for weight in WEIGHTS:
            mapped = LearnedMap(stretch(basis, weight), weight, 0, 0, {}).apply(vectors)
            held_rows = np.flatnonzero(~train)  # ranked among themselves: photos the map never saw
            aps[weight].extend(_held_out_ap(mapped[held_rows], labels[held_rows]))


def _held_out_ap(vectors: np.ndarray, labels: np.ndarray) -> list[float]:
    """AP of each row ranked among the other rows (rows without a relevant other row left out)."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :-1]
    relevant = labels[order] == labels[:, None]
    hits = np.cumsum(relevant, axis=1)
    ranks = np.arange(1, relevant.shape[1] + 1)
    scored = hits[:, -1] > 0
    return (np.where(relevant, hits / ranks, 0.0).sum(axis=1)[scored] / hits[scored, -1]).tolist()
