"""Tests for the metadata CSV reader, path lookup and folder-layout patterns (real files in tmp_path)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import date
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

import pytest

from inspector_search.core import metadata
from inspector_search.core.errors import MetadataError
from inspector_search.core.folder_layout import Layout
from inspector_search.core.ingest import PhotoSource
from inspector_search.core.metadata import (
    KNOWN_COLUMNS,
    MetadataTable,
    PhotoMetadata,
    RowError,
    looks_like_formula,
    neutralise_formula,
    parse_date,
    path_key,
    preview_csv,
    read_metadata_csv,
)


def write_csv(folder: Path, text: str, name: str = "metadata.csv", encoding: str = "utf-8") -> Path:
    """Write ``text`` byte-exactly (no newline translation) so line numbers are what the test says."""
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


GOOD = (
    "path,equipment_tag,equipment_name,equipment_type,site,area,inspected_on,inspector,notes\n"
    "siteA/p-101/001.jpg,P-101,Feed pump,pump,North,Unit 1,2023-05-14,J. Smith,Seal weeping\n"
    "siteA/p-101/002.jpg , P-101 ,,pump,North,,2023/05/15,,\n"
)


# ------------------------------------------------------------------------------------------ reading


def test_good_csv(tmp_path: Path) -> None:
    table = read_metadata_csv(write_csv(tmp_path, GOOD))
    assert table.errors == []
    assert table.row_count == 2
    assert table.columns == list(KNOWN_COLUMNS)
    assert table.source == tmp_path / "metadata.csv"
    first = table.rows["siteA/p-101/001.jpg"]
    assert first == PhotoMetadata(
        equipment_tag="P-101",
        equipment_name="Feed pump",
        equipment_type="pump",
        site="North",
        area="Unit 1",
        inspected_on=date(2023, 5, 14),
        inspector="J. Smith",
        notes="Seal weeping",
    )
    second = table.rows["siteA/p-101/002.jpg"]  # cells trimmed, empty cells -> None
    assert second.equipment_tag == "P-101"
    assert second.equipment_name is None and second.area is None and second.notes is None
    assert second.inspected_on == date(2023, 5, 15)


def test_aliases_and_case_insensitive_headers(tmp_path: Path) -> None:
    text = " FILE ;Tag;Type; Inspection Date ;SITE;Remarks\nimg/a.jpg;V-7;valve;14.05.2023;South;ok\n"
    table = read_metadata_csv(write_csv(tmp_path, text))
    assert table.columns == ["path", "equipment_tag", "equipment_type", "inspected_on", "site", "notes"]
    meta = table.rows["img/a.jpg"]
    assert (meta.equipment_tag, meta.equipment_type, meta.site, meta.notes) == ("V-7", "valve", "South", "ok")
    assert meta.inspected_on == date(2023, 5, 14)


@pytest.mark.parametrize("header", ["filename", "photo", "Path", "File Name"])
def test_path_aliases(tmp_path: Path, header: str) -> None:
    table = read_metadata_csv(write_csv(tmp_path, f"{header},equipment\nx.jpg,E-1\n"))
    assert table.rows["x.jpg"].equipment_tag == "E-1"


def test_unknown_columns_kept_in_extra(tmp_path: Path) -> None:
    text = "path,Work Order,Priority,tag\na.jpg,WO-991,high,T-1\nb.jpg,,low,T-2\n"
    table = read_metadata_csv(write_csv(tmp_path, text))
    assert table.columns == ["path", "Work Order", "Priority", "equipment_tag"]
    assert dict(table.rows["a.jpg"].extra) == {"Work Order": "WO-991", "Priority": "high"}
    assert dict(table.rows["b.jpg"].extra) == {"Priority": "low"}  # empty cells are not kept


def test_missing_path_column_names_file_and_columns(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"^metadata\.csv: no 'path' column \(found: a, b, c\)$"):
        read_metadata_csv(write_csv(tmp_path, "a,b,c\n1,2,3\n"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"  \r\n\r\n", "empty"),
        (b"\xff\xfep\x00a\x00", "UTF-16"),
        (b"path\n\x81\x8d.jpg\n", "line 2"),  # bytes undefined in cp1252 too
        (b"\xef\xbb\xbfpath\nM\xfcller.jpg\n", "not UTF-8"),
        (b"sep=;\n", "no header"),
    ],
)
def test_unusable_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "meta.csv"
    path.write_bytes(content)
    with pytest.raises(MetadataError, match=message) as info:
        read_metadata_csv(path)
    assert str(info.value).startswith("meta.csv: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"^nope\.csv: file not found"):
        read_metadata_csv(tmp_path / "nope.csv")


def test_same_column_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="'date' and 'inspection_date' both give inspected_on"):
        read_metadata_csv(write_csv(tmp_path, "path,date,inspection_date\na.jpg,2023-01-01,2023-01-01\n"))


def test_bad_date_line_number_after_multiline_note(tmp_path: Path) -> None:
    text = (
        "path,notes,inspected_on\n"  # line 1
        'a.jpg,"first line\r\nsecond, with comma\r\nthird",2023-05-14\n'  # lines 2-4
        "b.jpg,fine,2023-05-15\n"  # line 5
        "c.jpg,,31/02/2023\n"  # line 6
    )
    table = read_metadata_csv(write_csv(tmp_path, text))
    assert table.errors == [RowError(6, "c.jpg", "bad date '31/02/2023' in inspected_on", "metadata.csv")]
    assert str(table.errors[0]) == "metadata.csv line 6: bad date '31/02/2023' in inspected_on"
    assert table.rows["a.jpg"].notes == "first line\nsecond, with comma\nthird"
    assert set(table.rows) == {"a.jpg", "b.jpg"}  # the bad row is skipped whole
    assert table.row_count == 3


def test_row_errors_skip_the_row(tmp_path: Path) -> None:
    text = (
        "path,tag,date\n"
        "a.jpg,T-1,2023-01-02\n"  # 2
        ",T-2,2023-01-02\n"  # 3: empty path
        "./a.jpg,T-3,2023-01-02\n"  # 4: duplicate of line 2 (same key)
        "d.jpg,T-4,03/04/2023\n"  # 5: ambiguous
        "e.jpg,T-5,2023-01-02,surplus\n"  # 6: more cells than header
        "f.jpg,T-6,2023-01-02,,\n"  # 7: trailing empty cells are harmless
        "\n"  # 8: blank, ignored
        "g.jpg,T-7,14/03/2023\n"  # 9: unambiguous day-first
    )
    table = read_metadata_csv(write_csv(tmp_path, text))
    assert [(e.line, e.path, e.reason) for e in table.errors] == [
        (3, None, "empty path"),
        (4, "./a.jpg", "duplicate path, first given on line 2"),
        (5, "d.jpg", "ambiguous date '03/04/2023' in inspected_on"),
        (6, "e.jpg", "4 values but the header has 3 columns (unquoted delimiter?)"),
    ]
    assert sorted(table.rows) == ["a.jpg", "f.jpg", "g.jpg"]
    assert table.rows["a.jpg"].equipment_tag == "T-1"  # the first occurrence wins
    assert table.rows["g.jpg"].inspected_on == date(2023, 3, 14)
    assert table.row_count == 7


def test_utf8_bom_header(tmp_path: Path) -> None:
    table = read_metadata_csv(
        write_csv(tmp_path, "path,inspector\nM\u00fcller.jpg,M\u00fcller\n", encoding="utf-8-sig")
    )
    assert table.columns == ["path", "inspector"]
    assert table.rows["M\u00fcller.jpg"].inspector == "M\u00fcller"


def test_cp1252_file(tmp_path: Path) -> None:
    text = "path;inspector;notes\r\nkessel.jpg;M\u00fcller;Pr\u00fcfung \u20ac 5\r\n"
    path = write_csv(tmp_path, text, encoding="cp1252")
    assert b"M\xfcller" in path.read_bytes()
    meta = read_metadata_csv(path).rows["kessel.jpg"]
    assert meta.inspector == "M\u00fcller"
    assert meta.notes == "Pr\u00fcfung \u20ac 5"


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_delimiters(tmp_path: Path, delimiter: str) -> None:
    rows = [["path", "tag", "notes"], ["a.jpg", "T-1", '"x, y; z"'], ["b.jpg", "T-2", "plain"]]
    text = "\n".join(delimiter.join(r) for r in rows) + "\n"
    table = read_metadata_csv(write_csv(tmp_path, text))
    assert table.rows["a.jpg"].notes == "x, y; z"
    assert table.rows["b.jpg"].equipment_tag == "T-2"


def test_excel_sep_line(tmp_path: Path) -> None:
    table = read_metadata_csv(write_csv(tmp_path, "sep=;\npath;tag\na.jpg;T,1\nb.jpg;2023-99\n"))
    assert table.rows["a.jpg"].equipment_tag == "T,1"
    assert table.errors == []


def test_single_column_file(tmp_path: Path) -> None:
    table = read_metadata_csv(write_csv(tmp_path, "path\na.jpg\nb.jpg\n"))
    assert sorted(table.rows) == ["a.jpg", "b.jpg"]
    assert all(m.is_empty() for m in table.rows.values())


def test_formula_cells_kept_as_text(tmp_path: Path) -> None:
    text = 'path,notes,area\na.jpg,"=HYPERLINK(""http://x"",""y"")",@SUM(A1)\nb.jpg,-5 bar,+49 30 1234\n'
    table = read_metadata_csv(write_csv(tmp_path, text))
    assert table.errors == []
    assert table.rows["a.jpg"].notes == '=HYPERLINK("http://x","y")'
    assert table.rows["a.jpg"].area == "@SUM(A1)"
    assert table.rows["b.jpg"].notes == "-5 bar"
    assert looks_like_formula('=HYPERLINK("http://x","y")') and looks_like_formula("@SUM(A1)")
    assert looks_like_formula("-(1)") and not looks_like_formula("-5 bar") and not looks_like_formula("P-101")


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd", "'+cmd"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("P-101", "P-101"),
        ("", ""),
    ],
)
def test_neutralise_formula(text: str, safe: str) -> None:
    assert neutralise_formula(text) == safe


def test_preview_parses_only_first_rows(tmp_path: Path) -> None:
    lines = ["path,date"] + [f"{i}.jpg,2023-01-{i + 1:02d}" for i in range(30)] + ["bad.jpg,nope"]
    path = write_csv(tmp_path, "\n".join(lines) + "\n")
    preview = preview_csv(path, n=5)
    assert sorted(preview.rows) == [f"{i}.jpg" for i in range(5)]
    assert preview.errors == []
    assert preview.row_count == 31
    bad = preview_csv(write_csv(tmp_path, "path,date\nx.jpg,soon\n", name="b.csv"), n=5)
    assert [str(e) for e in bad.errors] == ["b.csv line 2: bad date 'soon' in inspected_on"]


def test_a_cell_over_the_limit_skips_only_its_row(tmp_path: Path) -> None:
    big = "x" * 200_000
    table = read_metadata_csv(write_csv(tmp_path, f'path,notes\na.jpg,"{big}"\nb.jpg,ok\n'))
    assert [str(e) for e in table.errors] == [
        "metadata.csv line 2: notes: a value of 200,000 characters, more than the 131,072 allowed"]
    assert list(table.rows) == ["b.jpg"] and table.lines == {"b.jpg": 3}


def test_unclosed_quote_is_not_swallowed(tmp_path: Path) -> None:
    text = 'path,notes\na.jpg,ok\nb.jpg,"never closed\nc.jpg,x\nd.jpg,y\n'
    with pytest.raises(MetadataError, match=r"^metadata\.csv line 3: a quoted value is never closed"):
        read_metadata_csv(write_csv(tmp_path, text))


def test_stray_quote_after_quoted_value(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"^metadata\.csv line 3: .*check the quotes"):
        read_metadata_csv(write_csv(tmp_path, 'path,notes\na.jpg,ok\nb.jpg,"12" valve",x\n'))


def test_semicolon_file_with_unquoted_commas(tmp_path: Path) -> None:
    text = "path;tag;notes\na.jpg;T-1;leak, minor, left\nb.jpg;T-2;rust, flange, top\n"
    table = read_metadata_csv(write_csv(tmp_path, text))
    assert table.columns == ["path", "equipment_tag", "notes"]
    assert table.rows["a.jpg"].notes == "leak, minor, left"


# ------------------------------------------------------------------------------------- dates, keys


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-05-14", date(2023, 5, 14)),
        ("2023-5-4", date(2023, 5, 4)),
        ("2023/05/14", date(2023, 5, 14)),
        ("14.05.2023", date(2023, 5, 14)),
        ("2023-05-14 08:30", date(2023, 5, 14)),
        ("2023-05-14 08:30:59", date(2023, 5, 14)),
        ("2023-05-14T08:30:59", date(2023, 5, 14)),
        ("20230514", date(2023, 5, 14)),
        ("14/05/2023", date(2023, 5, 14)),
        ("05/05/2023", date(2023, 5, 5)),  # both readings give the same day
        ("05/14/2023", date(2023, 5, 14)),  # only month-first is a real date
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("03/04/2023", "ambiguous date"),
        ("31/02/2023", "bad date"),
        ("2023-02-30", "bad date"),
        ("2023-05-14 25:00", "bad date"),
        ("14-05-23", "bad date"),
        ("yesterday", "bad date"),
        ("20231340", "bad date"),
    ],
)
def test_parse_date_errors(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{reason} '{text}'$"):
        parse_date(text)


def test_path_key() -> None:
    assert path_key(r".\siteA\\p-101\..\p-102\001.JPG", fold_case=False) == "siteA/p-102/001.JPG"
    assert path_key("C:\\Photos\\A.jpg", fold_case=True) == "c:/photos/a.jpg"
    assert path_key("//server/share/a.jpg", fold_case=False) == "//server/share/a.jpg"
    assert path_key("  ./  ") == "" and path_key("") == ""
    assert path_key("Mu\u0308ller.jpg") == "M\u00fcller.jpg"  # macOS decomposed -> composed


def test_photo_metadata_merged_and_empty() -> None:
    base = PhotoMetadata(site="North", equipment_tag="P-1", extra={"a": "1", "b": "2"})
    top = PhotoMetadata(equipment_tag="P-2", inspected_on=date(2023, 1, 1), extra={"b": "3"})
    merged = base.merged(top)
    assert merged.site == "North" and merged.equipment_tag == "P-2"
    assert merged.inspected_on == date(2023, 1, 1)
    assert dict(merged.extra) == {"a": "1", "b": "3"}
    assert PhotoMetadata().is_empty() and not PhotoMetadata(extra={"x": "y"}).is_empty()
    assert not merged.is_empty()
    hash(merged)  # usable in sets despite the mapping
    assert pickle.loads(pickle.dumps(merged)) == merged
    assert copy.deepcopy(merged) == merged and dataclasses.replace(merged, site="S").site == "S"
    with pytest.raises(TypeError):
        merged.extra["c"] = "4"  # type: ignore[index]


# ------------------------------------------------------------------------------------------- lookup


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A root folder with a few photos, and a folder for the CSV beside it."""
    root = tmp_path / "photos"
    for rel in ("siteA/p-101/001.jpg", "siteA/p-101/002.jpg", "siteB/v-7/001.jpg", "siteB/v-7/unique.jpg"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"jpeg")
    (tmp_path / "export").mkdir()
    return root


