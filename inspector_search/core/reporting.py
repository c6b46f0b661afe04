"""Inspection reports: a search (the query photo, its matches with their metadata, the inspector's own
remark) or an equipment's history (a timeline of inspections with photos, dates, inspectors and notes),
as HTML (one self-contained file, pictures inline) or PDF (reportlab; no display needed).

The report's content is gathered once into plain records (:class:`SearchReport`, :class:`HistoryReport`)
holding small JPEG pictures, so both renderings show the same thing and the renderers read no archive.
Every text from the archive is escaped in both formats.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from . import imaging
from .errors import ImageError, QueryError
from .records import EquipmentHistory, PhotoRecord, SearchFilter, SearchHit

REPORT_FORMATS = ("pdf", "html")
PICTURE_SIDE = 320  # pixels of the pictures embedded in a report


@dataclass(frozen=True)
class Picture:
    """A photo as embedded in a report: JPEG bytes (empty when the file could not be read) and why not."""

    jpeg: bytes
    problem: str = ""


@dataclass(frozen=True)
class ReportedPhoto:
    photo: PhotoRecord
    picture: Picture
    score: float | None = None
    rank: int | None = None


@dataclass(frozen=True)
class SearchReport:
    """A search as a report: the query, the filter in words, the matches, the remark."""

    query_name: str
    query_picture: Picture
    filter_text: str
    matches: tuple[ReportedPhoto, ...]
    remark: str = ""
    created: datetime = field(default_factory=lambda: datetime.now().replace(microsecond=0))
    archive: str = ""


@dataclass(frozen=True)
class ReportedInspection:
    inspected_on: date | None
    inspector: str | None
    notes: str | None
    photos: tuple[ReportedPhoto, ...]


@dataclass(frozen=True)
class HistoryReport:
    """An equipment's history as a report: the equipment, its inspections newest first, the remark."""

    tag: str
    name: str | None
    type: str | None
    site: str | None
    area: str | None
    inspections: tuple[ReportedInspection, ...]
    remark: str = ""
    created: datetime = field(default_factory=lambda: datetime.now().replace(microsecond=0))
    archive: str = ""


def picture_of(source: Path | bytes) -> Picture:
    """A small upright JPEG of a photo file (or encoded image bytes); a Picture with the reason if unreadable."""
    try:
        image = imaging.thumbnail(source, PICTURE_SIDE)
    except (ImageError, OSError, ValueError) as exc:
        return Picture(b"", getattr(exc, "reason", None) or str(exc))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return Picture(buffer.getvalue())


def describe_filter(flt: SearchFilter) -> str:
    """The filter in words (``site North · inspected 2022-01-01 to 2023-12-31``), or ``the whole archive``."""
    parts = [f"{label} {value}" for label, value in (
        ("site", flt.site), ("equipment", flt.equipment_tag), ("type", flt.equipment_type), ("area", flt.area),
        ("inspector", flt.inspector)) if value]
    if flt.since or flt.until:
        parts.append(f"inspected {human_date(flt.since) if flt.since else 'any time'} to "
                     f"{human_date(flt.until) if flt.until else 'today'}")
    return " · ".join(parts) or "the whole archive"


def human_date(value: date | None) -> str:
    return value.strftime("%d %b %Y").lstrip("0") if value else "undated"


def search_report(query: Path | bytes, query_name: str, hits: Sequence[SearchHit], flt: SearchFilter,
                  picture_for: Callable[[PhotoRecord], Picture], remark: str = "", archive: str = "") -> SearchReport:
    """Gather a search's report: ``picture_for`` makes each match's picture (the archive's thumbnail)."""
    matches = tuple(ReportedPhoto(h.photo, picture_for(h.photo), h.score, h.rank) for h in hits)
    return SearchReport(query_name, picture_of(query), describe_filter(flt), matches, remark.strip(), archive=archive)


def history_report(history: EquipmentHistory, picture_for: Callable[[PhotoRecord], Picture], remark: str = "",
                   archive: str = "") -> HistoryReport:
    """Gather an equipment history's report, newest inspection first (undated last)."""
    eq = history.equipment
    dated = sorted((i for i in history.inspections if i.inspected_on), key=lambda i: i.inspected_on, reverse=True)
    ordered = dated + [i for i in history.inspections if not i.inspected_on]
    inspections = tuple(ReportedInspection(i.inspected_on, i.inspector, i.notes,
                                           tuple(ReportedPhoto(p, picture_for(p)) for p in i.photos))
                        for i in ordered)
    return HistoryReport(eq.tag, eq.name, eq.type, eq.site, eq.area, inspections, remark.strip(), archive=archive)


