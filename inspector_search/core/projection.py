"""PCA projection of raw CNN features to the short, L2-normalised vectors that the index stores.

Why a projection: raw CNN features are long (512-2048 floats) and partly redundant; projecting
them on their top principal components makes the index smaller and faster, and optional
whitening (with shrinkage) evens out the few dominant directions that otherwise swamp the cosine
similarity. While the archive is still too small to fit a meaningful PCA,
:meth:`Projection.identity` is used instead (L2 normalisation only).

The fitted state is three plain float32 arrays -- ``mean`` (in_dim), ``components``
(out_dim x in_dim) and an optional per-component ``scale`` -- so applying it is plain numpy::

    y = (x - mean) @ components.T * scale;   y /= ||y||   (zero rows stay zero)

It is persisted as ``projection.npz`` (format_version 1), written atomically and read back with
strict checks: a missing, truncated, garbage, newer-version or inconsistent file raises
:class:`~inspector_search.core.errors.IndexFileError` (the file is derived and can be rebuilt from
the catalog), never a raw numpy or zip exception.
"""

from __future__ import annotations

import hashlib
import io
import math
import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes
from .errors import IndexFileError

__all__ = ["FORMAT_VERSION", "MAX_FIT_SAMPLES", "Projection"]

FORMAT_VERSION = 2
"""Version of the ``projection.npz`` layout; files with a larger number are refused. Version 2 added
``power``; version-1 files are read with power 1 (no power normalisation)."""

MAX_FIT_SAMPLES = 100_000
"""At most this many rows (a seeded random subset) are used to fit the PCA: the principal subspace
of 100k L2-normalised CNN features is stable, and fitting on millions would only cost time."""

_KINDS = ("pca", "identity")
_CHUNK_ROWS = 8192  # transform works in chunks so float16 -> float32 and centring stay small in memory
_SMALL_PROBLEM = 4_000_000  # n_samples * in_dim up to which the exact 'full' SVD is cheap
_ROWWISE_LIMIT = 32  # up to this many rows, transform multiplies row by row (see _project_rows)
_MIN_RELATIVE_VARIANCE = 1e-6  # floor of (eigval / mean eigval + shrinkage) before the inverse sqrt
_MAX_FILE_BYTES = 1 << 30  # a projection file is a few MB; anything far larger is not ours
_FIELDS = (
    "format_version", "kind", "projection_id", "in_dim", "out_dim",
    "mean", "components", "scale", "whiten_shrinkage", "n_fit",
)  # fmt: skip