def table_with(folder: Path, *rows: tuple[str, str]) -> MetadataTable:
    lines = ['"path","tag"'] + [f'"{p}","{t}"' for p, t in rows]
    table = read_metadata_csv(write_csv(folder, "\n".join(lines) + "\n"))
    assert table.errors == []
    return table


def test_lookup_absolute(photos: Path) -> None:
    table = table_with(photos.parent / "export", (str(photos / "siteA/p-101/001.jpg"), "ABS"))
    assert table.lookup(photos / "siteA/p-101/001.jpg", [photos]).equipment_tag == "ABS"
    assert table.lookup(photos / "siteA/p-101/002.jpg", [photos]) is None


def test_lookup_csv_relative(photos: Path) -> None:
    table = table_with(photos.parent / "export", ("../photos/siteA/p-101/002.jpg", "CSVREL"))
    assert table.lookup(photos / "siteA/p-101/002.jpg", []).equipment_tag == "CSVREL"
    inside = table_with(photos, ("./siteB/v-7/001.jpg", "INSIDE"))  # CSV saved in the root itself
    assert inside.lookup(photos / "siteB/v-7/001.jpg", []).equipment_tag == "INSIDE"


def test_lookup_root_relative_and_backslashes(photos: Path) -> None:
    table = table_with(
        photos.parent / "export",
        ("siteA\\p-101\\001.jpg", "WIN"),
        ("siteB/v-7/001.jpg", "POSIX"),
    )
    assert table.lookup(photos / "siteA/p-101/001.jpg", [photos]).equipment_tag == "WIN"
    assert (
        table.lookup(photos / "siteB/v-7/001.jpg", [photos.parent / "elsewhere", photos]).equipment_tag == "POSIX"
    )
    assert table.lookup(photos / "siteA/p-101/002.jpg", [photos]) is None


