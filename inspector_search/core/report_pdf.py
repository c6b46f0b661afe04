"""The PDF rendering of a report (:mod:`~inspector_search.core.reporting`) with reportlab: A4 pages, the
pictures inline, DejaVu Sans when the system has it (any script), else Helvetica. Needs no display."""

from __future__ import annotations

import html
import io
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .reporting import HistoryReport, Picture, ReportedPhoto, SearchReport, human_date

FONT_FILES = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), Path("C:/Windows/Fonts/DejaVuSans.ttf"))
PICTURE_MM = 38


def _font() -> str:
    """A font that has every character of the metadata: DejaVu Sans if installed, else Helvetica."""
    if "DejaVuSans" in pdfmetrics.getRegisteredFontNames():
        return "DejaVuSans"
    for path in FONT_FILES:
        if path.is_file():
            pdfmetrics.registerFont(TTFont("DejaVuSans", str(path)))
            return "DejaVuSans"
    return "Helvetica"


def _styles() -> dict[str, ParagraphStyle]:
    font, base = _font(), getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName=font, fontSize=17, leading=21),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName=font, fontSize=13, leading=16),
        "h3": ParagraphStyle("h3", parent=base["Heading3"], fontName=font, fontSize=11, leading=14),
        "body": ParagraphStyle("body", parent=base["BodyText"], fontName=font, fontSize=9, leading=12),
        "muted": ParagraphStyle("muted", parent=base["BodyText"], fontName=font, fontSize=8, leading=10,
                                textColor=colors.grey),
        "remark": ParagraphStyle("remark", parent=base["BodyText"], fontName=font, fontSize=10, leading=13,
                                 backColor=colors.HexColor("#fff8e1"), borderPadding=6,
                                 borderColor=colors.HexColor("#ef6c00"), borderWidth=0.5),
    }


def _text(value: object) -> str:
    """Escaped for reportlab's paragraph markup, line breaks kept."""
    return html.escape("" if value is None else str(value)).replace("\n", "<br/>")


def _picture(picture: Picture, styles: dict[str, ParagraphStyle], side_mm: float = PICTURE_MM) -> object:
    if not picture.jpeg:
        return Paragraph(f"no picture: {_text(picture.problem)}", styles["muted"])
    image = Image(io.BytesIO(picture.jpeg))
    scale = min(side_mm * mm / image.imageWidth, side_mm * mm / image.imageHeight)
    image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
    return image


def _details(match: ReportedPhoto) -> str:
    photo = match.photo
    lines = [f"<b>{_text(photo.equipment_tag or photo.path.name)}</b>"
             + (f" — {_text(photo.equipment_name)}" if photo.equipment_name else "")]
    if match.rank is not None and match.score is not None:
        lines.insert(0, f"#{match.rank} · similarity {match.score:.3f}")
    place = " · ".join(_text(v) for v in (photo.equipment_type, photo.site, photo.area) if v)
    lines += [place, f"inspected {human_date(photo.inspected_on)}"
              + (f" by {_text(photo.inspector)}" if photo.inspector else "")]
    if photo.notes:
        lines.append(f"<i>{_text(photo.notes)}</i>")
    lines.append(f"<font size=7 color=grey>{_text(photo.path)}</font>")
    return "<br/>".join(line for line in lines if line)


def _header(title: str, created: object, archive: str, styles: dict[str, ParagraphStyle]) -> list[object]:
    where = f" · archive {_text(archive)}" if archive else ""
    return [Paragraph(_text(title), styles["title"]),
            Paragraph(f"Inspector Search · {_text(created)}{where}", styles["muted"]), Spacer(1, 4 * mm)]


def _remark(remark: str, styles: dict[str, ParagraphStyle]) -> list[object]:
    if not remark:
        return []
    return [Paragraph("Remark", styles["h2"]), Paragraph(_text(remark), styles["remark"]), Spacer(1, 4 * mm)]


_GRID = TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 6), ("TOPPADDING", (0, 0), (-1, -1), 6)])


def _search_story(report: SearchReport, styles: dict[str, ParagraphStyle]) -> list[object]:
    story = _header(f"Search report — {report.query_name}", report.created, report.archive, styles)
    query = Table([[_picture(report.query_picture, styles, 55),
                    Paragraph(f"<b>Query photo</b><br/>{_text(report.query_name)}<br/><br/>Searched "
                              f"{_text(report.filter_text)}: {len(report.matches)} matches", styles["body"])]],
                  colWidths=[60 * mm, None])
    query.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [query, Spacer(1, 4 * mm), *_remark(report.remark, styles), Paragraph("Matches", styles["h2"])]
    rows = [[_picture(m.picture, styles), Paragraph(_details(m), styles["body"])] for m in report.matches]
    if rows:
        table = Table(rows, colWidths=[(PICTURE_MM + 4) * mm, None], repeatRows=0)
        table.setStyle(_GRID)
        story.append(table)
    else:
        story.append(Paragraph("No matches.", styles["body"]))
    return story


def _history_story(report: HistoryReport, styles: dict[str, ParagraphStyle]) -> list[object]:
    story = _header(f"Equipment history — {report.tag}", report.created, report.archive, styles)
    facts = " · ".join(_text(v) for v in (report.name, report.type, report.site, report.area) if v)
    photos = sum(len(i.photos) for i in report.inspections)
    story += [Paragraph(f"{facts}<br/>{len(report.inspections)} inspections, {photos} photos", styles["body"]),
              Spacer(1, 3 * mm), *_remark(report.remark, styles), Paragraph("Inspections, newest first", styles["h2"])]
    for inspection in report.inspections:
        who = f" — {_text(inspection.inspector)}" if inspection.inspector else ""
        block: list[object] = [Paragraph(f"{human_date(inspection.inspected_on)}{who} "
                                         f"<font size=8 color=grey>({len(inspection.photos)} photos)</font>",
                                         styles["h3"])]
        if inspection.notes:
            block.append(Paragraph(_text(inspection.notes), styles["body"]))
        pictures = [_picture(p.picture, styles, 36) for p in inspection.photos]
        for start in range(0, len(pictures), 4):
            cells = pictures[start:start + 4]
            row = Table([cells], colWidths=[42 * mm] * len(cells), hAlign="LEFT")
            row.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
            block.append(row)
        block.append(Spacer(1, 3 * mm))
        story.append(KeepTogether(block))
    return story


def pdf_bytes(report: SearchReport | HistoryReport) -> bytes:
    """The report as PDF bytes."""
    styles = _styles()
    buffer = io.BytesIO()
    title = f"Search report — {report.query_name}" if isinstance(report, SearchReport) else f"History — {report.tag}"
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm, topMargin=14 * mm,
                                 bottomMargin=14 * mm, title=title, author="Inspector Search")
    story = _search_story(report, styles) if isinstance(report, SearchReport) else _history_story(report, styles)

    def number(canvas, doc) -> None:  # noqa: ANN001 - reportlab's callback
        canvas.setFont(_font(), 7)
        canvas.setFillColor(colors.grey)
        canvas.drawRightString(A4[0] - 16 * mm, 8 * mm, f"page {doc.page}")

    document.build(story, onFirstPage=number, onLaterPages=number)
    return buffer.getvalue()