class Projection:
    """A fitted (or identity) feature projection; immutable once built.

    Attributes: ``kind`` ("pca" or "identity"), ``in_dim``, ``out_dim``, ``whiten_shrinkage``
    (None when not whitened), ``power`` (exponent of the power normalisation applied to the raw
    features before everything else; 1 = none), ``n_fit`` (feature rows passed to :meth:`fit`, before subsampling;
    0 for the identity -- the archive's refit policy compares it with its photo count) and
    ``projection_id`` -- the first 16 hex digits of a sha256 over all
    parameters, so it changes whenever the fit changes and lets the archive tell whether a stored
    index was built with this projection.
    """

    def __init__(
        self,
        *,
        kind: str,
        in_dim: int,
        out_dim: int,
        mean: np.ndarray | None = None,
        components: np.ndarray | None = None,
        scale: np.ndarray | None = None,
        whiten_shrinkage: float | None = None,
        n_fit: int = 0,
        power: float = 1.0,
    ) -> None:
        """Build from explicit parameters (use :meth:`fit`, :meth:`identity` or :meth:`load` instead).

        Raises ValueError when the parameters are inconsistent, so that no half-valid projection
        can exist.
        """
        if kind not in _KINDS:
            raise ValueError(f"unknown projection kind {kind!r}")
        self.kind = kind
        self.in_dim = int(in_dim)
        self.out_dim = int(out_dim)
        self.whiten_shrinkage = None if whiten_shrinkage is None else float(whiten_shrinkage)
        self.n_fit = int(n_fit)
        self.power = float(power)
        self._mean = _optional_f32(mean)
        self._components = _optional_f32(components)
        self._scale = _optional_f32(scale)
        self._validate()
        self.projection_id = self._compute_id()

    # ------------------------------------------------------------------ construction

    @classmethod
    def identity(cls, dim: int) -> Projection:
        """A projection that only L2-normalises ``dim``-long features.

        Used while the archive holds too few images for a PCA to mean anything; vectors then keep
        the extractor's full dimension.
        """
        return cls(kind="identity", in_dim=dim, out_dim=dim)

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        dim: int = 256,
        whiten_shrinkage: float | None = None,
        seed: int = 0,
        *,
        max_fit_samples: int = MAX_FIT_SAMPLES,
        power: float = 1.0,
    ) -> Projection:
        """Fit a PCA on L2-normalised raw features (N x in_dim, float16 or float32).

        ``out_dim = min(dim, n_samples - 1, in_dim)`` so that a small archive still gets a valid
        projection. At most ``max_fit_samples`` rows (seeded random subset) are used. The SVD
        solver is 'full' for small problems, sklearn's exact and fast 'covariance_eigh' when there
        are more samples than features (sklearn >= 1.5), and seeded 'randomized' otherwise.

        With ``whiten_shrinkage = s >= 0`` component j is scaled by
        ``1 / sqrt(eigval_j / mean_eigval + s)`` (mean over the kept components): s = 0 is full
        PCA whitening, larger s shrinks toward no whitening (a uniform scale, which the final L2
        normalisation cancels).

        With ``power = a != 1`` every feature value v becomes ``sign(v) * |v| ** a`` (then the row is
        L2-normalised again) before the PCA, here and in :meth:`transform`: a = 0.5 (square root)
        damps the few large activations that otherwise dominate the cosine (measured on neu_det in
        ``docs/quality.md``). Raises ValueError for fewer than 2 samples or bad arguments.
        """
        x = _as_feature_matrix(features, None)
        _check_fit_arguments(x.shape[0], dim, whiten_shrinkage)
        _check_power(power)
        n_fit = x.shape[0]
        x = _power_normalised(_subsample(x, max_fit_samples, seed), power)
        n_samples, in_dim = x.shape
        out_dim = min(dim, n_samples - 1, in_dim)

        from sklearn.decomposition import PCA  # heavy import, deferred until a fit is really needed

        pca = PCA(n_components=out_dim, svd_solver=_choose_solver(n_samples, in_dim, out_dim), random_state=seed)
        pca.fit(x)
        scale = None
        if whiten_shrinkage is not None:
            scale = _whitening_scale(np.asarray(pca.explained_variance_[:out_dim]), whiten_shrinkage)
        return cls(
            kind="pca",
            in_dim=in_dim,
            out_dim=out_dim,
            mean=pca.mean_,
            components=pca.components_[:out_dim],
            scale=scale,
            whiten_shrinkage=whiten_shrinkage,
            n_fit=n_fit,
            power=power,
        )

    # ------------------------------------------------------------------ use

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Project features (N x in_dim, or one in_dim vector) to float32 (N, out_dim) unit rows.

        A 1-D input gives a (1, out_dim) result. Rows that project to zero stay zero rather than
        becoming NaN. Raises ValueError for a wrong width or non-finite values.
        """
        x = _as_feature_matrix(features, self.in_dim)
        out = np.empty((x.shape[0], self.out_dim), dtype=np.float32)
        for start in range(0, x.shape[0], _CHUNK_ROWS):
            chunk = _power_normalised(x[start : start + _CHUNK_ROWS].astype(np.float32, copy=False), self.power)
            if self.kind == "pca":
                assert self._mean is not None and self._components is not None
                chunk = _project_rows(chunk - self._mean, self._components)
                if self._scale is not None:
                    chunk *= self._scale
            out[start : start + _CHUNK_ROWS] = _l2_normalise(chunk)
        return out

    # ------------------------------------------------------------------ persistence

    def save(self, path: Path) -> None:
        """Write the projection to ``path`` (.npz, format_version 2) atomically.

        The old file, if any, stays intact until the new one is complete (see ``core.atomic``).
        """
        empty = np.zeros(0, dtype=np.float32)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            format_version=np.int64(FORMAT_VERSION),
            kind=np.str_(self.kind),
            projection_id=np.str_(self.projection_id),
            in_dim=np.int64(self.in_dim),
            out_dim=np.int64(self.out_dim),
            mean=empty if self._mean is None else self._mean,
            components=empty if self._components is None else self._components,
            scale=empty if self._scale is None else self._scale,
            whiten_shrinkage=np.float64(np.nan if self.whiten_shrinkage is None else self.whiten_shrinkage),
            n_fit=np.int64(self.n_fit),
            power=np.float64(self.power),
        )
        atomic_write_bytes(Path(path), buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Projection:
        """Read a projection written by :meth:`save`.

        Raises IndexFileError(path, reason) when the file is missing, truncated, not a projection
        file, written by a newer version, or internally inconsistent (shapes, dtypes, or a
        projection_id that does not match the stored parameters); the caller then refits.
        """
        path = Path(path)
        fields = _read_npz(path)
        missing = [name for name in _FIELDS if name not in fields]
        if missing:
            raise IndexFileError(path, f"not a projection file (missing {', '.join(missing)})")
        version = _scalar(fields["format_version"], int, path, "format_version")
        if version > FORMAT_VERSION:
            raise IndexFileError(
                path, f"written by a newer version (format {version}, this one reads {FORMAT_VERSION})"
            )
        if version < 1:
            raise IndexFileError(path, f"unknown format version {version}")
        if version >= 2 and "power" not in fields:
            raise IndexFileError(path, "not a projection file (missing power)")
        try:
            projection = cls(**_constructor_arguments(fields, path))
        except ValueError as exc:
            raise IndexFileError(path, f"inconsistent projection file: {exc}") from None
        stored_id = _scalar(fields["projection_id"], str, path, "projection_id")
        if stored_id != projection.projection_id:
            raise IndexFileError(path, "projection parameters do not match their stored id (damaged file)")
        return projection

    # ------------------------------------------------------------------ internals

    def __repr__(self) -> str:
        """Kind, dimensions, whitening and id, for logs and test failures."""
        whiten = "" if self.whiten_shrinkage is None else f", whiten_shrinkage={self.whiten_shrinkage}"
        power = "" if self.power == 1.0 else f", power={self.power:g}"
        return f"Projection({self.kind}, {self.in_dim} -> {self.out_dim}{whiten}{power}, id={self.projection_id})"

    def _validate(self) -> None:
        """Check that dims and arrays agree with ``kind``; raise ValueError otherwise."""
        if self.n_fit < 0:
            raise ValueError(f"n_fit must be >= 0, got {self.n_fit}")
        if self.in_dim < 1 or self.out_dim < 1:
            raise ValueError(f"dimensions must be >= 1 (in_dim={self.in_dim}, out_dim={self.out_dim})")
        if self.whiten_shrinkage is not None and not (
            math.isfinite(self.whiten_shrinkage) and self.whiten_shrinkage >= 0
        ):
            raise ValueError(f"whiten_shrinkage must be a finite number >= 0, got {self.whiten_shrinkage}")
        _check_power(self.power)
        if self.kind == "identity":
            if self.in_dim != self.out_dim or self.whiten_shrinkage is not None:
                raise ValueError("an identity projection keeps its dimension and does not whiten")
            if any(a is not None for a in (self._mean, self._components, self._scale)):
                raise ValueError("an identity projection has no mean, components or scale")
            return
        if self.out_dim > self.in_dim:
            raise ValueError(f"out_dim {self.out_dim} exceeds in_dim {self.in_dim}")
        _check_shape("mean", self._mean, (self.in_dim,))
        _check_shape("components", self._components, (self.out_dim, self.in_dim))
        if (self._scale is None) != (self.whiten_shrinkage is None):
            raise ValueError("a whitening scale goes with whiten_shrinkage and vice versa")
        if self._scale is not None:
            _check_shape("scale", self._scale, (self.out_dim,))

    def _compute_id(self) -> str:
        """sha256 over every stored field (kind, dims, shrinkage, n_fit, array bytes), first 16 hex digits."""
        digest = hashlib.sha256()
        header = f"{self.kind}|{self.in_dim}|{self.out_dim}|{self.whiten_shrinkage!r}|{self.n_fit}"
        if self.power != 1.0:  # absent for power 1, so that ids of version-1 files stay valid
            header += f"|power={self.power!r}"
        digest.update(header.encode("ascii"))
        for name, array in (("mean", self._mean), ("components", self._components), ("scale", self._scale)):
            digest.update(f"|{name}:".encode("ascii"))
            if array is not None:
                digest.update(np.ascontiguousarray(array, dtype="<f4").tobytes())
        return digest.hexdigest()[:16]


# ---------------------------------------------------------------------- helpers


def _check_fit_arguments(n_samples: int, dim: int, whiten_shrinkage: float | None) -> None:
    """ValueError for fewer than 2 samples, dim < 1 or a negative/non-finite shrinkage."""
    if n_samples < 2:
        raise ValueError(f"cannot fit a projection on {n_samples} sample(s); at least 2 are needed")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if whiten_shrinkage is not None and not (math.isfinite(whiten_shrinkage) and whiten_shrinkage >= 0):
        raise ValueError(f"whiten_shrinkage must be None or a finite number >= 0, got {whiten_shrinkage}")


def _project_rows(centred: np.ndarray, components: np.ndarray) -> np.ndarray:
    """``centred @ components.T``; a few rows (a search: the query and its neighbours) one at a time.

    Why: OpenBLAS wakes its thread pool for even a 20 x 1280 by 1280 x 256 product, which costs
    2-12 ms on a busy 2-core laptop, while 20 matrix-vector products take about 0.5 ms.
    """
    if len(centred) > _ROWWISE_LIMIT:
        return centred @ components.T
    return np.stack([components @ row for row in centred]) if len(centred) else centred @ components.T


def _check_power(power: float) -> None:
    """ValueError unless ``power`` is a finite number > 0."""
    if not (isinstance(power, int | float) and math.isfinite(power) and power > 0):
        raise ValueError(f"power must be a finite number > 0, got {power!r}")


def _power_normalised(rows: np.ndarray, power: float) -> np.ndarray:
    """``sign(v) * |v| ** power`` of every value, rows L2-normalised again; ``rows`` itself for power 1."""
    if power == 1.0:
        return rows
    powered = np.sign(rows) * np.abs(rows) ** np.float32(power)
    return _l2_normalise(powered.astype(np.float32, copy=False))


def _optional_f32(array: np.ndarray | None) -> np.ndarray | None:
    """A private, read-only, C-contiguous native float32 copy of ``array`` (or None); must be finite."""
    if array is None:
        return None
    out = np.array(array, dtype=np.float32, order="C", copy=True)
    if not np.all(np.isfinite(out)):
        raise ValueError("projection parameters contain NaN or infinity")
    out.flags.writeable = False
    return out


def _check_shape(name: str, array: np.ndarray | None, shape: tuple[int, ...]) -> None:
    """Raise ValueError unless ``array`` exists and has exactly ``shape``."""
    if array is None:
        raise ValueError(f"a PCA projection needs {name}")
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")


def _as_feature_matrix(features: np.ndarray, width: int | None) -> np.ndarray:
    """View ``features`` as a finite 2-D float array (1-D becomes one row); ValueError otherwise."""
    x = np.asarray(features)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2:
        raise ValueError(f"features must be 1-D or 2-D, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    if width is not None and x.shape[1] != width:
        raise ValueError(f"features have {x.shape[1]} columns, the projection expects {width}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or infinity")
    return x


def _subsample(x: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """At most ``max_rows`` rows of ``x`` (a seeded random subset in original order), as float32."""
    if max_rows < 2:
        raise ValueError(f"max_fit_samples must be >= 2, got {max_rows}")
    if x.shape[0] > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(x.shape[0], size=max_rows, replace=False))
        x = x[rows]
    return np.ascontiguousarray(x, dtype=np.float32)


def _choose_solver(n_samples: int, in_dim: int, out_dim: int) -> str:
    """Pick the PCA SVD solver: exact 'full' when cheap, 'covariance_eigh' when n >= d, else 'randomized'.

    Measured on 100k x 1280 float32 -> 256 components: 'covariance_eigh' 1.5 s (exact),
    'randomized' 11.8 s (approximate); 'covariance_eigh' needs sklearn >= 1.5.
    """
    if n_samples * in_dim <= _SMALL_PROBLEM:
        return "full"
    if n_samples >= in_dim and _sklearn_has_covariance_eigh():
        return "covariance_eigh"
    if out_dim >= 0.8 * min(n_samples, in_dim):
        return "full"  # randomized SVD is neither fast nor accurate when most components are kept
    return "randomized"


def _sklearn_has_covariance_eigh() -> bool:
    """True when the installed scikit-learn offers PCA(svd_solver='covariance_eigh') (added in 1.5)."""
    import sklearn

    try:
        major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (1, 5)


def _whitening_scale(eigenvalues: np.ndarray, shrinkage: float) -> np.ndarray:
    """Per-component scale ``1 / sqrt(eigval_j / mean_eigval + shrinkage)`` as float32.

    Relative eigenvalues make the scale dimensionless; the floor keeps a zero-variance component
    with zero shrinkage from producing infinity. Degenerate data (all variances zero) gives ones.
    """
    eig = np.asarray(eigenvalues, dtype=np.float64)
    mean_eig = float(eig.mean()) if eig.size else 0.0
    if not mean_eig > 0:
        return np.ones(eig.shape, dtype=np.float32)
    relative = np.maximum(eig / mean_eig + shrinkage, _MIN_RELATIVE_VARIANCE)
    return (1.0 / np.sqrt(relative)).astype(np.float32)


def _l2_normalise(rows: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm; all-zero rows are left at zero instead of becoming NaN."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read every array of an .npz without trusting it; any failure becomes IndexFileError.

    Each member is read through zipfile (which verifies its CRC-32) and its .npy header is checked
    against the member's size before any array is allocated, so that a damaged header cannot make
    numpy allocate gigabytes. Object arrays (pickles) are refused.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise IndexFileError(path, "projection file is missing") from None
    except OSError as exc:
        raise IndexFileError(path, f"cannot read projection file ({exc.strerror or exc})") from None
    if size > _MAX_FILE_BYTES:
        raise IndexFileError(path, f"file is implausibly large for a projection ({size} bytes)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if info.file_size <= _MAX_FILE_BYTES]
            if len(members) != len(archive.infolist()):
                raise ValueError("oversized member")
            return {info.filename.removesuffix(".npy"): _parse_npy(archive.read(info)) for info in members}
    except Exception as exc:  # parsing untrusted bytes: every failure means "damaged, rebuild it"
        raise IndexFileError(path, f"damaged or not a projection file ({type(exc).__name__}: {exc})") from None


def _parse_npy(raw: bytes) -> np.ndarray:
    """Decode one .npy member from bytes after checking that its header matches its length."""
    stream = io.BytesIO(raw)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError("object arrays are not allowed")
    count = math.prod(shape)
    payload = memoryview(raw)[stream.tell() :]
    if count * dtype.itemsize != len(payload):
        raise ValueError(f"array header {shape} {dtype} does not match {len(payload)} data bytes")
    array = np.frombuffer(payload, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran_order else "C").copy()


def _scalar(array: np.ndarray, kind: type, path: Path, name: str) -> int | float | str:
    """The single value of a 0-d field as ``kind`` (int, float or str); IndexFileError otherwise."""
    ok = array.shape == () and (
        (kind is int and np.issubdtype(array.dtype, np.integer))
        or (kind is float and np.issubdtype(array.dtype, np.floating))
        or (kind is str and array.dtype.kind == "U")
    )
    if not ok:
        raise IndexFileError(path, f"field {name} has an unexpected type ({array.dtype}, shape {array.shape})")
    return kind(array.item())


def _constructor_arguments(fields: dict[str, np.ndarray], path: Path) -> dict[str, object]:
    """Turn the stored fields into :class:`Projection` keyword arguments (dtype-checked)."""
    arrays: dict[str, np.ndarray | None] = {}
    for name in ("mean", "components", "scale"):
        array = fields[name]
        if array.dtype != np.float32:
            raise IndexFileError(path, f"field {name} has dtype {array.dtype}, expected float32")
        arrays[name] = None if array.size == 0 else array
    shrinkage = float(_scalar(fields["whiten_shrinkage"], float, path, "whiten_shrinkage"))
    return {
        "kind": _scalar(fields["kind"], str, path, "kind"),
        "in_dim": _scalar(fields["in_dim"], int, path, "in_dim"),
        "out_dim": _scalar(fields["out_dim"], int, path, "out_dim"),
        "whiten_shrinkage": None if math.isnan(shrinkage) else shrinkage,
        "n_fit": _scalar(fields["n_fit"], int, path, "n_fit"),
        "power": float(_scalar(fields["power"], float, path, "power")) if "power" in fields else 1.0,
        **arrays,
    }
