"""Retrieval quality of the app against simple baselines, near-duplicate re-identification, rotation-
robust and region search, and duplicate finding -- in one run.

Tables printed (numbers and what they mean: ``docs/quality.md``):

1. **Methods**: leave-one-out mAP, P@1, P@10 on ``../shared/datasets/neu_det`` (1,799 photos after
   dropping one of the byte-identical pair) and near-duplicate P@1 per re-shoot transformation on
   ``../shared/datasets/insulators`` (each of the 100 photos re-shot by ``reshoot.py``; it must find
   its original at rank 1 among the 100 originals plus the 1,799 neu_det photos as distractors), for:
   our pipeline (the archive: ``evaluate_folder`` -- the code behind ``inspector-search evaluate`` --
   and ``Archive.search``), (a) the textbook recipe: the same network with global average pooling +
   PCA-256 + cosine (exported with torch into a temporary folder; skipped when torch is missing),
   (b) imagehash pHash (Hamming distance), (c) raw 32 x 32 pixels (zero-mean, cosine).
2. **Rotation-robust search**: P@1 of the combined re-shot photo turned by 0/90/180/270 degrees,
   plain versus ``SearchRequest(rotations=True)``.
3. **Region search**: P@1 of a 40-60 % crop pasted on an unrelated photo, searched whole versus with
   ``SearchRequest(crop=box)``.
4. **Query time** of each search option (median ms per query, one query at a time).
5. **Duplicates**: precision/recall of ``Archive.duplicates`` on the originals plus one copy per
   transformation (and the neu_det photos as look-alikes that must stay apart), at several
   thresholds, and the run time of duplicate finding on synthetic vectors (100,000 by default).

Run from the project root::

    python benchmarks/quality.py [--threads 2] [--model MANIFEST] [--repeats 1] [--synthetic 100000]
                                 [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from quality_duplicates import duplicate_tables, print_duplicates
from quality_sets import (
    INSULATORS,
    NEU_DET,
    ROOT,
    class_folder_photos,
    decoded,
    embed_sources,
    insulator_photos,
    region_queries,
    reshot_queries,
    rotated_queries,
)
from reshoot import TRANSFORMATIONS

from inspector_search.core.archive import Archive
from inspector_search.core.evaluation import evaluate_folder, leave_one_out
from inspector_search.core.extractor import FeatureExtractor
from inspector_search.core.projection import Projection
from inspector_search.core.query_expansion import DEFAULT_NEIGHBOURS
from inspector_search.core.records import SearchRequest

SEED = 0


# -- our pipeline: the archive ------------------------------------------------------------------------
def archive_near_duplicates(archive: Archive, originals: list[Path], queries: dict[str, list[tuple[bytes, int]]],
                            **options: object) -> dict[str, float]:
    """P@1 per query set: the original must be the archive's first hit."""
    ids = archive.files_below(originals[0].parent)
    wanted = [ids[p] for p in originals]
    result = {}
    for name, items in queries.items():
        hits = [archive.search(SearchRequest(image=data, top_k=10, **options)) for data, _ in items]
        result[name] = float(np.mean([bool(h) and h[0].photo.image_id == wanted[i] for h, (_, i) in
                                      zip(hits, items, strict=True)]))
    return result


def archive_regions(archive: Archive, originals: list[Path], queries: list) -> dict[str, float]:
    """P@1 of region queries searched whole and with their box."""
    ids = archive.files_below(originals[0].parent)
    wanted = [ids[p] for p in originals]
    result = {}
    for label, use_box in (("whole padded photo", False), ("crop box", True)):
        firsts = [archive.search(SearchRequest(image=data, top_k=10, crop=box if use_box else None))
                  for data, box, _ in queries]
        result[label] = float(np.mean([bool(h) and h[0].photo.image_id == wanted[i]
                                       for h, (_, _, i) in zip(firsts, queries, strict=True)]))
    return result


def query_times(archive: Archive, data: list[bytes], box: tuple[float, float, float, float]) -> dict[str, float]:
    """Median ms per search for each option (each query once, after one warm-up search)."""
    options = {
        "plain (no expansion)": {"expansion": 0},
        "default (query expansion)": {},
        "rotations": {"rotations": True},
        "crop box": {"crop": box},
    }
    archive.search(SearchRequest(image=data[0]))
    result = {}
    for label, option in options.items():
        times = []
        for item in data:
            start = time.perf_counter()
            archive.search(SearchRequest(image=item, top_k=10, **option))
            times.append(time.perf_counter() - start)
        result[label] = 1000 * float(np.median(times))
    return result


