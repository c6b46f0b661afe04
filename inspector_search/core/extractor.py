"""Image -> feature vector with an ONNX model described by a JSON manifest.

The model is a CNN backbone plus a pooling head exported by ``models/export.py``; the manifest
next to it says how to feed it (input name and size, normalisation, resize mode), what it
outputs, where its weights came from, and the sha256 of the ``.onnx`` file. Vectors are
L2-normalised here, not in the graph, so that every model is used the same way.

Nothing heavy happens at import time or in a constructor: the ONNX Runtime session is created on
first use (or by :meth:`FeatureExtractor.load`), after checking the file hash and the graph's
input and output shapes, so a damaged or mismatched model fails early with a ``ModelError``
naming the manifest instead of producing wrong vectors.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ModelError
from .imaging import RESIZE_POLICIES, PreprocessSpec, preprocess
from .onnx_runtime import import_onnxruntime

if TYPE_CHECKING:
    import onnxruntime as ort
    from PIL import Image

MANIFEST_FORMAT_VERSION = 1
"""Newest manifest format this code understands; newer manifests are refused."""

DEFAULT_MODEL_NAME = "mobilenetv2_gem"
MODEL_ENV_VAR = "INSPECTOR_SEARCH_MODEL"
MAX_DEFAULT_THREADS = 4
DEFAULT_BATCH_SIZE = 16
SUPPORTED_COLOUR_ORDERS = frozenset({"RGB"})
_NORM_FLOOR = 1e-12


@dataclass(frozen=True)
class ModelManifest:
    """A parsed and validated model manifest (``models/<name>.json``, format_version 1).

    ``path`` is the ``.onnx`` file resolved relative to the manifest; ``raw`` keeps the whole
    JSON document for provenance (export date, torch version...) without growing this class.
    """

    manifest_path: Path
    name: str
    path: Path
    sha256: str
    architecture: str
    input_name: str
    input_size: tuple[int, int]
    colour_order: str
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str
    output_name: str
    dim: int
    pooling: str
    pooling_p: float | None
    weights_source: str
    licence: str
    raw: dict[str, Any] = field(repr=False, compare=False, hash=False)

    @property
    def model_id(self) -> str:
        """Stable identity of the model (name + hash prefix); stored with every feature vector."""
        return f"{self.name}-{self.sha256[:12]}"

    @property
    def preprocess_spec(self) -> PreprocessSpec:
        """How to turn an image into this model's input tensor (see ``core.imaging.preprocess``)."""
        return PreprocessSpec(
            input_size=self.input_size, mean=self.mean, std=self.std, resize=self.resize, scale=self.scale
        )


class _ManifestReader:
    """Typed access to the manifest's JSON with errors that name the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, what: str) -> ModelError:
        return ModelError(f"model manifest {self.path}: {what}")

    def get(self, doc: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
        label = f"{where}.{key}" if where else key
        if key not in doc:
            raise self.fail(f"missing field '{label}'")
        value = doc[key]
        # bool is an int subclass; a JSON true is never a valid number here.
        if isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"field '{label}' must be {names}, got {type(value).__name__}")
        return value

    def section(self, doc: dict[str, Any], key: str) -> dict[str, Any]:
        return self.get(doc, key, dict)

    def text(self, doc: dict[str, Any], key: str, where: str = "") -> str:
        value = self.get(doc, key, str, where)
        if not value.strip():
            raise self.fail(f"field '{where + '.' if where else ''}{key}' is empty")
        return value

    def positive_int(self, doc: dict[str, Any], key: str, where: str) -> int:
        value = self.get(doc, key, int, where)
        if value <= 0:
            raise self.fail(f"field '{where}.{key}' must be positive, got {value}")
        return value

    def positive_float(self, doc: dict[str, Any], key: str, where: str) -> float:
        value = float(self.get(doc, key, (int, float), where))
        if not math.isfinite(value) or value <= 0:
            raise self.fail(f"field '{where}.{key}' must be a positive number, got {value}")
        return value

    def triple(self, doc: dict[str, Any], key: str, where: str, positive: bool) -> tuple[float, float, float]:
        value = self.get(doc, key, list, where)
        ok = len(value) == 3 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        if not ok or not all(math.isfinite(v) and (v > 0 or not positive) for v in value):
            kind = "positive numbers" if positive else "numbers"
            raise self.fail(f"field '{where}.{key}' must be a list of 3 {kind}, got {value!r}")
        return (float(value[0]), float(value[1]), float(value[2]))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model manifest {path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model manifest {path}: cannot read JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise ModelError(f"model manifest {path}: top level must be a JSON object")
    return doc


def _check_version(r: _ManifestReader, version: int) -> None:
    """Refuse a manifest format newer than this version reads (rather than misread it) or below 1."""
    if version > MANIFEST_FORMAT_VERSION:
        raise r.fail(
            f"format_version {version} was written by a newer Inspector Search "
            f"(this version reads up to {MANIFEST_FORMAT_VERSION})"
        )
    if version < 1:
        raise r.fail(f"invalid format_version {version}")


def _check_input(r: _ManifestReader, inp: dict[str, Any]) -> tuple[str, str]:
    """Check the input section's layout, colour order and resize policy; (colour_order, resize)."""
    layout = r.text(inp, "layout", "input")
    if layout != "NCHW":
        raise r.fail(f"input.layout {layout!r} is not supported (only NCHW)")
    colour_order = r.text(inp, "colour_order", "input")
    if colour_order not in SUPPORTED_COLOUR_ORDERS:
        raise r.fail(f"input.colour_order {colour_order!r} is not supported (only RGB)")
    resize = r.text(inp, "resize", "input")
    if resize not in RESIZE_POLICIES:
        raise r.fail(f"input.resize {resize!r} is not one of {sorted(RESIZE_POLICIES)}")
    return colour_order, resize


