"""Inspection reports from the real CLI: PDF rendered to PNG pages (pdftoppm) and read back as text
(pypdf), HTML self-contained and escaped; a search report and an equipment history report."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import neu_sample
from PIL import Image
from test_cli import run

from inspector_search.core.archive import Archive
from inspector_search.core.records import SearchFilter
from inspector_search.core.reporting import describe_filter, render_html

pypdf = pytest.importorskip("pypdf")

HEADER = "path,equipment_tag,equipment_name,equipment_type,site,area,inspected_on,inspector,notes\n"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("reports")
    photos = root / "photos"
    photos.mkdir()
    rows = []
    for n, source in enumerate(neu_sample(4, ("crazing", "patches")), start=1):
        target = photos / f"photo{n}.jpg"
        shutil.copy(source, target)
        tag = "P-101" if n <= 4 else "V-7"
        day = f"202{n % 3 + 1}-0{n % 9 + 1}-1{n % 10}"
        notes = f'"corrosion <b>{n}</b>\nsee sketch"'
        rows.append(f"{target.name},{tag},Feed pump,pump,North,Unit 2,{day},Åsa Öberg,{notes}\n")
    (root / "meta.csv").write_text(HEADER + "".join(rows), encoding="utf-8")
    with Archive.open(root / "archive") as opened:
        assert opened.add([photos], metadata=root / "meta.csv").added == 8
    return root / "archive", sorted(photos.glob("*.jpg"))


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(str(path)).pages)


def rendered_pages(pdf: Path, out: Path) -> list[Path]:
    """The PDF drawn to PNG pages by poppler's pdftoppm (as a viewer would draw it)."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed (.ci/run installs poppler-utils)")
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(out / "page")], check=True, timeout=120)
    return sorted(out.glob("page*.png"))


def test_search_report_pdf_and_html(archive: tuple[Path, list[Path]], tmp_path: Path) -> None:
    folder, photos = archive
    pdf, page = tmp_path / "search.pdf", tmp_path / "search.html"
    out = run("report", "search", str(photos[0]), "-k", "5", "--site", "north", "--remark",
              "Flange corroded again — replace gasket at next stop.", "--pdf", str(pdf), "--html", str(page),
              archive=folder).stdout
    assert f"wrote {pdf} (5 matches of photo1.jpg)" in out and f"wrote {page}" in out
    text = pdf_text(pdf)
    for expected in ("Search report", "photo1.jpg", "Flange corroded again — replace gasket", "similarity 1.000",
                     "P-101", "Feed pump", "Åsa Öberg", "corrosion <b>1</b>", "site North", "Unit 2"):
        assert expected in text, expected
    pages = rendered_pages(pdf, tmp_path)
    assert pages
    with Image.open(pages[0]) as first:
        grey = first.convert("L")
        assert first.width > 300 and len(grey.getcolors(256) or []) > 50  # photos drawn, not just text on white
    document = page.read_text(encoding="utf-8")
    assert document.count("data:image/jpeg;base64,") == 6  # the query and 5 matches, inline
    assert "corrosion &lt;b&gt;1&lt;/b&gt;" in document and "<b>1</b>" not in document
    assert "Flange corroded again" in document


def test_history_report_lists_inspections_newest_first(archive: tuple[Path, list[Path]], tmp_path: Path) -> None:
    folder, _photos = archive
    pdf = tmp_path / "history.pdf"
    out = run("report", "history", "p-101", "--pdf", str(pdf), archive=folder).stdout
    assert "wrote" in out and "inspections of P-101" in out
    text = pdf_text(pdf)
    assert "Equipment history — P-101" in text and "Inspections, newest first" in text and "Åsa Öberg" in text
    with Archive.open(folder, create=False) as opened:
        history = opened.history("P-101")
        report = opened.report_history("P-101", remark="ok")
    days = [i.inspected_on for i in report.inspections]
    assert days == sorted(days, reverse=True) and len(days) == len(history.inspections)
    positions = [text.index(d.strftime("%d %b %Y").lstrip("0")) for d in days]
    assert positions == sorted(positions)  # printed in that order
    assert rendered_pages(pdf, tmp_path)
    assert "see sketch" in render_html(report) and "ok" in render_html(report)


def test_report_needs_a_target_and_a_known_tag(archive: tuple[Path, list[Path]], tmp_path: Path) -> None:
    folder, _photos = archive
    proc = run("report", "history", "P-101", archive=folder, check=False)
    assert proc.returncode != 0 and "give --pdf FILE and/or --html FILE" in proc.stderr
    proc = run("report", "history", "NOPE-1", "--pdf", str(tmp_path / "x.pdf"), archive=folder, check=False)
    assert proc.returncode == 1 and "no equipment tagged 'NOPE-1'" in proc.stderr
    assert not (tmp_path / "x.pdf").exists()
    assert describe_filter(SearchFilter()) == "the whole archive"
