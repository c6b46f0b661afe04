"""Geometric verification: calibration of the "same object" threshold, and ORB against alternatives.

For each local-feature method, on the 100 insulator photos of ``../shared/datasets/insulators``
(each other's look-alikes: the same kind of insulator string on similar towers) decoded as ``add``
decodes them:

* **same**: inliers between each photo and its re-shot (``reshoot.py``, every transformation), which
  must reach the threshold;
* **different**: inliers between every ordered pair of different photos (9,900 pairs), which must
  stay below it; the distribution is printed (how many pairs have 0, 1, 2 ... inliers);
* detection time per photo, matching + RANSAC time per pair, stored bytes per photo.

Methods: ``orb`` (the app's, :mod:`inspector_search.core.local_features`), ``orb-nospread`` (the same
without the spread scaling, to show what it is for), ``sift`` (OpenCV SIFT, 300 keypoints, L2 matching,
the same ratio test and RANSAC; 128 float descriptors stored as uint8). (AKAZE and BRISK are not in
OpenCV 5's main modules.)

Run from the project root (about 3 minutes on 2 cores)::

    python benchmarks/verification.py [--methods orb,orb-nospread,sift] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from quality_sets import insulator_photos, reshot_queries

from inspector_search.core import local_features as lf
from inspector_search.core.imaging import open_image

SEED = 0
MIN_SIDE = 224  # as add decodes photos for the bundled model


@dataclass
class Keypoints:
    points: np.ndarray  # (N, 2) pixels
    descriptors: np.ndarray
    side: int  # longer side of the image they were found in
    stored_bytes: int
    local: lf.LocalFeatures | None = None  # the app's own record (orb)


def grey(image) -> np.ndarray:
    g = image.convert("L")
    if max(g.size) > lf.MAX_SIDE:
        f = lf.MAX_SIDE / max(g.size)
        g = g.resize((round(g.width * f), round(g.height * f)))
    return np.asarray(g, dtype=np.uint8)


def detector(name: str) -> Callable[[object], Keypoints]:
    if name.startswith("orb"):
        def detect(image) -> Keypoints:
            found = lf.extract(image)
            return Keypoints(found.pixels(), found.descriptors, max(found.width, found.height), len(found.to_bytes()),
                             found)
        return detect
    engine = cv2.SIFT_create(nfeatures=lf.KEYPOINTS)

    def detect_other(image) -> Keypoints:
        pixels = grey(image)
        kps, desc = engine.detectAndCompute(pixels, None)
        if desc is None:
            return Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 1), np.uint8), max(pixels.shape), 0)
        points = np.array([k.pt for k in kps], np.float32)
        per_point = 4 + 128  # positions uint16 x2 + descriptor bytes
        return Keypoints(points, desc, max(pixels.shape), 11 + per_point * len(kps))

    return detect_other


def matcher(name: str) -> Callable[[Keypoints, Keypoints], int]:
    norm = cv2.NORM_L2 if name == "sift" else cv2.NORM_HAMMING
    bf = cv2.BFMatcher(norm)
    spread = name != "orb-nospread"

    def inliers(query: Keypoints, candidate: Keypoints) -> int:
        if name == "orb":  # exactly what a search does
            return lf.verify(query.local, candidate.local).inliers
        if len(query.points) < lf.MIN_MATCHES or len(candidate.points) < lf.MIN_MATCHES:
            return 0
        pairs = bf.knnMatch(query.descriptors, candidate.descriptors, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < lf.RATIO * p[1].distance]
        if len(good) < lf.MIN_MATCHES:
            return 0
        qi = np.array([m.queryIdx for m in good])
        ci = np.array([m.trainIdx for m in good])
        source = query.points[qi]
        target = candidate.points[ci] * (query.side / candidate.side)
        cv2.setRNGSeed(lf.RANSAC_SEED)
        _m, mask = cv2.estimateAffinePartial2D(source, target, method=cv2.RANSAC,
                                               ransacReprojThreshold=lf.RANSAC_PIXELS, maxIters=500,
                                               confidence=0.99, refineIters=0)
        if mask is None:
            return 0
        kept = mask.ravel().astype(bool)
        if kept.sum() < lf.MIN_MATCHES:
            return 0
        if not spread:
            return int(kept.sum())
        pts = query.points[qi[kept]] / np.array([query.side, query.side], np.float32)
        return int(kept.sum() * min(1.0, lf._spread(pts) / lf.MIN_SPREAD))

    return inliers


def run(name: str, originals: list, queries: dict[str, list[tuple[bytes, int]]]) -> dict:
    detect, inliers = detector(name), matcher(name)
    images = [open_image(p, min_side=MIN_SIDE)[0] for p in originals]
    started = time.perf_counter()
    stored = [detect(im) for im in images]
    detect_ms = (time.perf_counter() - started) / len(images) * 1000
    same = {}
    for transformation, items in queries.items():
        found = [detect(open_image(io.BytesIO(data), min_side=MIN_SIDE)[0]) for data, _ in items]
        same[transformation] = np.array([inliers(f, stored[i]) for f, (_d, i) in zip(found, items, strict=True)])
    started = time.perf_counter()
    different = np.array([inliers(stored[a], stored[b]) for a in range(len(stored)) for b in range(len(stored))
                          if a != b])
    verify_ms = (time.perf_counter() - started) / len(different) * 1000
    threshold = lf.SAME_OBJECT_INLIERS
    return {
        "method": name, "detect_ms": round(detect_ms, 2), "verify_ms": round(verify_ms, 3),
        "bytes_per_photo": int(np.mean([k.stored_bytes for k in stored])),
        "keypoints": float(np.mean([len(k.points) for k in stored])),
        "different_pairs": int(different.size), "different_max": int(different.max()),
        "different_at_threshold": int((different >= threshold).sum()),
        "different_histogram": np.bincount(different).tolist(),
        "same_below_threshold": {t: int((v < threshold).sum()) for t, v in same.items()},
        "same_median": {t: float(np.median(v)) for t, v in same.items()},
        "same_min": {t: int(v.min()) for t, v in same.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="orb,orb-nospread,sift")
    parser.add_argument("--json", type=Path, metavar="PATH")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    originals = insulator_photos()
    if not originals:
        print("needs ../shared/datasets/insulators", file=sys.stderr)
        return 1
    queries = reshot_queries(originals, SEED)
    results = []
    for name in args.methods.split(","):
        results.append(run(name, originals, queries))
        print(f"{name}: {json.dumps(results[-1])}", flush=True)  # each as it is done
    threshold = lf.SAME_OBJECT_INLIERS
    print(f"\nSame-object threshold: {threshold} inliers; {len(originals)} insulator photos, "
          f"{results[0]['different_pairs']} pairs of different photos\n")
    print(f"{'method':13} {'detect ms':>9} {'verify ms':>9} {'bytes':>6} {'kp':>5}  {'diff max':>8} "
          f"{'diff>=T':>7}  re-shots below T (of {len(originals)}) per transformation")
    for r in results:
        below = ", ".join(f"{t} {n}" for t, n in r["same_below_threshold"].items())
        print(f"{r['method']:13} {r['detect_ms']:9.2f} {r['verify_ms']:9.3f} {r['bytes_per_photo']:6} "
              f"{r['keypoints']:5.0f}  {r['different_max']:8} {r['different_at_threshold']:7}  {below}")
    for r in results:
        print(f"\n{r['method']}: inliers of different-photo pairs (count of pairs with 0, 1, 2, ...):")
        print("  " + " ".join(str(n) for n in r["different_histogram"]))
        print("  re-shot medians: " + ", ".join(f"{t} {m:.0f}" for t, m in r["same_median"].items()))
        print("  re-shot minima:  " + ", ".join(f"{t} {m}" for t, m in r["same_min"].items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