def load_manifest(path: Path | str) -> ModelManifest:
    """Read and validate a model manifest; raise ``ModelError`` naming the file and the problem.

    Checks the format version (a newer one is refused rather than misread), every required field
    and its type, and that the ``.onnx`` file it points to exists. The file hash is checked later,
    when the model is loaded, because hashing costs a full read.
    """
    path = Path(path)
    doc = _read_json(path)
    r = _ManifestReader(path)
    _check_version(r, r.get(doc, "format_version", int))
    sha256 = r.text(doc, "sha256").lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise r.fail("field 'sha256' must be 64 hexadecimal digits")
    inp, out, pooling, weights = (r.section(doc, key) for key in ("input", "output", "pooling", "weights"))
    colour_order, resize = _check_input(r, inp)
    p = pooling.get("p")
    if p is not None and (isinstance(p, bool) or not isinstance(p, int | float)):
        raise r.fail("field 'pooling.p' must be a number")

    model_path = (path.parent / r.text(doc, "file")).resolve()
    if not model_path.is_file():
        raise r.fail(f"model file {model_path} does not exist")
    return ModelManifest(
        manifest_path=path,
        name=r.text(doc, "name"),
        path=model_path,
        sha256=sha256,
        architecture=r.text(doc, "architecture"),
        input_name=r.text(inp, "name", "input"),
        input_size=(r.positive_int(inp, "height", "input"), r.positive_int(inp, "width", "input")),
        colour_order=colour_order,
        scale=r.positive_float(inp, "scale", "input"),
        mean=r.triple(inp, "mean", "input", positive=False),
        std=r.triple(inp, "std", "input", positive=True),
        resize=resize,
        output_name=r.text(out, "name", "output"),
        dim=r.positive_int(out, "dim", "output"),
        pooling=r.text(pooling, "kind", "pooling"),
        pooling_p=None if p is None else float(p),
        weights_source=r.text(weights, "source", "weights"),
        licence=r.text(weights, "licence", "weights"),
        raw=doc,
    )


def default_model_manifest() -> Path:
    """The manifest of the bundled model, found the same way from source, installed or frozen.

    Order: the ``INSPECTOR_SEARCH_MODEL`` environment variable (path to a manifest), the
    PyInstaller bundle (``sys._MEIPASS/models``), then the repository's ``models/`` folder.
    Raises ``ModelError`` listing where it looked if none exists.
    """
    candidates: list[Path] = []
    override = os.environ.get(MODEL_ENV_VAR)
    if override:
        candidate = Path(override).expanduser()
        if candidate.is_file():
            return candidate
        raise ModelError(f"{MODEL_ENV_VAR}={override}: no such model manifest")
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        candidates.append(Path(bundle) / "models" / f"{DEFAULT_MODEL_NAME}.json")
    candidates.append(Path(__file__).resolve().parents[2] / "models" / f"{DEFAULT_MODEL_NAME}.json")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ModelError("bundled model manifest not found; looked in " + ", ".join(str(c) for c in candidates))


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """The one place ONNX Runtime is configured: CPU threads, sequential execution, full optimisation.

    ``threads`` defaults to the number of CPUs capped at ``MAX_DEFAULT_THREADS``: past that a
    desktop machine gains little for these small CNNs and the GUI would stutter.
    """
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or min(os.cpu_count() or 1, MAX_DEFAULT_THREADS)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only; ORT's warnings would go to stderr of a GUI app
    # Idle ORT threads sleep instead of spinning: during an add they share the cores with the decoding
    # threads, and spinning burnt 19 instead of 12 CPU ms per image on 2 cores (benchmarks/ingest.py).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation in float32; an all-zero row stays zero instead of becoming NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, _NORM_FLOOR)


