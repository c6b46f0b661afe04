"""How long the app's filter lists take to read (core.filter_choices) on a real catalog file, and the
SQL join over every photo they replaced.

The app reads them on a worker when it starts, after an add, and when the site filter changes.

    python benchmarks/filter_choices.py PATH/TO/catalog.sqlite [--repeat 5]

The catalog is opened read-only (``mode=ro``); nothing is written.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inspector_search.core.filter_choices import read_filter_choices  # noqa: E402
from inspector_search.core.filter_columns import FilterColumns  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalog", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    conn = sqlite3.connect(f"file:{args.catalog}?mode=ro", uri=True)
    photos = conn.execute("SELECT COUNT(*) FROM images WHERE deleted = 0").fetchone()[0]
    sites = [r[0] for r in conn.execute("SELECT name FROM sites ORDER BY name")]
    print(f"{args.catalog}: {photos:,} photos, {len(sites)} sites")
    started = time.perf_counter()
    columns = FilterColumns.read(conn, 0)
    print(f"  filter columns read once in {(time.perf_counter() - started) * 1000:.0f} ms "
          "(the first filtered search reads them too)")
    for site in [None, *sites[:3]]:
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            choices = read_filter_choices(conn, columns, site)
            times.append(time.perf_counter() - started)
        print(f"  site {site or '(all)':<16} {statistics.median(times) * 1000:8.1f} ms median of {args.repeat}  "
              f"({len(choices.tags)} tags, {len(choices.types)} types, {len(choices.areas)} areas, "
              f"{len(choices.inspectors)} inspectors, {choices.first_day} .. {choices.last_day})")
    started = time.perf_counter()
    conn.execute("SELECT DISTINCT e.tag FROM images i LEFT JOIN equipment e ON e.id = i.equipment_id "
                 "LEFT JOIN sites s ON s.id = COALESCE(i.site_id, e.site_id) WHERE i.deleted = 0").fetchall()
    took = (time.perf_counter() - started) * 1000
    print(f"  for comparison, one DISTINCT over the join of every photo: {took:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
