"""Start-up, warm query latency and memory on archives of 100,000 and 1,000,000 photos.

Embedding a million photos to get such an archive would take hours, so the archives are
*synthesised* (and cached under ``--cache``): the catalog gets real-looking rows (sites, equipment,
inspections, images, files, float16 features of 1280 dims), the projection is a PCA-shaped
1280 -> 128 map, and the index is the app's ``VectorIndex`` of the clustered vectors that
``benchmarks/search.py`` builds (and caches) for the same size. Everything else is the real app:
the CLI, ``Archive``, the GUI, the model.

Measured, each in a fresh process:

* import time of the CLI (``python -X importtime``) and ``inspector-search --help``;
* ``inspector-search search PHOTO`` on the 100k (and 1M) archive, process start to exit;
* opening an archive: ``Archive.open``, ``warm_up`` (model, then projection + index), resident
  memory after warm-up and after queries, and the warm query latency photo file -> ranked results
  (p50/p95 over real photos, with its parts: decode+preprocess, model, index, catalog), then the
  same searches with a site filter and with a date-range filter (the first filtered search reads
  the catalog's filter columns, so it is reported apart);
* the desktop app (offscreen Qt): time until the main window has been shown and the event loop
  runs, and until the first search (issued right then, while the model warms up) shows results.

Run from the project root::

    python benchmarks/startup.py                      # 100k archive (~3 min the first time)
    python benchmarks/startup.py --sizes 100k,1m      # needs the 1M index of search.py --sizes 1m
    python benchmarks/startup.py --json benchmarks/results/startup.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
DEFAULT_CACHE = ROOT / "benchmarks" / "results" / "cache"
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
FEATURE_DIM = 1280
SITES = ("North", "South", "East", "West", "Harbour")
TYPES = ("pump", "valve", "flange", "pipe rack", "tank", "insulator", "motor", "vessel")
FILTERS = {  # whole searches with a filter, timed after the plain ones (SearchFilter arguments)
    "filtered: a site (20 %)": {"site": "North"},
    "filtered: a quarter (1.6 %)": {"since": "2018-01-01", "until": "2018-03-31"},
}


def query_photos() -> list[Path]:
    """Real photos to search with: the insulators and a few neu_det images."""
    photos = sorted((DATASETS / "insulators").glob("*.jpg"))[:40]
    photos += sorted((DATASETS / "neu_det").glob("*/*.jpg"))[::180]
    if not photos:
        sys.exit(f"{DATASETS} not found: real photos are needed to query with")
    return photos


# ---------------------------------------------------------------------- synthesising an archive


def synthesise_archive(size: str, cache: Path) -> Path:
    """A ready archive of SIZES[size] photos under ``cache`` (made once; see the module docstring)."""
    folder = cache / f"archive-{size}"
    if (folder / "index.json").exists():
        return folder
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import search  # the search benchmark builds (and caches) the index of these vectors

    from inspector_search.core.extractor import default_model_manifest, load_manifest
    from inspector_search.core.projection import Projection

    n = SIZES[size]
    started = time.perf_counter()
    vectors = search.clustered_vectors(n + 300, 128)[:n]  # the same draw as search.py for this size
    index_path, _build = search.app_index(vectors, cache)
    basis = np.linalg.qr(np.random.default_rng(5).standard_normal((FEATURE_DIM, 128)))[0].T.astype(np.float32)
    projection = Projection(kind="pca", in_dim=FEATURE_DIM, out_dim=128, mean=np.zeros(FEATURE_DIM, np.float32),
                            components=basis, n_fit=min(n, 50_000))
    partial = folder.with_name(folder.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    model_id = load_manifest(default_model_manifest()).model_id
    write_catalog(partial / "catalog.sqlite", vectors, basis, model_id)
    projection.save(partial / "projection.npz")
    shutil.copyfile(index_path, partial / "index.hnsw")
    state = {"format_version": 1, "model_id": model_id, "projection_id": projection.projection_id, "dim": 128,
             "count": n, "generation": 1}
    (partial / "index.json").write_text(json.dumps(state, indent=1))
    partial.rename(folder)
    print(f"synthesised the {size} archive in {time.perf_counter() - started:.0f} s", flush=True)
    return folder


def write_catalog(path: Path, vectors: np.ndarray, basis: np.ndarray, model_id: str) -> None:
    """Catalog rows for one photo per vector: features = vector @ basis (so the projection gives it back)."""
    from inspector_search.core.catalog import Catalog

    Catalog(path).close()  # creates the schema the app expects
    n = len(vectors)
    rng = np.random.default_rng(6)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO sites(id, name) VALUES (?, ?)", enumerate(SITES))
    equipment = max(1, n // 20)
    conn.executemany("INSERT INTO equipment(id, tag, name, type, site_id) VALUES (?, ?, ?, ?, ?)",
                     ((e, f"EQ-{e:06d}", f"equipment {e}", TYPES[e % len(TYPES)], e % len(SITES))
                      for e in range(equipment)))
    conn.executemany("INSERT INTO inspections(id, equipment_id, inspected_on, inspector) VALUES (?, ?, ?, ?)",
                     ((i, i // 4, f"{2015 + i % 10}-{1 + i % 12:02d}-{1 + i % 28:02d}", f"inspector {i % 17}")
                      for i in range(equipment * 4)))
    for start in range(0, n, 50_000):
        ids = range(start, min(start + 50_000, n))
        eq = rng.integers(0, equipment, len(ids))
        conn.executemany(
            "INSERT INTO images(id, content_hash, byte_size, width, height, format, site_id, equipment_id, "
            "inspection_id, added_at) VALUES (?, ?, 600000, 1152, 864, 'JPEG', ?, ?, ?, '2026-01-01T00:00:00')",
            ((i, f"{i:064x}", int(e) % len(SITES), int(e), int(e) * 4 + i % 4) for i, e in zip(ids, eq, strict=True)))
        conn.executemany(
            "INSERT INTO files(path, image_id, size, mtime_ns, seen_at) VALUES (?, ?, 600000, 0, "
            "'2026-01-01T00:00:00')", ((f"/plant/photos/{i // 1000:04d}/IMG_{i:07d}.jpg", i) for i in ids))
        features = (vectors[start : start + 50_000] @ basis).astype(np.float16)
        conn.executemany("INSERT INTO features(image_id, model_id, vector) VALUES (?, ?, ?)",
                         ((i, model_id, features[n_].tobytes()) for n_, i in enumerate(ids)))
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'generation'")
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def storage_per_photo(folder: Path) -> dict[str, float]:
    """Bytes per photo on disk: catalog file, feature blobs inside it, index file."""
    conn = sqlite3.connect(folder / "catalog.sqlite")
    n, blobs = conn.execute("SELECT COUNT(*), SUM(LENGTH(vector)) FROM features").fetchone()
    conn.close()
    return {"photos": n, "catalog_bytes_per_photo": (folder / "catalog.sqlite").stat().st_size / n,
            "feature_blob_bytes_per_photo": blobs / n,
            "index_bytes_per_photo": (folder / "index.hnsw").stat().st_size / n}


# ---------------------------------------------------------------------- measurements in child processes


def run_child(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run this script with ``args`` in a fresh interpreter; its last stdout line is JSON."""
    result = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, **(env or {})}, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def child_archive(folder: Path, queries: int) -> dict:
    """In this (fresh) process: open the archive, warm it up, time queries, report memory."""
    started = time.perf_counter()
    from datetime import date

    from inspector_search.core.archive import Archive
    from inspector_search.core.records import SearchFilter, SearchRequest

    imported = time.perf_counter()
    archive = Archive.open(folder)
    opened = time.perf_counter()
    archive.extractor.load()
    model = time.perf_counter()
    archive.store.load()
    index = time.perf_counter()
    rss_ready = psutil.Process().memory_info().rss
    photos = query_photos()
    parts = {"decode+preprocess+model": [], "index": [], "catalog": [], "total": []}
    for n in range(queries):
        request = SearchRequest(image=photos[n % len(photos)], top_k=10)
        t0 = time.perf_counter()
        raw = archive.embed_query(request)
        t1 = time.perf_counter()
        found = archive.store.query(archive.store.project(raw), 10)
        t2 = time.perf_counter()
        archive.catalog.photo_rows([i for i, _ in found[0]])
        t3 = time.perf_counter()
        archive.search(request)
        t4 = time.perf_counter()
        for name, took in (("decode+preprocess+model", t1 - t0), ("index", t2 - t1), ("catalog", t3 - t2),
                           ("total", t4 - t3)):
            parts[name].append(1000 * took)
    first_filtered = None
    for name, fields in FILTERS.items():  # whole searches again, with a filter (the 1st reads the filter columns)
        flt = SearchFilter(**{k: date.fromisoformat(v) if k in ("since", "until") else v for k, v in fields.items()})
        parts[name] = []
        for n in range(queries):
            t0 = time.perf_counter()
            archive.search(SearchRequest(image=photos[n % len(photos)], top_k=10, filter=flt))
            parts[name].append(1000 * (time.perf_counter() - t0))
        first_filtered = parts[name][0] if first_filtered is None else first_filtered
    return {"import_s": imported - started, "open_s": opened - imported, "model_load_s": model - opened,
            "index_load_s": index - model, "rss_ready_mb": rss_ready / 2**20,
            "rss_after_queries_mb": psutil.Process().memory_info().rss / 2**20,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "latency_ms": {name: {"p50": float(np.percentile(v[1:], 50)), "p95": float(np.percentile(v[1:], 95))}
                           for name, v in parts.items()},
            "first_query_ms": parts["total"][0], "first_filtered_query_ms": first_filtered}


