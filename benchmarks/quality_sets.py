"""The photo sets and query sets of the quality benchmarks (``quality.py``, ``quality_choices.py``).

* neu_det: class-labelled photos for leave-one-out retrieval (byte-identical files dropped, as
  ``inspector-search evaluate`` does).
* Near-duplicate queries: every insulator photo re-shot by each transformation of ``reshoot.py``.
* Rotation queries: the combined re-shot photo turned by 0, 90, 180 and 270 degrees.
* Region queries: a 40-60 % crop (of each side) of an insulator photo pasted at a random place on
  an unrelated photo (a steel-surface photo of neu_det stretched to the insulator photo's size),
  with the box of the pasted crop as the region to search with.

Everything is seeded; the same seed gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from reshoot import TRANSFORMATIONS, encode, reshoot, rng_for

from inspector_search.core.extractor import FeatureExtractor
from inspector_search.core.imaging import open_image, preprocess

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
NEU_DET = DATASETS / "neu_det"
INSULATORS = DATASETS / "insulators"
ANGLES = (0, 90, 180, 270)


@dataclass(frozen=True)
class LabelledPhotos:
    """Photos with integer labels (index into ``names``), byte-identical repeats already dropped."""

    paths: list[Path]
    labels: np.ndarray
    names: list[str]
    dropped: list[Path]


def class_folder_photos(dataset: Path) -> LabelledPhotos:
    """JPEGs of ``dataset/<class>/``, sorted by path; a file with the same bytes as an earlier one is
    dropped (neu_det lists its pair in exact_duplicates.txt), exactly as the evaluation does."""
    paths, labels, dropped, seen = [], [], [], set()
    names = sorted(p.name for p in dataset.iterdir() if p.is_dir())
    for path in sorted(dataset.glob("*/*.jpg")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            dropped.append(path)
            continue
        seen.add(digest)
        paths.append(path)
        labels.append(names.index(path.parent.name))
    return LabelledPhotos(paths, np.asarray(labels), names, dropped)


def insulator_photos(dataset: Path = INSULATORS) -> list[Path]:
    """The insulator photos, sorted."""
    return sorted(dataset.glob("*.jpg"))


def reshot_queries(originals: list[Path], seed: int, repeats: int = 1) -> dict[str, list[tuple[bytes, int]]]:
    """Per transformation, (JPEG bytes, index of the original) for every photo, ``repeats`` times."""
    queries: dict[str, list[tuple[bytes, int]]] = {name: [] for name in TRANSFORMATIONS}
    for index, path in enumerate(originals):
        image = Image.open(path).convert("RGB")
        for name in TRANSFORMATIONS:
            for repeat in range(repeats):
                rng = rng_for(seed + repeat, name, index)
                queries[name].append((reshoot(image, name, rng), index))
    return queries


def rotated_queries(reshot: list[tuple[bytes, int]]) -> dict[int, list[tuple[bytes, int]]]:
    """The given re-shot queries turned counter-clockwise by each angle of ``ANGLES`` (JPEG again)."""
    turns = {0: None, 90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
             270: Image.Transpose.ROTATE_270}
    result: dict[int, list[tuple[bytes, int]]] = {}
    for angle in ANGLES:
        method = turns[angle]
        result[angle] = [(data if method is None else encode(Image.open(io.BytesIO(data)).transpose(method)), i)
                         for data, i in reshot]
    return result


def region_queries(originals: list[Path], fillers: list[Path],
                   seed: int) -> list[tuple[bytes, tuple[float, float, float, float], int]]:
    """(JPEG bytes, region box as fractions, index of the original) for every photo: a crop of
    40-60 % of each side pasted on an unrelated photo of the original's size."""
    queries = []
    for index, path in enumerate(originals):
        rng = rng_for(seed, "region", index)
        image = Image.open(path).convert("RGB")
        width, height = image.size
        w, h = round(width * rng.uniform(0.4, 0.6)), round(height * rng.uniform(0.4, 0.6))
        left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        piece = image.crop((left, top, left + w, top + h))
        filler = fillers[int(rng.integers(len(fillers)))]
        canvas = Image.open(filler).convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
        x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        canvas.paste(piece, (x, y))
        box = (x / width, y / height, (x + w) / width, (y + h) / height)
        queries.append((encode(canvas), box, index))
    return queries


def embed_sources(extractor: FeatureExtractor, sources: list[Path | bytes], batch_size: int = 32) -> np.ndarray:
    """Raw features of files or JPEG bytes, decoded and preprocessed as the archive does."""
    min_side = min(extractor.spec.input_size)
    chunks = [np.zeros((0, extractor.dim), dtype=np.float32)]
    for start in range(0, len(sources), batch_size):
        images = [open_image(io.BytesIO(s) if isinstance(s, bytes) else s, min_side=min_side)[0]
                  for s in sources[start : start + batch_size]]
        chunks.append(extractor.embed(np.stack([preprocess(image, extractor.spec) for image in images])))
    return np.concatenate(chunks)


def decoded(source: Path | bytes) -> Image.Image:
    """An RGB image from a file or JPEG bytes (for the pixel and hash baselines)."""
    return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source).convert("RGB")