class FeatureExtractor:
    """Turns images into L2-normalised feature vectors with the model a manifest describes.

    Construction only parses the manifest (cheap, safe at start-up); the ONNX Runtime session is
    created by :meth:`load` or on first use, once, under a lock so worker threads can share one
    extractor. ``threads`` sets ONNX Runtime's intra-op threads (default: CPUs, at most 4).
    """

    def __init__(self, manifest: ModelManifest | Path | str, threads: int | None = None) -> None:
        self._manifest = manifest if isinstance(manifest, ModelManifest) else load_manifest(manifest)
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self._threads = threads
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    @property
    def manifest(self) -> ModelManifest:
        """The validated manifest this extractor was built from."""
        return self._manifest

    @property
    def threads(self) -> int:
        """ONNX Runtime's intra-op threads for this extractor."""
        return self._threads or min(os.cpu_count() or 1, MAX_DEFAULT_THREADS)

    @property
    def dim(self) -> int:
        """Length of the vectors :meth:`embed` returns."""
        return self._manifest.dim

    @property
    def model_id(self) -> str:
        """Identity of the model (name + sha256 prefix); vectors of different ids never mix."""
        return self._manifest.model_id

    @property
    def spec(self) -> PreprocessSpec:
        """Preprocessing that turns a decoded image into this model's input."""
        return self._manifest.preprocess_spec

    @property
    def loaded(self) -> bool:
        """Whether the ONNX Runtime session exists yet."""
        return self._session is not None

    def load(self) -> None:
        """Verify the model file and create the session now (idempotent, thread-safe).

        Raises ``ModelError`` on a hash mismatch, a file ONNX Runtime cannot load, or a graph
        whose input or output does not match the manifest.
        """
        self._get_session()

    def _get_session(self) -> ort.InferenceSession:
        session = self._session
        if session is not None:
            return session
        with self._lock:
            if self._session is None:
                self._session = self._create_session()
            return self._session

    def _fail(self, what: str) -> ModelError:
        return ModelError(f"model {self._manifest.name} ({self._manifest.manifest_path}): {what}")

    def _create_session(self) -> ort.InferenceSession:
        ort = import_onnxruntime()
        m = self._manifest
        try:
            actual = file_sha256(m.path)
        except OSError as exc:
            raise self._fail(f"cannot read model file {m.path}: {exc}") from exc
        if actual != m.sha256:
            raise self._fail(f"model file hash mismatch: expected {m.sha256} got {actual} ({m.path})")
        try:
            session = ort.InferenceSession(
                str(m.path), sess_options=session_options(self._threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
            raise self._fail(f"ONNX Runtime cannot load {m.path}: {exc}") from exc
        self._check_graph(session)
        return session

    def _check_graph(self, session: ort.InferenceSession) -> None:
        m = self._manifest
        inputs = session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != m.input_name:
            names = [i.name for i in inputs]
            raise self._fail(f"graph inputs {names} do not match manifest input {m.input_name!r}")
        if len(inputs[0].shape) != 4:
            raise self._fail(f"graph input has rank {len(inputs[0].shape)}, expected 4 (NCHW)")
        if m.output_name not in [o.name for o in session.get_outputs()]:
            raise self._fail(f"graph has no output {m.output_name!r}")
        dummy = np.zeros((1, 3, *m.input_size), dtype=np.float32)
        try:
            (out,) = session.run([m.output_name], {m.input_name: dummy})
        except Exception as exc:
            raise self._fail(f"test run at {dummy.shape} failed: {exc}") from exc
        if out.shape != (1, m.dim):
            raise self._fail(f"graph outputs shape {tuple(out.shape)}, manifest says (1, {m.dim})")

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on a preprocessed (N, 3, H, W) batch; return (N, dim) float32 unit vectors.

        Raises ``ValueError`` for a batch of the wrong shape (a programming error, not a file
        problem). An all-zero output row stays zero rather than becoming NaN.
        """
        batch = np.asarray(batch)
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise ValueError(f"expected a (N, 3, H, W) batch, got shape {batch.shape}")
        if batch.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._get_session()
        m = self._manifest
        (out,) = session.run([m.output_name], {m.input_name: np.ascontiguousarray(batch, dtype=np.float32)})
        return l2_normalise(out)

    def embed_images(self, images: Sequence[Image.Image], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Preprocess decoded images with :attr:`spec` and embed them in chunks of ``batch_size``.

        Returns an (N, dim) float32 array in the order of ``images``. Decoding (and its errors)
        is the caller's job: see ``core.imaging.open_image``.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        spec = self.spec
        chunks = [np.zeros((0, self.dim), dtype=np.float32)]
        for start in range(0, len(images), batch_size):
            batch = np.stack([preprocess(image, spec) for image in images[start : start + batch_size]])
            chunks.append(self.embed(batch))
        return np.concatenate(chunks)
