"""Search options on real photos: rotation-robust search, region (crop box) search and query expansion."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import INSULATORS, neu_sample, require
from PIL import Image

from inspector_search.core.archive import Archive
from inspector_search.core.records import SearchFilter, SearchRequest


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """8 insulator photos (site "Line") among 24 steel-surface photos (site "Mill")."""
    root = tmp_path_factory.mktemp("options")
    for source in sorted(require(INSULATORS).glob("*.jpg"))[:8]:
        (root / "photos" / "Line").mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, root / "photos" / "Line" / source.name)
    for source in neu_sample(4):
        (root / "photos" / "Mill").mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, root / "photos" / "Mill" / source.name)
    opened = Archive.open(root / "archive")
    opened.add([root / "photos"], layout="{site}")
    yield opened
    opened.close()


def insulators(archive: Archive) -> list[Path]:
    return sorted(p for p in archive.files_below(archive.folder.parent / "photos" / "Line"))


@pytest.mark.parametrize("turn", [Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
                                  Image.Transpose.ROTATE_270])
def test_rotations_find_a_photo_taken_sideways_or_upside_down(archive: Archive, turn: Image.Transpose) -> None:
    for original in insulators(archive)[:4]:
        query = jpeg(Image.open(original).transpose(turn))
        turned = archive.search(SearchRequest(image=query, top_k=5, rotations=True))
        plain = archive.search(SearchRequest(image=query, top_k=5))
        assert turned[0].photo.path == original
        assert turned[0].score > 0.95  # one of the four turns is the upright photo again
        plain_score = next((h.score for h in plain if h.photo.path == original), -1.0)
        assert turned[0].score > plain_score


def pasted_region(original: Path, filler: Path, seed: int) -> tuple[bytes, tuple[float, float, float, float]]:
    """Half of each side of ``original`` pasted at a random place on ``filler`` stretched to its size."""
    rng = np.random.default_rng(seed)
    image = Image.open(original).convert("RGB")
    width, height = image.size
    w, h = width // 2, height // 2
    left, top = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
    canvas = Image.open(filler).convert("RGB").resize((width, height))
    x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
    canvas.paste(image.crop((left, top, left + w, top + h)), (x, y))
    return jpeg(canvas), (x / width, y / height, (x + w) / width, (y + h) / height)


def test_region_search_finds_the_photo_a_crop_was_taken_from(archive: Archive) -> None:
    fillers = neu_sample(1)
    for n, original in enumerate(insulators(archive)[:4]):
        query, box = pasted_region(original, fillers[n % len(fillers)], seed=n)
        region = archive.search(SearchRequest(image=query, top_k=5, crop=box))
        whole = archive.search(SearchRequest(image=query, top_k=5))
        assert region[0].photo.path == original
        whole_score = next((h.score for h in whole if h.photo.path == original), -1.0)
        assert region[0].score > whole_score


def test_query_expansion_reorders_but_every_score_is_the_similarity_to_the_query(archive: Archive) -> None:
    query = neu_sample(5)[-1]  # a steel photo that is not in the archive
    plain = archive.search(SearchRequest(image=query, top_k=60, expansion=0))
    expanded = archive.search(SearchRequest(image=query, top_k=10))
    assert expanded[0].photo == plain[0].photo
    assert {h.photo.site for h in expanded[:4]} == {"Mill"}
    assert [h.rank for h in expanded] == list(range(1, len(expanded) + 1))
    assert [h.score for h in plain] == sorted((h.score for h in plain), reverse=True)
    plain_scores = {h.photo.image_id: h.score for h in plain}
    assert all(h.photo.image_id in plain_scores for h in expanded)
    for hit in expanded:  # the same number with and without expansion, not the expanded query's
        assert hit.score == pytest.approx(plain_scores[hit.photo.image_id], abs=1e-5)
    assert [h.photo for h in expanded] != [h.photo for h in plain[:10]]  # expansion did reorder
    itself = archive.search(SearchRequest(image=insulators(archive)[0], top_k=5))
    assert itself[0].photo.path == insulators(archive)[0] and itself[0].score == pytest.approx(1.0, abs=1e-3)


def test_query_expansion_respects_filters_and_min_score(archive: Archive) -> None:
    query = insulators(archive)[0]
    hits = archive.search(SearchRequest(image=query, top_k=20, filter=SearchFilter(site="Mill")))
    assert hits and all(h.photo.site == "Mill" for h in hits)
    hits = archive.search(SearchRequest(image=query, top_k=20, min_score=0.8))
    assert hits[0].photo.path == query and all(h.score >= 0.8 for h in hits)
