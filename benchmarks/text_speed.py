"""Text search speed on a synthetic catalog: FTS5 lookups (``core.text_search``) for rare, common and
two-word queries, and the catalog inserts with the text triggers, at ``--photos`` photos.

    python benchmarks/text_speed.py [--photos 1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from inspector_search.core.catalog import Catalog
from inspector_search.core.text_search import text_matches, text_ranked

WORDS = ("corrosion", "crack", "leak", "flange", "weld", "pump", "valve", "insulation", "gasket", "paint",
         "pitting", "erosion", "bolt", "seal", "vibration", "noise", "stain", "deposit", "scale", "wear")


def build(path: Path, photos: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    catalog = Catalog(path)
    started = time.perf_counter()
    for start in range(0, photos, 20_000):
        with catalog.transaction() as conn:
            site = catalog.site_id(conn, f"Site {start % 7}")
            for n in range(start, min(start + 20_000, photos)):
                image_id = catalog.insert_image(conn, f"h{n}", 1, 10, 10, "JPEG", None)
                equipment = catalog.equipment_id(conn, f"P-{n % 5000}", name=f"{WORDS[n % 20]} unit", type="pump",
                                                 site_id=site, area=None)
                note = " ".join(WORDS[i] for i in rng.integers(0, 20, 3)) + f" ref{n % 1000}"
                catalog.set_photo_metadata(conn, image_id, site_id=site, equipment_id=equipment, inspection_id=None,
                                           notes=note, extra=None)
    seconds = time.perf_counter() - started
    catalog.close()
    return seconds


def timed(fn, repeats: int = 20) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "catalog.sqlite"
        seconds = build(path, args.photos)
        print(f"{args.photos:,} photos inserted with metadata and text triggers in {seconds:.0f} s")
        catalog = Catalog(path)
        conn = catalog.conn
        for query in ("ref123", "ref12", "flange leak", "corrosion", "Site 3 gasket"):
            matched = len(text_matches(conn, query))
            filter_ms = timed(lambda q=query: text_matches(conn, q), 5)
            ranked_ms = timed(lambda q=query: text_ranked(conn, q, 20), 5)
            print(f"  {query!r:16} {matched:>9,} photos   as a filter {filter_ms:8.1f} ms   ranked top 20 "
                  f"{ranked_ms:8.1f} ms")
        catalog.close()


if __name__ == "__main__":
    main()
