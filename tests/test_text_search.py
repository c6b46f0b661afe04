"""Text search (SQLite FTS5) on real archives: words against labels, notes, equipment, sites and
inspectors, alone or with a query photo, kept in step with every change."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import NEU_CLASSES, plant_folder

from inspector_search.core import catalog as catalog_module
from inspector_search.core.archive import Archive
from inspector_search.core.catalog import Catalog
from inspector_search.core.errors import QueryError
from inspector_search.core.records import SearchFilter, SearchRequest


def write_metadata(photos: Path, notes: dict[str, str]) -> Path:
    files = sorted(photos.rglob("*.jpg"))
    lines = ["path,equipment_tag,equipment_name,equipment_type,site,inspector,inspected_on,notes"]
    for n, path in enumerate(files):
        tag = path.parents[1].name
        name = {"P-101": "Feed pump", "P-102": "Steam header flange", "P-103": "Cooling tower"}[tag]
        lines.append(f"{path},{tag},{name},{'pump' if tag == 'P-101' else 'pipe'},{path.parents[2].name},"
                     f"{'Müller' if n % 2 else 'Okafor'},{path.parent.name},\"{notes.get(path.name, '')}\"")
    meta = photos.parent / "meta.csv"
    meta.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return meta


@pytest.fixture
def setup(tmp_path: Path):
    photos = plant_folder(tmp_path / "photos", per_class=4, classes=NEU_CLASSES[:3])
    files = sorted(photos.rglob("*.jpg"))
    notes = {files[0].name: "Small leaking gasket at the flange", files[5].name: "corrosion under insulation"}
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([photos], metadata=write_metadata(photos, notes))
        ids = {Path(p).name: i for p, i in archive.catalog.conn.execute("SELECT path, image_id FROM files")}
        yield archive, photos, files, ids


def text_ids(archive: Archive, text: str, **kwargs) -> list[int]:
    return [h.photo.image_id for h in archive.search(SearchRequest(image=None, text=text, top_k=50, **kwargs))]


def test_words_match_notes_equipment_sites_inspectors_and_labels(setup) -> None:
    archive, _photos, files, ids = setup
    assert text_ids(archive, "leak") == [ids[files[0].name]]  # a prefix of "leaking"
    assert text_ids(archive, "FLANGE leak") == [ids[files[0].name]]  # every word, any case
    assert text_ids(archive, "flange corrosion") == []
    assert len(text_ids(archive, "feed pump")) == 4 and len(text_ids(archive, "steam")) == 4
    assert len(text_ids(archive, "muller")) == 6  # accents ignored
    north = text_ids(archive, "north")
    assert set(north) == {ids[p.name] for p in files if p.parents[2].name == "North"}
    filtered = text_ids(archive, "north", filter=SearchFilter(equipment_tag="P-101"))
    assert set(filtered) == {ids[p.name] for p in files if p.parents[1].name == "P-101"} and len(filtered) == 4
    hits = archive.search(SearchRequest(image=None, text="corrosion", top_k=5))
    assert [h.photo.image_id for h in hits] == [ids[files[5].name]] and 0 < hits[0].score < 1

    target = ids[files[7].name]
    archive.assign_labels([target], [("defect", "hairline crack")])
    assert text_ids(archive, "hairline") == [target]
    archive.undo_labels()
    assert text_ids(archive, "hairline") == []
    with pytest.raises(QueryError, match="no words"):
        text_ids(archive, " -- !! ")


def test_text_filters_an_image_search(setup) -> None:
    archive, _photos, files, ids = setup
    query = files[9]  # a P-103 photo
    pumps = {ids[p.name] for p in files if p.parents[1].name == "P-101"}
    hits = archive.search(SearchRequest(image=query, text="pump", top_k=10))
    assert {h.photo.image_id for h in hits} == pumps  # only photos with the words, however alike the others
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert archive.search(SearchRequest(image=query, text="nothing-has-this", top_k=10)) == []


def test_text_follows_changed_metadata_and_deleted_photos(setup, tmp_path: Path) -> None:
    archive, photos, files, ids = setup
    archive.add([photos], metadata=write_metadata(photos, {files[0].name: "valve replaced"}))
    assert text_ids(archive, "valve") == [ids[files[0].name]]
    assert text_ids(archive, "replaced gasket") == [ids[files[0].name]]  # the inspection keeps both notes
    conn = archive.catalog.conn
    with archive.catalog.transaction() as tx:
        tx.execute("UPDATE equipment SET name = 'Boiler feed pump' WHERE tag = 'P-101'")
    assert len(text_ids(archive, "boiler")) == 4
    files[0].unlink()
    archive.add([photos])
    assert text_ids(archive, "valve") == []
    assert conn.execute("SELECT COUNT(*) FROM photo_text").fetchone()[0] == len(files)  # kept for a comeback


def test_search_text_command_alone_and_with_a_photo(setup) -> None:
    from test_cli import run

    archive, _photos, files, ids = setup
    folder = archive.folder
    archive.close()
    line = json.loads(run("search", "--text", "leaking gasket", "--json", archive=folder).stdout)
    assert line["query"] is None and [r["image_id"] for r in line["results"]] == [ids[files[0].name]]
    line = json.loads(run("search", str(files[9]), "--text", "pump", "-k", "3", "--json", archive=folder).stdout)
    assert len(line["results"]) == 3 and all(r["equipment_tag"] == "P-101" for r in line["results"])
    proc = run("search", archive=folder, check=False)
    assert proc.returncode == 2 and "--text" in proc.stderr


def test_an_older_catalog_gets_its_text_indexed(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for _name, script in catalog_module.MIGRATIONS[:2]:
        for statement in filter(str.strip, script.split(";\n")):
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {catalog_module.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO equipment(id, tag, name) VALUES (1, 'V-7', 'Relief valve')")
    conn.execute("INSERT INTO images(id, content_hash, byte_size, equipment_id, notes, added_at) "
                 "VALUES (1, 'h', 1, 1, 'seat erosion', 'now')")
    conn.close()
    catalog = Catalog(path)
    try:
        rows = catalog.conn.execute("SELECT rowid FROM photo_text WHERE photo_text MATCH 'relief erosion'")
        assert [r[0] for r in rows] == [1]
    finally:
        catalog.close()
