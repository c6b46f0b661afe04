"""Filter columns (core.filter_columns) answer every filter as the SQL join they replace does, on a
real catalog file with every kind of gap: photos without equipment, with a site of their own, with
only an EXIF date, deleted photos; and they follow metadata changes."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from inspector_search.core.catalog import Catalog
from inspector_search.core.filter_columns import FilterColumns
from inspector_search.core.records import SearchFilter

SQL = """
    SELECT i.id FROM images i LEFT JOIN equipment e ON e.id = i.equipment_id
    LEFT JOIN sites s ON s.id = COALESCE(i.site_id, e.site_id)
    LEFT JOIN inspections n ON n.id = i.inspection_id
    WHERE {} ORDER BY i.id
"""


def by_sql(catalog: Catalog, flt: SearchFilter) -> list[int]:
    """The allowed ids as the catalog's SQL computed them before the columns."""
    day = "COALESCE(n.inspected_on, substr(i.taken_at, 1, 10))"
    clauses, params = ["i.deleted = 0"], []
    for value, clause in ((flt.site, "s.name = ?"), (flt.equipment_tag, "e.tag = ?"),
                          (flt.equipment_type, "e.type = ?"), (flt.since, f"{day} >= ?"), (flt.until, f"{day} <= ?")):
        if value is not None:
            clauses.append(clause)
            params.append(value.isoformat() if isinstance(value, date) else value)
    return [r[0] for r in catalog.conn.execute(SQL.format(" AND ".join(clauses)), params)]


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    """400 photos with metadata drawn at random, gaps included."""
    rng = np.random.default_rng(3)
    catalog = Catalog(tmp_path / "catalog.sqlite")
    with catalog.transaction() as conn:
        sites = [catalog.site_id(conn, name) for name in ("North", "South", "Dock")]
        equipment = [catalog.equipment_id(conn, f"P-{n}", type=[None, "pump", "valve"][n % 3],
                                          site_id=[None, *sites][n % 4]) for n in range(12)]
        for n in range(400):
            taken = None if n % 5 == 0 else f"20{10 + n % 12}-0{1 + n % 9}-1{n % 10}T08:00:00"
            image_id = catalog.insert_image(conn, f"hash{n}", 1000, 64, 48, "JPEG", taken)
            eq = None if n % 7 == 0 else int(rng.choice(equipment))
            inspection = None
            if eq is not None and n % 3:
                inspection = catalog.inspection_id(conn, eq, date(2019 + n % 6, 1 + n % 12, 1 + n % 28), None, None)
            own_site = int(rng.choice(sites)) if n % 4 == 0 else None
            catalog.set_photo_metadata(conn, image_id, site_id=own_site, equipment_id=eq,
                                       inspection_id=inspection, notes=None, extra=None)
        conn.execute("UPDATE images SET deleted = 1 WHERE id % 11 = 0")
        catalog.bump_generation(conn)
    return catalog


def test_every_filter_gives_what_the_sql_gave(catalog: Catalog) -> None:
    columns = FilterColumns.read(catalog.conn, catalog.generation)
    sites, tags, types = [None, "North", "Dock", "Nowhere"], [None, "P-3", "P-0", "P-99"], [None, "pump", "crane"]
    days = [None, date(2012, 1, 1), date(2020, 6, 15), date(2030, 1, 1)]
    checked = 0
    for site, tag, kind, since, until in itertools.product(sites, tags, types, days, days):
        flt = SearchFilter(site=site, equipment_tag=tag, equipment_type=kind, since=since, until=until)
        expected = by_sql(catalog, flt)
        assert columns.select(catalog.conn, flt).tolist() == expected, flt
        checked += bool(expected)
    assert checked > 50  # many combinations keep some photos: not only empty lists are compared


def test_catalog_reads_the_columns_again_when_metadata_changes(catalog: Catalog) -> None:
    pumps = catalog.filtered_image_ids(SearchFilter(equipment_type="pump"))
    assert catalog.filtered_image_ids(SearchFilter(equipment_type="pump")) is not pumps  # answered anew ...
    assert catalog._columns is not None and catalog._columns.generation == catalog.generation  # ... from the columns
    with catalog.transaction() as conn:
        catalog.equipment_id(conn, "P-2", type="pump")  # was a valve
        catalog.bump_generation(conn)
    after = catalog.filtered_image_ids(SearchFilter(equipment_type="pump"))
    assert set(after.tolist()) > set(pumps.tolist())
    assert after.tolist() == by_sql(catalog, SearchFilter(equipment_type="pump"))
