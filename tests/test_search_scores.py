"""Scores an inspector can trust, and the query's own photo: real photos, real archives."""

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
from inspector_search.core.vector_store import ProjectionPolicy


def copy_photos(target: Path, sources: list[Path]) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copy2(source, target / f"{source.parent.name}-{source.name}")
    return target


@pytest.fixture(scope="module")
def sources() -> list[Path]:
    return [*sorted(require(INSULATORS).glob("*.jpg"))[:6], *neu_sample(3)]


def test_the_query_itself_comes_first_and_stays_out_of_the_expansion(tmp_path: Path, sources: list[Path]) -> None:
    query = sources[7]  # a steel photo: its look-alikes are what expansion would be pulled towards
    with Archive.open(tmp_path / "with") as full, Archive.open(tmp_path / "without") as other:
        full.add([copy_photos(tmp_path / "all", sources)])
        other.add([copy_photos(tmp_path / "rest", [s for s in sources if s != query])])
        for request in (SearchRequest(image=query, top_k=8), SearchRequest(image=query.read_bytes(), top_k=8)):
            hits = full.search(request)
            assert hits[0].is_query and hits[0].photo.path.name.endswith(query.name)
            assert hits[0].score == pytest.approx(1.0, abs=2e-3)
            assert not any(h.is_query for h in hits[1:])
            baseline = other.search(request)  # the same archive without the query's photo
            assert [h.photo.path.name for h in hits[1:]] == [h.photo.path.name for h in baseline[:7]]
            assert [h.score for h in hits[1:]] == pytest.approx([h.score for h in baseline[:7]], abs=1e-5)


def test_a_re_saved_copy_of_an_archive_photo_is_recognised_as_the_query(tmp_path: Path, sources: list[Path]) -> None:
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([copy_photos(tmp_path / "photos", sources)])
        buffer = io.BytesIO()
        Image.open(sources[1]).save(buffer, "JPEG", quality=95)  # other bytes, the same picture
        hits = archive.search(SearchRequest(image=buffer.getvalue(), top_k=5))
        assert hits[0].is_query and hits[0].photo.path.name.endswith(sources[1].name)
        # a filter that excludes the photo keeps it out, "query itself" or not
        hits = archive.search(SearchRequest(image=sources[1], top_k=5, filter=SearchFilter(site="nowhere")))
        assert hits == []
        # a region of the photo is not the photo itself: no mark, but it still finds it
        hits = archive.search(SearchRequest(image=sources[1], top_k=5, crop=(0.1, 0.1, 0.9, 0.9)))
        assert not any(h.is_query for h in hits)


def test_a_pair_keeps_its_score_when_the_archive_grows_and_pca_is_refitted(tmp_path: Path) -> None:
    first = neu_sample(6)
    more = [p for p in neu_sample(14) if p not in first]
    policy = ProjectionPolicy(dim=16, min_photos=20, growth=2.0)
    query = sorted(require(INSULATORS).glob("*.jpg"))[0]
    with Archive.open(tmp_path / "archive", policy=policy) as archive:
        archive.add([copy_photos(tmp_path / "first", first)])
        assert archive.store.fitted_on() == 36
        before = {h.photo.image_id: h.score for h in archive.search(SearchRequest(image=query, top_k=36))}
        ids, _ = archive.vectors()
        pca_before = archive.store.similarities(archive.store.project(archive.embed_query(SearchRequest(query))), ids)
        archive.add([copy_photos(tmp_path / "more", more)])
        assert archive.store.fitted_on() > 72  # refitted on more photos
        after = {h.photo.image_id: h.score for h in archive.search(SearchRequest(image=query, top_k=100))}
        pca_after = archive.store.similarities(archive.store.project(archive.embed_query(SearchRequest(query))), ids)
    shared = sorted(before)
    assert np.abs(pca_after - pca_before).max() > 0.02  # the projected similarity did move with the refit...
    assert [after[i] for i in shared] == pytest.approx([before[i] for i in shared], abs=1e-6)  # ...the score not


def test_the_similarity_filter_uses_the_same_scores(tmp_path: Path, sources: list[Path]) -> None:
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([copy_photos(tmp_path / "photos", sources)])
        query = sorted(require(INSULATORS).glob("*.jpg"))[10]
        everything = archive.search(SearchRequest(image=query, top_k=20))
        cut = everything[len(everything) // 2].score
        kept = archive.search(SearchRequest(image=query, top_k=20, min_score=cut))
        assert kept and all(h.score >= cut for h in kept)
        assert {h.photo.image_id for h in kept} == {h.photo.image_id for h in everything if h.score >= cut}
