"""Synthetic "re-shots" of a photo for the near-duplicate benchmarks (seeded, deterministic).

Each transformation imitates one way a second photo of the same scene differs from the first:
a tighter or shifted frame (crop 10-30 % of each side), a slightly tilted camera (rotation up to
+-10 degrees, cropped to the largest upright rectangle so no black corners give it away), other
light (brightness and contrast +-20 %), another resolution (scale 50-100 %) and another encoder
(JPEG quality 60-90). ``combined`` applies all five in that order. Every result is returned as
JPEG bytes, as a camera or an e-mail would deliver it (quality 92 unless the transformation is the
JPEG one).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance

Transformation = Callable[[Image.Image, np.random.Generator], Image.Image]
DELIVERY_QUALITY = 92


def crop(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Keep a window whose sides are 70-90 % of the original's, at a random position."""
    keep = 1.0 - rng.uniform(0.10, 0.30)
    width, height = image.size
    w, h = round(width * keep), round(height * keep)
    left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    return image.crop((left, top, left + w, top + h))


def tilt(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Rotate by up to +-10 degrees, then crop the largest centred rectangle of the original's aspect
    ratio that holds no filled corner."""
    angle = rng.uniform(-10.0, 10.0)
    width, height = image.size
    turned = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
    a = math.radians(abs(angle))
    # largest w x h with w/h = width/height inside the rotated frame (both sides shrink by the same factor)
    factor = 1.0 / (math.cos(a) + max(width / height, height / width) * math.sin(a))
    w, h = int(width * factor), int(height * factor)
    left, top = (width - w) // 2, (height - h) // 2
    return turned.crop((left, top, left + w, top + h))


def light(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Change brightness and contrast by factors in 0.8-1.2 each."""
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.2))
    return ImageEnhance.Contrast(image).enhance(rng.uniform(0.8, 1.2))


def scale(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Resize to 50-100 % of the original size."""
    factor = rng.uniform(0.5, 1.0)
    width, height = image.size
    return image.resize((max(1, round(width * factor)), max(1, round(height * factor))), Image.Resampling.LANCZOS)


def jpeg_quality(rng: np.random.Generator) -> int:
    """The JPEG quality of a re-encoded copy: 60-90."""
    return int(rng.integers(60, 91))


TRANSFORMATIONS: dict[str, Transformation | None] = {
    "crop 10-30%": crop,
    "rotation +-10deg": tilt,
    "brightness/contrast +-20%": light,
    "scale 50-100%": scale,
    "JPEG q60-90": None,  # only the encoder changes
    "combined": None,
}


def encode(image: Image.Image, quality: int = DELIVERY_QUALITY) -> bytes:
    """JPEG bytes of an RGB image."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def reshoot(image: Image.Image, name: str, rng: np.random.Generator) -> bytes:
    """The photo transformed by the named transformation (see ``TRANSFORMATIONS``), as JPEG bytes."""
    if name == "combined":
        for step in (crop, tilt, light, scale):
            image = step(image, rng)
        return encode(image, jpeg_quality(rng))
    if name == "JPEG q60-90":
        return encode(image, jpeg_quality(rng))
    step = TRANSFORMATIONS[name]
    assert step is not None, name
    return encode(step(image, rng))


def rng_for(seed: int, name: str, index: int) -> np.random.Generator:
    """A generator that depends only on (seed, transformation, photo number): rows are reproducible
    one by one, whatever else runs."""
    return np.random.default_rng([seed, sum(name.encode()), index])
