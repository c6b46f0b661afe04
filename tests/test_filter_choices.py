"""Area and inspector filters, and the choices a filter offers within a site, on a real archive."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from conftest import neu_sample
from test_cli import run

from inspector_search.core.archive import Archive
from inspector_search.core.records import SearchFilter, SearchRequest

HEADER = "path,equipment_tag,equipment_type,site,area,inspected_on,inspector\n"
ROWS = [  # tag, type, site, area, day, inspector
    ("P-101", "pump", "North", "Unit 1", "2019-04-02", "Ann"),
    ("P-101", "pump", "North", "Unit 1", "2021-06-01", "Bo"),
    ("V-7", "valve", "North", "Unit 2", "2020-01-15", "Ann"),
    ("V-7", "valve", "North", "Unit 2", "2020-01-15", "Ann"),
    ("T-3", "tank", "South", "Yard", "2018-11-30", "Cy"),
    ("T-3", "tank", "South", "Yard", "2022-02-02", "Cy"),
]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("choices")
    photos = root / "photos"
    photos.mkdir()
    lines = []
    for n, (source, row) in enumerate(zip(neu_sample(2, ("crazing", "inclusion", "patches")), ROWS, strict=True)):
        (photos / f"p{n}.jpg").write_bytes(source.read_bytes())
        lines.append(",".join((f"p{n}.jpg", *row)) + "\n")
    (root / "meta.csv").write_text(HEADER + "".join(lines), encoding="utf-8")
    with Archive.open(root / "archive") as opened:
        assert opened.add([photos], metadata=root / "meta.csv").added == 6
        yield opened, sorted(photos.glob("*.jpg"))


def test_choices_within_a_site_and_the_archives_span(archive) -> None:
    opened, _photos = archive
    everything = opened.filter_choices()
    assert everything.tags == ("P-101", "T-3", "V-7") and everything.areas == ("Unit 1", "Unit 2", "Yard")
    assert everything.inspectors == ("Ann", "Bo", "Cy") and everything.types == ("pump", "tank", "valve")
    assert (everything.first_day, everything.last_day) == (date(2018, 11, 30), date(2022, 2, 2))
    north = opened.filter_choices("North")
    assert north.tags == ("P-101", "V-7") and north.areas == ("Unit 1", "Unit 2") and north.inspectors == ("Ann", "Bo")
    assert north.types == ("pump", "valve")
    assert (north.first_day, north.last_day) == (everything.first_day, everything.last_day)  # the archive's span
    assert opened.filter_choices("Nowhere").tags == ()


def test_area_and_inspector_filters(archive) -> None:
    opened, photos = archive

    def found(**fields) -> set[str]:
        hits = opened.search(SearchRequest(image=photos[0], top_k=10, filter=SearchFilter(**fields)))
        return {h.photo.path.name for h in hits}

    assert found(area="Unit 2") == {"p2.jpg", "p3.jpg"}
    assert found(inspector="Ann") == {"p0.jpg", "p2.jpg", "p3.jpg"}
    assert found(inspector="Ann", area="Unit 1") == {"p0.jpg"}
    assert found(site="South", inspector="Cy", since=date(2020, 1, 1)) == {"p5.jpg"}
    assert found(area="Nowhere") == set() and found(inspector="Zed") == set()
    assert not SearchFilter(area="Unit 1").is_empty() and not SearchFilter(inspector="Ann").is_empty()


def test_cli_area_and_inspector_options(archive) -> None:
    opened, photos = archive
    out = run("search", str(photos[0]), "--area", "unit 2", "--inspector", "ann", "--json", archive=Path(opened.folder))
    results = json.loads(out.stdout)["results"]
    assert sorted(Path(r["path"]).name for r in results) == ["p2.jpg", "p3.jpg"]
