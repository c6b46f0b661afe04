"""Ingestion throughput: real camera JPEGs through the whole ``add`` pipeline, and where the time goes.

Photos: the 100 real 1152x864 camera JPEGs of ``../shared/datasets/insulators`` ("1mp"), and the
same photos upscaled to 4000x3000 and saved as JPEG quality 90 ("12mp", generated once into the
cache folder). A run needs more photos than that, so each file is written as many times as needed
with a unique trailer after the JPEG end marker: same pixels, a distinct content hash, so every
copy is a new photo to the archive (decoded, embedded, stored and indexed).

Two tables:

* **Stages**: CPU milliseconds per photo of each step on one thread (read, sha256, decode,
  preprocess, ORB keypoints for geometric verification, inference in batches, catalog write, index
  add), measured in isolation.
* **End to end**: ``Archive.add`` on a folder of fresh photos into an archive that already holds
  ``--seed`` photos (so PCA is fitted, as in a working archive), wall time, photos/s, and CPU
  utilisation (process CPU time / wall time / cores). Because the benchmark machine may be shared,
  the CPU seconds per photo are printed too: ``cores / CPU-s per photo`` is the rate the same work
  would reach on idle cores.

Run from the project root::

    python benchmarks/ingest.py                       # 1mp and 12mp, default settings (~2 min)
    python benchmarks/ingest.py --sweep               # also workers x ONNX threads
    python benchmarks/ingest.py --sizes 12mp --photos 600 --json benchmarks/results/ingest.json
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from inspector_search.core import ingest
from inspector_search.core.archive import Archive
from inspector_search.core.catalog import Catalog
from inspector_search.core.extractor import FeatureExtractor, default_model_manifest
from inspector_search.core.imaging import open_image, preprocess
from inspector_search.core.local_features import extract as extract_local_features
from inspector_search.core.vector_index import VectorIndex

ROOT = Path(__file__).resolve().parents[1]
INSULATORS = ROOT.parent / "shared" / "datasets" / "insulators"
DEFAULT_CACHE = ROOT / "benchmarks" / "results" / "cache"
TWELVE_MP = (4000, 3000)
TARGETS = {"1mp": 100.0, "12mp": 40.0}


@dataclass
class EndToEnd:
    """One timed ``add`` run."""

    size: str
    photos: int
    workers: int
    threads: int
    batch: int
    seconds: float
    photos_per_s: float
    cpu_seconds: float
    cpu_utilisation: float
    cpu_ms_per_photo: float
    idle_core_rate: float
    load_average: float


def source_photos(size: str, cache: Path) -> list[Path]:
    """The 100 source JPEGs for ``size``; the 12 MP ones are generated once into ``cache``."""
    originals = sorted(INSULATORS.glob("*.jpg"))
    if not originals:
        sys.exit(f"{INSULATORS} not found: the insulators dataset is needed")
    if size == "1mp":
        return originals
    folder = cache / "insulators_12mp"
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for original in originals:
        target = folder / original.name
        if not target.exists():
            with Image.open(original) as image:
                upscaled = image.convert("RGB").resize(TWELVE_MP, Image.Resampling.BICUBIC)
            partial = target.with_suffix(".part")
            upscaled.save(partial, "JPEG", quality=90)
            partial.replace(target)
        made.append(target)
    return made


def write_copies(sources: list[Path], count: int, folder: Path, tag: str) -> list[Path]:
    """``count`` files cycling through ``sources``, each with a unique trailer after the JPEG data."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = [p.read_bytes() for p in sources]
    paths = []
    for n in range(count):
        path = folder / f"{tag}_{n:06d}.jpg"
        path.write_bytes(contents[n % len(contents)] + f"\n{tag} copy {n}\n".encode())
        paths.append(path)
    return paths


# ---------------------------------------------------------------------- stage breakdown


