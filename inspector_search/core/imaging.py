"""Decoding, orientation and preprocessing of inspection photos.

Every image the app reads goes through :func:`open_image`, which turns any supported file (or bytes
from the clipboard) into an RGB ``PIL.Image`` with its EXIF orientation applied, decoded no larger
than needed, and which turns every failure into an :class:`ImageError` with a short reason. The
model input is built by :func:`preprocess` from a :class:`PreprocessSpec` (read from the model
manifest). :func:`iter_image_files` expands the folders a user drops into the image files in them.
"""

from __future__ import annotations

import errno
import functools
import io
import math
import os
import re
import stat
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from . import decode_budget
from .errors import ImageError, QueryError

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".bmp", ".webp"}
)

MAX_PIXELS = 200_000_000
"""Images with more pixels than this are refused before decoding (decompression-bomb guard)."""

RESIZE_POLICIES: frozenset[str] = frozenset({"squash", "shorter_center_crop", "letterbox"})

MEMORY_NAME = "<memory>"

_EXIF_IFD = 0x8769
_TAG_ORIENTATION = 0x0112
_TAG_DATETIME = 0x0132
_TAG_DATETIME_ORIGINAL = 0x9003
_EXIF_DATE = re.compile(r"\s*(\d{4})[:\-/](\d{2})[:\-/](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?")

# EXIF orientation -> the transpose that shows the photo upright (same table as ImageOps.exif_transpose).
_ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_QUARTER_TURNS = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
# Formats whose decoding runs an external program (Ghostscript): never run it on an untrusted file.
_EXTERNAL_DECODERS = frozenset({"EPS"})
_OS_REASONS = {
    errno.ENOENT: "file not found",
    errno.ENOTDIR: "file not found",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "is a folder",
    errno.ELOOP: "too deep symlink / loop",
    errno.ENAMETOOLONG: "file name too long",
    errno.EIO: "read error (I/O)",
}


@dataclass(frozen=True)
class ImageInfo:
    """Facts about the original file: size as displayed (after EXIF orientation), format, capture time.

    ``exif_datetime`` is the camera's local time (naive), from DateTimeOriginal or else DateTime.
    """

    width: int
    height: int
    format: str
    exif_datetime: datetime | None


