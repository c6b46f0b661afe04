"""Would an int8 model pay? Static quantisation of the shipped model, its speed and its retrieval quality.

The shipped ONNX model is quantised with ONNX Runtime (``quantize_static``: QDQ format, per-channel
int8 weights, uint8 activations, the GeM pooling head left in float) after calibration on
archive-like photos: the insulator camera JPEGs plus a few neu_det images that the quality
measurement does not start with. Each variant is timed on one ONNX Runtime thread (batches of 32
and single images) and scored with leave-one-out mAP on neu_det through the app's projection
(``ProjectionPolicy``: PCA dim and power). The rule (issue 5): ship int8 as an option only if it is
>= 1.5x faster with < 1 % mAP loss.

Run from the project root (about 5 minutes; the quantised files go to a temporary folder)::

    python benchmarks/quantize.py [--calibration minmax,percentile] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_choice import load_neu_det, mean_average_precision  # noqa: E402

from inspector_search.core.extractor import default_model_manifest, l2_normalise, load_manifest  # noqa: E402
from inspector_search.core.imaging import open_image, preprocess  # noqa: E402
from inspector_search.core.onnx_runtime import import_onnxruntime  # noqa: E402
from inspector_search.core.projection import Projection  # noqa: E402
from inspector_search.core.vector_store import ProjectionPolicy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
POOLING_NODES = ["/pool/Clip", "/pool/Pow", "/pool/ReduceMean", "/pool/Pow_1"]


def calibration_batch(spec: object) -> np.ndarray:
    """Preprocessed archive-like photos: 60 insulators and the last 6 images of each neu_det class (96 in
    all; percentile calibration keeps every activation in memory, ~6 GB for these)."""
    photos = sorted((DATASETS / "insulators").glob("*.jpg"))[:60]
    photos += [p for c in sorted((DATASETS / "neu_det").iterdir()) if c.is_dir() for p in sorted(c.glob("*.jpg"))[-6:]]
    return np.stack([preprocess(open_image(p, min_side=224)[0], spec) for p in photos])


def quantise(source: Path, target: Path, batch: np.ndarray, method: str) -> float:
    """Write an int8 model calibrated on ``batch`` with ``method``; seconds taken."""
    import_onnxruntime()  # its telemetry off before the quantisation tools load it
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter(range(len(batch)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            row = next(self.rows, None)
            return None if row is None else {"image": batch[row : row + 1]}

    started = time.perf_counter()
    prepared = target.with_name("prepared.onnx")
    if not prepared.exists():
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    calibrate = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}[method]
    quantize_static(str(prepared), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8, calibrate_method=calibrate,
                    nodes_to_exclude=POOLING_NODES)
    return time.perf_counter() - started


def session(path: Path) -> object:
    """A one-thread ONNX Runtime session (no spinning), as the ingest pipeline runs the model."""
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def speed(model: object, pixels: np.ndarray) -> tuple[float, float]:
    """(ms per image in batches of 32, ms per single image), best of several runs."""
    results = []
    for size in (32, 1):
        batch = pixels[:size]
        model.run(None, {"image": batch})
        best = min(_timed(model, batch) for _ in range(5))
        results.append(1000 * best / size)
    return results[0], results[1]


def _timed(model: object, batch: np.ndarray) -> float:
    started = time.perf_counter()
    model.run(None, {"image": batch})
    return time.perf_counter() - started


def quality(model: object, pixels: np.ndarray, labels: np.ndarray, reference: np.ndarray | None) -> dict:
    """neu_det leave-one-out mAP through the app's projection, and mean cosine to the float model's features."""
    features = l2_normalise(np.concatenate([model.run(None, {"image": pixels[s : s + 32]})[0]
                                            for s in range(0, len(pixels), 32)]))
    policy = ProjectionPolicy()
    projected = Projection.fit(features, dim=policy.dim, power=policy.power).transform(features)
    cosine = 1.0 if reference is None else float(np.mean(np.sum(features * reference, axis=1)))
    return {"map": mean_average_precision(projected, labels), "cosine_to_float": cosine, "features": features}


def main() -> int:
    """Quantise, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", default="minmax,percentile", help="calibration methods to try")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    manifest = load_manifest(default_model_manifest())
    spec = manifest.preprocess_spec
    paths, labels = load_neu_det(DATASETS / "neu_det")
    pixels = np.stack([preprocess(open_image(p, min_side=224)[0], spec) for p in paths])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        batch = calibration_batch(spec)
        variants = [("float32", manifest.path, 0.0)]
        for method in args.calibration.split(","):
            target = Path(tmp) / f"int8-{method}.onnx"
            variants.append((f"int8 {method}", target, quantise(manifest.path, target, batch, method)))
        reference = None
        for name, path, took in variants:
            model = session(path)
            batched, single = speed(model, pixels)
            scored = quality(model, pixels, labels, reference)
            reference = scored.pop("features") if reference is None else reference
            scored.pop("features", None)
            rows.append({"model": name, "quantise_s": took, "ms_per_image_b32": batched, "ms_single": single,
                         "size_mb": path.stat().st_size / 2**20, **scored})
    base = rows[0]
    print(f"{'model':<18} {'MB':>5} {'ms/img b32':>10} {'speed-up':>8} {'ms single':>9} {'mAP':>7} "
          f"{'mAP loss':>8} {'cos to fp32':>11}  verdict")
    for r in rows:
        gain = base["ms_per_image_b32"] / r["ms_per_image_b32"]
        loss = (base["map"] - r["map"]) / base["map"]
        ok = gain >= 1.5 and loss < 0.01
        verdict = "-" if r is base else ("ship as option" if ok else "do not ship")
        print(f"{r['model']:<18} {r['size_mb']:>5.1f} {r['ms_per_image_b32']:>10.2f} {gain:>7.2f}x "
              f"{r['ms_single']:>9.2f} {r['map']:>7.4f} {100 * loss:>7.2f}% {r['cosine_to_float']:>11.4f}  {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
