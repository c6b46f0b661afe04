"""More like this / less like this (Rocchio) on a real archive and in the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import NEU_CLASSES, plant_folder

from inspector_search.core.archive import Archive
from inspector_search.core.errors import QueryError
from inspector_search.core.feedback import rocchio
from inspector_search.core.records import SearchRequest


def test_rocchio_moves_towards_liked_and_away_from_unliked() -> None:
    query = np.array([[1.0, 0.0, 0.0]], np.float32)
    liked = np.array([[0.0, 1.0, 0.0]], np.float32)
    unliked = np.array([[0.0, 0.0, 1.0]], np.float32)
    refined = rocchio(query, liked, unliked)
    assert np.linalg.norm(refined[0]) == pytest.approx(1.0)
    assert refined[0, 1] > 0 > refined[0, 2] and refined[0, 0] > refined[0, 1]
    assert np.allclose(rocchio(query, liked[:0], unliked[:0]), query)
    assert np.allclose(rocchio(query[:0], liked, unliked[:0]), liked)  # the liked photos alone are the query


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("feedback")
    photos = plant_folder(root / "photos", per_class=6, classes=NEU_CLASSES[:3])
    with Archive.open(root / "archive") as archive:
        archive.add([photos], layout="{site}/{equipment}/{date}")
    return root / "archive", photos


def classes_of(archive: Archive, hits) -> list[str]:
    return [h.photo.equipment_tag for h in hits]


def test_marking_results_pulls_their_kind_up_and_pushes_the_others_down(built: tuple[Path, Path]) -> None:
    folder, photos = built
    with Archive.open(folder) as archive:
        query = sorted((photos / "North" / "P-101").rglob("*.jpg"))[0]
        plain = archive.search(SearchRequest(image=query, top_k=18, expansion=0))
        others = [h.photo.image_id for h in plain if h.photo.equipment_tag == "P-102"]
        own = [h.photo.image_id for h in plain if h.photo.equipment_tag == "P-101"][1:]
        marked = archive.search(SearchRequest(image=query, top_k=18, expansion=0, like=tuple(others[:3]),
                                              unlike=tuple(own[:3])))
        rank = {h.photo.image_id: h.rank for h in marked}
        plain_rank = {h.photo.image_id: h.rank for h in plain}
        assert np.mean([rank[i] for i in others]) < np.mean([plain_rank[i] for i in others])
        assert np.mean([rank[i] for i in own]) > np.mean([plain_rank[i] for i in own])
        assert marked[0].photo.path == query or marked[0].photo.image_id in others
        liked_only = archive.search(SearchRequest(image=None, top_k=6, like=tuple(others[:2]), expansion=0))
        assert {h.photo.image_id for h in liked_only[:2]} == set(others[:2])
        assert classes_of(archive, liked_only).count("P-102") >= 5  # 18 photos: expansion would average them all
        with pytest.raises(QueryError, match="no photo with id 9999"):
            archive.search(SearchRequest(image=query, like=(9999,)))


def test_like_and_unlike_options_of_the_search_command(built: tuple[Path, Path], tmp_path: Path) -> None:
    from test_cli import run

    folder = tmp_path / "archive"
    shutil.copytree(built[0], folder)
    query = sorted((built[1] / "South" / "P-102").rglob("*.jpg"))[0]
    plain = json.loads(run("search", str(query), "-k", "18", "--json", archive=folder).stdout)["results"]
    liked = [r["image_id"] for r in plain if r["equipment_tag"] == "P-103"][:2]
    line = json.loads(run("search", "--like", str(liked[0]), "--like", str(liked[1]), "-k", "5", "--expansion", "0",
                          "--json",
                          archive=folder).stdout)
    assert line["query"] is None and {r["image_id"] for r in line["results"][:2]} == set(liked)
    assert [r["equipment_tag"] for r in line["results"]].count("P-103") >= 3
    refined = json.loads(run("search", str(query), "--like", str(liked[0]), "-k", "18", "--json",
                             archive=folder).stdout)["results"]
    assert [r["image_id"] for r in refined] != [r["image_id"] for r in plain]
