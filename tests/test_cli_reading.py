"""The CLI's read commands on a real archive: they never create one, match typed names forgivingly,
and print what the README promises (inspector, notes; no empty rank/score columns in a listing)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from conftest import neu_sample
from test_cli import run

from inspector_search.core.archive import Archive
from inspector_search.core.errors import NotAnArchiveError, QueryError
from inspector_search.core.names import resolve_name
from inspector_search.core.records import SearchFilter

HEADER = "path,equipment_tag,equipment_type,site,inspected_on,inspector,notes\n"


@pytest.fixture(scope="module")
def archive_with_notes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Six real photos with site North, tags P-101/P-102, inspectors and (multi-line) notes."""
    root = tmp_path_factory.mktemp("reading")
    photos = root / "photos"
    photos.mkdir()
    rows = []
    for n, source in enumerate(neu_sample(3, ("crazing", "patches")), start=1):
        target = photos / f"photo{n}.jpg"
        target.write_bytes(source.read_bytes())
        tag = "P-101" if n <= 3 else "P-102"
        rows.append(f'{target.name},{tag},pump,North,2023-05-1{n},Ann Inspector,"flange corroded {n}\nsecond line"\n')
    sheet = root / "meta.csv"
    sheet.write_text(HEADER + "".join(rows), encoding="utf-8")
    archive = root / "archive"
    with Archive.open(archive) as opened:
        report = opened.add([photos], metadata=sheet)
        assert report.added == 6 and not report.metadata_errors, report
    return archive, sorted(photos.glob("*.jpg"))


@pytest.mark.parametrize("command", [("search", "{photo}"), ("history", "P-101"), ("status",), ("export",),
                                     ("duplicates",), ("check",), ("reindex",)])
def test_read_commands_refuse_a_folder_that_is_not_an_archive(tmp_path: Path, command: tuple[str, ...]) -> None:
    photo = neu_sample(1, ("crazing",))[0]
    mistyped = tmp_path / "archve"
    proc = run(*(part.format(photo=photo) for part in command), archive=mistyped, check=False)
    assert proc.returncode == 1, proc.stdout
    assert f"{mistyped}: no such folder, so no archive" in proc.stderr and "inspector-search add" in proc.stderr
    assert not mistyped.exists() and proc.stdout == ""

    plain = tmp_path / "holiday-photos"
    plain.mkdir()
    proc = run(*(part.format(photo=photo) for part in command), archive=plain, check=False)
    assert proc.returncode == 1 and "not an Inspector Search archive (it holds no catalog.sqlite)" in proc.stderr
    assert list(plain.iterdir()) == []


def test_only_add_creates_an_archive(tmp_path: Path) -> None:
    with pytest.raises(NotAnArchiveError, match="no such folder"):
        Archive.open(tmp_path / "new", create=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    run("add", str(empty), archive=tmp_path / "new")
    assert (tmp_path / "new" / "catalog.sqlite").is_file()
    assert "photos:      0" in run("status", archive=tmp_path / "new").stdout


def test_typed_names_match_case_insensitively_or_suggest(archive_with_notes: tuple[Path, list[Path]]) -> None:
    archive, photos = archive_with_notes
    history = run("history", "p-101", archive=archive).stdout
    assert history.startswith("P-101") and "(1 photo)" in history
    found = run("search", str(photos[0]), "--site", "north", "--equipment", "p-102", "-k", "3", archive=archive)
    assert "P-102" in found.stdout and "P-101" not in found.stdout
    proc = run("search", str(photos[0]), "--site", "Nort", archive=archive, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "inspector-search: error: no site 'Nort' in this archive; did you mean 'North'?"
    proc = run("history", "P-10l", archive=archive, check=False)
    assert proc.returncode == 1 and "no equipment tagged 'P-10l' in this archive; did you mean" in proc.stderr
    assert "'P-101'" in proc.stderr
    proc = run("history", "ZZZ-9", archive=archive, check=False)
    assert proc.stderr.strip() == "inspector-search: error: no equipment tagged 'ZZZ-9' in this archive"


def test_resolve_name_and_filter() -> None:
    assert resolve_name("site", "north", ["North", "South"]) == "North"
    assert resolve_name("site", "North", ["North", "north"]) == "North"
    with pytest.raises(QueryError, match="ambiguous"):
        resolve_name("site", "NORTH", ["North", "north"])
    with pytest.raises(QueryError, match=r"did you mean 'South'\?"):
        resolve_name("site", "Sout", ["North", "South"])


def test_resolve_filter_respells_names(archive_with_notes: tuple[Path, list[Path]]) -> None:
    archive, _photos = archive_with_notes
    with Archive.open(archive, create=False) as opened:
        flt = opened.resolve_filter(SearchFilter(site="NORTH", equipment_tag="p-101", equipment_type="Pump"))
        assert (flt.site, flt.equipment_tag, flt.equipment_type) == ("North", "P-101", "pump")
        with pytest.raises(QueryError, match="no equipment type 'valve'"):
            opened.resolve_filter(SearchFilter(equipment_type="valve"))


def test_plain_search_prints_inspector_and_notes(archive_with_notes: tuple[Path, list[Path]]) -> None:
    archive, photos = archive_with_notes
    out = run("search", str(photos[0]), "-k", "2", "--expansion", "0", archive=archive).stdout.splitlines()
    assert out[0] == f"{photos[0]}:"
    assert out[1].startswith("    1. 1.000  P-101") and "Ann Inspector" in out[1] and out[1].endswith(str(photos[0]))
    assert out[2].strip() == "notes: flange corroded 1" and out[3].strip() == "second line"
    grouped = run("search", str(photos[0]), "--by-equipment", archive=archive).stdout
    assert " x" not in grouped and "3 matching photos of this equipment" in grouped
    assert "how many of its photos are among the best matches" in grouped


def test_export_listing_has_no_rank_or_score(archive_with_notes: tuple[Path, list[Path]]) -> None:
    archive, photos = archive_with_notes
    rows = list(csv.reader(io.StringIO(run("export", archive=archive).stdout)))
    assert rows[0][:2] == ["image_id", "path"] and "rank" not in rows[0] and len(rows) == 7
    assert all(len(row) == len(rows[0]) for row in rows)
    ranked = list(csv.reader(io.StringIO(run("export", "--query", str(photos[0]), "-k", "2", archive=archive).stdout)))
    assert ranked[0][:3] == ["rank", "score", "image_id"] and ranked[1][:2] == ["1", "1.00000"]
    page = run("export", "--format", "html", archive=archive).stdout
    assert "<th>rank</th>" not in page and "<th>image_id</th>" in page