def test_lookup_bare_name_fallback_only_when_unique(photos: Path) -> None:
    table = table_with(
        photos.parent / "export",
        ("D:\\old\\unique.jpg", "UNIQUE"),
        ("X:\\a\\001.jpg", "ONE"),
        ("X:\\b\\001.jpg", "TWO"),
    )
    assert table.lookup(photos / "siteB/v-7/unique.jpg", [photos]).equipment_tag == "UNIQUE"
    assert table.lookup(photos / "siteA/p-101/001.jpg", [photos]) is None  # '001.jpg' is ambiguous
    assert table.lookup_key(photos / "siteB/v-7/unique.jpg", [photos]) == "D:/old/unique.jpg"


def test_a_relative_row_with_folders_never_matches_by_name_elsewhere(photos: Path) -> None:
    table = table_with(photos.parent / "export", ("siteZ/p-101/001.jpg", "WRONG"))
    assert table.lookup(photos / "siteA/p-101/001.jpg", [photos]) is None


def test_a_row_found_by_name_applies_to_one_photo_and_the_rest_is_reported(photos: Path) -> None:
    first, second = photos / "siteA/p-101/001.jpg", photos / "siteB/v-7/001.jpg"
    csv = write_csv(photos.parent / "export", '"path","equipment_tag"\n"X:\\old\\001.jpg","P-9"\n')
    source = PhotoSource([photos], csv, None)
    assert source.metadata_for(first).equipment_tag == "P-9"
    assert source.metadata_for(first).equipment_tag == "P-9"  # asked again for the same file: same answer
    assert source.metadata_for(second) is None
    problems = source.metadata_problems()
    assert len(problems) == 1 and "matches 2 photos by file name" in problems[0] and str(first) in problems[0]


