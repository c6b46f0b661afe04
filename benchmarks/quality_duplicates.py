"""The duplicate-finding part of ``quality.py``: precision/recall of ``Archive.duplicates`` on re-shot
copies of the insulator photos (with the neu_det photos as look-alikes), threshold by threshold,
and the run time of duplicate finding on synthetic vectors."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
from reshoot import TRANSFORMATIONS

from inspector_search.core.archive import Archive
from inspector_search.core.duplicates import DEFAULT_THRESHOLD, IDENTITY_THRESHOLD, duplicate_groups
from inspector_search.core.vector_index import VectorIndex

THRESHOLDS = (0.90, 0.92, 0.93, 0.94, 0.945, 0.95, 0.955, 0.96, 0.965, 0.97, 0.98)
IDENTITY_THRESHOLDS = (0.95, 0.97, 0.98, 0.985, 0.99, 0.995)


def write_copies(folder: Path, originals: list[Path], queries: dict[str, list[tuple[bytes, int]]]) -> None:
    """One copy per photo and transformation (the first re-shot of each), as ``folder/<n>/<stem>.jpg``."""
    for number, name in enumerate(TRANSFORMATIONS):
        target = folder / str(number)
        target.mkdir(parents=True)
        done = set()
        for data, index in queries[name]:
            if index not in done:
                (target / f"{originals[index].stem}.jpg").write_bytes(data)
                done.add(index)


def pair_scores(groups: list[list[int]], truth: list[list[int]]) -> tuple[float, float]:
    """(precision, recall) of the pairs inside predicted groups against the pairs inside true groups."""
    predicted = {pair for group in groups for pair in itertools.combinations(sorted(group), 2)}
    wanted = {pair for group in truth for pair in itertools.combinations(sorted(group), 2)}
    found = len(predicted & wanted)
    return (found / len(predicted) if predicted else 1.0), (found / len(wanted) if wanted else 1.0)


def score_groups(groups: list[list[int]], truth: list[list[int]], seconds: float) -> dict:
    """Pair precision/recall, per-transformation recall (original and copy in one group) and how many
    photos outside the true groups (neu_det look-alikes) were grouped."""
    precision, recall = pair_scores(groups, truth)
    group_of = {i: n for n, group in enumerate(groups) for i in group}
    per_copy = {name: float(np.mean([group_of.get(t[0], -1) == group_of.get(t[n + 1], -2) for t in truth]))
                for n, name in enumerate(TRANSFORMATIONS)}
    insulator_ids = {i for group in truth for i in group}
    look_alikes = sum(1 for group in groups for i in group if i not in insulator_ids)
    return {"precision": precision, "recall": recall, "per_transformation": per_copy,
            "neu_photos_grouped": look_alikes, "seconds": seconds}


def duplicate_tables(archive: Archive, originals: list[Path], queries: dict, tmp: Path, synthetic: int) -> dict:
    """Add the copies to ``archive``; score ``Archive.duplicates`` at each threshold, and the same
    search over the raw features (what an archive too small for PCA uses)."""
    copies = tmp / "copies"
    write_copies(copies, originals, queries)
    archive.add([copies])
    original_ids = archive.files_below(originals[0].parent)
    copy_ids = archive.files_below(copies)
    truth = [[original_ids[p], *(copy_ids[copies / str(n) / p.name] for n in range(len(TRANSFORMATIONS)))]
             for p in originals]
    rows = {}
    for threshold in sorted({*THRESHOLDS, DEFAULT_THRESHOLD}):
        start = time.perf_counter()
        groups = [[photo.image_id for photo in g.photos] for g in archive.duplicates(threshold)]
        rows[threshold] = score_groups(groups, truth, time.perf_counter() - start)
    ids, features = (np.concatenate(a) for a in zip(*archive.catalog.features(archive.extractor.model_id),
                                                     strict=True))
    raw = features / np.linalg.norm(features, axis=1, keepdims=True)
    index = VectorIndex(raw.shape[1], capacity=len(raw))
    index.add(ids, raw)
    identity = {}
    for threshold in sorted({*IDENTITY_THRESHOLDS, IDENTITY_THRESHOLD}):
        start = time.perf_counter()
        groups = [g for g, _ in duplicate_groups(ids, raw, index.radius_query, threshold)]
        identity[threshold] = score_groups(groups, truth, time.perf_counter() - start)
    timing = synthetic_timing(archive.vectors()[1], synthetic) if synthetic else {}
    return {"photos": len(ids), "by_threshold": rows, "identity": identity, "synthetic": timing}


def synthetic_timing(real: np.ndarray, count: int, seed: int = 0) -> dict[str, float]:
    """Time ``duplicate_groups`` on ``count`` vectors drawn from a Gaussian fitted to the real vectors,
    1 % of them with a planted near copy (similarity about 0.97)."""
    rng = np.random.default_rng(seed)
    mean, cov = real.mean(axis=0), np.cov(real, rowvar=False)
    originals = count - count // 100
    base = rng.multivariate_normal(mean, cov, size=originals, method="cholesky").astype(np.float32)
    planted = rng.choice(originals, size=count // 100, replace=False)
    noise = rng.standard_normal((planted.size, base.shape[1])).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    noise *= 0.25 / np.linalg.norm(noise, axis=1, keepdims=True)
    copies = base[planted] + noise
    vectors = np.concatenate([base, copies / np.linalg.norm(copies, axis=1, keepdims=True)])
    ids = np.arange(len(vectors), dtype=np.int64)
    start = time.perf_counter()
    index = VectorIndex(vectors.shape[1], capacity=len(vectors))
    index.add(ids, vectors)
    built = time.perf_counter() - start
    start = time.perf_counter()
    groups = duplicate_groups(ids, vectors, index.radius_query, DEFAULT_THRESHOLD)
    took = time.perf_counter() - start
    pairs = {(int(p), originals + n) for n, p in enumerate(planted)}
    found = {tuple(g) for g, _ in groups if len(g) == 2}
    return {"vectors": len(vectors), "index_build_s": built, "duplicates_s": took, "groups": len(groups),
            "planted": len(pairs), "planted_found": len(pairs & found)}


def print_duplicates(result: dict) -> None:
    """Table 5: precision/recall by threshold (PCA vectors, then raw features), then the synthetic timing."""
    print(f"\nDuplicates on {result['photos']} archive photos: 100 insulator originals + 1 copy per "
          "transformation each, 1,799 neu_det look-alikes (precision/recall of the pairs inside groups)")
    short = ["crop", "rot10", "light", "scale", "jpeg", "comb."]
    header = (f"{'threshold':>9} {'precision':>9} {'recall':>7}  " + " ".join(f"{s:>6}" for s in short)
              + f" {'neu grouped':>11} {'seconds':>8}")
    for title, rows, default in (("PCA vectors (Archive.duplicates; * = default)", result["by_threshold"],
                                  DEFAULT_THRESHOLD),
                                 ("raw features (archives under 200 photos; * = default)", result["identity"],
                                  IDENTITY_THRESHOLD)):
        print(f"{title}\n{header}")
        for threshold, row in rows.items():
            mark = "*" if threshold == default else " "
            print(f"{threshold:>8.3f}{mark} {row['precision']:>9.3f} {row['recall']:>7.3f}  "
                  + " ".join(f"{v:>6.2f}" for v in row["per_transformation"].values())
                  + f" {row['neu_photos_grouped']:>11} {row['seconds']:>8.2f}")
    timing = result["synthetic"]
    if timing:
        print(f"\nSynthetic: {timing['vectors']:,} vectors; index built in {timing['index_build_s']:.1f} s; "
              f"duplicates at {DEFAULT_THRESHOLD} in {timing['duplicates_s']:.1f} s: {timing['groups']} groups, "
              f"{timing['planted_found']} of {timing['planted']} planted pairs found")
