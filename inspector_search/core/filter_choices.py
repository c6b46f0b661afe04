"""The values a search filter offers, within one site or the whole archive (for the app's filter lists).

Answered from the catalog's in-memory filter columns (:mod:`~inspector_search.core.filter_columns`),
so the lists mean exactly what the filters select: a photo belongs to a site through its own site or
its equipment's; its day is its inspection's date, else the date it was taken. A join of every photo
in SQL took about 1 s at 100,000 photos (``benchmarks/filter_choices.py``); the columns take
milliseconds once read (the first filtered search reads them too).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import date

import numpy as np

from .filter_columns import FilterColumns
from .records import FilterChoices


def read_filter_choices(conn: sqlite3.Connection, columns: FilterColumns, site: str | None = None) -> FilterChoices:
    """Tags, types, areas and inspectors of the live photos of ``site`` (all sites with ``None``), sorted
    case-insensitively, and the first and last day of the whole archive's photos."""
    mask = np.ones(columns.ids.size, dtype=bool)
    if site is not None:
        row = conn.execute("SELECT id FROM sites WHERE name = ?", (site,)).fetchone()
        mask = columns.site == (int(row[0]) if row else -2)
    equipment = set(np.unique(columns.equipment[mask]).tolist()) - {-1}
    tags = [t for i, t in conn.execute("SELECT id, tag FROM equipment") if i in equipment and t]
    days = columns.day[columns.day > 0]
    return FilterChoices(_sorted(tags), _named(columns.type[mask], columns.type_codes),
                         _named(columns.area[mask], columns.area_codes),
                         _named(columns.inspector[mask], columns.inspector_codes),
                         _day(int(days.min())) if days.size else None, _day(int(days.max())) if days.size else None)


def _named(codes: np.ndarray, names: Mapping[str, int]) -> tuple[str, ...]:
    present = set(np.unique(codes).tolist())
    return _sorted(name for name, code in names.items() if code in present and name != "")


def _sorted(values) -> tuple[str, ...]:  # noqa: ANN001 - any iterable of names
    return tuple(sorted(set(values), key=lambda v: (v.casefold(), v)))


def _day(yyyymmdd: int) -> date | None:
    try:
        return date(yyyymmdd // 10000, yyyymmdd // 100 % 100, yyyymmdd % 100)
    except ValueError:
        return None
