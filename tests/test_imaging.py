"""Tests of core.imaging on real files written with Pillow (and on the shared photo set when present)."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps, features

from inspector_search.core import imaging
from inspector_search.core.errors import ImageError, QueryError
from inspector_search.core.imaging import (
    SUPPORTED_EXTENSIONS,
    ImageInfo,
    PreprocessSpec,
    crop_relative,
    open_image,
    preprocess,
    rotate,
    thumbnail,
)

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
IMAGENET = PreprocessSpec(input_size=(32, 48), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def close(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def marked_image(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """White image with a red block in the top-left corner."""
    image = Image.new("RGB", size, WHITE)
    image.paste(RED, (0, 0, size[0] // 4, size[1] // 4))
    return image


def save_with_exif(path: Path, image: Image.Image, orientation: int | None = None, **dates: str) -> Path:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if "original" in dates:
        exif.get_ifd(0x8769)[0x9003] = dates["original"]
    if "datetime" in dates:
        exif[0x0132] = dates["datetime"]
    image.save(path, "JPEG", quality=95, exif=exif)
    return path


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header (no pixel data): a cheap decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def reason_of(source: object, **kwargs: int) -> str:
    with pytest.raises(ImageError) as caught:
        open_image(source, **kwargs)  # type: ignore[arg-type]
    return caught.value.reason


# --------------------------------------------------------------------------- constants and records


def test_supported_extensions_are_lower_case_with_dot() -> None:
    assert {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".bmp", ".webp"} == SUPPORTED_EXTENSIONS
    assert ".gif" not in SUPPORTED_EXTENSIONS


def test_preprocess_spec_refuses_unknown_policy_and_bad_values() -> None:
    with pytest.raises(ValueError, match="resize policy"):
        PreprocessSpec((224, 224), (0.5,) * 3, (0.5,) * 3, resize="stretch")
    with pytest.raises(ValueError):
        PreprocessSpec((0, 224), (0.5,) * 3, (0.5,) * 3)
    with pytest.raises(ValueError):
        PreprocessSpec((224, 224), (0.5,) * 3, (0.5, 0.0, 0.5))


# --------------------------------------------------------------------------- orientation and EXIF


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [(1, "top_left"), (6, "top_right"), (8, "bottom_left"), (3, "bottom_right")],
)
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, corner: str) -> None:
    path = save_with_exif(tmp_path / "o.jpg", marked_image((40, 20)), orientation)
    image, info = open_image(path)
    swapped = orientation in (6, 8)
    assert image.mode == "RGB"
    assert image.size == ((20, 40) if swapped else (40, 20))
    assert (info.width, info.height) == image.size
    w, h = image.size
    corners = {
        "top_left": (1, 1),
        "top_right": (w - 2, 1),
        "bottom_left": (1, h - 2),
        "bottom_right": (w - 2, h - 2),
    }
    for name, xy in corners.items():
        assert close(image.getpixel(xy), RED if name == corner else WHITE), (name, image.getpixel(xy))
    with Image.open(path) as original:
        reference = ImageOps.exif_transpose(original).convert("RGB")
    assert np.array_equal(np.asarray(reference), np.asarray(image))


def test_orientation_with_reduced_decode_keeps_displayed_size(tmp_path: Path) -> None:
    path = save_with_exif(tmp_path / "big.jpg", marked_image((1600, 800)), orientation=6)
    image, info = open_image(path, min_side=100)
    assert (info.width, info.height) == (800, 1600)
    assert image.width < image.height and min(image.size) >= 100
    assert close(image.getpixel((image.width - 2, 1)), RED)


def test_exif_datetime_original_preferred_then_datetime(tmp_path: Path) -> None:
    both = save_with_exif(
        tmp_path / "a.jpg", marked_image(), original="2021:03:04 05:06:07", datetime="2020:01:01 00:00:00"
    )
    only_dt = save_with_exif(tmp_path / "b.jpg", marked_image(), datetime="2019:12:31 23:59:58")
    bad = save_with_exif(tmp_path / "c.jpg", marked_image(), original="0000:00:00 00:00:00")
    bad_falls_back = save_with_exif(
        tmp_path / "d.jpg", marked_image(), original="    ", datetime="2018:02:03 04:05:06"
    )
    none = tmp_path / "e.jpg"
    marked_image().save(none)
    assert open_image(both)[1].exif_datetime == datetime(2021, 3, 4, 5, 6, 7)
    assert open_image(only_dt)[1].exif_datetime == datetime(2019, 12, 31, 23, 59, 58)
    assert open_image(bad)[1].exif_datetime is None
    assert open_image(bad_falls_back)[1].exif_datetime == datetime(2018, 2, 3, 4, 5, 6)
    assert open_image(none)[1] == ImageInfo(40, 20, "JPEG", None)


# --------------------------------------------------------------------------- colour modes and formats


def test_greyscale_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("L", (8, 6), 77).save(path)
    image, info = open_image(path)
    assert image.mode == "RGB" and image.getpixel((3, 3)) == (77, 77, 77)
    assert info.format == "PNG"


def test_one_bit_image(tmp_path: Path) -> None:
    path = tmp_path / "bits.png"
    bits = Image.new("1", (8, 8), 0)
    bits.paste(1, (0, 0, 4, 8))
    bits.save(path)
    image, _ = open_image(path)
    assert image.getpixel((1, 1)) == WHITE and image.getpixel((6, 1)) == (0, 0, 0)


def test_palette_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "palette.png"
    pal = Image.new("P", (10, 10), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    pal.paste(1, (0, 0, 5, 10))
    pal.save(path, transparency=0)
    image, _ = open_image(path)
    assert image.mode == "RGB"
    assert image.getpixel((1, 1)) == RED and image.getpixel((8, 1)) == WHITE


@pytest.mark.parametrize("min_side", [0, 4])
def test_rgba_and_la_are_composited_on_white(tmp_path: Path, min_side: int) -> None:
    rgba = Image.new("RGBA", (20, 20), (0, 0, 255, 255))
    rgba.paste((0, 0, 0, 0), (10, 0, 20, 10))
    rgba.paste((255, 0, 0, 128), (0, 10, 10, 20))
    rgba.save(tmp_path / "rgba.png")
    Image.new("LA", (20, 20), (0, 0)).save(tmp_path / "la.png")
    image, _ = open_image(tmp_path / "rgba.png", min_side=min_side)
    w, h = image.size
    assert close(image.getpixel((1, 1)), BLUE, 2)
    assert close(image.getpixel((w - 2, 1)), WHITE, 2)
    assert close(image.getpixel((1, h - 2)), (255, 127, 127), 2)
    assert open_image(tmp_path / "la.png", min_side=min_side)[0].getpixel((1, 1)) == WHITE


def test_cmyk_jpeg_colours_come_out_right(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red in CMYK
    cmyk.paste((0, 0, 0, 255), (16, 0, 32, 32))  # black
    cmyk.save(path, quality=95)
    with Image.open(path) as raw:
        assert raw.mode == "CMYK" and "adobe" in raw.info  # Pillow writes Adobe (inverted) CMYK
    image, info = open_image(path)
    assert info.format == "JPEG" and image.mode == "RGB"
    assert close(image.getpixel((4, 4)), RED, 16)
    assert close(image.getpixel((28, 4)), (0, 0, 0), 16)


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_16_bit_greyscale_is_stretched_by_its_range(tmp_path: Path, suffix: str) -> None:
    ramp = np.tile(np.linspace(0, 4095, 64).astype(np.uint16), (16, 1))
    path = tmp_path / f"deep{suffix}"
    Image.fromarray(ramp).save(path)
    with Image.open(path) as raw:
        assert raw.mode.startswith("I")
    for min_side in (0, 4):
        image, _ = open_image(path, min_side=min_side)
        pixels = np.asarray(image)
        assert image.mode == "RGB"
        assert pixels.min() <= 5 and pixels.max() >= 250  # not clipped to 0..15, not all white
        assert np.all(np.diff(pixels[0, :, 0].astype(int)) >= 0)  # the ramp stays a ramp


def test_float_tiff_is_stretched(tmp_path: Path) -> None:
    path = tmp_path / "float.tif"
    values = np.linspace(-1.0, 1.0, 100, dtype=np.float32).reshape(10, 10)
    Image.fromarray(values).save(path)
    pixels = np.asarray(open_image(path)[0])
    assert pixels.min() == 0 and pixels.max() == 255


def test_bmp(tmp_path: Path) -> None:
    path = tmp_path / "x.bmp"
    marked_image().save(path)
    image, info = open_image(path)
    assert info.format == "BMP" and image.getpixel((1, 1)) == RED


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_webp(tmp_path: Path) -> None:
    path = tmp_path / "x.webp"
    marked_image().save(path, lossless=True)
    image, info = open_image(path)
    assert info.format == "WEBP" and image.getpixel((1, 1)) == RED


def test_animated_gif_named_jpg_is_decoded_by_content_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "really_a_gif.jpg"
    frames = [Image.new("RGB", (16, 16), colour) for colour in (GREEN, RED, BLUE)]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    image, info = open_image(path)
    assert info.format == "GIF" and image.mode == "RGB"
    assert image.getpixel((5, 5)) == GREEN


def test_multi_page_tiff_gives_first_page(tmp_path: Path) -> None:
    path = tmp_path / "pages.tif"
    pages = [Image.new("RGB", (16, 16), colour) for colour in (BLUE, RED)]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    assert open_image(path)[0].getpixel((5, 5)) == BLUE


def test_bytes_and_streams(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    marked_image().save(buffer, "PNG")
    from_bytes, info = open_image(buffer.getvalue())
    buffer.seek(0)
    from_stream, _ = open_image(buffer)
    assert info.format == "PNG" and from_bytes.getpixel((1, 1)) == RED
    assert np.array_equal(np.asarray(from_bytes), np.asarray(from_stream))
    read_end, write_end = os.pipe()
    os.write(write_end, buffer.getvalue())
    os.close(write_end)
    with os.fdopen(read_end, "rb", buffering=0) as pipe:  # a stream that cannot seek
        assert pipe.seekable() is False
        assert open_image(pipe)[0].getpixel((1, 1)) == RED


# --------------------------------------------------------------------------- reduced decoding


def test_jpeg_draft_decodes_reduced(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (10, 120, 200)).save(path, quality=80)
    image, info = open_image(path, min_side=224)
    assert (info.width, info.height) == (4000, 3000)
    assert 224 <= min(image.size) < 3000 / 2
    assert image.size == (500, 375)  # 1/8 DCT scaling
    assert close(image.getpixel((100, 100)), (10, 120, 200), 3)
    assert open_image(path)[0].size == (4000, 3000)


@pytest.mark.parametrize("min_side", [1, 50, 224, 299, 300, 301, 1000])
def test_reduced_decode_never_goes_below_min_side_nor_upscales(tmp_path: Path, min_side: int) -> None:
    Image.new("RGB", (1000, 600)).save(tmp_path / "x.png")
    Image.new("RGB", (1000, 600)).save(tmp_path / "x.jpg")
    for name in ("x.png", "x.jpg"):
        image, _ = open_image(tmp_path / name, min_side=min_side)
        assert min(image.size) >= min(min_side, 600)
        assert image.size[0] <= 1000
        if min_side <= 300:
            assert min(image.size) < 600  # it did reduce


@pytest.mark.parametrize("size", [(10000, 10000), (16320, 12240)])  # 100 MP; a 200 MP phone photo (199.8 MP)
def test_very_large_photos_under_the_limit_open_quietly_and_cheaply(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "huge.jpg"
    Image.new("L", size, 128).save(path, quality=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may escape
        image, info = open_image(path, min_side=224)
    assert (info.width, info.height) == size
    assert 224 <= min(image.size) < min(size) / 8
    assert int(1024 * 1024 * 1024 // 4 // 3) == Image.MAX_IMAGE_PIXELS  # Pillow's global left alone


def test_pillow_hard_limit_does_not_override_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("x.png", "x.jpg", "x.bmp", "x.tif"):
        marked_image((100, 100)).save(tmp_path / name)
    (tmp_path / "t.jpg").write_text("not an image " * 300)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow now refuses > 2000 pixels in Image.open
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("x.png", "x.jpg", "x.bmp"):
            image, info = open_image(tmp_path / name, min_side=20)
            assert (info.width, info.height) == (100, 100) and close(image.getpixel((1, 1)), RED)
        assert reason_of(tmp_path / "t.jpg") == "not an image (unrecognised format)"
        # The TIFF (on load) and WebP (on open) plugins apply Pillow's limit themselves: say so honestly.
        assert reason_of(tmp_path / "x.tif") == "image too large (0.01 megapixels, limit 0.002)"
        if features.check("webp"):
            marked_image((100, 100)).save(tmp_path / "x.webp")
            assert reason_of(tmp_path / "x.webp") == "image too large (0.01 megapixels, limit 0.002)"


def test_thumbnail_fits_in_max_side(tmp_path: Path) -> None:
    path = save_with_exif(tmp_path / "t.jpg", marked_image((1600, 800)), orientation=8)
    thumb = thumbnail(path, 128)
    assert max(thumb.size) == 128 and thumb.size == (64, 128)
    assert thumb.mode == "RGB"


# --------------------------------------------------------------------------- failures


def test_empty_file_and_empty_bytes(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert reason_of(tmp_path / "empty.jpg") == "empty file"
    assert reason_of(b"") == "empty file"
    assert reason_of(io.BytesIO()) == "empty file"


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("inspection notes, not a photo\n" * 10)
    with pytest.raises(ImageError) as caught:
        open_image(path)
    assert caught.value.reason == "not an image (unrecognised format)"
    assert caught.value.path == path


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(tmp_path: Path, fmt: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, fmt)
    path = tmp_path / "cut.img"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert reason_of(path) == "truncated or corrupt image data"
    assert reason_of(path, min_side=50) == "truncated or corrupt image data"


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path: Path) -> None:
    expected = {(20001, 10000): "200", (30000, 10000): "300", (100000, 100000): "1e+04"}
    for (width, height), megapixels in expected.items():
        path = tmp_path / f"bomb_{width}.png"
        path.write_bytes(png_header(width, height))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            reason = reason_of(path)
        assert reason == f"image too large ({megapixels} megapixels, limit 200)"


def test_own_pixel_limit_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "modest.png"
    Image.new("RGB", (200, 100)).save(path)
    monkeypatch.setattr(imaging, "MAX_PIXELS", 10_000)
    assert reason_of(path) == "image too large (0.02 megapixels, limit 0.01)"
    monkeypatch.setattr(imaging, "MAX_PIXELS", 20_000)
    assert open_image(path)[0].size == (200, 100)


def test_file_system_failures(tmp_path: Path) -> None:
    assert reason_of(tmp_path / "missing.jpg") == "file not found"
    assert reason_of(tmp_path) == "is a folder"
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    assert reason_of(tmp_path / "dangling.jpg") == "broken symlink"
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    assert reason_of(tmp_path / "loop.jpg") == "too deep symlink / loop"
    assert reason_of(str(tmp_path / "missing.jpg")) == "file not found"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret.jpg"
    marked_image().save(path)
    path.chmod(0)
    try:
        assert reason_of(path) == "permission denied"
    finally:
        path.chmod(0o644)


def test_no_raw_pil_error_escapes_on_garbage_after_a_valid_header(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    marked_image((64, 64)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    data[200:] = bytes(len(data) - 200)  # keep the header, zero the rest
    with pytest.raises(ImageError):
        open_image(bytes(data))


# --------------------------------------------------------------------------- preprocess


def test_preprocess_shape_dtype_and_normalisation() -> None:
    image = Image.new("RGB", (100, 50), (255, 0, 128))
    array = preprocess(image, IMAGENET)
    assert array.shape == (3, 32, 48) and array.dtype == np.float32 and array.flags["C_CONTIGUOUS"]
    expected = [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225]
    for channel, value in enumerate(expected):
        assert np.allclose(array[channel], value, atol=1e-5)


def test_preprocess_keeps_rgb_order_and_accepts_other_modes() -> None:
    spec = PreprocessSpec((4, 4), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert np.allclose(preprocess(Image.new("RGB", (4, 4), BLUE), spec)[:, 0, 0], [0, 0, 1])
    grey = preprocess(Image.new("L", (8, 8), 51), spec)
    assert grey.shape == (3, 4, 4) and np.allclose(grey, 0.2)
    transparent = preprocess(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), spec)
    assert np.allclose(transparent, 1.0)  # composited on white


def striped(width: int = 300, height: int = 100) -> Image.Image:
    """Red | green | blue vertical bands (50 px, 200 px, 50 px for the default size)."""
    image = Image.new("RGB", (width, height), GREEN)
    image.paste(RED, (0, 0, width // 6, height))
    image.paste(BLUE, (width - width // 6, 0, width, height))
    return image


def test_squash_keeps_all_content() -> None:
    spec = PreprocessSpec((50, 50), (0.0,) * 3, (1.0,) * 3, resize="squash")
    array = preprocess(striped(), spec)
    assert array[0, 25, 1] > 0.9 and array[2, 25, 48] > 0.9  # red left, blue right survive


def test_shorter_center_crop() -> None:
    spec = PreprocessSpec((50, 50), (0.0,) * 3, (1.0,) * 3, resize="shorter_center_crop")
    array = preprocess(striped(), spec)
    assert array.shape == (3, 50, 50)
    assert np.allclose(array[1], 1.0, atol=1e-6) and np.allclose(array[[0, 2]], 0.0, atol=1e-6)


def test_letterbox_pads_with_the_mean() -> None:
    spec = PreprocessSpec((100, 100), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), resize="letterbox")
    array = preprocess(Image.new("RGB", (200, 100), RED), spec)
    assert array.shape == (3, 100, 100)
    assert np.allclose(array[:, :20, :], 0.0, atol=0.02) and np.allclose(array[:, 80:, :], 0.0, atol=0.02)
    assert np.allclose(array[:, 30:70, :], preprocess(Image.new("RGB", (4, 4), RED), spec)[:, :1, :1], atol=1e-5)


# --------------------------------------------------------------------------- rotate and crop


def test_rotate_counter_clockwise_modulo_four() -> None:
    image = Image.new("RGB", (4, 2), WHITE)
    image.putpixel((3, 0), RED)  # top right
    once = rotate(image, 1)
    assert once.size == (2, 4) and once.getpixel((0, 0)) == RED  # top right -> top left
    assert rotate(image, 2).getpixel((0, 1)) == RED
    assert rotate(image, 3).getpixel((1, 3)) == RED
    for turns, same_as in ((5, 1), (-1, 3), (4, 0)):
        assert np.array_equal(np.asarray(rotate(image, turns)), np.asarray(rotate(image, same_as)))
    unturned = rotate(image, 0)
    assert unturned is not image and np.array_equal(np.asarray(unturned), np.asarray(image))


def test_crop_relative() -> None:
    image = Image.new("RGB", (100, 50), WHITE)
    image.paste(RED, (25, 25, 75, 50))
    crop = crop_relative(image, (0.25, 0.5, 0.75, 1.0))
    assert crop.size == (50, 25) and np.all(np.asarray(crop) == RED)
    assert crop_relative(image, (-1e-9, 0.0, 1.0000000001, 1.0)).size == (100, 50)
    assert crop_relative(image, (0.5, 0.5, 0.5001, 0.5001)).size == (1, 1)
    assert crop_relative(image, (0.999999, 0.0, 1.0, 1.0)).size == (1, 50)


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((0.5, 0.0, 0.5, 1.0), "empty or inverted"),
        ((0.8, 0.0, 0.2, 1.0), "empty or inverted"),
        ((0.0, 0.0, 1.5, 1.0), "within 0..1"),
        ((-0.1, 0.0, 0.5, 1.0), "within 0..1"),
        ((float("nan"), 0.0, 0.5, 1.0), "within 0..1"),
        ((0.0, 0.0, 1.0), "four numbers"),
        (("a", 0, 1, 1), "four numbers"),
    ],
)
def test_crop_relative_refuses_bad_boxes(box: tuple[float, ...], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        crop_relative(Image.new("RGB", (10, 10)), box)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- real photos


@pytest.mark.skipif(not (DATASETS / "insulators").is_dir(), reason=f"shared photo set not found at {DATASETS}")
def test_real_inspection_photos_open_reduced() -> None:
    photos = sorted((DATASETS / "insulators").glob("*.jpg"))[:5]
    assert photos
    for path in photos:
        image, info = open_image(path, min_side=224)
        assert (info.width, info.height) == (1152, 864) and info.format == "JPEG"
        assert image.mode == "RGB" and 224 <= min(image.size) < 864
        array = preprocess(image, PreprocessSpec((224, 224), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)))
        assert array.shape == (3, 224, 224) and np.isfinite(array).all()