def stage_costs(sources: list[Path], extractor: FeatureExtractor, samples: int = 40) -> dict[str, float]:
    """CPU ms per photo of each pipeline step, each measured on its own on this thread.

    Inference is measured as process CPU time (ONNX Runtime's own threads included) on batches of
    ``ingest.BATCH_SIZE``; the catalog write and index add use a throw-away catalog and index.
    """
    spec = extractor.spec
    min_side = min(spec.input_size)
    costs = dict.fromkeys(("read", "sha256", "decode", "preprocess", "keypoints"), 0.0)
    pixels = []
    for path in sources[:samples]:
        started = time.thread_time()
        data = path.read_bytes()
        read = time.thread_time()
        hashlib.sha256(data).hexdigest()
        hashed = time.thread_time()
        image, _info = open_image(io.BytesIO(data), min_side=min_side)
        decoded = time.thread_time()
        pixels.append(preprocess(image, spec))
        done = time.thread_time()
        extract_local_features(image).to_bytes()
        found = time.thread_time()
        for name, took in (("read", read - started), ("sha256", hashed - read), ("decode", decoded - hashed),
                           ("preprocess", done - decoded), ("keypoints", found - done)):
            costs[name] += took
    result = {name: 1000 * total / len(pixels) for name, total in costs.items()}
    result["inference"] = inference_cost(extractor, pixels)
    result["catalog write"], result["index add"] = write_costs(extractor.dim)
    return result


def inference_cost(extractor: FeatureExtractor, pixels: list[np.ndarray]) -> float:
    """Process CPU ms per image of ``extractor.embed`` on full batches."""
    size = ingest.BATCH_SIZE
    batch = np.stack([pixels[n % len(pixels)] for n in range(size)])
    extractor.embed(batch)
    runs = 4
    started = time.process_time()
    for _ in range(runs):
        extractor.embed(batch)
    return 1000 * (time.process_time() - started) / (runs * size)