@dataclass(frozen=True)
class PreprocessSpec:
    """How a model wants its input: ``input_size`` is (H, W); pixels become ``(p * scale - mean) / std``.

    ``resize`` is ``"squash"`` (whole image stretched to the input size), ``"shorter_center_crop"``
    (shorter side to the target, centre crop) or ``"letterbox"`` (fit inside, pad with the mean).
    """

    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str = "squash"
    scale: float = 1 / 255

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_POLICIES:
            raise ValueError(f"unknown resize policy {self.resize!r}; expected one of {sorted(RESIZE_POLICIES)}")
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise ValueError(f"input_size must be two positive integers (H, W), got {self.input_size!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s == 0 for s in self.std):
            raise ValueError("mean and std must have three values each, std non-zero")


# --------------------------------------------------------------------------- decoding


def open_image(source: Path | str | bytes | BinaryIO, min_side: int = 0) -> tuple[Image.Image, ImageInfo]:
    """Decode a photo into an upright RGB image and tell what the original file is.

    ``source`` is a path, encoded bytes (clipboard) or a binary stream. With ``min_side`` > 0 the image
    is decoded at reduced size (JPEG DCT scaling, then integer ``reduce``) while its shorter side stays
    >= ``min_side``; this keeps opening big camera files cheap when only a model input or a thumbnail
    is needed. The format is detected from the content, never from the file name; animated and
    multi-page files give their first frame. Every failure is an :class:`ImageError` with a short reason.
    """
    if min_side < 0:
        raise ValueError(f"min_side must be >= 0, got {min_side}")
    name, fp, owned = _open_source(source)
    try:
        with _quiet_bomb_warning():
            return _decode(fp, name, min_side)
    finally:
        if owned:
            fp.close()


def thumbnail(source: Path | str | bytes | BinaryIO, max_side: int) -> Image.Image:
    """Return an upright RGB image fitting in ``max_side`` x ``max_side``, decoded cheaply (for the GUI)."""
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    image, _ = open_image(source, min_side=max_side)
    image.thumbnail((max_side, max_side), reducing_gap=2.0)
    return image


def _open_source(source: Path | str | bytes | BinaryIO) -> tuple[str, BinaryIO, bool]:
    """Give (name for errors, readable stream, whether we must close it); refuse what is not a file."""
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise ImageError(MEMORY_NAME, "empty file")
        return MEMORY_NAME, io.BytesIO(source), False
    if not isinstance(source, str | os.PathLike):
        return MEMORY_NAME, _memory_stream(source), False
    path = Path(source)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise ImageError(path, "is a folder")
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(path, "not a regular file")
        if info.st_size == 0:
            raise ImageError(path, "empty file")
        return str(path), open(path, "rb"), True  # noqa: SIM115 - closed by open_image
    except OSError as exc:
        raise ImageError(path, _os_reason(path, exc)) from exc


def _memory_stream(stream: BinaryIO) -> BinaryIO:
    """The stream itself if it can seek (Pillow reads it from its start), else its bytes; empty is refused."""
    try:
        if not stream.seekable():
            stream = io.BytesIO(stream.read())
        empty = stream.seek(0, os.SEEK_END) == 0
    except (OSError, ValueError) as exc:  # closed or failing stream
        raise ImageError(MEMORY_NAME, f"cannot read ({exc})") from exc
    if empty:
        raise ImageError(MEMORY_NAME, "empty file")
    return stream


def _decode(fp: BinaryIO, name: str, min_side: int) -> tuple[Image.Image, ImageInfo]:
    """Identify, check the size, decode (reduced) and normalise to upright RGB."""
    img = _identify(fp, name)
    fmt = img.format or "unknown"
    width, height = img.size
    if fmt in ("JPEG", "MPO"):
        _check_jpeg_holds_its_size(fp, name, width, height)
    try:
        if min_side and fmt in ("JPEG", "MPO"):
            _draft_jpeg(img, min_side)  # the size below is the reduced one libjpeg will decode
    except Exception as exc:
        raise ImageError(name, _decode_reason(exc)) from exc
    estimate = decode_budget.decoded_bytes(*img.size, img.mode)
    with decode_budget.DECODE_BUDGET.hold(estimate):  # decoding memory bounded whatever the thread count
        img, taken_at, orientation = _load_upright_rgb(img, name, min_side)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return img, ImageInfo(width=width, height=height, format=fmt, exif_datetime=taken_at)


def _load_upright_rgb(img: ImageFile.ImageFile, name: str,
                      min_side: int) -> tuple[Image.Image, datetime | None, int]:
    """Decode (reduced to ``min_side``), convert to RGB and turn upright; (image, capture time, orientation)."""
    try:
        img.load()
        taken_at, orientation = _exif_facts(img)
        img = _working_mode(img)
        if min_side and (factor := min(img.size) // min_side) >= 2:
            img = img.reduce(factor)
    except Exception as exc:  # any decoder failure on a hostile or damaged file is a file problem
        raise ImageError(name, _decode_reason(exc)) from exc
    try:
        img = _to_rgb(img)
        if orientation in _ORIENTATION_FIX:
            img = img.transpose(_ORIENTATION_FIX[orientation])
    except ValueError as exc:  # a mode Pillow cannot convert to RGB (LAB TIFF...)
        raise ImageError(name, f"unsupported colour mode ({img.mode})") from exc
    except Exception as exc:
        raise ImageError(name, _decode_reason(exc)) from exc
    return img, taken_at, orientation


def _identify(fp: BinaryIO, name: str) -> ImageFile.ImageFile:
    """Read only the header: recognise the format and refuse oversize images before any decoding."""
    try:
        img = _open_header(fp)
    except Image.DecompressionBombError as exc:
        pixels, pillow_limit = _bomb_numbers(exc)
        # Above our limit: say ours. Below it, a plugin applied Pillow's stricter one: say that one.
        limit = MAX_PIXELS if pixels is None or pixels > MAX_PIXELS or pillow_limit is None else pillow_limit
        raise ImageError(name, _too_large_reason(pixels, limit)) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(name, "not an image (unrecognised format)") from exc
    except Exception as exc:  # a plugin choking on a damaged header
        raise ImageError(name, _decode_reason(exc)) from exc
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageError(name, "truncated or corrupt image data")
    if width * height > MAX_PIXELS:
        raise ImageError(name, _too_large_reason(width * height, MAX_PIXELS))
    return img


def _open_header(fp: BinaryIO) -> ImageFile.ImageFile:
    """``Image.open``, except that Pillow's hard size limit gives way to MAX_PIXELS where it can."""
    try:
        return Image.open(fp, formats=_decodable_formats())
    except Image.DecompressionBombError as exc:
        pixels, _ = _bomb_numbers(exc)
        if pixels is None or pixels > MAX_PIXELS:
            raise
    return _open_past_pillow_limit(fp)


@functools.cache
def _decodable_formats() -> tuple[str, ...]:
    """Every format Pillow can read, in its own detection order, minus those that run external programs."""
    Image.init()
    return tuple(fmt for fmt in Image.ID if fmt not in _EXTERNAL_DECODERS)


def _bomb_numbers(exc: Image.DecompressionBombError) -> tuple[int | None, int | None]:
    """(pixels, limit) as Pillow states them in a DecompressionBombError message."""
    pixels = re.search(r"\((\d+) pixels\)", str(exc))
    limit = re.search(r"limit of (\d+) pixels", str(exc))
    return (int(pixels.group(1)) if pixels else None), (int(limit.group(1)) if limit else None)


def _open_past_pillow_limit(fp: BinaryIO) -> ImageFile.ImageFile:
    """Identify an image that ``Image.open`` refused for size although it is within MAX_PIXELS.

    Pillow's hard limit is 2 x ``Image.MAX_IMAGE_PIXELS`` (about 179 MP), below ours (a 200 MP phone
    photo is 199.8 MP). Rather than raise that process-wide setting, this repeats what ``Image.open``
    does (same plugin registry, same detection order) without its size check.
    """
    fp.seek(0)
    prefix = fp.read(16)
    for fmt in _decodable_formats():
        factory, accept = Image.OPEN[fmt]
        accepted = accept is None or accept(prefix)
        if not accepted or isinstance(accepted, str):
            continue
        fp.seek(0)
        try:
            return factory(fp, "")
        except (SyntaxError, IndexError, TypeError, struct.error):
            continue
    raise UnidentifiedImageError("no plugin recognised the data")


def _too_large_reason(pixels: int | None, limit: int) -> str:
    if pixels is None:
        return f"image too large (limit {limit / 1e6:.3g} megapixels)"
    return f"image too large ({pixels / 1e6:.3g} megapixels, limit {limit / 1e6:.3g})"


@contextmanager
def _quiet_bomb_warning() -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning: we check the size ourselves, against MAX_PIXELS.

    The global ``Image.MAX_IMAGE_PIXELS`` is left alone so that other code keeps Pillow's default.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _check_jpeg_holds_its_size(fp: BinaryIO, name: str, width: int, height: int) -> None:
    """Refuse a JPEG whose header claims far more pixels than its data can hold.

    libjpeg decodes such a file without an error: the blocks the data lacks come out as one flat colour,
    and the photo would be indexed as a grey image of the claimed size. Every 8x8 block of the luminance
    channel costs at least one bit with Huffman coding (a DC code; progressive files too), so a file
    smaller than that bound cannot be complete. Real photos are hundreds of times above it.
    """
    blocks = -(-width // 8) * -(-height // 8)
    needed = blocks // 8
    size = fp.seek(0, os.SEEK_END)
    fp.seek(0)
    if size < needed:
        raise ImageError(name, f"the header says {width}x{height} pixels but the file holds far too little data for "
                               f"that ({size:,} bytes; a complete one needs at least {needed:,}): damaged or forged")


def _draft_jpeg(img: ImageFile.ImageFile, min_side: int) -> None:
    """Ask libjpeg for the largest 1/2, 1/4 or 1/8 scaling that keeps the shorter side >= min_side."""
    width, height = img.size
    shorter = min(width, height)
    for scale in (8, 4, 2):
        if -(-shorter // scale) >= min_side:
            # draft() picks the largest power of two <= min(width // w, height // h): exactly `scale` here.
            img.draft("RGB", (width // scale, height // scale))
            return


def _decode_reason(exc: BaseException) -> str:
    """A short reason for a decoder failure."""
    if isinstance(exc, Image.DecompressionBombError):  # raised while decoding a frame (GIF, TIFF tile)
        pixels, limit = _bomb_numbers(exc)
        return _too_large_reason(pixels, limit or MAX_PIXELS)
    if isinstance(exc, MemoryError):
        return "not enough memory to decode image"
    if isinstance(exc, OSError) and exc.errno in _OS_REASONS:
        return _OS_REASONS[exc.errno]
    return "truncated or corrupt image data"


def _os_reason(path: Path, exc: OSError) -> str:
    """A short reason for a file-system error on ``path``."""
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return "broken symlink"
    reason = _OS_REASONS.get(exc.errno) if exc.errno is not None else None
    return reason or f"cannot read ({exc.strerror or type(exc).__name__})"


def _exif_facts(img: Image.Image) -> tuple[datetime | None, int]:
    """(capture time, EXIF orientation 1..8); a damaged EXIF block gives (None, 1), not an error."""
    try:
        exif = img.getexif()
        orientation = exif.get(_TAG_ORIENTATION, 1)
        candidates = (
            exif.get_ifd(_EXIF_IFD).get(_TAG_DATETIME_ORIGINAL),
            exif.get(_TAG_DATETIME_ORIGINAL),
            exif.get(_TAG_DATETIME),
        )
    except Exception:  # Pillow raises many kinds of errors on malformed EXIF; the photo is still fine
        return None, 1
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = 1
    taken_at = next((dt for dt in map(_parse_exif_datetime, candidates) if dt is not None), None)
    return taken_at, orientation


def _parse_exif_datetime(value: object) -> datetime | None:
    """Parse an EXIF date like ``"2021:03:04 05:06:07"`` (NUL padded, ``-`` or ``T`` tolerated); else None."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    found = _EXIF_DATE.match(value.strip("\x00 "))
    if found is None:
        return None
    try:
        return datetime(*(int(part or 0) for part in found.groups()))
    except ValueError:  # "0000:00:00 00:00:00", month 13...
        return None


def _working_mode(img: Image.Image) -> Image.Image:
    """Convert the modes that ``Image.reduce`` cannot handle, keeping transparency for later."""
    mode = img.mode
    if mode.startswith("I;16"):
        return img.convert("I")
    if "transparency" in img.info and mode in ("1", "L", "P", "RGB"):
        return img.convert("RGBA")
    if mode == "PA":
        return img.convert("RGBA")
    if mode == "P":
        return img.convert("RGB")
    if mode == "1":
        return img.convert("L")
    return img


def _to_rgb(img: Image.Image) -> Image.Image:
    """Make any decoded mode RGB: alpha composited on white, high bit depth stretched to 8 bits."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I", "F") or mode.startswith("I;16"):
        return _stretch_to_8bit(img).convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")  # L, CMYK (Pillow undoes Adobe's inversion), YCbCr, ...


def _stretch_to_8bit(img: Image.Image) -> Image.Image:
    """Map a 16/32-bit or float greyscale image to 8 bits by its actual value range (no clipping)."""
    values = np.asarray(img).astype(np.float32)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Image.new("L", img.size, 0)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return Image.new("L", img.size, int(np.clip(low, 0, 255)))
    scaled = (values - low) * np.float32(255.0 / (high - low)) + np.float32(0.5)
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8))


# --------------------------------------------------------------------------- model input


def preprocess(image: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    """Turn an image into the model's input: float32 (3, H, W), RGB, ``(pixel * scale - mean) / std``."""
    if image.mode != "RGB":
        image = _to_rgb(image)
    resized = _resize_for_model(image, spec)
    pixels = np.asarray(resized)  # (H, W, 3) uint8, no copy
    std = np.asarray(spec.std, dtype=np.float32)
    gain = (np.float32(spec.scale) / std).reshape(3, 1, 1)
    offset = (-np.asarray(spec.mean, dtype=np.float32) / std).reshape(3, 1, 1)
    out = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
    np.multiply(pixels.transpose(2, 0, 1), gain, out=out)
    out += offset
    return out


def _resize_for_model(image: Image.Image, spec: PreprocessSpec) -> Image.Image:
    """Apply the spec's resize policy, giving an RGB image of exactly (W, H) = input_size reversed."""
    target_h, target_w = spec.input_size
    width, height = image.size
    bilinear = Image.Resampling.BILINEAR
    if spec.resize == "squash":
        if (width, height) == (target_w, target_h):
            return image
        return image.resize((target_w, target_h), bilinear, reducing_gap=2.0)
    if spec.resize == "shorter_center_crop":
        crop_w = min(float(width), height * target_w / target_h)
        crop_h = min(float(height), width * target_h / target_w)
        left, top = (width - crop_w) / 2, (height - crop_h) / 2
        box = (left, top, left + crop_w, top + crop_h)
        return image.resize((target_w, target_h), bilinear, box=box, reducing_gap=2.0)
    # letterbox
    ratio = min(target_w / width, target_h / height)
    fit_w, fit_h = max(1, round(width * ratio)), max(1, round(height * ratio))
    fitted = image.resize((fit_w, fit_h), bilinear, reducing_gap=2.0)
    pad = tuple(int(np.clip(round(m / spec.scale), 0, 255)) for m in spec.mean)
    canvas = Image.new("RGB", (target_w, target_h), pad)
    canvas.paste(fitted, ((target_w - fit_w) // 2, (target_h - fit_h) // 2))
    return canvas


# --------------------------------------------------------------------------- query edits


def rotate(image: Image.Image, quarter_turns: int) -> Image.Image:
    """Return a copy turned counter-clockwise by ``quarter_turns`` x 90 degrees (any integer, modulo 4).

    Used to search with a query photo taken sideways or upside down.
    """
    turns = quarter_turns % 4
    if turns == 0:
        return image.copy()
    return image.transpose(_QUARTER_TURNS[turns])


def crop_relative(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """Crop a region given as fractions ``(x0, y0, x1, y1)`` of the width and height (the GUI's selection).

    Fractions must satisfy ``0 <= x0 < x1 <= 1`` and ``0 <= y0 < y1 <= 1`` (a float overshoot below 1e-6
    is clamped); otherwise :class:`QueryError`. The result is at least one pixel in each direction.
    """
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise QueryError(f"crop box must be four numbers (x0, y0, x1, y1), got {box!r}") from exc
    fractions = [_clamp_fraction(v, box) for v in (x0, y0, x1, y1)]
    x0, y0, x1, y1 = fractions
    if not (x0 < x1 and y0 < y1):
        raise QueryError(f"crop box {tuple(box)!r} is empty or inverted; expected x0 < x1 and y0 < y1")
    width, height = image.size
    left, top = min(math.floor(x0 * width), width - 1), min(math.floor(y0 * height), height - 1)
    right = max(left + 1, min(width, math.ceil(x1 * width)))
    bottom = max(top + 1, min(height, math.ceil(y1 * height)))
    with _quiet_bomb_warning():
        return image.crop((left, top, right, bottom))


def _clamp_fraction(value: float, box: object, tolerance: float = 1e-6) -> float:
    if not -tolerance <= value <= 1 + tolerance:  # also refuses NaN
        raise QueryError(f"crop box {box!r} must lie within 0..1 (fractions of the image size)")
    return min(max(value, 0.0), 1.0)