def test_lookup_prefers_exact_path_over_name(photos: Path) -> None:
    table = table_with(photos.parent / "export", ("siteA/p-101/001.jpg", "EXACT"), ("other/001.jpg", "OTHER"))
    assert table.lookup(photos / "siteA/p-101/001.jpg", [photos]).equipment_tag == "EXACT"


def test_lookup_case_folds_on_windows_only(photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = photos.parent / "export"
    assert (
        table_with(folder, ("SITEA/P-101/001.JPG", "X")).lookup(photos / "siteA/p-101/001.jpg", [photos]) is None
    )
    monkeypatch.setattr(metadata, "_FOLD_CASE", True)
    folded = table_with(folder, ("SITEA/P-101/001.JPG", "X"))
    assert folded.lookup(photos / "siteA/p-101/001.jpg", [photos]).equipment_tag == "X"


# ------------------------------------------------------------------------------------------- layout


def test_layout_site_equipment_date() -> None:
    layout = Layout("{site}/{equipment}/{date}")
    assert layout.fields == ("site", "equipment_tag", "inspected_on")
    meta = layout.match(PurePosixPath("North/P-101/2023-05-14/IMG_0001.jpg"))
    assert meta == PhotoMetadata(site="North", equipment_tag="P-101", inspected_on=date(2023, 5, 14))


def test_layout_extra_folders_and_windows_paths() -> None:
    layout = Layout("{site}/{area}/{equipment}")
    expected = PhotoMetadata(site="North", area="Unit 1", equipment_tag="P-101")
    assert layout.match(PurePosixPath("North/Unit 1/P-101/2023/x.jpg")) == expected
    assert layout.match(PureWindowsPath("North\\Unit 1\\P-101\\x.jpg")) == expected
    assert layout.match("North\\Unit 1\\P-101\\x.jpg") == expected


def test_layout_mixed_component() -> None:
    layout = Layout("{site}/{type}/{equipment}/{date}_{inspector}")
    assert layout.fields == ("site", "equipment_type", "equipment_tag", "inspected_on", "inspector")
    meta = layout.match(PurePath("North/pump/P-101/2023-05-14_J_Smith/a.jpg"))
    assert meta == PhotoMetadata(
        site="North",
        equipment_type="pump",
        equipment_tag="P-101",
        inspected_on=date(2023, 5, 14),
        inspector="J_Smith",
    )
    # {date} prefers a date-shaped run, so a date after an underscore-bearing name still parses
    reverse = Layout("{inspector}_{date}").match(PurePath("J_Smith_20230514/a.jpg"))
    assert reverse == PhotoMetadata(inspector="J_Smith", inspected_on=date(2023, 5, 14))


def test_layout_literals_and_compact_date() -> None:
    layout = Layout("Site {site}/inspection-{date}")
    meta = layout.match(PurePath("site North/Inspection-20230514/a.jpg"))
    assert meta == PhotoMetadata(site="North", inspected_on=date(2023, 5, 14))
    assert layout.match(PurePath("North/Inspection-20230514/a.jpg")) is None


def test_layout_unparsable_date_is_left_out() -> None:
    meta = Layout("{equipment}/{date}").match(PurePath("P-1/spring 2023/a.jpg"))
    assert meta == PhotoMetadata(equipment_tag="P-1")


def test_layout_wildcard() -> None:
    assert Layout("{equipment}/*").match(PurePath("P-101/whatever/a.jpg")) == PhotoMetadata(equipment_tag="P-101")
    assert Layout("*/{equipment}").match(PurePath("2023/P-101/a.jpg")) == PhotoMetadata(equipment_tag="P-101")
    assert Layout("{equipment}/*").fields == ("equipment_tag",)
    assert Layout("IMG*_{date}").match(PurePath("IMG42_2023-01-02/a.jpg")) == PhotoMetadata(
        inspected_on=date(2023, 1, 2)
    )


def test_layout_too_short_path() -> None:
    layout = Layout("{site}/{equipment}/{date}")
    assert layout.match(PurePath("North/P-101/a.jpg")) is None  # the file name is never matched
    assert layout.match(PurePath("a.jpg")) is None
    assert Layout("{site}").match(PurePath("/North/a.jpg")) is None  # absolute paths do not match
    assert Layout("{site}").match(PurePath("../North/a.jpg")) is None  # outside the root


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "empty"),
        (" / ", "empty"),
        ("{site}/{colour}", r"unknown placeholder \{colour\}; valid: \{site\}, \{area\}, \{equipment\}"),
        ("{site}/{equipment", "unbalanced braces"),
        ("{site}}/x", "unbalanced braces"),
        ("{site}/{{equipment}}", "unbalanced braces"),
        ("{}", "unknown placeholder"),
        ("{date}{inspector}", "need literal text between them"),
        ("{site}/{site}", "used twice"),
    ],
)
def test_invalid_layout_patterns(pattern: str, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        Layout(pattern)


def test_layout_equality_and_repr() -> None:
    assert Layout("{site}/*") == Layout("{site}/*")
    assert repr(Layout("{site}/*")) == "Layout('{site}/*')"
    assert Layout("{SITE}").fields == ("site",)