def child_gui(folder: Path, spawned: float) -> dict:
    """In this (fresh, offscreen) process: run the real app; time window shown and first results."""
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from inspector_search.core.records import SearchRequest
    from inspector_search.gui import app as app_module

    marks: dict[str, float] = {"imports_s": time.time() - spawned}
    qt_app = app_module.create_application()

    def shown() -> None:
        window = next(w for w in QApplication.topLevelWidgets() if w.isVisible() and hasattr(w, "searcher"))
        marks["window_shown_s"] = time.time() - spawned
        window.searcher.resultsReady.connect(lambda *_: finish(window))
        window.searcher.search(SearchRequest(image=query_photos()[0], top_k=10))

    def finish(window: object) -> None:
        marks["first_results_s"] = time.time() - spawned
        window.close()  # type: ignore[attr-defined]
        qt_app.quit()

    QTimer.singleShot(0, shown)
    QTimer.singleShot(60_000, qt_app.quit)
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        app_module.run_app(folder, settings=settings)
    return marks


# ---------------------------------------------------------------------- the parent: what to run, tables


def cli_runs(folder: Path, runs: int) -> list[float]:
    """Wall seconds of ``inspector-search search PHOTO --json`` from process start to exit."""
    times = []
    photo = query_photos()[0]
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "inspector_search", "--archive", str(folder), "search", str(photo),
                        "--json"], check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
    return times


