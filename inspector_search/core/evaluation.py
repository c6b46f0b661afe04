"""Retrieval quality you can measure: average precision, mAP and precision@k, and a leave-one-out
evaluation of a labelled folder of photos through a temporary archive.

Why leave-one-out over a real archive: users want to know how well search works on *their* photos
(and to compare models and settings), and we want the benchmark to measure exactly what the app
does. So :func:`evaluate_folder` adds the folder to a throw-away archive with the normal ``add``
pipeline (decoding, model, stored features, PCA fitted by the archive's own policy), then ranks
every other photo for each labelled photo the way the archive's search does (the best match by full
features first, the rest by query expansion; see :mod:`~inspector_search.core.query_expansion`; then the
best candidates re-ranked by geometric verification, :mod:`~inspector_search.core.local_features`), but exactly, over
the archive's projected vectors (the vectors the index holds), so the figure does not depend on
hnswlib's recall.

Labels come from class subfolders (``DIR/<class>/.../photo.jpg``; photos directly in ``DIR`` are
distractors) or from a groups file (``path,group`` rows; listed photos are labelled, every other
photo of the folder is a distractor). A photo is relevant to a query when it has the same label.
Byte-identical files are one photo in an archive; by default only the first (in path order) is
scored, so a file and its copy do not inflate the figures.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .archive import Archive
from .errors import Cancelled, MetadataError, QueryError
from .local_features import CANDIDATES, LocalFeatures, verified_order, verify
from .progress import Progress
from .query_expansion import DEFAULT_ALPHA, DEFAULT_NEIGHBOURS, expanded_queries, refined_first
from .records import ClassQuality, EvaluationReport

__all__ = [
    "RankingScores", "Verifier", "archive_verifier", "average_precision", "evaluate_archive", "evaluate_folder",
    "folder_labels", "leave_one_out", "precision_at_k", "read_groups", "summarise",
]  # fmt: skip

PRECISION_CUTOFFS = (1, 10)
_CHUNK_ROWS = 256  # queries ranked at once: bounds the similarity block to 256 x N floats


# -- metrics on one ranking ---------------------------------------------------------------------------
def average_precision(relevant: Sequence[bool] | np.ndarray, relevant_total: int | None = None) -> float:
    """Average precision of one ranking: the mean, over the relevant items, of the precision at the
    rank where each is found. ``relevant`` holds one flag per ranked item, best first;
    ``relevant_total`` counts relevant items that exist (default: those in the ranking), so one
    that the ranking misses contributes 0. Returns 0.0 when nothing is relevant."""
    flags = np.asarray(relevant, dtype=bool)
    total = int(flags.sum()) if relevant_total is None else int(relevant_total)
    if total <= 0:
        return 0.0
    hits = np.cumsum(flags)
    ranks = np.arange(1, flags.size + 1)
    return float(np.sum(hits[flags] / ranks[flags]) / total)


def precision_at_k(relevant: Sequence[bool] | np.ndarray, k: int) -> float:
    """Fraction of the first ``k`` ranked items that are relevant (a ranking shorter than ``k``
    counts its missing places as misses, the usual definition)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    flags = np.asarray(relevant, dtype=bool)[:k]
    return float(flags.sum() / k)


# -- leave-one-out over a set of vectors --------------------------------------------------------------
@dataclass(frozen=True)
class RankingScores:
    """Per-query figures of a leave-one-out run: ``queries`` are row numbers of the scored vectors,
    ``average_precision`` and ``precision[k]`` are aligned with them."""

    queries: np.ndarray
    average_precision: np.ndarray
    precision: dict[int, np.ndarray]

    @property
    def mean_average_precision(self) -> float:
        """mAP over all scored queries (0.0 when there are none)."""
        return float(self.average_precision.mean()) if self.queries.size else 0.0

    def mean_precision(self, k: int) -> float:
        """Mean precision@k over all scored queries."""
        return float(self.precision[k].mean()) if self.queries.size else 0.0


Verifier = Callable[[int, np.ndarray], np.ndarray]
"""``verifier(query_row, candidate_rows)``: the inlier count of each candidate row against the query row."""


