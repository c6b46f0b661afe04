"""Ways to answer a search filtered to 10 % of a large index, against what the app ships.

The app answers such a filter with a post-filter (an unfiltered hnswlib search deep enough that
~3k of its results pass, ``VectorIndex._post_filtered``). This script measures, on the app's
cached index of ``benchmarks/search.py`` (clustered vectors, 1M by default) and one thread, the
alternatives that were tried to bring it within 3x of an unfiltered search at the same recall:

* the post-filter at other depths (fetch) and breadths (ef);
* hnswlib's own filter (a Python callable per candidate) at several ef;
* a coarse partition (k-means lists over the app's int8 copy), scanning the allowed vectors of the
  lists nearest the query until a candidate budget is reached;
* a 128-bit SimHash of every allowed vector, then the app's exact int8 scan of the best ones.

Each row: latency p50 / p95 (ms) and recall@10 against exact filtered search. Run from the
project root (after ``python benchmarks/search.py --sizes 1m`` has cached the index)::

    python benchmarks/filtered_alternatives.py --size 1m --share 0.10
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import DEFAULT_CACHE, SIZES, app_index, clustered_vectors, exact_top_k, recall  # noqa: E402

from inspector_search.core.vector_index import VectorIndex, _member_mask  # noqa: E402

K = 10


def measure(name: str, search: Callable[[np.ndarray], list[int]], queries: np.ndarray, truth: np.ndarray) -> None:
    """Time ``search`` per query and print one row."""
    search(queries[0])
    times, found = [], []
    for query in queries:
        started = time.perf_counter()
        found.append(search(query))
        times.append(1000 * (time.perf_counter() - started))
    print(f"{name:<58} {np.percentile(times, 50):7.3f} {np.percentile(times, 95):7.3f} {recall(found, truth):9.4f}",
          flush=True)


def post_filter(index: VectorIndex, allowed: np.ndarray, fetch: int, ef: int) -> Callable[[np.ndarray], list[int]]:
    """Unfiltered hnswlib search for ``fetch`` neighbours at ``ef``, then the first k allowed ones."""
    def search(query: np.ndarray) -> list[int]:
        index._index.set_ef(ef)
        labels = index._index.knn_query(query[np.newaxis], k=fetch, num_threads=1)[0][0].astype(np.int64)
        return labels[_member_mask(labels, allowed)][:K].tolist()
    return search


def hnswlib_filter(index: VectorIndex, allowed: np.ndarray, ef: int) -> Callable[[np.ndarray], list[int]]:
    """hnswlib's filtered search with the fastest Python callable (a bound ``set.__contains__``)."""
    accept = set(allowed.tolist()).__contains__

    def search(query: np.ndarray) -> list[int]:
        index._index.set_ef(ef)
        return index._index.knn_query(query[np.newaxis], k=K, num_threads=1, filter=accept)[0][0].tolist()
    return search


def partition(index: VectorIndex, data: np.ndarray, allowed: np.ndarray, lists: int,
              budget: int) -> Callable[[np.ndarray], list[int]]:
    """k-means lists (trained on a sample, rows assigned through the int8 copy); a query scans the
    allowed vectors of its nearest lists until ~``budget`` of them, exactly (the app's int8 scan)."""
    rng = np.random.default_rng(0)
    sample = data[rng.choice(len(data), 40 * lists, replace=False)]
    centres = sample[rng.choice(len(sample), lists, replace=False)].copy()
    for _ in range(10):
        nearest = np.argmax(sample @ centres.T, axis=1)
        for j in range(lists):
            members = sample[nearest == j]
            if len(members):
                total = members.sum(axis=0)
                centres[j] = total / np.linalg.norm(total)
    codes = index._copy._rows.codes
    of_row = np.concatenate([np.argmax(codes[s : s + 8192].astype(np.float32) @ centres.T, axis=1)
                             for s in range(0, len(codes), 8192)])
    sizes = np.bincount(of_row, minlength=lists) * (allowed.size / len(index))

    def search(query: np.ndarray) -> list[int]:
        order = np.argsort(-(centres @ query))
        probed = np.zeros(lists, dtype=bool)
        probed[order[: np.searchsorted(np.cumsum(sizes[order]), budget) + 1]] = True
        candidates = allowed[probed[of_row[index._copy.rows_of(allowed)]]]
        return [i for i, _ in index._exact(query[np.newaxis], candidates, K)[0]]
    return search