def import_times() -> dict[str, float]:
    """Import time of the CLI module (importtime's total) and wall time of ``--help``."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import inspector_search.cli"],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    total = max(int(m.group(1)) for m in re.finditer(r"\|\s*(\d+)\s*\|", result.stderr))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "inspector_search", "--help"], check=True, capture_output=True, cwd=ROOT)
    heavy = [name for name in ("onnxruntime", "sklearn", "hnswlib", "PySide6", "sqlite_utils")
             if re.search(rf"\|\s*{name}$", result.stderr, re.MULTILINE)]
    return {"import_cli_s": total / 1e6, "help_s": time.perf_counter() - started, "heavy_imports": heavy}


def measure_size(size: str, args: argparse.Namespace) -> dict:
    """Every measurement on the archive of one size."""
    folder = synthesise_archive(size, args.cache)
    result: dict = {"size": size, "storage": storage_per_photo(folder)}
    result["cli_search_s"] = cli_runs(folder, args.runs)
    result["archive"] = run_child(["--child-archive", str(folder), "--queries", str(args.queries)])
    if not args.no_gui:
        result["gui"] = run_child(["--child-gui", str(folder), "--spawned", repr(time.time())],
                                  env={"QT_QPA_PLATFORM": "offscreen"})
    return result


def print_results(imports: dict, results: list[dict]) -> None:
    """The tables."""
    print(f"\nCLI import {imports['import_cli_s']:.2f} s; `--help` {imports['help_s']:.2f} s; heavy modules "
          f"imported by the CLI: {', '.join(imports['heavy_imports']) or 'none'}")
    print(f"\n{'archive':<8} {'CLI search s (median/min)':>26} {'open s':>7} {'model s':>8} {'index s':>8} "
          f"{'RSS ready MB':>12} {'RSS queried MB':>14} {'peak MB':>8} {'GUI window s':>12} {'GUI 1st result s':>16}")
    for r in results:
        a, gui = r["archive"], r.get("gui", {})
        cli = f"{statistics.median(r['cli_search_s']):.2f} / {min(r['cli_search_s']):.2f}"
        print(f"{r['size']:<8} {cli:>26} {a['open_s']:>7.2f} {a['model_load_s']:>8.2f} {a['index_load_s']:>8.2f} "
              f"{a['rss_ready_mb']:>12.0f} {a['rss_after_queries_mb']:>14.0f} {a['peak_rss_mb']:>8.0f} "
              f"{gui.get('window_shown_s', float('nan')):>12.2f} {gui.get('first_results_s', float('nan')):>16.2f}")
    print(f"\n{'archive':<8} {'query part':<28} {'p50 ms':>8} {'p95 ms':>8}")
    for r in results:
        for name, lat in r["archive"]["latency_ms"].items():
            print(f"{r['size']:<8} {name:<28} {lat['p50']:>8.1f} {lat['p95']:>8.1f}")
        print(f"{r['size']:<8} {'first filtered search':<28} {r['archive']['first_filtered_query_ms']:>8.1f}")
    print(f"\n{'archive':<8} {'catalog B/photo':>15} {'feature blob B/photo':>20} {'index B/photo':>13}")
    for r in results:
        s = r["storage"]
        print(f"{r['size']:<8} {s['catalog_bytes_per_photo']:>15.0f} {s['feature_blob_bytes_per_photo']:>20.0f} "
              f"{s['index_bytes_per_photo']:>13.0f}")


def main() -> int:
    """Parse arguments; run the parent measurements or one child measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k", help="comma-separated of 10k, 100k, 1m (default 100k)")
    parser.add_argument("--runs", type=int, default=5, help="CLI search runs per archive (default 5)")
    parser.add_argument("--queries", type=int, default=60, help="warm queries per archive (default 60)")
    parser.add_argument("--no-gui", action="store_true", help="skip the desktop app measurement")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where synthesised archives are kept")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--child-archive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-gui", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--spawned", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_archive:
        print(json.dumps(child_archive(args.child_archive, args.queries)))
        return 0
    if args.child_gui:
        print(json.dumps(child_gui(args.child_gui, args.spawned)))
        return 0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GB; "
          f"load average {os.getloadavg()[0]:.1f}")
    imports = import_times()
    results = [measure_size(size.strip(), args) for size in args.sizes.split(",") if size.strip()]
    print_results(imports, results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"imports": imports, "archives": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