# -- HTML ------------------------------------------------------------------------------------------
_STYLE = ("body{font-family:sans-serif;margin:2em;color:#222}h1{font-size:1.5em}table{border-collapse:collapse}"
          "td,th{border:1px solid #bbb;padding:4px 8px;vertical-align:top;text-align:left}"
          "img{max-width:220px;max-height:220px}.remark{background:#fff8e1;padding:.6em;border-left:4px solid #ef6c00;"
          "white-space:pre-wrap}.notes{white-space:pre-wrap}.muted{color:#777}")


def _img(picture: Picture, alt: str) -> str:
    if not picture.jpeg:
        return f'<span class="muted">no picture: {html.escape(picture.problem)}</span>'
    data = base64.b64encode(picture.jpeg).decode("ascii")
    return f'<img src="data:image/jpeg;base64,{data}" alt="{html.escape(alt, quote=True)}">'


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _page(title: str, body: str, created: datetime, archive: str) -> str:
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{_e(title)}</title><style>{_STYLE}</style>'
            f'</head><body><h1>{_e(title)}</h1><p class="muted">Inspector Search · {_e(created.isoformat(" "))}'
            f'{" · archive " + _e(archive) if archive else ""}</p>\n{body}\n</body></html>\n')


def _remark_html(remark: str) -> str:
    return f'<h2>Remark</h2><div class="remark">{_e(remark)}</div>' if remark else ""


def search_html(report: SearchReport) -> str:
    rows = "\n".join(
        f"<tr><td>{m.rank}</td><td>{m.score:.3f}</td><td>{_img(m.picture, m.photo.path.name)}</td>"
        f"<td><b>{_e(m.photo.equipment_tag or m.photo.path.name)}</b><br>{_e(m.photo.equipment_name)}</td>"
        f"<td>{_e(m.photo.site)}<br>{_e(m.photo.area)}</td><td>{_e(human_date(m.photo.inspected_on))}</td>"
        f"<td>{_e(m.photo.inspector)}</td><td class=notes>{_e(m.photo.notes)}</td><td>{_e(m.photo.path)}</td></tr>"
        for m in report.matches)
    body = (f"<h2>Query: {_e(report.query_name)}</h2><p>{_img(report.query_picture, report.query_name)}</p>"
            f"<p>Searched {_e(report.filter_text)}: {len(report.matches)} matches.</p>{_remark_html(report.remark)}"
            "<h2>Matches</h2><table><tr><th>rank</th><th>similarity</th><th>photo</th><th>equipment</th>"
            f"<th>site / area</th><th>inspected</th><th>inspector</th><th>notes</th><th>file</th></tr>\n{rows}</table>")
    return _page(f"Search report — {report.query_name}", body, report.created, report.archive)


def history_html(report: HistoryReport) -> str:
    facts = " · ".join(_e(v) for v in (report.type, report.site, report.area) if v)
    parts = []
    for inspection in report.inspections:
        who = f" — {_e(inspection.inspector)}" if inspection.inspector else ""
        notes = f'<p class="notes">{_e(inspection.notes)}</p>' if inspection.notes else ""
        pictures = " ".join(_img(p.picture, p.photo.path.name) for p in inspection.photos)
        parts.append(f"<h3>{_e(human_date(inspection.inspected_on))}{who} "
                     f'<span class="muted">({len(inspection.photos)} photos)</span></h3>{notes}<p>{pictures}</p>')
    body = (f"<p>{_e(report.name)}{' · ' if report.name and facts else ''}{facts}</p>{_remark_html(report.remark)}"
            f"<h2>Inspections, newest first</h2>{''.join(parts)}")
    return _page(f"Equipment history — {report.tag}", body, report.created, report.archive)


def render_html(report: SearchReport | HistoryReport) -> str:
    """The report as one self-contained HTML page (pictures inline)."""
    return search_html(report) if isinstance(report, SearchReport) else history_html(report)


def render_pdf(report: SearchReport | HistoryReport) -> bytes:
    """The report as a PDF document (A4); see :mod:`~inspector_search.core.report_pdf`."""
    from .report_pdf import pdf_bytes  # reportlab loads only when a PDF is asked for

    return pdf_bytes(report)


def write_report(report: SearchReport | HistoryReport, target: Path, fmt: str) -> Path:
    """Write the report as ``fmt`` (pdf or html) to ``target`` atomically; QueryError for an unknown format."""
    from .atomic import atomic_write_bytes

    if fmt not in REPORT_FORMATS:
        raise QueryError(f"unknown report format {fmt!r}; expected one of {', '.join(REPORT_FORMATS)}")
    data = render_pdf(report) if fmt == "pdf" else render_html(report).encode("utf-8")
    atomic_write_bytes(Path(target), data)
    return Path(target)
