"""Bad metadata CSVs: row-level errors with line numbers, nothing half-imported; exports in which no
cell becomes a formula or markup."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from inspector_search.core.archive import Archive
from inspector_search.core.errors import MetadataError

from .harness import neu_files, run_cli

HEADER = "path,equipment_tag,equipment_type,site,inspected_on,inspector,notes\n"


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for n, source in enumerate(neu_files("pitted_surface", 7), start=1):
        shutil.copy(source, root / f"photo{n}.jpg")
    return root


def photo_by_name(archive: Archive) -> dict[str, object]:
    rows = archive.catalog.conn.execute("SELECT path, image_id FROM files WHERE deleted = 0")
    return {Path(p).name: archive.photo(i) for p, i in rows}


def test_bad_rows_are_reported_by_line_and_never_half_imported(tmp_path: Path, photos: Path) -> None:
    sheet = tmp_path / "export.csv"
    sheet.write_text(
        HEADER
        + "photo1.jpg,P-101,pump,North,2023-05-14,Ann,corrosion at the flange\n"          # line 2: good
        + "photo2.jpg,P-102,valve,South,2023-13-45,Bob,stem leak\n"                        # line 3: bad date
        + "photo1.jpg,P-999,pump,North,2023-05-14,Ann,again\n"                             # line 4: duplicate
        + "photo3.jpg,NEW-7,heat exchanger,East,14.05.2023,Cy,unknown equipment so far\n"  # line 5: new tag
        + 'photo4.jpg,"=HYPERLINK(""http://x.invalid"",""open"")",pump,North,2024-01-02,+cmd,@SUM(A1)\n'  # 6
        + "photo5.jpg,P-105,pump,North,2024-01-02,Di,too,many,values\n"                    # line 7: extra cells
        + 'photo6.jpg,P-106,pump,North,2024-02-03,Ed,"two\nlines"\n'                        # lines 8-9: good
        + "photo7.jpg,P-107,pump,North,not a date,Fay,late\n",                              # line 10: bad date
        encoding="utf-8")
    with Archive.open(tmp_path / "archive") as archive:
        report = archive.add([photos], metadata=sheet)
        assert report.added == 7
        assert list(report.metadata_errors) == [
            "export.csv line 3: bad date '2023-13-45' in inspected_on",
            "export.csv line 4: duplicate path, first given on line 2",
            "export.csv line 7: 9 values but the header has 7 columns (unquoted delimiter?)",
            "export.csv line 10: bad date 'not a date' in inspected_on"]
        photo = photo_by_name(archive)
        assert (photo["photo1.jpg"].equipment_tag, photo["photo1.jpg"].notes) == ("P-101", "corrosion at the flange")
        for skipped in ("photo2.jpg", "photo5.jpg", "photo7.jpg"):  # the photo is there, none of its row is
            record = photo[skipped]
            assert (record.equipment_tag, record.site, record.inspected_on, record.notes) == (None, None, None, None)
        tags = {e.tag for e in archive.equipment()}
        assert tags == {"P-101", "NEW-7", '=HYPERLINK("http://x.invalid","open")', "P-106"}  # no P-102/P-999/P-107
        assert photo["photo3.jpg"].equipment_type == "heat exchanger" and photo["photo3.jpg"].site == "East"
        assert photo["photo3.jpg"].inspected_on == date(2023, 5, 14)
        formula = photo["photo4.jpg"]  # imported as the plain text it is
        assert (formula.inspector, formula.notes) == ("+cmd", "@SUM(A1)")
        assert photo["photo6.jpg"].notes == "two\nlines"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_encodings_of_spreadsheet_exports_are_read(tmp_path: Path, photos: Path, encoding: str) -> None:
    sheet = tmp_path / "export.csv"
    sheet.write_text(HEADER.replace(",", ";") + "photo1.jpg;Ü-101;Kühler;Köln;2023-05-14;José Núñez;"
                     "Überdruck – Ventil undicht\n", encoding=encoding)
    with Archive.open(tmp_path / "archive") as archive:
        report = archive.add([photos], metadata=sheet)
        assert report.metadata_errors == ()
        record = photo_by_name(archive)["photo1.jpg"]
    assert (record.equipment_tag, record.equipment_type, record.site) == ("Ü-101", "Kühler", "Köln")
    assert (record.inspector, record.notes) == ("José Núñez", "Überdruck – Ventil undicht")


def test_an_unusable_csv_stops_the_add_before_anything_is_written(tmp_path: Path, photos: Path) -> None:
    sheet = tmp_path / "export.csv"
    sheet.write_text("file name,tag\nphoto1.jpg,P-1\n".replace("file name", "picture"), encoding="utf-8")
    with Archive.open(tmp_path / "archive") as archive:
        with pytest.raises(MetadataError, match="no 'path' column"):
            archive.add([photos], metadata=sheet)
        assert archive.status().photos == 0
    proc = run_cli(tmp_path / "archive", "add", str(photos), "--metadata", str(sheet), check=False)
    assert proc.returncode == 1 and "export.csv: no 'path' column (found: picture, tag)" in proc.stderr


def test_exports_never_let_a_cell_become_a_formula_or_markup(tmp_path: Path, photos: Path) -> None:
    sheet = tmp_path / "export.csv"
    sheet.write_text(
        HEADER
        + 'photo1.jpg,"=HYPERLINK(""http://x.invalid"",""open"")",pump,North,2023-05-14,+cmd,@SUM(A1)\n'
        + 'photo2.jpg,P-2,"<script>alert(1)</script>",North,2023-05-14,-2+3," =1+1"\n'
        + 'photo3.jpg,P-3,pump,"<img src=x onerror=alert(1)>",2023-05-14,"Ann & Bob","a ""quoted"" note"\n',
        encoding="utf-8")
    archive = tmp_path / "archive"
    with Archive.open(archive) as opened:
        opened.add([photos], metadata=sheet)
    out = tmp_path / "listing.csv"
    assert "exported 7 photos" in run_cli(archive, "export", "--format", "csv", "--out", str(out)).stdout
    text = out.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:2] == ["image_id", "path"] and len(rows) == 8  # a listing: no rank, no score
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c.lstrip(" ")[:1] in ("=", "+", "-", "@")]
    for value in ('=HYPERLINK("http://x.invalid","open")', "+cmd", "@SUM(A1)", "-2+3", "=1+1"):  # cells are trimmed
        assert "'" + value in cells  # still readable, shown as text
    assert "a \"quoted\" note" in cells and "Ann & Bob" in cells

    page = run_cli(archive, "export", "--format", "html").stdout
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Ann &amp; Bob" in page and "a &quot;quoted&quot; note" in page

    query = sorted(photos.glob("*.jpg"))[1]
    ranked = list(csv.reader(io.StringIO(run_cli(archive, "export", "--query", str(query), "-k", "3").stdout)))
    assert [r[0] for r in ranked] == ["rank", "1", "2", "3"] and ranked[1][3] == str(query)


def test_two_rows_for_byte_identical_files_keep_the_lowest_line_and_a_rerun_changes_nothing(
        tmp_path: Path, photos: Path) -> None:
    shutil.copy(photos / "photo1.jpg", photos / "copy-of-photo1.jpg")  # sorted before photo1.jpg
    table = tmp_path / "export.csv"
    table.write_text(HEADER + "photo1.jpg,A-1,pump,North,2024-05-01,Ann,seal weeping\n"
                     "copy-of-photo1.jpg,B-2,valve,South,2024-06-02,Bob,flange ok\n"
                     "photo2.jpg,C-3,pump,North,2024-05-03,Ann,\n", encoding="utf-8")
    archive = tmp_path / "archive"
    reports = [json.loads(run_cli(archive, "add", str(photos), "--metadata", str(table), "--json").stdout)
               for _ in range(3)]
    conflict = ("export.csv lines 2 and 3 give different metadata to one photo "
                f"({photos / 'photo1.jpg'} and {photos / 'copy-of-photo1.jpg'} are byte-identical files); "
                "line 2 is kept")
    for report in reports:
        assert report["metadata_errors"] == [conflict]
    assert reports[0]["copies"] == 1 and reports[1]["updated_metadata"] == reports[2]["updated_metadata"] == 0
    history = json.loads(run_cli(archive, "history", "A-1", "--json").stdout)
    assert history["equipment"]["photo_count"] == 1 and history["inspections"][0]["inspector"] == "Ann"
    assert json.loads(run_cli(archive, "history", "C-3", "--json").stdout)["inspections"]
    with Archive.open(archive) as opened:
        photo = photo_by_name(opened)["photo1.jpg"]
        assert (photo.equipment_tag, photo.site, photo.inspector) == ("A-1", "North", "Ann")


def test_a_cell_over_the_limit_skips_its_row_and_the_others_are_imported(tmp_path: Path, photos: Path) -> None:
    huge = "corrosion " * 14_000  # 140,000 characters, quoted over several lines
    table = tmp_path / "export.csv"
    table.write_text(HEADER + "photo1.jpg,P-1,pump,North,2024-05-01,Ann,ok\n"
                     f'photo2.jpg,P-2,pump,North,2024-05-01,Ann,"{huge}\nsecond line\nthird"\n'
                     "photo3.jpg,P-3,pump,North,2024-05-01,Ann,ok\n", encoding="utf-8")
    report = json.loads(run_cli(tmp_path / "archive", "add", str(photos), "--metadata", str(table), "--json").stdout)
    assert report["added"] == 7
    assert report["metadata_errors"] == [
        "export.csv line 3: notes: a value of 140,018 characters, more than the 131,072 allowed"]
    with Archive.open(tmp_path / "archive") as archive:
        tags = {name: p.equipment_tag for name, p in photo_by_name(archive).items()}
    assert (tags["photo1.jpg"], tags["photo2.jpg"], tags["photo3.jpg"]) == ("P-1", None, "P-3")
    assert csv.field_size_limit() == 131_072  # the process-wide limit is given back
