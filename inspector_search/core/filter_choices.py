"""The values a search filter offers, within one site or the whole archive (for the app's filter lists).

A photo belongs to a site through its own site or its equipment's; its day is its inspection's
date, else the date it was taken (as :mod:`~inspector_search.core.filter_columns` filters).
"""

from __future__ import annotations

import sqlite3
from datetime import date

from .records import FilterChoices

_LIVE = """
    FROM images i LEFT JOIN equipment e ON e.id = i.equipment_id
    LEFT JOIN sites s ON s.id = COALESCE(i.site_id, e.site_id)
    LEFT JOIN inspections n ON n.id = i.inspection_id
    WHERE i.deleted = 0 AND (? IS NULL OR s.name = ?)
"""


def read_filter_choices(conn: sqlite3.Connection, site: str | None = None) -> FilterChoices:
    """Tags, types, areas and inspectors of the live photos of ``site`` (all sites with ``None``), sorted
    case-insensitively, and the first and last day of the whole archive's photos."""
    def values(column: str) -> tuple[str, ...]:
        rows = conn.execute(f"SELECT DISTINCT {column} {_LIVE} AND {column} IS NOT NULL", (site, site))
        return tuple(sorted((r[0] for r in rows if r[0] != ""), key=lambda v: (v.casefold(), v)))

    first, last = conn.execute(
        "SELECT MIN(d), MAX(d) FROM (SELECT COALESCE(n.inspected_on, substr(i.taken_at, 1, 10)) AS d "
        "FROM images i LEFT JOIN inspections n ON n.id = i.inspection_id WHERE i.deleted = 0)").fetchone()
    return FilterChoices(values("e.tag"), values("e.type"), values("e.area"), values("n.inspector"),
                         _day(first), _day(last))


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None
