"""models/export.py end to end: export a model, then use it through the runtime extractor."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from inspector_search.core.extractor import FeatureExtractor

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "models" / "export.py"


def run_export(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXPORT), *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def export_module() -> ModuleType:
    """models/export.py imported as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("inspector_search_models_export", EXPORT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_resnet50_random_weights_runs_in_extractor(tmp_path: Path) -> None:
    result = run_export("resnet50", "--random-weights", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = tmp_path / "resnet50_gem.json"
    doc = json.loads(manifest.read_text(encoding="utf-8"))
    assert doc["output"] == {"name": "features", "dim": 2048}
    assert doc["pooling"] == {"kind": "gem", "p": 3.0}
    assert doc["exported_with"]["opset"] == 17
    assert not list(tmp_path.glob(".*.tmp"))

    extractor = FeatureExtractor(manifest, threads=2)
    images = [Image.new("RGB", (300, 200), (200, 40, 40)), Image.new("RGB", (180, 240), (30, 90, 220))]
    vectors = extractor.embed_images(images)
    assert vectors.shape == (2, 2048)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_resnet50_weights_with_missing_key_are_refused(tmp_path: Path, export_module: ModuleType) -> None:
    state = export_module.ResNet50Features().state_dict()
    del state["layer3.2.conv2.weight"]
    state["fc.weight"] = torch.zeros(1000, 2048)  # dropped by the loader, as for a real torchvision file
    weights = tmp_path / "resnet50-broken.pth"
    torch.save(state, weights)
    result = run_export("resnet50", "--weights", weights, "--out", tmp_path)
    assert result.returncode != 0
    assert "does not match the architecture" in result.stderr
    assert "layer3.2.conv2.weight" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.onnx"))


def test_mobilenet_weights_with_wrong_shape_are_refused(tmp_path: Path, export_module: ModuleType) -> None:
    state = export_module.MobileNetV2Features().state_dict()
    state["features.18.0.weight"] = torch.zeros(1024, 320, 1, 1)
    weights = tmp_path / "mobilenet-broken.pt"
    torch.save(state, weights)
    result = run_export("mobilenetv2", "--weights", weights, "--out", tmp_path)
    assert result.returncode != 0
    assert "'features.18.0.weight' has shape (1024, 320, 1, 1), expected (1280, 320, 1, 1)" in result.stderr
    assert not list(tmp_path.glob("*.onnx"))


def test_resnet50_needs_weights(tmp_path: Path) -> None:
    result = run_export("resnet50", "--out", tmp_path)
    assert result.returncode != 0
    assert "resnet50 needs --weights" in result.stderr