def write_costs(feature_dim: int, photos: int = 2048, vector_dim: int = 128) -> tuple[float, float]:
    """CPU ms per photo of committing catalog rows in batches, and of adding projected vectors to an
    index that already holds 20,000 vectors."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((photos, feature_dim)).astype(np.float32)
    size = ingest.BATCH_SIZE
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Catalog(Path(tmp) / "catalog.sqlite")
        started = time.process_time()
        for start in range(0, photos, size):
            with catalog.transaction() as conn:
                for n in range(start, min(start + size, photos)):
                    image_id = catalog.insert_image(conn, f"{n:064x}", 600_000, 1152, 864, "JPEG", None)
                    catalog.put_features(conn, [image_id], "bench", features[n][None, :])
                    catalog.put_file(conn, f"/photos/{n}.jpg", image_id, 600_000, n)
                catalog.bump_generation(conn)
        write = 1000 * (time.process_time() - started) / photos
        catalog.close()
    vectors = rng.standard_normal((20_000 + photos, vector_dim)).astype(np.float32)
    index = VectorIndex(vector_dim)
    index.add(np.arange(20_000), vectors[:20_000])
    started = time.process_time()
    for start in range(20_000, 20_000 + photos, size):
        index.add(np.arange(start, start + size), vectors[start : start + size])
    return write, 1000 * (time.process_time() - started) / photos


# ---------------------------------------------------------------------- end to end


def end_to_end(size: str, sources: list[Path], photos: int, seed: int, workers: int | None, threads: int | None,
               work: Path) -> EndToEnd:
    """Seed an archive with ``seed`` photos, then time adding ``photos`` new ones."""
    folder = work / f"run-{size}-{workers}-{threads}-{time.monotonic_ns()}"
    seed_dir = folder / "seed"
    new_dir = folder / "new"
    write_copies(sources, seed, seed_dir, f"{size}-seed")
    write_copies(sources, photos, new_dir, f"{size}-new")
    try:
        with Archive.open(folder / "archive", threads=threads) as archive:
            used_threads = archive.extractor.threads
            archive.add([seed_dir], workers=workers)
            process = psutil.Process()
            load = os.getloadavg()[0]
            cpu_before = sum(process.cpu_times()[:2])
            started = time.perf_counter()
            report = archive.add([new_dir], workers=workers)
            seconds = time.perf_counter() - started
            cpu = sum(process.cpu_times()[:2]) - cpu_before
        if report.added != photos:
            raise RuntimeError(f"expected {photos} new photos, added {report.added} ({report.skipped[:3]})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    cores = os.cpu_count() or 1
    return EndToEnd(
        size=size, photos=photos, workers=workers or ingest.default_workers(), threads=used_threads,
        batch=ingest.BATCH_SIZE, seconds=seconds, photos_per_s=photos / seconds, cpu_seconds=cpu,
        cpu_utilisation=cpu / seconds / cores, cpu_ms_per_photo=1000 * cpu / photos,
        idle_core_rate=cores * photos / cpu, load_average=load)


# ---------------------------------------------------------------------- output


def print_stages(stages: dict[str, dict[str, float]]) -> None:
    """The stage table: one column per photo size."""
    sizes = list(stages)
    print("\nStage costs, CPU ms per photo (one thread; inference = process CPU incl. ONNX Runtime threads)")
    print(f"{'stage':<15}" + "".join(f"{s:>10}" for s in sizes))
    for name in next(iter(stages.values())):
        print(f"{name:<15}" + "".join(f"{stages[s][name]:>10.2f}" for s in sizes))
    print(f"{'total':<15}" + "".join(f"{sum(stages[s].values()):>10.2f}" for s in sizes))


def print_runs(runs: list[EndToEnd]) -> None:
    """The end-to-end table."""
    print("\nEnd to end: Archive.add of new photos (decode -> preprocess -> embed -> store -> index)")
    head = (f"{'size':<5} {'photos':>6} {'workers':>7} {'ort thr':>7} {'batch':>5} {'wall s':>7} {'photos/s':>8} "
            f"{'target':>6} {'CPU util':>8} {'CPU ms/photo':>12} {'idle-core rate':>14} {'load':>5}")
    print(head)
    for r in runs:
        print(f"{r.size:<5} {r.photos:>6} {r.workers:>7} {r.threads:>7} {r.batch:>5} {r.seconds:>7.1f} "
              f"{r.photos_per_s:>8.1f} {TARGETS[r.size]:>6.0f} {100 * r.cpu_utilisation:>7.0f}% "
              f"{r.cpu_ms_per_photo:>12.1f} {r.idle_core_rate:>14.1f} {r.load_average:>5.1f}")


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version(),
            "platform": platform.platform()}


def main() -> int:
    """Parse arguments, run the measurements, print the tables (and write JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1mp,12mp", help="comma-separated: 1mp, 12mp (default both)")
    parser.add_argument("--photos", type=int, default=0,
                        help="new photos per end-to-end run (default 1000 at 1mp, 300 at 12mp)")
    parser.add_argument("--seed", type=int, default=250, help="photos in the archive before the timed add")
    parser.add_argument("--workers", type=int, default=None, help="decoding threads (default: the app's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="ONNX Runtime threads (default: the app's, one per CPU up to 4)")
    parser.add_argument("--sweep", action="store_true", help="also run workers 1-3 x ONNX threads 1-2")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the 12 MP photos are kept")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: system temp)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, Python {info['python']}; "
          f"load average now {os.getloadavg()[0]:.1f}")
    extractor = FeatureExtractor(default_model_manifest(), threads=1)  # stage costs: CPU per photo on one thread
    stages, runs = {}, []
    work = Path(tempfile.mkdtemp(prefix="ingest-bench-", dir=args.work))
    try:
        for size in sizes:
            sources = source_photos(size, args.cache)
            stages[size] = stage_costs(sources, extractor)
            photos = args.photos or (1000 if size == "1mp" else 300)
            configs = [(args.workers, args.threads)]
            if args.sweep:
                configs += [(w, t) for t in (1, 2) for w in (1, 2, 3)]
            for workers, threads in configs:
                runs.append(end_to_end(size, sources, photos, args.seed, workers, threads, work))
                print_runs(runs[-1:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_stages(stages)
    print_runs(runs)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "stages_cpu_ms": stages,
                                         "end_to_end": [asdict(r) for r in runs]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