# -- baselines: in memory ------------------------------------------------------------------------------
def export_avg_model(folder: Path) -> Path | None:
    """The shipped backbone with global average pooling, exported into ``folder``; None without torch."""
    if importlib.util.find_spec("torch") is None:
        return None
    command = [sys.executable, str(ROOT / "models" / "export.py"), "mobilenetv2", "--pooling", "avg",
               "--name", "mobilenetv2_avg", "--out", str(folder)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return folder / "mobilenetv2_avg.json"


def textbook_vectors(extractor: FeatureExtractor, fit_on: list, others: list) -> tuple[np.ndarray, np.ndarray]:
    """L2 -> PCA-256 (fitted on ``fit_on``, no power, no whitening) -> L2 vectors of both lists."""
    fitted = embed_sources(extractor, fit_on)
    projection = Projection.fit(fitted, dim=256)
    return projection.transform(fitted), projection.transform(embed_sources(extractor, others))


def phash_vectors(sources: list) -> np.ndarray:
    """pHash bits as +-1/8 vectors: cosine = 1 - 2 * Hamming / 64, so ranking by cosine is by Hamming."""
    import imagehash

    bits = np.stack([imagehash.phash(decoded(s)).hash.ravel() for s in sources]).astype(np.float32)
    return (2 * bits - 1) / 8


def pixel_vectors(sources: list) -> np.ndarray:
    """Raw 32 x 32 RGB pixels, zero-mean per photo, L2-normalised (cosine = correlation)."""
    rows = np.stack([np.asarray(decoded(s).resize((32, 32), Image.Resampling.BOX), np.float32).ravel()
                     for s in sources])
    rows -= rows.mean(axis=1, keepdims=True)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def near_duplicate_p1(database: np.ndarray, queries: np.ndarray, targets: np.ndarray) -> float:
    """Share of queries whose most similar database row is their target (ties: lowest row)."""
    return float(np.mean(np.argmax(queries @ database.T, axis=1) == targets))


def baseline_row(vectors_of, neu: list[Path], labels: np.ndarray, originals: list[Path],
                 queries: dict[str, list[tuple[bytes, int]]]) -> dict[str, float]:
    """neu_det figures and near-duplicate P@1 of one baseline. ``vectors_of(fit_on, others)`` returns
    vectors of both lists (the database of the near-duplicate test is neu + insulators)."""
    neu_vectors, _ = vectors_of(neu, [])
    scores = leave_one_out(neu_vectors, labels)
    row = {"mAP": scores.mean_average_precision, "P@1": scores.mean_precision(1), "P@10": scores.mean_precision(10)}
    names = list(queries)
    flat = [data for name in names for data, _ in queries[name]]
    database, query_vectors = vectors_of([*neu, *originals], flat)
    start = 0
    for name in names:
        count = len(queries[name])
        targets = len(neu) + np.array([i for _, i in queries[name]])
        row[name] = near_duplicate_p1(database, query_vectors[start : start + count], targets)
        start += count
    return row


def simple(vectorise):
    """Adapt a per-photo vector function to the ``vectors_of(fit_on, others)`` form."""
    return lambda fit_on, others: (vectorise(fit_on), vectorise(others) if others else None)


# -- printing ---------------------------------------------------------------------------------------------
def print_methods(rows: dict[str, dict[str, float]]) -> None:
    """Table 1: one row per method."""
    names = list(TRANSFORMATIONS)
    short = ["crop", "rot10", "light", "scale", "jpeg", "comb."]
    print("\nneu_det leave-one-out (1,799 photos, 6 classes) and near-duplicate P@1 on insulators "
          "(100 photos; archive = originals + 1,799 neu_det distractors)")
    print(f"{'method':<62} {'mAP':>6} {'P@1':>6} {'P@10':>6}  " + " ".join(f"{s:>6}" for s in short))
    for method, row in rows.items():
        if not row:
            print(f"{method:<62} skipped (torch is not installed)")
            continue
        print(f"{method:<62} {row['mAP']:>6.3f} {row['P@1']:>6.3f} {row['P@10']:>6.3f}  "
              + " ".join(f"{row[n]:>6.3f}" for n in names))


def print_search_options(rotations: dict, regions: dict, times: dict) -> None:
    """Tables 2-4."""
    print("\nRotation-robust search: P@1 of the combined re-shot photo turned by ...")
    print(f"{'turn':>6} {'plain':>7} {'rotations':>10}")
    for angle in rotations["plain"]:
        print(f"{angle:>5}d {rotations['plain'][angle]:>7.2f} {rotations['rotations'][angle]:>10.2f}")
    print("\nRegion search: P@1 of a 40-60 % crop pasted on an unrelated photo")
    for label, value in regions.items():
        print(f"  {label:<22} {value:.2f}")
    print("\nQuery time (median ms per search, decoding + model + index, one query at a time)")
    for label, value in times.items():
        print(f"  {label:<28} {value:7.1f} ms")


# -- main -------------------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (default 2)")
    parser.add_argument("--model", type=Path, metavar="MANIFEST",
                        help="model manifest for our pipeline (default: the bundled model)")
    parser.add_argument("--repeats", type=int, default=1, help="re-shots per photo and transformation (default 1)")
    parser.add_argument("--synthetic", type=int, default=100_000,
                        help="vectors in the duplicate-finding timing (default 100000; 0 skips it)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every number as JSON")
    return parser.parse_args()


def run_archive_tables(args: argparse.Namespace, tmp: Path, originals: list[Path], queries: dict) -> dict:
    """Our pipeline: neu_det evaluation, then the near-duplicate, rotation, region and timing tests."""
    report = evaluate_folder(NEU_DET, model=args.model, threads=args.threads)
    results: dict = {"ours": {"mAP": report.mean_average_precision, "P@1": report.precision_at_1,
                              "P@10": report.precision_at_10},
                     "model": report.model_id, "projection": report.projection}
    with Archive.open(tmp / "nd", model=args.model, threads=args.threads) as archive:
        archive.add([NEU_DET, INSULATORS])
        results["ours"].update(archive_near_duplicates(archive, originals, queries))
        turned = rotated_queries(queries["combined"])
        results["rotations"] = {
            "plain": archive_near_duplicates(archive, originals, turned),
            "rotations": archive_near_duplicates(archive, originals, turned, rotations=True)}
        regions = region_queries(originals, class_folder_photos(NEU_DET).paths, SEED)
        results["regions"] = archive_regions(archive, originals, regions)
        results["times"] = query_times(archive, [d for d, _ in queries["combined"]][:50], regions[0][1])
        results["duplicates"] = duplicate_tables(archive, originals, queries, tmp, args.synthetic)
    return results


def main() -> int:
    """Run every test and print the tables."""
    args = parse_args()
    if not (NEU_DET.is_dir() and INSULATORS.is_dir()):
        print(f"{NEU_DET} or {INSULATORS} not found: nothing measured")
        return 1
    started = time.perf_counter()
    neu = class_folder_photos(NEU_DET)
    originals = insulator_photos()
    queries = reshot_queries(originals, SEED, args.repeats)
    with tempfile.TemporaryDirectory(prefix="quality-bench-") as tmp_name:
        tmp = Path(tmp_name)
        results = run_archive_tables(args, tmp, originals, queries)
        label = f"ours: {results.pop('model')}, {results.pop('projection').split(',')[0]}, QE-{DEFAULT_NEIGHBOURS}"
        methods = {label: results.pop("ours")}
        avg = export_avg_model(tmp / "models")
        methods["(a) average pooling + PCA-256 + cosine"] = {} if avg is None else baseline_row(
            lambda fit_on, others: textbook_vectors(FeatureExtractor(avg, threads=args.threads), fit_on, others),
            neu.paths, neu.labels, originals, queries)
        methods["(b) pHash (64 bits, Hamming)"] = baseline_row(simple(phash_vectors), neu.paths, neu.labels,
                                                               originals, queries)
        methods["(c) raw 32x32 pixels (cosine)"] = baseline_row(simple(pixel_vectors), neu.paths, neu.labels,
                                                                originals, queries)
    print_methods(methods)
    print_search_options(results["rotations"], results["regions"], results["times"])
    print_duplicates(results["duplicates"])
    print(f"\n({time.perf_counter() - started:.0f} s in all)")
    if args.json:
        args.json.write_text(json.dumps({"methods": methods, **results}, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
