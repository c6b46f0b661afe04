"""One suite over both storage engines: the local archive (SQLite + hnswlib) and the shared one
(PostgreSQL + pgvector, real server). add, search (filters, by equipment), history, status and export
behave the same, and before PCA is fitted both rank identically."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from conftest import plant_folder

from inspector_search.cli import main
from inspector_search.core.archive import Archive, init_shared_archive
from inspector_search.core.records import SearchFilter, SearchRequest
from inspector_search.core.vector_store import ProjectionPolicy

LAYOUT = "{site}/{equipment}/{date}"
PHOTOS = 18  # plant_folder: 6 photos of 3 classes, two sites, two dates


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plant_folder(tmp_path_factory.mktemp("plant"))


@pytest.fixture(scope="module")
def local_archive(plant: Path, tmp_path_factory: pytest.TempPathFactory):
    archive = Archive.open(tmp_path_factory.mktemp("local") / "archive")
    archive.add([plant], layout=LAYOUT)
    yield archive
    archive.close()


@pytest.fixture(scope="module")
def shared_archive(plant: Path, pg_server, tmp_path_factory: pytest.TempPathFactory):
    from inspector_search.core.shared_archive import SharedArchive

    url = pg_server.create_database("backends")
    init_shared_archive(url)
    archive = SharedArchive.open(url, staging=tmp_path_factory.mktemp("staging"))
    archive.add_report = archive.add([plant], layout=LAYOUT)
    yield archive
    archive.close()


@pytest.fixture(params=["local", "shared"])
def archive(request: pytest.FixtureRequest):
    return request.getfixturevalue(f"{request.param}_archive")


def queries(plant: Path) -> list[Path]:
    return sorted(plant.rglob("*.jpg"))[::5]


def test_search_finds_each_photo_first_with_its_metadata(archive, plant: Path) -> None:
    for query in queries(plant):
        hits = archive.search(SearchRequest(image=query, top_k=5))
        assert len(hits) == 5 and [h.rank for h in hits] == [1, 2, 3, 4, 5]
        first = hits[0]
        assert first.photo.path == query and first.score == pytest.approx(1.0, abs=1e-3)
        assert first.photo.equipment_tag == query.parents[1].name and first.photo.site == query.parents[2].name
        assert first.photo.inspected_on == date.fromisoformat(query.parent.name)


def test_filters_apply_during_the_search(archive, plant: Path) -> None:
    query = queries(plant)[0]
    south = archive.search(SearchRequest(image=query, top_k=20, filter=SearchFilter(site="South")))
    assert south and len(south) == 6 and {h.photo.site for h in south} == {"South"}
    recent = archive.search(SearchRequest(image=query, top_k=20, filter=SearchFilter(since=date(2024, 1, 1))))
    assert len(recent) == PHOTOS // 2 and all(h.photo.inspected_on >= date(2024, 1, 1) for h in recent)
    one = archive.search(SearchRequest(image=query, top_k=20, filter=SearchFilter(equipment_tag="P-102")))
    assert {h.photo.equipment_tag for h in one} == {"P-102"} and len(one) == 6
    assert archive.search(SearchRequest(image=query, filter=SearchFilter(site="Nowhere"))) == []


def test_search_by_equipment_ranks_each_equipment_once(archive, plant: Path) -> None:
    query = queries(plant)[1]
    grouped = archive.search_by_equipment(SearchRequest(image=query, top_k=10))
    assert [g.best.equipment_tag for g in grouped][0] == query.parents[1].name
    assert sorted(g.best.equipment_tag for g in grouped) == ["P-101", "P-102", "P-103"]
    assert sum(g.match_count for g in grouped) == PHOTOS


def test_history_status_and_export(archive) -> None:
    history = archive.history("P-101")
    assert [i.inspected_on for i in history.inspections] == [date(2023, 5, 14), date(2024, 6, 1)]
    assert [len(i.photos) for i in history.inspections] == [3, 3] and history.equipment.photo_count == 6
    status = archive.status()
    assert (status.photos, status.sites, status.equipment, status.inspections) == (PHOTOS, 2, 3, 6)
    assert archive.sites() == ["North", "South"] and len(archive.equipment()) == 3
    csv_text = archive.export(archive.listing(), "csv")
    assert len(csv_text.strip().splitlines()) == PHOTOS + 1 and "P-103" in csv_text
    with pytest.raises(Exception, match="no equipment tagged"):
        archive.history("NOPE")


def test_thumbnails_come_from_the_archive(archive, plant: Path) -> None:
    photo = archive.search(SearchRequest(image=queries(plant)[0], top_k=1))[0].photo
    thumb = archive.thumbnail(photo.image_id, 128)
    assert thumb.read_bytes()[:3] == b"\xff\xd8\xff"


def test_both_engines_rank_alike_before_pca(local_archive, shared_archive, plant: Path) -> None:
    """Before PCA both score by the cosine of the same stored features; the local archive then re-ranks its
    best 30 by geometric verification (keypoints are not on the server), so its top 8 are a re-ordering of
    the shared archive's top 30, with the same score for every photo and the query's own photo first."""
    assert shared_archive.add_report.added == PHOTOS and not shared_archive.add_report.skipped
    for query in queries(plant):
        local = [(h.photo.path, round(h.score, 3)) for h in local_archive.search(SearchRequest(image=query, top_k=8))]
        shared = dict((h.photo.path, round(h.score, 3))
                      for h in shared_archive.search(SearchRequest(image=query, top_k=30)))
        assert local[0][0] == query == next(iter(shared))
        assert all(shared.get(path) == score for path, score in local)
        plain = SearchRequest(image=query, top_k=8, verification=False, expansion=0)  # the plain ranking: identical
        assert [(h.photo.path, round(h.score, 3)) for h in local_archive.search(plain)] == \
            [(h.photo.path, round(h.score, 3)) for h in shared_archive.search(plain)]


def test_adding_again_to_the_shared_archive_duplicates_nothing(shared_archive, plant: Path) -> None:
    report = shared_archive.add([plant], layout=LAYOUT)
    assert report.added == 0 and report.unchanged == PHOTOS
    assert shared_archive.status().photos == PHOTOS


def test_pca_and_hnsw_on_the_server(plant: Path, pg_server, tmp_path: Path) -> None:
    from inspector_search.core.shared_archive import SharedArchive

    url = pg_server.create_database("with_pca")
    init_shared_archive(url, vector_dim=8)
    with SharedArchive.open(url, staging=tmp_path, policy=ProjectionPolicy(dim=8, min_photos=10)) as shared:
        shared.add([plant], layout=LAYOUT)
        status = shared.status()
        assert status.indexed == PHOTOS and status.vector_dim == 8 and "PCA 1280->8" in status.projection
        for query in queries(plant):
            hits = shared.search(SearchRequest(image=query, top_k=3, filter=SearchFilter(site=query.parents[2].name)))
            assert hits[0].photo.path == query and hits[0].score == pytest.approx(1.0, abs=1e-3)


def test_the_command_line_takes_a_server_url(shared_archive, plant: Path, capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    query = queries(plant)[2]
    assert main(["--archive", shared_archive.url, "search", str(query), "--json", "-k", "3"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["results"][0]["path"] == str(query)
    assert main(["--archive", shared_archive.url, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["photos"] == PHOTOS and status["archive"].startswith("postgresql://")
    assert main(["--archive", shared_archive.url, "history", "P-102"]) == 0
    assert "2023-05-14" in capsys.readouterr().out
    assert main(["--archive", shared_archive.url, "duplicates"]) == 1
    assert "not available on a shared archive" in capsys.readouterr().err
