"""The ``report`` sub-commands of the command line: a PDF and/or HTML report of a search or of an
equipment's history (works without a display: reportlab draws the PDF)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .core.errors import QueryError
from .core.records import SearchFilter, SearchRequest
from .core.reporting import write_report

if TYPE_CHECKING:
    from .core.archive import Archive


def add_report_command(sub: argparse._SubParsersAction) -> None:
    """Register ``report search`` and ``report history``."""
    report = sub.add_parser("report", help="write a PDF or HTML inspection report of a search or a history",
                            description="Inspection reports: a search (query photo, matches with metadata, your "
                                        "remark) or an equipment history (inspections with photos, dates, "
                                        "inspectors, notes), as PDF and/or HTML.")
    kinds = report.add_subparsers(dest="report_command", metavar="KIND", required=True)
    search = kinds.add_parser("search", help="report of a search with IMAGE")
    search.add_argument("image", type=Path, metavar="IMAGE", help="the query photo")
    search.add_argument("--top-k", "-k", type=int, default=12, help="matches in the report (default 12)")
    search.add_argument("--site", help="only photos of this site")
    search.add_argument("--equipment", metavar="TAG", help="only photos of this equipment")
    history = kinds.add_parser("history", help="report of an equipment's history")
    history.add_argument("tag", help="equipment tag")
    for parser in (search, history):
        parser.add_argument("--remark", default="", metavar="TEXT", help="your remark, printed in the report")
        parser.add_argument("--pdf", type=Path, metavar="FILE", help="write the report as PDF to FILE")
        parser.add_argument("--html", type=Path, metavar="FILE", help="write the report as HTML to FILE")


def cmd_report(archive: Archive, args: argparse.Namespace) -> int:
    if args.pdf is None and args.html is None:
        raise SystemExit("inspector-search report: error: give --pdf FILE and/or --html FILE")
    if not hasattr(archive, "report_search"):
        raise QueryError("reports are written from a local archive (sync it, then run report on it)")
    if args.report_command == "search":
        flt = archive.resolve_filter(SearchFilter(site=args.site, equipment_tag=args.equipment))
        report = archive.report_search(SearchRequest(image=args.image.absolute(), top_k=max(args.top_k, 1), filter=flt),
                                       args.remark)
        what = f"{len(report.matches)} matches of {args.image.name}"
    else:
        report = archive.report_history(args.tag, args.remark)
        what = f"{len(report.inspections)} inspections of {report.tag}"
    for fmt, target in (("pdf", args.pdf), ("html", args.html)):
        if target is not None:
            write_report(report, target, fmt)
            print(f"wrote {target} ({what})")
    return 0
