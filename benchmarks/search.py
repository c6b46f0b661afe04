"""Vector search at archive scale: the app's index against exact numpy search, Annoy and hnswlib settings.

Vectors: synthetic, clustered like real ones (see :func:`clustered_vectors`), at 10k / 100k / 1M,
plus real vectors of ``../shared/datasets`` (neu_det + insulators through the shipped model and
PCA). Queries are held-out vectors of the same distribution (new photos of known equipment).
Recall@10 is measured against exact search (numpy, float32) over the same vectors.

Tables, per size:

* **Peers** (unfiltered): exact numpy; Annoy (trees x search_k); hnswlib (M x ef_construction x
  ef), each with build time, memory, latency percentiles and recall@10.
* **App index** (``VectorIndex`` with the app's parameters, built through its own ``add`` and read
  back with ``load`` as the app does): load time, resident memory, and unfiltered and filtered
  queries (filters keeping 1 % and 10 % of the ids at random), latency and recall against exact
  filtered search, with the path each filter takes.

Latency is measured per single query in this thread with BLAS limited to one thread; both the wall
time and this thread's CPU time are given, the latter being what an idle machine would show when
the benchmark machine is shared. Built indexes are cached under ``--cache`` (git-ignored), so a
second run skips the builds. Run from the project root::

    python benchmarks/search.py                           # 10k + 100k + real vectors (~10 min first run)
    python benchmarks/search.py --sizes 1m --no-peers     # the 1M app index (build ~1 h once, cached)
    python benchmarks/search.py --sizes 10k,100k,1m --json benchmarks/results/search.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import hnswlib
import numpy as np
import psutil
from threadpoolctl import threadpool_limits

from inspector_search.core.vector_index import POST_FILTER_MIN_FRACTION, VectorIndex

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
DEFAULT_CACHE = ROOT / "benchmarks" / "results" / "cache"
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
K = 10
_DEFAULTS = VectorIndex(1)
APP_PARAMS = {"m": _DEFAULTS.m, "ef_construction": _DEFAULTS.ef_construction, "ef_search": _DEFAULTS.ef_search}
del _DEFAULTS


@dataclass
class Row:
    """One measured configuration."""

    size: str
    method: str
    params: str
    build_s: float
    memory_mb: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_p95_ms: float
    recall: float
    note: str = ""


# ---------------------------------------------------------------------- data


def clustered_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors from a two-level mixture shaped like projected photo features.

    Equipment types (one per 1000 photos) have centres drawn with a decaying spectrum (as PCA output
    has); equipment (one per 20 photos) scatter around their type; photos around their equipment.
    The spreads were set so that the mean similarity of a vector's 1st / 10th / 100th neighbour
    (0.85 / 0.77 / 0.58 at 4000 vectors) is close to that of the real neu_det vectors (0.85 / 0.74
    / 0.54): uniform noise would make every neighbour equally far and recall meaningless.
    """
    rng = np.random.default_rng(seed)
    scale = (1.0 / np.sqrt(np.arange(1, dim + 1))).astype(np.float32)
    n_types, n_groups = max(1, n // 1000), max(1, n // 20)
    types = rng.standard_normal((n_types, dim), dtype=np.float32) * scale
    groups = types[rng.integers(0, n_types, n_groups)]
    groups += rng.standard_normal((n_groups, dim), dtype=np.float32) * scale
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        rows = min(100_000, n - start)
        out[start : start + rows] = groups[rng.integers(0, n_groups, rows)]
        out[start : start + rows] += rng.standard_normal((rows, dim), dtype=np.float32) * scale * 0.8
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def real_vectors(dim: int, cache: Path) -> np.ndarray | None:
    """neu_det + insulators through the shipped model, PCA to ``dim``, L2 (features cached)."""
    cached = cache / "real_features.npy"
    if not cached.exists():
        from inspector_search.core.extractor import FeatureExtractor, default_model_manifest
        from inspector_search.core.imaging import open_image

        paths = sorted((DATASETS / "neu_det").glob("*/*.jpg")) + sorted((DATASETS / "insulators").glob("*.jpg"))
        if not paths:
            return None
        extractor = FeatureExtractor(default_model_manifest(), threads=2)
        side = min(extractor.spec.input_size)
        chunks = [extractor.embed_images([open_image(p, min_side=side)[0] for p in paths[s : s + 64]])
                  for s in range(0, len(paths), 64)]
        cache.mkdir(parents=True, exist_ok=True)
        np.save(cached, np.concatenate(chunks))
    from inspector_search.core.projection import Projection

    features = np.load(cached)
    return Projection.fit(features, dim=dim).transform(features).astype(np.float32)


def exact_top_k(data: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Exact top-k ids (rows of ``data``, or of ``allowed`` ids) for each query, by dot product."""
    pool = data if allowed is None else data[allowed]
    best = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 64):
        sims = queries[start : start + 64] @ pool.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        best[start : start + 64] = np.take_along_axis(top, order, axis=1)
    return best if allowed is None else allowed[best]


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    """Mean share of each query's exact top-k found."""
    return float(np.mean([len(set(f) & set(t.tolist())) / len(t) for f, t in zip(found, truth, strict=True)]))


# ---------------------------------------------------------------------- timing


def timed_queries(search: Callable[[np.ndarray], list[int]], queries: np.ndarray) -> tuple[list[list[int]], dict]:
    """Run ``search`` on each query alone; (results, latency percentiles in ms: wall and thread CPU)."""
    search(queries[0])
    wall, cpu, found = [], [], []
    for query in queries:
        w, c = time.perf_counter(), time.thread_time()
        found.append(search(query))
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
    ms = 1000 * np.asarray(wall)
    return found, {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
                   "p99": float(np.percentile(ms, 99)), "cpu_p95": float(np.percentile(1000 * np.asarray(cpu), 95))}


def remember_build(path: Path, seconds: float | None = None) -> float:
    """Store the build time of a cached index beside it (when given), or read it back (nan if unknown)."""
    record = path.with_name(path.name + ".build.json")
    if seconds is not None:
        record.write_text(json.dumps({"seconds": seconds}))
        return seconds
    try:
        return float(json.loads(record.read_text())["seconds"])
    except (OSError, ValueError, KeyError):
        return float("nan")


def rss_mb() -> float:
    """Resident memory of this process in MB."""
    return psutil.Process().memory_info().rss / 2**20


def row(size: str, method: str, params: str, build: float, memory: float, lat: dict, rec: float, note: str = "") -> Row:
    """A table row from a latency dict."""
    return Row(size, method, params, build, memory, lat["p50"], lat["p95"], lat["p99"], lat["cpu_p95"], rec, note)


# ---------------------------------------------------------------------- peers


def bench_numpy(size: str, data: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> Row:
    """Exact search: one matrix-vector product over all vectors, then a partial sort."""
    def search(q: np.ndarray) -> list[int]:
        sims = data @ q
        top = np.argpartition(-sims, K - 1)[:K]
        return top[np.argsort(-sims[top])].tolist()

    found, lat = timed_queries(search, queries)
    return row(size, "numpy exact", "float32", 0.0, data.nbytes / 2**20, lat, recall(found, truth))


def bench_annoy(size: str, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, trees: list[int],
                cache: Path) -> list[Row]:
    """Annoy (angular) with each tree count, at a few search_k values."""
    import annoy

    rows = []
    for n_trees in trees:
        path = cache / f"annoy-{len(data)}-{data.shape[1]}-{n_trees}.ann"
        index = annoy.AnnoyIndex(data.shape[1], "angular")
        cached = path.exists()
        if not cached:
            started = time.perf_counter()
            for i, vector in enumerate(data):
                index.add_item(i, vector)
            index.build(n_trees, n_jobs=-1)
            remember_build(path, time.perf_counter() - started)
            index.save(str(path))
            index.unload()
        build = remember_build(path)
        index.load(str(path))  # memory-mapped, as an app would use it
        for search_k in (n_trees * K * 10, n_trees * K * 50):
            found, lat = timed_queries(
                lambda q, sk=search_k, ix=index: ix.get_nns_by_vector(q, K, search_k=sk), queries)
            note = "build cached" if cached else ""
            rows.append(row(size, "annoy", f"trees={n_trees} search_k={search_k}", build,
                            path.stat().st_size / 2**20, lat, recall(found, truth), note))
        index.unload()
    return rows


def hnsw_index(data: np.ndarray, m: int, ef_construction: int, cache: Path) -> tuple[hnswlib.Index, float]:
    """A raw hnswlib cosine index of ``data`` (cached); (index, seconds its build took)."""
    path = cache / f"hnsw-{len(data)}-{data.shape[1]}-{m}-{ef_construction}.bin"
    index = hnswlib.Index(space="cosine", dim=data.shape[1])
    if path.exists():
        index.load_index(str(path), max_elements=len(data))
        return index, remember_build(path)
    started = time.perf_counter()
    index.init_index(max_elements=len(data), M=m, ef_construction=ef_construction)
    index.add_items(data, np.arange(len(data)))
    build = remember_build(path, time.perf_counter() - started)
    index.save_index(str(path))
    return index, build


def bench_hnswlib(size: str, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, cache: Path,
                  grid: list[tuple[int, int]], efs: list[int]) -> list[Row]:
    """hnswlib at each (M, ef_construction) of ``grid``, searched at each ef."""
    rows = []
    for m, ef_construction in grid:
        index, build = hnsw_index(data, m, ef_construction, cache)
        memory = index.index_file_size() / 2**20
        for ef in efs:
            index.set_ef(ef)
            found, lat = timed_queries(lambda q, ix=index: ix.knn_query(q, k=K, num_threads=1)[0][0].tolist(), queries)
            rows.append(row(size, "hnswlib", f"M={m} efC={ef_construction} ef={ef}", build, memory, lat,
                            recall(found, truth)))
        del index
        gc.collect()
    return rows


# ---------------------------------------------------------------------- the app's index


def app_index(data: np.ndarray, cache: Path) -> tuple[Path, float]:
    """Build (or reuse) the app's VectorIndex of ``data`` in its own file format; (path, build seconds)."""
    params = APP_PARAMS
    path = cache / f"app-{len(data)}-{data.shape[1]}-{params['m']}-{params['ef_construction']}.index"
    if path.exists():
        return path, remember_build(path)
    cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    index = VectorIndex(data.shape[1], capacity=len(data))  # the app's own parameters
    for start in range(0, len(data), 50_000):
        index.add(np.arange(start, min(start + 50_000, len(data))), data[start : start + 50_000])
    build = remember_build(path, time.perf_counter() - started)
    index.save(path)
    return path, build


def bench_app(size: str, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, cache: Path,
              efs: list[int]) -> list[Row]:
    """The app's VectorIndex, loaded from its file: unfiltered at each ef, then 1 % and 10 % filters."""
    path, build = app_index(data, cache)
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    index = VectorIndex.load(path, data.shape[1], ef_search=APP_PARAMS["ef_search"])
    loaded = time.perf_counter() - started
    memory = rss_mb() - before
    note = f"load {loaded:.2f} s, file {path.stat().st_size / 2**20:.0f} MB"
    rows = []
    for ef in efs:
        index.set_ef(ef)
        found, lat = timed_queries(lambda q: [i for i, _ in index.query(q, K)[0]], queries)
        rows.append(row(size, "app index", f"ef={ef}", build, memory, lat, recall(found, truth), note))
    index.set_ef(APP_PARAMS["ef_search"])
    rng = np.random.default_rng(1)
    for fraction in (0.01, 0.10):
        allowed = np.sort(rng.choice(len(data), size=max(K, int(len(data) * fraction)), replace=False))
        filtered_truth = exact_top_k(data, queries, K, allowed)
        found, lat = timed_queries(lambda q, a=allowed: [i for i, _ in index.query(q, K, allowed=a)[0]], queries)
        path_taken = "post-filter" if fraction >= POST_FILTER_MIN_FRACTION else (
            "exact scan" if allowed.size <= index.exact_threshold else "hnswlib filter")
        rows.append(row(size, "app index", f"filter {fraction:.0%} (ef={APP_PARAMS['ef_search']})", build, memory,
                        lat, recall(found, filtered_truth), path_taken))
    return rows


# ---------------------------------------------------------------------- output and main


def print_rows(rows: list[Row]) -> None:
    """The results table."""
    print(f"{'size':<5} {'method':<12} {'params':<30} {'build s':>8} {'mem MB':>7} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'CPU p95':>7} {'recall@10':>9}  note")
    for r in rows:
        print(f"{r.size:<5} {r.method:<12} {r.params:<30} {r.build_s:>8.1f} {r.memory_mb:>7.0f} {r.p50_ms:>7.3f} "
              f"{r.p95_ms:>7.3f} {r.p99_ms:>7.3f} {r.cpu_p95_ms:>7.3f} {r.recall:>9.4f}  {r.note}")


def run_size(size: str, data: np.ndarray, queries: np.ndarray, args: argparse.Namespace) -> list[Row]:
    """Every measurement for one set of vectors."""
    started = time.perf_counter()
    truth = exact_top_k(data, queries, K)
    rows = [bench_numpy(size, data, queries, truth)]
    if not args.no_peers and len(data) <= args.peers_max:
        rows += bench_annoy(size, data, queries, truth, [int(t) for t in args.annoy_trees.split(",")], args.cache)
        grid = [tuple(int(v) for v in item.split("/")) for item in args.hnsw_grid.split(",")]
        rows += bench_hnswlib(size, data, queries, truth, args.cache, grid, [int(e) for e in args.efs.split(",")])
    rows += bench_app(size, data, queries, truth, args.cache, [int(e) for e in args.efs.split(",")])
    print_rows(rows)
    print(f"({size}: {time.perf_counter() - started:.0f} s)\n", flush=True)
    return rows


def main() -> int:
    """Parse arguments, run every size, print the tables (and write JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k", help="comma-separated of 10k, 100k, 1m (default 10k,100k)")
    parser.add_argument("--dim", type=int, default=128, help="vector dimension (default 128, the app's PCA)")
    parser.add_argument("--queries", type=int, default=300, help="held-out queries per size (default 300)")
    parser.add_argument("--no-peers", action="store_true", help="only numpy exact and the app's index")
    parser.add_argument("--peers-max", type=int, default=100_000, help="largest size for Annoy/hnswlib peers")
    parser.add_argument("--annoy-trees", default="20,50", help="Annoy tree counts (default 20,50)")
    parser.add_argument("--hnsw-grid", default="8/100,16/100,16/200,32/100",
                        help="hnswlib M/ef_construction pairs (default 8/100,16/100,16/200,32/100)")
    parser.add_argument("--efs", default="32,64,128", help="search ef values (default 32,64,128)")
    parser.add_argument("--no-real", action="store_true", help="skip the real dataset vectors")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where built indexes are kept")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.1f} GB; load average {os.getloadavg()[0]:.1f}; dim {args.dim}\n")
    rows: list[Row] = []
    timings = {}
    with threadpool_limits(limits=1, user_api="blas"):
        if not args.no_real and (real := real_vectors(args.dim, args.cache)) is not None:
            held = np.random.default_rng(2).permutation(len(real))
            rows += run_size("real", real[held[200:]], real[held[:200]], args)
        for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
            started = time.perf_counter()
            vectors = clustered_vectors(SIZES[size] + args.queries, args.dim)
            rows += run_size(size, vectors[: SIZES[size]], vectors[SIZES[size] :], args)
            timings[size] = time.perf_counter() - started
            del vectors
            gc.collect()
    print_rows(rows)
    print("seconds per size: " + ", ".join(f"{s} {t:.0f}" for s, t in timings.items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": [asdict(r) for r in rows], "seconds_per_size": timings,
                                         "dim": args.dim}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
