"""Measure the shipped feature extractor: throughput per batch size and retrieval quality.

Throughput: images/s of the ONNX model alone (preprocessed random 224x224 input) at several
batch sizes, on a fixed number of ONNX Runtime threads.

Quality: leave-one-out mAP on the NEU surface-defect set (``../shared/datasets/neu_det``, 6
classes x 300; every other image of the same class is relevant), with the app's pipeline:
model -> L2 -> PCA (fit on all images, no whitening) -> L2 -> cosine. Rows for the raw pooled
vectors are printed too. If torch is importable, an average-pooling variant of the same
backbone is exported to a temporary folder with ``models/export.py`` and scored beside the
shipped GeM model; otherwise only the shipped model is measured.

Run from the project root::

    python benchmarks/model_choice.py [--threads 2] [--pca 256] [--manifest models/x.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from inspector_search.core.extractor import FeatureExtractor, default_model_manifest, l2_normalise
from inspector_search.core.imaging import open_image

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "neu_det"


def throughput(extractor: FeatureExtractor, batch_sizes: list[int], seconds: float) -> dict[int, tuple[float, float]]:
    """(median, best) images/s of ``extractor.embed`` on random batches at the model's input size.

    Each batch size runs for about ``seconds`` (at least 3 runs) and every run is timed on its own:
    on a shared or throttled machine the median shows the typical rate, the best what the CPU can do.
    """
    height, width = extractor.manifest.input_size
    rng = np.random.default_rng(0)
    rates = {}
    for size in batch_sizes:
        batch = rng.standard_normal((size, 3, height, width), dtype=np.float32)
        extractor.embed(batch)  # warm-up: first runs allocate buffers for the new shape
        times: list[float] = []
        while sum(times) < seconds or len(times) < 3:
            start = time.perf_counter()
            extractor.embed(batch)
            times.append(time.perf_counter() - start)
        rates[size] = (size / float(np.median(times)), size / min(times))
    return rates


def load_neu_det(dataset: Path) -> tuple[list[Path], np.ndarray]:
    """Image paths and integer class labels from ``labels.tsv``, without the second file of each
    byte-identical pair listed in ``exact_duplicates.txt``."""
    dropped = set()
    duplicates = dataset / "exact_duplicates.txt"
    if duplicates.is_file():
        for line in duplicates.read_text(encoding="utf-8").splitlines():
            if "==" in line:
                second = line.split("==")[1].strip()
                dropped.add(second.split("/", 1)[1] if second.startswith(dataset.name + "/") else second)
    paths, classes = [], []
    lines = (dataset / "labels.tsv").read_text(encoding="utf-8").splitlines()[1:]
    for line in lines:
        relpath, label = line.split("\t")[:2]
        if relpath not in dropped:
            paths.append(dataset / relpath)
            classes.append(label)
    names = sorted(set(classes))
    return paths, np.array([names.index(c) for c in classes])


def embed_files(extractor: FeatureExtractor, paths: list[Path], batch_size: int = 32) -> np.ndarray:
    """Embed image files with the app's preprocessing (core.imaging), ``batch_size`` at a time."""
    min_side = min(extractor.manifest.input_size)
    chunks = []
    for start in range(0, len(paths), batch_size):
        images = [open_image(p, min_side=min_side)[0] for p in paths[start : start + batch_size]]
        chunks.append(extractor.embed_images(images, batch_size=batch_size))
    return np.concatenate(chunks)


def mean_average_precision(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out mAP with cosine similarity (``vectors`` are unit rows); each image queries all others."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1)[:, :-1]  # drop the query itself (sorted last)
    relevant = labels[order] == labels[:, None]
    hits = np.cumsum(relevant, axis=1)
    ranks = np.arange(1, relevant.shape[1] + 1)
    precision_at_hit = np.where(relevant, hits / ranks, 0.0)
    return float(np.mean(precision_at_hit.sum(axis=1) / np.maximum(relevant.sum(axis=1), 1)))


def pca_vectors(features: np.ndarray, dim: int) -> np.ndarray:
    """The app's projection: L2 -> PCA to ``dim`` (fit on all, no whitening) -> L2."""
    pca = PCA(n_components=min(dim, *features.shape), svd_solver="full", random_state=0)
    return l2_normalise(pca.fit_transform(l2_normalise(features)))


def export_avg_variant(folder: Path) -> Path | None:
    """Export the same backbone with average pooling into ``folder``; None when torch is missing."""
    if importlib.util.find_spec("torch") is None:
        return None
    command = [
        sys.executable,
        str(ROOT / "models" / "export.py"),
        "mobilenetv2",
        "--pooling",
        "avg",
        "--name",
        "mobilenetv2_avg",
        "--out",
        str(folder),
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return folder / "mobilenetv2_avg.json"


def main() -> int:
    """Print the throughput and mAP tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, help="model manifest (default: the bundled model)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2)")
    parser.add_argument("--batch-sizes", default="1,8,16,32", help="comma-separated (default 1,8,16,32)")
    parser.add_argument("--seconds", type=float, default=5.0, help="timing per batch size (default 5)")
    parser.add_argument("--pca", type=int, default=256, help="PCA output dimension (default 256)")
    parser.add_argument("--dataset", type=Path, default=DATASET, help="neu_det folder")
    parser.add_argument("--no-avg", action="store_true", help="do not export/score the avg-pool variant")
    args = parser.parse_args()

    shipped = FeatureExtractor(args.manifest or default_model_manifest(), threads=args.threads)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    print(f"model {shipped.model_id}, {args.threads} thread(s), input {shipped.manifest.input_size}")
    print(f"\n{'batch':>5}  {'images/s (median)':>17}  {'images/s (best)':>15}  {'ms/image (median)':>17}")
    for size, (median, best) in throughput(shipped, sizes, args.seconds).items():
        print(f"{size:>5}  {median:>17.1f}  {best:>15.1f}  {1000 / median:>17.2f}")

    if not (args.dataset / "labels.tsv").is_file():
        print(f"\n{args.dataset} not found: quality not measured")
        return 0
    paths, labels = load_neu_det(args.dataset)
    print(f"\nneu_det: {len(paths)} images, {labels.max() + 1} classes, leave-one-out mAP (cosine)")
    print(f"{'model':<26} {'pooling':<8} {'raw':>6} {'PCA-' + str(args.pca):>8}  {'embed s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        models = [shipped]
        avg = None if args.no_avg else export_avg_variant(Path(tmp))
        if avg is not None:
            models.append(FeatureExtractor(avg, threads=args.threads))
        for model in models:
            start = time.perf_counter()
            features = embed_files(model, paths)
            took = time.perf_counter() - start
            raw = mean_average_precision(features, labels)
            projected = mean_average_precision(pca_vectors(features, args.pca), labels)
            pooling = model.manifest.pooling + (
                f" p={model.manifest.pooling_p:g}" if model.manifest.pooling == "gem" else ""
            )
            print(f"{model.model_id:<26} {pooling:<8} {raw:>6.3f} {projected:>8.3f}  {took:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