def simhash(index: VectorIndex, allowed: np.ndarray, budget: int) -> Callable[[np.ndarray], list[int]]:
    """128 sign bits of a random rotation per vector; a query ranks the allowed vectors by Hamming
    distance and scans the best ~``budget`` exactly (the app's int8 scan)."""
    rotation = np.linalg.qr(np.random.default_rng(0).standard_normal((index.dim, 128)))[0].astype(np.float32)
    codes = index._copy._rows.codes
    bits = np.concatenate([np.packbits(codes[s : s + 8192].astype(np.float32) @ rotation > 0, axis=1).view(np.uint64)
                           for s in range(0, len(codes), 8192)])
    low, high = bits[:, 0].copy(), bits[:, 1].copy()

    def search(query: np.ndarray) -> list[int]:
        mine = np.packbits(query @ rotation > 0).view(np.uint64)
        rows = index._copy.rows_of(allowed)
        distance = np.bitwise_count(np.take(low, rows) ^ mine[0]) + np.bitwise_count(np.take(high, rows) ^ mine[1])
        cut = np.searchsorted(np.cumsum(np.bincount(distance, minlength=129)), budget)
        return [i for i, _ in index._exact(query[np.newaxis], allowed[distance <= cut], K)[0]]
    return search


def main() -> int:
    """Build or load the app index, then print one row per approach and setting."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="1m")
    parser.add_argument("--share", type=float, default=0.10, help="share of the ids the filter keeps")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    vectors = clustered_vectors(SIZES[args.size] + args.queries, 128)  # as search.py makes them
    data, queries = vectors[: SIZES[args.size]], vectors[SIZES[args.size] :]
    path, _ = app_index(data, args.cache)
    index = VectorIndex.load(path, data.shape[1])
    allowed = np.sort(np.random.default_rng(1).choice(len(data), size=int(len(data) * args.share), replace=False))
    truth = exact_top_k(data, queries, K, allowed)
    print(f"{args.size}, filter keeping {args.share:.0%}, {len(queries)} queries, one thread")
    print(f"{'approach':<58} {'p50 ms':>7} {'p95 ms':>7} {'recall@10':>9}")
    with threadpool_limits(1):
        measure("app (VectorIndex.query)", lambda q: [i for i, _ in index.query(q, K, allowed=allowed)[0]],
                queries, truth)
        index.set_ef(index.ef_search)
        measure(f"unfiltered, ef {index.ef_search} (for the ratio)", lambda q: [i for i, _ in index.query(q, K)[0]],
                queries, exact_top_k(data, queries, K))
        for fetch, ef in ((300, 450), (200, 300), (200, 400), (200, 500), (300, 600)):
            measure(f"post-filter, fetch {fetch} at ef {ef}", post_filter(index, allowed, fetch, ef), queries, truth)
        for ef in (16, 32, 64):
            measure(f"hnswlib filter, ef {ef}", hnswlib_filter(index, allowed, ef), queries, truth)
        for budget in (2000, 8000, 12000):
            measure(f"k-means partition (256 lists), ~{budget} scanned", partition(index, data, allowed, 256, budget),
                    queries, truth)
        for budget in (2000, 4000, 6000):
            measure(f"SimHash 128 bits, best ~{budget} scanned", simhash(index, allowed, budget), queries, truth)
    return 0


if __name__ == "__main__":
    sys.exit(main())
