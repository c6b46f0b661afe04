"""Power normalisation in the projection: what it computes, that it is persisted and identified, that
version-1 projection files still load, and that the archive fits it by policy."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import neu_sample

from inspector_search.core.archive import Archive
from inspector_search.core.errors import IndexFileError
from inspector_search.core.projection import Projection
from inspector_search.core.vector_store import ProjectionPolicy


def features(n: int = 200, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.abs(rng.standard_normal((n, dim))) ** 3  # non-negative with a few large values, like pooled CNN features
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_power_is_applied_before_the_pca_in_fit_and_transform() -> None:
    x = features()
    root = np.sqrt(x)
    root /= np.linalg.norm(root, axis=1, keepdims=True)
    powered = Projection.fit(x, dim=8, power=0.5)
    reference = Projection.fit(root, dim=8)
    np.testing.assert_allclose(powered.transform(x), reference.transform(root), atol=1e-5)
    assert Projection.identity(4).power == 1.0  # small archives: L2 only, as before
    negative = np.array([[-4.0, 1.0, 0.0, 0.0]], dtype=np.float32)
    ident = Projection(kind="identity", in_dim=4, out_dim=4, power=0.5)
    np.testing.assert_allclose(ident.transform(negative), [[-2 / np.sqrt(5), 1 / np.sqrt(5), 0, 0]], atol=1e-6)


def test_power_changes_the_id_and_survives_save_and_load(tmp_path: Path) -> None:
    x = features()
    plain, powered = Projection.fit(x, dim=8), Projection.fit(x, dim=8, power=0.5)
    assert plain.projection_id != powered.projection_id and "power=0.5" in repr(powered)
    powered.save(tmp_path / "p.npz")
    loaded = Projection.load(tmp_path / "p.npz")
    assert loaded.power == 0.5 and loaded.projection_id == powered.projection_id
    np.testing.assert_array_equal(loaded.transform(x[:5]), powered.transform(x[:5]))
    with pytest.raises(ValueError, match="power"):
        Projection.fit(x, power=0.0)


def rewrite(path: Path, drop: str | None = None, **fields: np.ndarray) -> None:
    """Rewrite an .npz member by member, dropping one and replacing others."""
    with zipfile.ZipFile(path) as source:
        members = {i.filename.removesuffix(".npy"): np.load(io.BytesIO(source.read(i))) for i in source.infolist()}
    members.pop(drop, None)
    members.update(fields)
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    path.write_bytes(buffer.getvalue())


def test_version_1_files_load_without_power_and_version_2_files_need_it(tmp_path: Path) -> None:
    x = features()
    plain = Projection.fit(x, dim=8)
    plain.save(tmp_path / "v1.npz")
    rewrite(tmp_path / "v1.npz", drop="power", format_version=np.int64(1))
    old = Projection.load(tmp_path / "v1.npz")
    assert old.power == 1.0 and old.projection_id == plain.projection_id
    plain.save(tmp_path / "v2.npz")
    rewrite(tmp_path / "v2.npz", drop="power")
    with pytest.raises(IndexFileError, match="missing power"):
        Projection.load(tmp_path / "v2.npz")


def test_the_archive_fits_the_policy_power(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in neu_sample(4):
        (photos / source.name).write_bytes(source.read_bytes())
    with Archive.open(tmp_path / "archive", policy=ProjectionPolicy(min_photos=10, power=0.5)) as archive:
        archive.add([photos])
        assert Projection.load(tmp_path / "archive" / "projection.npz").power == 0.5
        archive.reindex()
        assert "PCA" in archive.status().projection
    with Archive.open(tmp_path / "plain", policy=ProjectionPolicy(min_photos=10, power=1.0)) as archive:
        archive.add([photos])
        assert Projection.load(tmp_path / "plain" / "projection.npz").power == 1.0
