"""What geometric verification adds to a query on big archives: the stage after the index search.

A query's verification reads the keypoint records of its 30 best candidates from the catalog
(``local_features``, by primary key), decodes them and matches each against the query's keypoints;
scoring reads the stored full features of the hits shown. Neither depends on the archive size
except through SQLite's B-tree depth and the page cache, so this script builds catalogs of N photos
(real ORB records of the 100 insulator photos, repeated under new ids, and random 1280-d float16
features) and times that stage for random candidate sets, against re-shot insulator queries. The
index search itself at these sizes is measured by ``benchmarks/search.py`` (docs/benchmarks.md).

Run from the project root (100,000 photos: about 1 GB of catalog, 2 minutes)::

    python benchmarks/verification_scale.py [--sizes 100000,1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from quality_sets import insulator_photos, reshot_queries

from inspector_search.core.catalog import Catalog
from inspector_search.core.imaging import open_image
from inspector_search.core.local_features import CANDIDATES, LocalFeatures, extract, verify

MODEL = "bench"
SHOWN = 20


def build(path: Path, size: int, blobs: list[bytes], rng: np.random.Generator) -> Catalog:
    catalog = Catalog(path)
    conn = sqlite3.connect(path)  # foreign keys off: these rows stand alone
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    step = 20_000
    for start in range(0, size, step):
        ids = range(start + 1, min(size, start + step) + 1)
        features = rng.standard_normal((len(ids), 1280)).astype(np.float16)
        with conn:
            conn.executemany("INSERT INTO local_features(image_id, data) VALUES (?, ?)",
                             ((i, blobs[i % len(blobs)]) for i in ids))
            conn.executemany("INSERT INTO features(image_id, model_id, vector) VALUES (?, ?, ?)",
                             ((i, MODEL, features[n].tobytes()) for n, i in enumerate(ids)))
    conn.close()
    return catalog


def stage(catalog: Catalog, query: LocalFeatures, ids: list[int]) -> float:
    """ms of: read the candidates' records, decode, verify; read the shown hits' full features."""
    start = time.perf_counter()
    for blob in catalog.local_features(ids).values():
        verify(query, LocalFeatures.from_bytes(blob))
    for _chunk in catalog.features(MODEL, ids[:SHOWN]):
        pass
    return 1000 * (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    originals = insulator_photos()
    if not originals:
        print("needs ../shared/datasets/insulators", file=sys.stderr)
        return 1
    blobs = [extract(open_image(p, min_side=224)[0]).to_bytes() for p in originals]
    queries = [extract(open_image(io.BytesIO(d), min_side=224)[0]) for d, _ in reshot_queries(originals, 0)["combined"]]
    rng = np.random.default_rng(0)
    print(f"{'photos':>9} {'catalog MB':>10} {'p50 ms':>7} {'p95 ms':>7}   ({CANDIDATES} candidates verified, "
          f"{SHOWN} hits scored; keypoints {np.mean([len(b) for b in blobs]):.0f} B/photo)")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="verify-scale-") as tmp:
            path = Path(tmp) / "catalog.sqlite"
            started = time.perf_counter()
            catalog = build(path, size, blobs, rng)
            built = time.perf_counter() - started
            times = [stage(catalog, queries[n % len(queries)],
                           rng.choice(size, CANDIDATES, replace=False).astype(int).tolist())
                     for n in range(args.queries)]
            megabytes = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
            print(f"{size:>9} {megabytes:>10.0f} {np.percentile(times, 50):>7.1f} {np.percentile(times, 95):>7.1f}"
                  f"   (built in {built:.0f} s)")
            catalog.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
