"""What geometric verification, the query's own photo and the stable scores do to search quality
and speed, measured through the archive as the app uses it (``Archive.search`` and the evaluation
behind ``inspector-search evaluate``), each with verification on and off.

Tables printed (numbers and what they mean: ``docs/quality.md``, "Geometric verification"):

1. neu_det leave-one-out mAP / P@1 / P@10 (1,799 photos, 6 classes), verified and not.
2. Re-shot P@1 on the 100 insulator photos (each re-shot by every ``reshoot.py`` transformation)
   in an archive of the originals plus the 1,799 neu_det photos: the other insulators are each
   other's same-kind look-alikes. Then the combined re-shot turned by 90/180/270 degrees, plain and
   with ``rotations``; and the region test (a 40-60 % crop pasted on an unrelated photo, searched
   with its box).
3. The query's own photo: each original searched with itself (byte-identical) and re-saved at JPEG
   quality 95 -- share shown first and marked ``is_query``, and P@1 of the *next* result on the
   four-views set (each original plus three re-shots of it, searched with the original): the
   results after the query itself must be its other views.
4. Latency of a whole query (photo bytes -> hits) p50/p95, verified and not, one query at a time;
   storage of the keypoints per photo.

Run from the project root (about 10 minutes on 2 loaded cores)::

    python benchmarks/quality_verification.py [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from quality_sets import (
    INSULATORS,
    NEU_DET,
    class_folder_photos,
    insulator_photos,
    region_queries,
    reshot_queries,
    rotated_queries,
)
from reshoot import reshoot, rng_for

from inspector_search.core.archive import Archive
from inspector_search.core.evaluation import evaluate_archive
from inspector_search.core.records import SearchRequest

SEED = 0


def p_at_1(archive: Archive, wanted: list[int], items: list, **options: object) -> dict[bool, float]:
    """P@1 of (bytes, original index) queries, verified and not."""
    result = {}
    for verified in (True, False):
        hits = [archive.search(SearchRequest(image=data, top_k=5, verification=verified, **options))
                for data, *_rest in items]
        result[verified] = float(np.mean([bool(h) and h[0].photo.image_id == wanted[item[-1]]
                                          for h, item in zip(hits, items, strict=True)]))
    return result


def region_p_at_1(archive: Archive, wanted: list[int], items: list) -> dict[bool, float]:
    result = {}
    for verified in (True, False):
        hits = [archive.search(SearchRequest(image=data, top_k=5, crop=box, verification=verified))
                for data, box, _ in items]
        result[verified] = float(np.mean([bool(h) and h[0].photo.image_id == wanted[i]
                                          for h, (_d, _b, i) in zip(hits, items, strict=True)]))
    return result


def latency(archive: Archive, data: list[bytes]) -> dict[bool, tuple[float, float]]:
    archive.search(SearchRequest(image=data[0]))  # warm-up
    result = {}
    for verified in (True, False):
        times = []
        for item in data:
            start = time.perf_counter()
            archive.search(SearchRequest(image=item, top_k=10, verification=verified))
            times.append(1000 * (time.perf_counter() - start))
        result[verified] = (float(np.percentile(times, 50)), float(np.percentile(times, 95)))
    return result


def own_photo(archive: Archive, originals: list[Path], wanted: list[int]) -> dict[str, float]:
    same_bytes = [archive.search(SearchRequest(image=p.read_bytes(), top_k=3))[0] for p in originals]
    resaved = []
    for path in originals:
        buffer = io.BytesIO()
        Image.open(path).save(buffer, "JPEG", quality=95)
        resaved.append(archive.search(SearchRequest(image=buffer.getvalue(), top_k=3))[0])
    return {
        "byte-identical: first and marked": float(np.mean([h.is_query and h.photo.image_id == w
                                                           for h, w in zip(same_bytes, wanted, strict=True)])),
        "re-saved JPEG q95: first and marked": float(np.mean([h.is_query and h.photo.image_id == w
                                                              for h, w in zip(resaved, wanted, strict=True)])),
    }


def four_views(tmp: Path, originals: list[Path], threads: int) -> dict[str, float]:
    """Each original plus three re-shots (crop/tilt/light+scale) of it, with the neu_det distractors:
    searched with the original (in the archive), the next three results should be its other views."""
    folder = tmp / "views"
    folder.mkdir()
    steps = ("crop 10-30%", "rotation +-10deg", "combined")
    for index, path in enumerate(originals):
        shutil.copy2(path, folder / f"{index:03d}-0.jpg")
        image = Image.open(path).convert("RGB")
        for n, name in enumerate(steps, start=1):
            (folder / f"{index:03d}-{n}.jpg").write_bytes(reshoot(image, name, rng_for(SEED + 7, name, index)))
    result = {}
    with Archive.open(tmp / "views-archive", threads=threads) as archive:
        archive.add([folder, NEU_DET])
        ids = archive.files_below(folder)
        group = {image_id: path.name.split("-")[0] for path, image_id in ids.items()}
        for label, expansion in (("default expansion", None), ("no expansion", 0)):
            next_p1, ns = [], []
            for index in range(len(originals)):
                hits = archive.search(SearchRequest(image=folder / f"{index:03d}-0.jpg", top_k=5, expansion=expansion))
                rest = [h for h in hits if not h.is_query]
                mine = [group.get(h.photo.image_id) == f"{index:03d}" for h in rest]
                next_p1.append(bool(mine) and mine[0])
                ns.append(sum(mine[:3]) + (1 if hits and hits[0].is_query else 0))
            result[f"{label}: P@1 after the query itself"] = float(np.mean(next_p1))
            result[f"{label}: N-S score (of 4)"] = float(np.mean(ns))
    return result


def keypoint_bytes(archive: Archive) -> float:
    conn = sqlite3.connect(archive.catalog.path)
    try:
        return float(conn.execute("SELECT AVG(LENGTH(data)) FROM local_features").fetchone()[0])
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, metavar="PATH")
    args = parser.parse_args(argv)
    if not (NEU_DET.is_dir() and INSULATORS.is_dir()):
        print("needs ../shared/datasets/neu_det and insulators", file=sys.stderr)
        return 1
    started = time.perf_counter()
    originals = insulator_photos()
    queries = reshot_queries(originals, SEED)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="verification-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with Archive.open(tmp / "neu", threads=args.threads) as archive:
            archive.add([NEU_DET])
            for verified in (True, False):
                report = evaluate_archive(archive, NEU_DET, verification=verified)
                results[f"neu_det verified={verified}"] = {"mAP": report.mean_average_precision,
                                                           "P@1": report.precision_at_1, "P@10": report.precision_at_10}
        with Archive.open(tmp / "nd", threads=args.threads) as archive:
            archive.add([NEU_DET, INSULATORS])
            ids = archive.files_below(INSULATORS)
            wanted = [ids[p] for p in originals]
            results["reshot"] = {name: p_at_1(archive, wanted, items) for name, items in queries.items()}
            turned = rotated_queries(queries["combined"])
            results["turned"] = {angle: p_at_1(archive, wanted, items) for angle, items in turned.items()}
            results["turned, rotations"] = {angle: p_at_1(archive, wanted, items, rotations=True)
                                            for angle, items in turned.items()}
            regions = region_queries(originals, class_folder_photos(NEU_DET).paths, SEED)
            results["region (crop box)"] = region_p_at_1(archive, wanted, regions)
            results["own photo"] = own_photo(archive, originals, wanted)
            results["latency ms (p50, p95)"] = latency(archive, [d for d, _ in queries["combined"]])
            results["keypoint bytes per photo"] = keypoint_bytes(archive)
            results["photos"] = len(archive.listing())
        results["four views"] = four_views(tmp, originals, args.threads)
    print_tables(results)
    print(f"\n({time.perf_counter() - started:.0f} s in all)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    return 0


def print_tables(results: dict) -> None:
    print("neu_det leave-one-out (1,799 photos):")
    for key in ("neu_det verified=True", "neu_det verified=False"):
        row = results[key]
        print(f"  {key:26} mAP {row['mAP']:.3f}  P@1 {row['P@1']:.3f}  P@10 {row['P@10']:.3f}")
    print(f"\nRe-shot P@1 among {results['photos']} photos (100 insulators + neu_det), verified / not:")
    for name, value in results["reshot"].items():
        print(f"  {name:28} {value[True]:.2f} / {value[False]:.2f}")
    print("\nCombined re-shot turned by ... (plain search | with rotations), verified / not:")
    for angle in results["turned"]:
        plain, turned = results["turned"][angle], results["turned, rotations"][angle]
        print(f"  {angle:>4}d   {plain[True]:.2f} / {plain[False]:.2f}   |   {turned[True]:.2f} / {turned[False]:.2f}")
    region = results["region (crop box)"]
    print(f"\nRegion search with the crop box: {region[True]:.2f} / {region[False]:.2f}")
    print("\nThe query's own photo:")
    for label, value in {**results["own photo"], **results["four views"]}.items():
        print(f"  {label:44} {value:.2f}")
    print("\nWhole query (JPEG bytes -> hits), ms, verified / not:")
    lat = results["latency ms (p50, p95)"]
    print(f"  p50 {lat[True][0]:.1f} / {lat[False][0]:.1f}   p95 {lat[True][1]:.1f} / {lat[False][1]:.1f}")
    print(f"\nKeypoints stored per photo: {results['keypoint bytes per photo']:.0f} bytes")


if __name__ == "__main__":
    sys.exit(main())