def leave_one_out(vectors: np.ndarray, labels: np.ndarray, cutoffs: Sequence[int] = PRECISION_CUTOFFS, *,
                  expansion: int = 0, alpha: float = DEFAULT_ALPHA, features: np.ndarray | None = None,
                  verifier: Verifier | None = None) -> RankingScores:
    """Rank all other rows for each labelled row by exact cosine similarity and score the ranking.

    ``vectors`` are unit rows (N x D); ``labels`` are N integers, ``-1`` for a distractor (never
    relevant, never a query). Rows whose label no other row shares are not scored (no relevant
    answer exists). With ``expansion = K > 0`` the ranking is the archive's: the nearest row
    first (of the K nearest, the one whose row of ``features``, the raw features before the PCA, is
    most like the query's; without ``features`` the nearest), then the others by similarity to the
    query expanded with its K nearest rows (see :mod:`~inspector_search.core.query_expansion`).
    With a ``verifier`` the best ``CANDIDATES`` rows are then re-ranked by geometric verification
    as the archive's search does (:func:`~inspector_search.core.local_features.verified_order`).
    Equal similarities keep row order, so results are deterministic. Similarities are computed in
    blocks of rows, never N x N at once.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if vectors.ndim != 2 or labels.shape != (vectors.shape[0],):
        raise ValueError(f"need N x D vectors and N labels, got {vectors.shape} and {labels.shape}")
    counts = np.bincount(labels[labels >= 0]) if np.any(labels >= 0) else np.zeros(0, dtype=np.int64)
    queries = np.flatnonzero((labels >= 0) & (counts[np.maximum(labels, 0)] > 1) if counts.size else labels >= 0)
    aps = np.zeros(queries.size)
    precision = {k: np.zeros(queries.size) for k in cutoffs}
    for start in range(0, queries.size, _CHUNK_ROWS):
        rows = queries[start : start + _CHUNK_ROWS]
        sims = vectors[rows] @ vectors.T
        sims[np.arange(rows.size), rows] = -np.inf  # the query itself sorts last and is dropped
        if expansion > 0:
            sims = _expanded_similarities(vectors, rows, sims, expansion, alpha, features)
        order = np.argsort(-sims, axis=1, kind="stable")[:, :-1]
        if verifier is not None:
            _verify_rows(order, rows, verifier)
        relevant = labels[order] == labels[rows][:, None]
        hits = np.cumsum(relevant, axis=1)
        ranks = np.arange(1, relevant.shape[1] + 1)
        aps[start : start + rows.size] = np.where(relevant, hits / ranks, 0.0).sum(axis=1) / hits[:, -1]
        for k in cutoffs:
            precision[k][start : start + rows.size] = relevant[:, :k].sum(axis=1) / k
    return RankingScores(queries, aps, precision)


def _expanded_similarities(vectors: np.ndarray, rows: np.ndarray, sims: np.ndarray, expansion: int,
                           alpha: float, features: np.ndarray | None) -> np.ndarray:
    """Similarities to the expanded queries, with the first row pinned first (+inf) and the query
    itself still last (-inf)."""
    count = min(expansion, vectors.shape[0] - 1)
    if count < 1:
        return sims
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :count]
    queries = expanded_queries(vectors[rows], vectors[nearest], np.take_along_axis(sims, nearest, axis=1), alpha)
    expanded = queries @ vectors.T
    first = nearest[:, 0]
    if features is not None:
        first = np.array([near[refined_first(features[row : row + 1], features[near])]
                          for row, near in zip(rows, nearest, strict=True)])
    expanded[np.arange(rows.size), first] = np.inf
    expanded[np.arange(rows.size), rows] = -np.inf
    return expanded


def _verify_rows(order: np.ndarray, rows: np.ndarray, verifier: Verifier) -> None:
    """Re-rank the first CANDIDATES columns of each row of ``order`` in place by verification."""
    count = min(CANDIDATES, order.shape[1])
    for n, row in enumerate(rows):
        head = order[n, :count]
        inliers = dict(zip(head.tolist(), np.asarray(verifier(int(row), head)).tolist(), strict=True))
        order[n, :count] = verified_order(head.tolist(), inliers)


def archive_verifier(archive: Archive, image_ids: np.ndarray) -> Verifier:
    """A verifier over the stored keypoints of the given photos (row n is ``image_ids[n]``); photos
    without keypoints verify nothing."""
    blobs = archive.catalog.local_features(image_ids.tolist())
    keypoints: list[LocalFeatures | None] = []
    for image_id in image_ids.tolist():
        try:
            keypoints.append(LocalFeatures.from_bytes(blobs[image_id]) if image_id in blobs else None)
        except ValueError:
            keypoints.append(None)

    def inliers(row: int, candidates: np.ndarray) -> np.ndarray:
        query = keypoints[row]
        if query is None:
            return np.zeros(len(candidates), dtype=np.int64)
        return np.array([0 if keypoints[c] is None else verify(query, keypoints[c]).inliers
                         for c in candidates.tolist()], dtype=np.int64)

    return inliers


def summarise(scores: RankingScores, labels: np.ndarray, names: Sequence[str]) -> tuple[ClassQuality, ...]:
    """Per-label figures (mAP, P@1, P@10 over that label's queries), in the order of ``names``."""
    labels = np.asarray(labels)
    result = []
    for number, name in enumerate(names):
        mine = labels[scores.queries] == number
        count = int(np.sum(labels == number))
        if not mine.any():
            result.append(ClassQuality(name, count, None, None, None))
            continue
        result.append(ClassQuality(
            name, count, float(scores.average_precision[mine].mean()),
            float(scores.precision[1][mine].mean()), float(scores.precision[10][mine].mean())))
    return tuple(result)


# -- labels ----------------------------------------------------------------------------------------------
def folder_labels(folder: Path, files: Sequence[Path]) -> dict[Path, str]:
    """Label of each file below ``folder``: the name of its first-level subfolder (files directly in
    ``folder`` get none and act as distractors)."""
    labels = {}
    for path in files:
        parts = path.relative_to(folder).parts
        if len(parts) > 1:
            labels[path] = parts[0]
    return labels


def read_groups(path: Path, folder: Path) -> dict[Path, str]:
    """Read a groups file: CSV rows ``path,group`` (comma, semicolon or tab; an optional header row
    ``path,group``), paths absolute or relative to ``folder``. Raises ``MetadataError`` naming the
    line of a malformed row, or when the file cannot be read or lists no photo."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{path}: cannot read the groups file ({exc})") from exc
    lines = text.splitlines()
    delimiter = next((d for d in ("\t", ";", ",") if lines and d in lines[0]), ",")
    groups: dict[Path, str] = {}
    for number, row in enumerate(csv.reader(lines, delimiter=delimiter), start=1):
        header = number == 1 and [cell.strip().lower() for cell in row] == ["path", "group"]
        if header or not "".join(row).strip():
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise MetadataError(f"{path}, line {number}: expected 'path{delimiter}group', got {row!r}")
        photo = Path(row[0].strip())
        groups[Path(os.path.normpath(photo if photo.is_absolute() else folder / photo))] = row[1].strip()
    if not groups:
        raise MetadataError(f"{path}: the groups file lists no photo")
    return groups


# -- evaluation of a folder through a temporary archive ----------------------------------------------------
def evaluate_folder(folder: Path | str, *, groups: Path | None = None, model: Path | None = None,
                    expansion: int | None = None, keep_duplicates: bool = False, threads: int | None = None,
                    progress: Progress | None = None) -> EvaluationReport:
    """Leave-one-out mAP, P@1 and P@10 (overall and per class) of search on a labelled folder.

    Builds a temporary archive with the given (or bundled) model, adds ``folder`` to it and
    scores the archive's projected vectors, ranked as the archive's search ranks them (query
    expansion with ``expansion`` neighbours, default the archive's; 0 = plain cosine). Raises
    ``QueryError`` when the folder does not exist or no two photos share a label, and
    ``MetadataError`` for a bad groups file.
    """
    started = time.perf_counter()
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise QueryError(f"{folder}: not a folder")
    group_labels = read_groups(Path(groups), folder) if groups is not None else None
    with tempfile.TemporaryDirectory(prefix="inspector-search-eval-") as tmp, \
            Archive.open(Path(tmp) / "archive", model=model, threads=threads) as archive:
        added = archive.add([folder], progress=progress)
        if added.cancelled:
            raise Cancelled("evaluation cancelled")
        if progress is not None:
            progress.report(0, 0, "ranking")
        report = evaluate_archive(archive, folder, group_labels, expansion=expansion,
                                  keep_duplicates=keep_duplicates)
    return replace(report, skipped=added.skipped, seconds=time.perf_counter() - started)


def evaluate_archive(archive: Archive, folder: Path, group_labels: dict[Path, str] | None = None, *,
                     expansion: int | None = None, keep_duplicates: bool = False,
                     verification: bool = True) -> EvaluationReport:
    """Score the photos below ``folder`` that ``archive`` holds, labelled by their class subfolder or
    by ``group_labels``; the second half of :func:`evaluate_folder`. Byte-identical files are one
    photo in an archive: unless ``keep_duplicates``, only the first in path order is scored."""
    files = archive.files_below(folder)
    labels_of = group_labels if group_labels is not None else folder_labels(folder, list(files))
    names = sorted(set(labels_of.values()))
    number_of = {name: n for n, name in enumerate(names)}
    image_ids, features = archive.vectors(raw=True)
    vectors = archive.store.project(features)
    row_of = {int(i): n for n, i in enumerate(image_ids)}
    rows, labels, dropped, seen = [], [], [], set()
    for path in sorted(files):
        image_id = files[path]
        if image_id not in row_of:
            continue
        if image_id in seen and not keep_duplicates:
            dropped.append(path)
            continue
        seen.add(image_id)
        rows.append(row_of[image_id])
        labels.append(number_of.get(labels_of.get(path), -1))
    if not rows:
        raise QueryError(f"{folder}: no photo in it could be read, so there is nothing to evaluate")
    labels_array = np.asarray(labels, dtype=np.int64)
    picked = np.asarray(rows, dtype=np.int64)
    verifier = archive_verifier(archive, image_ids[picked]) if verification else None
    scores = leave_one_out(vectors[picked], labels_array, features=features[picked], verifier=verifier,
                           expansion=DEFAULT_NEIGHBOURS if expansion is None else expansion)
    if scores.queries.size == 0:
        raise QueryError(f"{folder}: no two photos share a label, so there is nothing to evaluate "
                         "(sort photos into class subfolders, or give a groups file)")
    status = archive.status()
    return EvaluationReport(
        folder=folder, photos=len(rows), queries=int(scores.queries.size),
        distractors=int(np.sum(labels_array < 0)), mean_average_precision=scores.mean_average_precision,
        precision_at_1=scores.mean_precision(1), precision_at_10=scores.mean_precision(10),
        per_class=summarise(scores, labels_array, names), dropped_duplicates=tuple(dropped), skipped=(),
        model_id=status.model_id, projection=status.projection)
