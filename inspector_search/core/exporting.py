"""Exports of photos with their metadata as CSV (for a spreadsheet) or HTML (for a report).

Metadata comes from maintenance-system exports and people's notes, so a cell may hold anything,
including ``=HYPERLINK(...)`` or ``<script>``. Neither may come alive in the export: every text cell of
a CSV goes through :func:`~inspector_search.core.metadata.neutralise_formula` (a spreadsheet shows it as
text instead of running it) and every cell of the HTML is escaped.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence

from .metadata import neutralise_formula
from .records import PhotoRecord, SearchHit

EXPORT_FORMATS = ("csv", "html")
COLUMNS = ("rank", "score", "image_id", "path", "equipment_tag", "equipment_name", "equipment_type", "site",
           "area", "inspected_on", "inspector", "notes", "labels")
"""Columns of a search's matches; a catalog listing has no rank or score, so it leaves out the first two."""
LISTING_COLUMNS = COLUMNS[2:]
_FORMULA_STARTS = ("=", "+", "-", "@")


def export_table(items: Sequence[PhotoRecord | SearchHit], fmt: str, title: str = "Inspector Search") -> str:
    """The photos (a catalog listing, without rank and score columns) or ranked hits (search results,
    with them) as a CSV or HTML document."""
    ranked = any(isinstance(item, SearchHit) for item in items)
    columns = COLUMNS if ranked else LISTING_COLUMNS
    rows = [_cells(item)[len(COLUMNS) - len(columns):] for item in items]
    if fmt == "csv":
        return _csv(columns, rows, ranked)
    if fmt == "html":
        return _html(columns, rows, title)
    raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")


def _cells(item: PhotoRecord | SearchHit) -> tuple[str, ...]:
    rank, score, photo = ("", "", item) if isinstance(item, PhotoRecord) else (
        str(item.rank), f"{item.score:.5f}", item.photo)
    return (rank, score, str(photo.image_id), str(photo.path), photo.equipment_tag or "",
            photo.equipment_name or "", photo.equipment_type or "", photo.site or "", photo.area or "",
            photo.inspected_on.isoformat() if photo.inspected_on else "", photo.inspector or "", photo.notes or "",
            "; ".join(f"{label.kind}={label.value}" for label in photo.labels))


def safe_csv_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: formula-looking values (also after leading spaces)
    get a leading apostrophe (see :func:`neutralise_formula`)."""
    safe = neutralise_formula(text)
    if safe == text and text.lstrip(" ").startswith(_FORMULA_STARTS):
        safe = "'" + text
    return safe


def _csv(columns: tuple[str, ...], rows: list[tuple[str, ...]], ranked: bool) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    ours = 3 if ranked else 1  # rank, score, id: our numbers
    for row in rows:
        writer.writerow(row[:ours] + tuple(safe_csv_cell(cell) for cell in row[ours:]))
    return buffer.getvalue()


def _html(columns: tuple[str, ...], rows: list[tuple[str, ...]], title: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(cell, quote=True)}</td>" for cell in row) + "</tr>"
                     for row in rows)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>\n'
            "<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;"
            "white-space:pre-wrap;vertical-align:top}</style></head>\n"
            f"<body><h1>{html.escape(title)}</h1>\n<table>\n<tr>{head}</tr>\n{body}\n</table></body></html>\n")
