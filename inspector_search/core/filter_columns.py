"""The photos' filterable metadata as numpy columns, so a filter picks its photos in milliseconds.

A filtered search starts from the ids of the photos that pass the filter. Asked of SQLite, that is
a join of every photo with its equipment, site and inspection: 0.5-1.8 s for a site, type or date
filter over 1,000,000 photos (benchmarks/startup.py), against ~1 ms for the index search that
follows. :class:`FilterColumns` reads the few columns a filter needs once (the photos table alone,
plus the small equipment and inspections tables), and answers each filter with numpy comparisons.
It is tagged with the catalog's ``generation``, which every change to photos or their metadata
bumps, so the catalog rebuilds it when that moves (:meth:`Catalog.filtered_image_ids`).

The answers are those of the SQL they replace (tests compare the two): a photo's site is its own,
else its equipment's; its day is its inspection's date, else the date it was taken; a photo
without the asked field never passes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np

from .records import SearchFilter

__all__ = ["FilterColumns"]

_NONE = -1
# YYYYMMDD of an ISO date text ('2023-05-14...'); text that is not one casts to 0 or NULL, i.e. none.
_DAY = "CAST(replace(substr({}, 1, 10), '-', '') AS INTEGER)"


@dataclass(frozen=True)
class FilterColumns:
    """Per live photo, ascending by id: effective site id, equipment id, equipment type code, day as
    YYYYMMDD, equipment area code and inspector code (-1 where absent)."""

    generation: int
    ids: np.ndarray
    site: np.ndarray
    equipment: np.ndarray
    type: np.ndarray
    day: np.ndarray
    type_codes: Mapping[str, int]
    area: np.ndarray
    area_codes: Mapping[str, int]
    inspector: np.ndarray
    inspector_codes: Mapping[str, int]

    @classmethod
    def read(cls, conn: sqlite3.Connection, generation: int) -> FilterColumns:
        """Read the columns from the catalog (``generation``: the catalog's, read before this)."""
        photos = np.fromiter(
            conn.execute(
                "SELECT id, COALESCE(site_id, -1), COALESCE(equipment_id, -1), COALESCE(inspection_id, -1), "
                f"COALESCE({_DAY.format('taken_at')}, -1) FROM images WHERE deleted = 0 ORDER BY id"
            ),
            dtype=[("id", "i8"), ("site", "i4"), ("equipment", "i4"), ("inspection", "i4"), ("taken", "i4")],
        )
        type_codes: dict[str, int] = {}
        area_codes: dict[str, int] = {}
        equipment = [(i, s, _code(type_codes, t), _code(area_codes, a))
                     for i, s, t, a in conn.execute("SELECT id, COALESCE(site_id, -1), type, area FROM equipment")]
        equipment_site = _lookup(equipment, 1)
        equipment_type = _lookup(equipment, 2)
        equipment_area = _lookup(equipment, 3)
        inspector_codes: dict[str, int] = {}
        inspections = [(i, d, _code(inspector_codes, who)) for i, d, who in conn.execute(
            f"SELECT id, COALESCE({_DAY.format('inspected_on')}, -1), inspector FROM inspections")]
        inspection_day = _lookup(inspections, 1)
        inspection_inspector = _lookup(inspections, 2)
        site = np.where(photos["site"] >= 0, photos["site"], equipment_site[photos["equipment"]])
        inspected = inspection_day[photos["inspection"]]
        day = np.where(inspected > 0, inspected, photos["taken"])
        return cls(generation, photos["id"].copy(), site, photos["equipment"].copy(),
                   equipment_type[photos["equipment"]], np.where(day > 0, day, _NONE).astype(np.int32),
                   type_codes, equipment_area[photos["equipment"]], area_codes,
                   inspection_inspector[photos["inspection"]], inspector_codes)

    def select(self, conn: sqlite3.Connection, flt: SearchFilter) -> np.ndarray:
        """Ids (ascending) of the live photos passing ``flt``; site and equipment names are looked up
        in ``conn``."""
        passing = np.ones(self.ids.size, dtype=bool)
        if flt.site is not None:
            passing &= self.site == _id_of(conn, "SELECT id FROM sites WHERE name = ?", flt.site)
        if flt.equipment_tag is not None:
            passing &= self.equipment == _id_of(conn, "SELECT id FROM equipment WHERE tag = ?", flt.equipment_tag)
        if flt.equipment_type is not None:
            passing &= self.type == self.type_codes.get(flt.equipment_type, -2)
        if flt.area is not None:
            passing &= self.area == self.area_codes.get(flt.area, -2)
        if flt.inspector is not None:
            passing &= self.inspector == self.inspector_codes.get(flt.inspector, -2)
        if flt.since is not None:
            passing &= self.day >= _yyyymmdd(flt.since)
        if flt.until is not None:
            passing &= (self.day != _NONE) & (self.day <= _yyyymmdd(flt.until))
        return self.ids[passing]


def _code(codes: dict[str, int], value: str | None) -> int:
    """The small integer standing for ``value`` in ``codes`` (added if new), -1 for none."""
    return _NONE if value is None else codes.setdefault(value, len(codes))


def _lookup(rows: list[tuple[int, ...]], column: int) -> np.ndarray:
    """A table indexed by row id (position -1, used for "none", holds -1 too) of ``column`` of ``rows``."""
    size = max((r[0] for r in rows), default=0) + 2
    table = np.full(size, _NONE, dtype=np.int32)
    if rows:
        pairs = np.asarray([(r[0], r[column]) for r in rows], dtype=np.int64)
        table[pairs[:, 0]] = pairs[:, 1]
    return table


def _id_of(conn: sqlite3.Connection, sql: str, name: str) -> int:
    """The row id of the named site or equipment, or -2 (matches nothing) when there is none."""
    row = conn.execute(sql, (name,)).fetchone()
    return -2 if row is None else int(row[0])


def _yyyymmdd(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day
