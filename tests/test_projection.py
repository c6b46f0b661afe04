"""Projection: PCA fit/transform, identity, whitening, and strict .npz persistence."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from inspector_search.core import atomic
from inspector_search.core import projection as projection_module
from inspector_search.core.errors import IndexFileError
from inspector_search.core.projection import FORMAT_VERSION, Projection


def features(n: int, dim: int = 64, seed: int = 0, dtype: type = np.float32) -> np.ndarray:
    """L2-normalised, anisotropic features like a CNN's (a few dominant directions)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)) * np.geomspace(5.0, 0.05, dim) + 0.5
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(dtype)


def assert_unit_rows(y: np.ndarray) -> None:
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)


def assert_same(a: Projection, b: Projection) -> None:
    assert (a.kind, a.in_dim, a.out_dim, a.whiten_shrinkage, a.n_fit, a.projection_id) == (
        b.kind, b.in_dim, b.out_dim, b.whiten_shrinkage, b.n_fit, b.projection_id,
    )  # fmt: skip
    x = features(20, a.in_dim, seed=99)
    np.testing.assert_array_equal(a.transform(x), b.transform(x))


# ---------------------------------------------------------------------- fit / transform


def test_fit_and_transform_shapes_and_norms() -> None:
    x = features(300, 64, dtype=np.float16)
    p = Projection.fit(x, dim=16)
    assert (p.kind, p.in_dim, p.out_dim, p.n_fit, p.whiten_shrinkage) == ("pca", 64, 16, 300, None)
    assert len(p.projection_id) == 16 and int(p.projection_id, 16) >= 0
    y = p.transform(x)
    assert y.shape == (300, 16) and y.dtype == np.float32
    assert_unit_rows(y)
    single = p.transform(x[0])
    assert single.shape == (1, 16)
    np.testing.assert_allclose(single[0], y[0], atol=1e-6)


def test_pca_matches_sklearn_up_to_sign() -> None:
    from sklearn.decomposition import PCA

    x = features(400, 32)
    p = Projection.fit(x, dim=8)
    reference = PCA(8, svd_solver="full").fit_transform(x)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    ours = p.transform(x)
    signs = np.sign(np.sum(ours * reference, axis=0))
    np.testing.assert_allclose(ours, reference * signs, atol=1e-4)


@pytest.mark.parametrize(
    ("n", "in_dim", "dim", "expected"), [(5, 64, 256, 4), (2, 64, 256, 1), (100, 8, 256, 8), (100, 64, 16, 16)]
)
def test_out_dim_is_clamped(n: int, in_dim: int, dim: int, expected: int) -> None:
    p = Projection.fit(features(n, in_dim), dim=dim)
    assert p.out_dim == expected
    y = p.transform(features(n, in_dim))
    assert y.shape == (n, expected) and np.all(np.isfinite(y))


