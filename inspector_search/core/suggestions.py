"""Suggested labels: what the nearest labelled photos say a photo shows, with a calibrated confidence.

For one kind of label (defect, severity, equipment type) a photo's ``K`` nearest labelled photos
(cosine on the searchable vectors) vote, each with weight ``similarity ** VOTE_POWER``; the raw score
of the winning value is its share of the votes times the similarity of its nearest voter (a photo
far from every labelled one is unsure even when its few neighbours agree).

Raw scores are not probabilities. They are calibrated on the archive's own labels: every labelled
photo is predicted from the *other* labelled photos (leave-one-out), and an isotonic regression maps
raw score to the share of those predictions that were right. A suggestion is shown when its
calibrated confidence is at least ``SHOW_FROM`` (0.9), so shown suggestions are right about 90 % of
the time or more on photos like the labelled ones. Too few labelled photos (under ``MIN_LABELLED``
per kind, or fewer than ``MIN_RIGHT_AT_THRESHOLD`` right predictions reaching 0.9) give no
suggestions: an uncalibrated guess is never shown as a confident one. Measured in docs/quality.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NEIGHBOURS = 10
VOTE_POWER = 4.0
SHOW_FROM = 0.9
MIN_LABELLED = 10
MIN_RIGHT_AT_THRESHOLD = 10
CALIBRATION_SAMPLE = 20_000
"""Labelled photos predicted for the calibration at most (a random sample beyond it: seconds, not minutes)."""
_CHUNK = 1024


@dataclass(frozen=True)
class Votes:
    """The winning value per photo (index into ``values``) and its raw score."""

    winner: np.ndarray
    raw: np.ndarray


class Calibration:
    """Raw score -> probability of being right, from leave-one-out predictions (isotonic, increasing)."""

    def __init__(self, raw: np.ndarray, right: np.ndarray) -> None:
        from sklearn.isotonic import IsotonicRegression  # deferred: scikit-learn takes ~0.5 s to import

        self.samples = int(raw.size)
        self.model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        self.model.fit(raw, right.astype(np.float64))
        calibrated = self.model.predict(raw)
        reaching = calibrated >= SHOW_FROM
        self.usable = bool(int(right[reaching].sum()) >= MIN_RIGHT_AT_THRESHOLD)

    def confidence(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores."""
        return self.model.predict(np.asarray(raw, dtype=np.float64))


def vote(queries: np.ndarray, labelled: np.ndarray, values: np.ndarray, n_values: int,
         exclude_rows: np.ndarray | None = None, neighbours: int = NEIGHBOURS) -> Votes:
    """Votes of the nearest labelled rows for each query row. ``labelled`` are unit vectors with
    ``values`` (integers below ``n_values``); ``exclude_rows[i]`` is the labelled row that query i
    is (it does not vote for itself: leave-one-out)."""
    k = min(neighbours, len(labelled) - (exclude_rows is not None))
    if k < 1:
        return Votes(np.zeros(len(queries), dtype=np.int64), np.zeros(len(queries)))
    winners, raws = [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    for start in range(0, len(queries), _CHUNK):
        sims = queries[start:start + _CHUNK] @ labelled.T
        if exclude_rows is not None:
            sims[np.arange(sims.shape[0]), exclude_rows[start:start + _CHUNK]] = -np.inf
        near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        winner, raw = _tally(np.take_along_axis(sims, near, axis=1), values[near], n_values)
        winners.append(winner)
        raws.append(raw)
    return Votes(np.concatenate(winners), np.concatenate(raws))


def calibrate(labelled: np.ndarray, values: np.ndarray, n_values: int, seed: int = 0) -> Calibration | None:
    """The calibration of one kind's votes from leave-one-out predictions on its labelled photos (a
    sample of :data:`CALIBRATION_SAMPLE` at most), or ``None`` when there are too few labelled photos
    or too few confident right predictions."""
    if len(labelled) < MIN_LABELLED or n_values < 2:
        return None
    rows = np.arange(len(labelled))
    if len(rows) > CALIBRATION_SAMPLE:
        rows = np.sort(np.random.default_rng(seed).choice(rows, CALIBRATION_SAMPLE, replace=False))
    votes = vote(labelled[rows], labelled, values, n_values, exclude_rows=rows)
    calibration = Calibration(votes.raw, votes.winner == values[rows])
    return calibration if calibration.usable else None


def _tally(near_sims: np.ndarray, near_values: np.ndarray, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    count, k = near_sims.shape
    weights = np.maximum(near_sims, 0.0) ** VOTE_POWER
    tally = np.zeros((count, n_values))
    np.add.at(tally, (np.repeat(np.arange(count), k), near_values.ravel()), weights.ravel())
    winner = tally.argmax(axis=1)
    share = tally[np.arange(count), winner] / np.maximum(tally.sum(axis=1), 1e-12)
    agreeing = np.where(near_values == winner[:, None], near_sims, -np.inf).max(axis=1)
    return winner, share * np.maximum(agreeing, 0.0)


@dataclass
class KindModel:
    """What suggesting one kind of label needs: the labelled photos' ids, vectors and values, and the
    calibration (``None``: too few labels to suggest anything)."""

    kind: str
    ids: np.ndarray
    vectors: np.ndarray
    values: np.ndarray
    names: tuple[str, ...]
    calibration: Calibration | None

    @classmethod
    def fit(cls, kind: str, labelled: dict[int, str], vectors_of: dict[int, np.ndarray]) -> KindModel:
        ids = np.array([i for i in sorted(labelled) if i in vectors_of], dtype=np.int64)
        names = tuple(sorted({labelled[i] for i in ids.tolist()}))
        index = {n: k for k, n in enumerate(names)}
        values = np.array([index[labelled[i]] for i in ids.tolist()], dtype=np.int64)
        dim = next(iter(vectors_of.values())).shape[0] if vectors_of else 0
        vectors = np.stack([vectors_of[i] for i in ids.tolist()]) if len(ids) else np.zeros((0, dim), np.float32)
        return cls(kind, ids, vectors, values, names, calibrate(vectors, values, len(names)))

    def suggest(self, queries: np.ndarray, skip_ids: Sequence[int | None] = ()) -> list[tuple[str, float] | None]:
        """Per query row, ``(value, calibrated confidence)`` when it reaches :data:`SHOW_FROM`, else
        ``None``. ``skip_ids[i]`` is query i's own photo id when it is labelled (it must not vote)."""
        if self.calibration is None or not len(queries):
            return [None] * len(queries)
        position = {int(i): n for n, i in enumerate(self.ids.tolist())}
        own = [position.get(i) if i is not None else None for i in skip_ids] + [None] * (len(queries) - len(skip_ids))
        if any(o is not None for o in own):  # a labelled photo asks: its own label must not vote
            votes = vote(queries, np.vstack([self.vectors, np.zeros((1, self.vectors.shape[1]), np.float32)]),
                         np.append(self.values, 0), len(self.names),
                         exclude_rows=np.array([len(self.ids) if o is None else o for o in own]))
        else:
            votes = vote(queries, self.vectors, self.values, len(self.names))
        confidence = self.calibration.confidence(votes.raw)
        return [(self.names[int(w)], float(c)) if c >= SHOW_FROM else None
                for w, c in zip(votes.winner, confidence, strict=True)]
