"""Labels on real archives: assign, replace, remove, undo, import, the metadata CSV's tags column,
labels in search results, history and export, and the catalog migration that adds them."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import NEU_CLASSES, plant_folder

from inspector_search.core import catalog as catalog_module
from inspector_search.core.archive import Archive
from inspector_search.core.catalog import Catalog
from inspector_search.core.errors import LabelError, MetadataError
from inspector_search.core.labels import MAX_LABEL_LENGTH
from inspector_search.core.records import SearchRequest


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("labels")
    photos = plant_folder(root / "photos", per_class=4, classes=NEU_CLASSES[:3])
    with Archive.open(root / "archive") as archive:
        archive.add([photos], layout="{site}/{equipment}/{date}")
    return root / "archive", photos


@pytest.fixture
def archive(built: tuple[Path, Path], tmp_path: Path):
    folder = tmp_path / "archive"
    shutil.copytree(built[0], folder)
    with Archive.open(folder) as opened:
        yield opened


def ids_by_name(archive: Archive) -> dict[str, int]:
    return {Path(p).name: i for p, i in archive.catalog.conn.execute("SELECT path, image_id FROM files")}


def labels_of(archive: Archive, image_id: int) -> set[tuple[str, str]]:
    return {(label.kind, label.value) for label in archive.photo(image_id).labels}


def test_assign_shows_in_search_results_history_and_export(archive: Archive, built: tuple[Path, Path]) -> None:
    ids = sorted(ids_by_name(archive).values())[:3]
    change = archive.assign_labels(ids, [("defect", " Crack "), ("tag", "weld seam"), ("tag", "flange")], who="ana")
    assert (change.added, change.removed, change.photos) == (9, 0, 3) and change.action_id is not None
    photo = archive.photo(ids[0])
    assert photo.label_values("defect") == ["crack"] and sorted(photo.label_values("tag")) == ["flange", "weld seam"]
    assert {label.who for label in photo.labels} == {"ana"} and all(label.labelled_at for label in photo.labels)
    query = archive.photo(ids[0]).path
    hit = archive.search(SearchRequest(image=query, top_k=3))[0]
    assert hit.photo.image_id == ids[0] and hit.photo.label_values("defect") == ["crack"]
    history = archive.history(photo.equipment_tag)
    labelled = [p for i in history.inspections for p in i.photos if p.image_id == ids[0]]
    assert labelled[0].label_values("defect") == ["crack"]
    csv_text = archive.export(archive.listing(), "csv")
    header, *rows = csv_text.splitlines()
    assert header.endswith(",labels")
    row = next(r for r in rows if r.split(",")[0] == str(ids[0]))  # a listing starts with image_id
    assert "defect=crack; tag=flange; tag=weld seam" in row


def test_single_valued_kind_replaces_and_undo_restores_in_order(archive: Archive) -> None:
    first, second = sorted(ids_by_name(archive).values())[:2]
    archive.assign_labels([first, second], [("defect", "corrosion"), ("severity", "low")], who="ana")
    change = archive.assign_labels([first], [("defect", "crack")], who="ben")
    assert (change.added, change.removed) == (1, 1)
    assert labels_of(archive, first) == {("defect", "crack"), ("severity", "low")}
    again = archive.assign_labels([first], [("defect", "crack")], who="ben")
    assert again.action_id is None  # nothing changed: nothing to undo
    removed = archive.remove_labels([first, second], [("severity", "low")], who="ben")
    assert removed.removed == 2 and labels_of(archive, second) == {("defect", "corrosion")}

    undone = archive.undo_labels()
    assert undone is not None and undone.verb == "remove"
    assert labels_of(archive, second) == {("defect", "corrosion"), ("severity", "low")}
    archive.undo_labels()  # the replacement: corrosion is back, given by ana as before
    back = archive.photo(first).labels
    assert {(x.kind, x.value, x.who) for x in back} == {("defect", "corrosion", "ana"), ("severity", "low", "ana")}
    archive.undo_labels()
    assert archive.photo(first).labels == () and archive.undo_labels() is None
    log = archive.label_actions()
    assert [a.undone for a in log] == [True, True, True] and log[0].verb == "remove"


def test_bad_changes_are_refused_whole(archive: Archive) -> None:
    some = sorted(ids_by_name(archive).values())[:2]
    for labels, message in [([("defect", "   ")], "empty defect label"),
                            ([("defect", "x" * (MAX_LABEL_LENGTH + 1))], "longer than"),
                            ([("colour", "red")], "unknown label kind"),
                            ([("tag", "a\x07b")], "control characters")]:
        with pytest.raises(LabelError, match=message):
            archive.assign_labels(some, labels)
    with pytest.raises(LabelError, match="no photo with id 99999"):
        archive.assign_labels([some[0], 99999], [("defect", "crack")])
    assert archive.label_counts() == [] and archive.label_actions() == []


def test_label_csv_applies_all_or_reports_every_bad_line(archive: Archive, built: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    photos = built[1]
    files = sorted(photos.rglob("*.jpg"))
    good = tmp_path / "good.csv"
    good.write_text("path;defect;severity;tags\n"
                    f"{files[0]};Crack;high;weld|flange\n"
                    f"{files[1]};leak;;\n", encoding="utf-8")
    change = archive.import_labels(good, who="import test")
    assert change.added == 5 and change.photos == 2
    names = ids_by_name(archive)
    assert labels_of(archive, names[files[0].name]) == {("defect", "crack"), ("severity", "high"),
                                                       ("tag", "weld"), ("tag", "flange")}
    bad = tmp_path / "bad.csv"
    bad.write_text("path,defect,tags\n"
                   f"{files[2]},crack,\n"
                   f"{tmp_path / 'nowhere.jpg'},crack,\n"
                   f"{files[3]},,\n"
                   f"{files[4]},{'y' * 200},\n"
                   f"{files[2]},corrosion,\n", encoding="utf-8")
    with pytest.raises(LabelError) as caught:
        archive.import_labels(bad)
    text = str(caught.value)
    assert "4 bad line(s), no label was applied" in text
    for expected in ("line 3: no archive photo", "line 4: no label given", "line 5: defect label longer",
                     "line 6: defect 'corrosion' conflicts with 'crack' on line 2"):
        assert expected in text
    assert archive.photo(names[files[2].name]).labels == ()  # line 2 was fine, but nothing is half-applied
    relative = tmp_path / "relative.csv"
    shutil.copy(files[5], tmp_path / files[5].name)  # not in the archive: same name, other folder
    relative.write_text(f"path,defect\n{files[5].name},crack\n", encoding="utf-8")
    with pytest.raises(LabelError, match="no archive photo"):
        archive.import_labels(relative)
    with pytest.raises(MetadataError, match="no 'path' or 'image_id' column"):
        (tmp_path / "nokey.csv").write_text("file,defect\na,b\n", encoding="utf-8")
        archive.import_labels(tmp_path / "nokey.csv")


def test_tags_column_of_the_metadata_csv_becomes_tags(tmp_path: Path) -> None:
    photos = plant_folder(tmp_path / "photos", per_class=2, classes=NEU_CLASSES[:2])
    files = sorted(photos.rglob("*.jpg"))
    meta = tmp_path / "meta.csv"
    meta.write_text("path,equipment_tag,Tags\n"
                    f"{files[0]},P-1,insulation; Steam Trap\n"
                    f"{files[1]},P-1,{'z' * 100}\n", encoding="utf-8")
    with Archive.open(tmp_path / "archive") as archive:
        report = archive.add([photos], metadata=meta)
        assert any("line 3" in e and "tags" in e for e in report.metadata_errors)
        names = ids_by_name(archive)
        assert labels_of(archive, names[files[0].name]) == {("tag", "insulation"), ("tag", "steam trap")}
        assert archive.photo(names[files[0].name]).labels[0].who == "metadata CSV"
        assert archive.photo(names[files[1].name]).labels == ()
        assert archive.label_counts() == [("tag", "insulation", 1), ("tag", "steam trap", 1)]


def test_a_version_1_catalog_is_backed_up_and_gains_the_label_tables(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in filter(str.strip, catalog_module.MIGRATIONS[0][1].split(";\n")):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {catalog_module.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO meta VALUES ('generation', '7')")
    conn.close()
    catalog = Catalog(path)
    try:
        assert catalog.schema_version == catalog_module.SCHEMA_VERSION >= 2
        tables = {r[0] for r in catalog.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"labels", "label_actions", "label_changes"} <= tables
        assert catalog.get_meta("generation") == "7"
    finally:
        catalog.close()
    assert (tmp_path / "catalog.sqlite.v1.bak").is_file()


def test_label_command_end_to_end(built: tuple[Path, Path], tmp_path: Path) -> None:
    from test_cli import run

    folder = tmp_path / "archive"
    shutil.copytree(built[0], folder)
    query = sorted(built[1].rglob("*.jpg"))[0]
    out = run("label", "assign", "--query", str(query), "-k", "3", "--defect", "Pitting", "--tag", "north wall",
              "--who", "cli", archive=folder).stdout
    assert "6 label(s) added, 0 removed on 3 photo(s)" in out
    listing = json.loads(run("label", "list", "--json", archive=folder).stdout)
    counts = {(x["kind"], x["value"], x["photos"]) for x in listing}
    assert counts == {("defect", "pitting", 3), ("tag", "north wall", 3)}
    result = json.loads(run("search", str(query), "-k", "1", "--json", archive=folder).stdout)["results"][0]
    assert {"kind": "defect", "value": "pitting"} in result["labels"]
    run("label", "remove", "--labelled", "defect=pitting", "--tag", "north wall", archive=folder)
    actions = json.loads(run("label", "actions", "--json", archive=folder).stdout)
    assert [a["verb"] for a in actions] == ["remove", "assign"] and actions[1]["who"] == "cli"
    assert "undone: remove" in run("label", "undo", archive=folder).stdout
    proc = run("label", "assign", "12345", "--defect", "crack", archive=folder, check=False)
    assert proc.returncode == 1 and "no photo with id 12345" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("label", "assign", "1", archive=folder, check=False)
    assert proc.returncode == 1 and "no label given" in proc.stderr


def test_labelling_from_two_processes_during_an_add_loses_nothing(built: tuple[Path, Path], tmp_path: Path) -> None:
    import subprocess
    import sys
    import threading

    from conftest import neu_sample

    folder = tmp_path / "archive"
    shutil.copytree(built[0], folder)
    with Archive.open(folder) as archive:
        ids = sorted(ids_by_name(archive).values())
    extra = tmp_path / "more"
    extra.mkdir()
    for src in neu_sample(30, (NEU_CLASSES[4],)):
        shutil.copy2(src, extra / src.name)

    def label(part: list[int], value: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "inspector_search", "--archive", str(folder), "label",
                                 "assign", *map(str, part), "--tag", value], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    with Archive.open(folder) as archive:
        adding = threading.Thread(target=lambda: archive.add([extra]))
        adding.start()
        first, second = label(ids[::2], "first"), label(ids[1::2], "second")
        for proc in (first, second):
            _out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        adding.join(timeout=300)
        assert archive.catalog.counts()["photos"] == len(ids) + 30
        assert archive.photos_with_label("tag", "first") == ids[::2]
        assert archive.photos_with_label("tag", "second") == ids[1::2]
        assert sorted(a.verb for a in archive.label_actions()) == ["assign", "assign"]