def test_fit_rejects_too_few_samples_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        Projection.fit(features(1))
    with pytest.raises(ValueError, match="at least 2"):
        Projection.fit(np.zeros((0, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="whiten_shrinkage"):
        Projection.fit(features(10), whiten_shrinkage=-1.0)
    with pytest.raises(ValueError, match="dim"):
        Projection.fit(features(10), dim=0)
    bad = features(10)
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Projection.fit(bad)


def test_transform_rejects_wrong_width_and_nan() -> None:
    p = Projection.fit(features(50, 16), dim=4)
    with pytest.raises(ValueError, match="expects 16"):
        p.transform(features(3, 17))
    with pytest.raises(ValueError, match="NaN"):
        p.transform(np.full(16, np.inf, dtype=np.float32))


def test_zero_rows_stay_zero() -> None:
    x = features(50, 16)
    p = Projection.fit(x, dim=4)
    assert np.all(p.transform(p._mean) == 0)  # the mean projects to the origin
    identity = Projection.identity(16)
    assert np.all(identity.transform(np.zeros((2, 16), dtype=np.float32)) == 0)


def test_identity_only_normalises() -> None:
    p = Projection.identity(8)
    assert (p.kind, p.in_dim, p.out_dim, p.n_fit, p.whiten_shrinkage) == ("identity", 8, 8, 0, None)
    x = np.arange(16, dtype=np.float16).reshape(2, 8) + 1
    y = p.transform(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, x / np.linalg.norm(x.astype(np.float32), axis=1, keepdims=True), atol=1e-6)
    assert Projection.identity(8).projection_id == p.projection_id != Projection.identity(9).projection_id


def test_projection_id_changes_with_the_fit() -> None:
    a = Projection.fit(features(100, seed=1), dim=8)
    assert Projection.fit(features(100, seed=1), dim=8).projection_id == a.projection_id  # deterministic
    assert Projection.fit(features(100, seed=2), dim=8).projection_id != a.projection_id
    assert Projection.fit(features(100, seed=1), dim=7).projection_id != a.projection_id
    assert Projection.fit(features(100, seed=1), dim=8, whiten_shrinkage=0.5).projection_id != a.projection_id


def test_whitening_with_shrinkage() -> None:
    x = features(500, 32)
    plain = Projection.fit(x, dim=8)
    full = Projection.fit(x, dim=8, whiten_shrinkage=0.0)
    shrunk = Projection.fit(x, dim=8, whiten_shrinkage=0.1)
    huge = Projection.fit(x, dim=8, whiten_shrinkage=1e6)
    for p in (full, shrunk, huge):
        assert p.whiten_shrinkage is not None
        assert_unit_rows(p.transform(x))
    # full whitening gives every component (before L2 normalisation) about the same variance
    centred = (x - full._mean) @ full._components.T * full._scale
    variances = centred.var(axis=0)
    np.testing.assert_allclose(variances / variances.mean(), 1.0, rtol=0.05)
    assert not np.allclose(shrunk.transform(x), plain.transform(x), atol=1e-3)
    # very strong shrinkage means (almost) no whitening: a uniform scale that L2 normalisation cancels
    np.testing.assert_allclose(huge.transform(x), plain.transform(x), atol=1e-4)


def test_large_inputs_are_subsampled_deterministically() -> None:
    x = features(400, 16)
    a = Projection.fit(x, dim=4, max_fit_samples=100, seed=3)
    b = Projection.fit(x, dim=4, max_fit_samples=100, seed=3)
    c = Projection.fit(x, dim=4, max_fit_samples=100, seed=4)
    assert a.n_fit == 400 and a.projection_id == b.projection_id != c.projection_id
    assert Projection.fit(x[:3], dim=4, max_fit_samples=100).out_dim == 2


def test_solver_choice() -> None:
    choose = projection_module._choose_solver
    assert choose(500, 512, 256) == "full"
    assert choose(100_000, 1280, 256) in ("covariance_eigh", "randomized")
    assert choose(1_500, 4096, 256) == "randomized"


# ---------------------------------------------------------------------- persistence


@pytest.mark.parametrize("kind", ["pca", "whitened", "identity"])
def test_save_load_round_trip(tmp_path: Path, kind: str) -> None:
    x = features(200, 32)
    p = {
        "pca": lambda: Projection.fit(x, dim=8),
        "whitened": lambda: Projection.fit(x, dim=8, whiten_shrinkage=0.25),
        "identity": lambda: Projection.identity(32),
    }[kind]()
    path = tmp_path / "projection.npz"
    p.save(path)
    assert_same(Projection.load(path), p)
    assert [f.name for f in tmp_path.iterdir()] == ["projection.npz"]


def test_save_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "projection.npz"
    first = Projection.fit(features(50, 16), dim=4)
    first.save(path)

    def boom(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        Projection.identity(16).save(path)
    monkeypatch.undo()
    assert_same(Projection.load(path), first)
    assert [f.name for f in tmp_path.iterdir()] == ["projection.npz"]


def _npz(**fields: object) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **fields)  # type: ignore[arg-type]
    return buffer.getvalue()


def _fields(p: Projection, path: Path) -> dict[str, np.ndarray]:
    p.save(path)
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _damaged(kind: str, good: bytes, fields: dict[str, np.ndarray]) -> bytes:
    if kind == "empty":
        return b""
    if kind == "garbage":
        return np.random.default_rng(0).bytes(len(good))
    if kind == "truncated":
        return good[: len(good) * 2 // 3]
    if kind == "flipped_byte":
        middle = len(good) // 2
        return good[:middle] + bytes([good[middle] ^ 0xFF]) + good[middle + 1 :]
    if kind == "plain_npy":
        buffer = io.BytesIO()
        np.save(buffer, np.zeros(3))
        return buffer.getvalue()
    if kind == "pickle":
        return _pickled(fields)
    changed: dict[str, object] = {
        "newer_version": {"format_version": np.int64(FORMAT_VERSION + 1)},
        "version_zero": {"format_version": np.int64(0)},
        "unknown_kind": {"kind": np.str_("lda")},
        "missing_field": {},
        "wrong_components_shape": {"components": fields["components"][:, :-1]},
        "wrong_dtype": {"mean": fields["mean"].astype(np.float64)},
        "tampered_values": {"mean": fields["mean"] + np.float32(0.01)},
        "string_version": {"format_version": np.str_("1")},
    }[kind]
    new = {**fields, **changed}  # type: ignore[dict-item]
    if kind == "missing_field":
        del new["components"]
    return _npz(**new)


def _pickled(fields: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, value in fields.items():
            member = io.BytesIO()
            np.save(member, np.array([value], dtype=object) if name == "mean" else value, allow_pickle=True)
            archive.writestr(f"{name}.npy", member.getvalue())
    return buffer.getvalue()


DAMAGES = [
    "empty", "garbage", "truncated", "flipped_byte", "plain_npy", "pickle", "newer_version", "version_zero",
    "unknown_kind", "missing_field", "wrong_components_shape", "wrong_dtype", "tampered_values", "string_version",
]  # fmt: skip


@pytest.mark.parametrize("kind", DAMAGES)
def test_damaged_file_raises_index_file_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "projection.npz"
    fields = _fields(Projection.fit(features(100, 16), dim=4, whiten_shrinkage=0.1), path)
    path.write_bytes(_damaged(kind, path.read_bytes(), fields))
    with pytest.raises(IndexFileError) as info:
        Projection.load(path)
    assert info.value.path == path and info.value.reason
    if kind == "newer_version":
        assert "newer version" in info.value.reason


def test_missing_file_raises_index_file_error(tmp_path: Path) -> None:
    with pytest.raises(IndexFileError, match="missing"):
        Projection.load(tmp_path / "projection.npz")
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(IndexFileError):
        Projection.load(tmp_path / "folder.npz")
