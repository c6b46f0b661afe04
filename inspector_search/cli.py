"""The ``inspector-search`` command line. It sits on the archive façade and turns typed errors into
one-line messages and non-zero exit codes; with no sub-command it starts the desktop app."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from . import __version__
from .cli_api import add_api_commands, cmd_serve, cmd_token
from .cli_clusters import add_clusters_command, cmd_clusters
from .cli_labels import add_label_command, cmd_label
from .cli_reports import add_report_command, cmd_report
from .cli_shared import SERVER_COMMANDS, SYNC_COMMANDS, add_server_commands, add_sync_commands, archive_location
from .core.archive import ARCHIVE_ENV, Archive, default_archive_folder, evaluate_folder, open_archive
from .core.errors import InspectorSearchError, NotAnArchiveError
from .core.progress import Progress, ProgressEvent
from .core.records import AddReport, EvaluationReport, PhotoRecord, SearchFilter, SearchRequest
from .json_shapes import add_json, history_json, hit_json, result_json, status_json

EXIT_ERROR = 1
EXIT_USAGE = 2


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _crop_box(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected x0,y0,x1,y1 as fractions 0..1, got {text!r}")
    return values  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command and its help text."""
    parser = argparse.ArgumentParser(
        prog="inspector-search",
        description="Find earlier inspection photos that look like a new one. Without a command, "
                    "opens the desktop app.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--archive", type=archive_location, default=None, metavar="DIR|URL",
                        help="archive folder (default: $INSPECTOR_SEARCH_ARCHIVE or the user data folder), or a "
                             "shared archive's postgresql:// URL")
    parser.add_argument("--model", type=Path, default=None, metavar="MANIFEST",
                        help="model manifest (.json) to use instead of the bundled one")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_daily_commands(sub)
    _add_maintenance_commands(sub)
    _add_report_commands(sub)
    add_label_command(sub)
    add_report_command(sub)
    add_clusters_command(sub)
    add_server_commands(sub)
    add_api_commands(sub, _at_least)
    add_sync_commands(sub)
    gui = sub.add_parser("gui", help="open the desktop app (the default without a command)")
    gui.add_argument("photos", nargs="*", type=Path, metavar="PHOTO", help="search with these photos at once")
    return parser


def _add_daily_commands(sub: argparse._SubParsersAction) -> None:
    """The sub-commands add and search: building the archive and searching it."""
    add = sub.add_parser("add", help="add photos from folders or files (incremental)",
                         description="Add photos to the archive. Re-running skips unchanged files, follows "
                                     "moved ones by content and marks vanished ones as deleted.")
    add.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folders (recursed) or image files")
    add.add_argument("--metadata", type=Path, metavar="CSV",
                     help="metadata CSV: a path column plus equipment_tag, equipment_name, equipment_type, "
                          "site, area, inspected_on, inspector, notes")
    add.add_argument("--layout", metavar="PATTERN",
                     help='take metadata from folder names, e.g. "{site}/{equipment}/{date}"')
    add.add_argument("--workers", type=_at_least(1), default=None, help="decoding threads (default: CPU count, max 4)")
    add.add_argument("--json", action="store_true", help="print the report as JSON")

    search = sub.add_parser("search", help="find archive photos similar to one or more images",
                            description="Search the archive with each image; filters apply during the search.")
    search.add_argument("images", nargs="*", type=Path, metavar="IMAGE",
                        help="query photos (none: search by --text alone)")
    search.add_argument("--text", metavar="WORDS",
                        help="only photos whose labels, notes, equipment, site or inspector hold every word "
                             "(prefixes); without IMAGE, ranked by text relevance")
    search.add_argument("--no-learned", dest="learned", action="store_false",
                        help="rank as without labels (by default a ranking learned from the defect labels "
                             "re-ranks the best matches once enough photos are labelled)")
    search.add_argument("--like", action="append", type=int, default=[], metavar="ID",
                        help="more like this archive photo: refines the query towards it (repeatable; "
                             "without IMAGE the liked photos are the query)")
    search.add_argument("--unlike", action="append", type=int, default=[], metavar="ID",
                        help="less like this archive photo: refines the query away from it (repeatable)")
    search.add_argument("--top-k", "-k", type=_at_least(1), default=10, help="results per query (default 10)")
    search.add_argument("--no-verify", dest="verify", action="store_false",
                        help="skip geometric verification (faster; no same_object)")
    search.add_argument("--site", help="only photos of this site")
    search.add_argument("--equipment", metavar="TAG", help="only photos of this equipment")
    search.add_argument("--type", dest="equipment_type", help="only photos of this equipment type")
    search.add_argument("--area", help="only photos of equipment in this area")
    search.add_argument("--inspector", help="only photos from this inspector's inspections")
    search.add_argument("--since", type=_iso_date, metavar="DATE", help="inspected on or after (YYYY-MM-DD)")
    search.add_argument("--until", type=_iso_date, metavar="DATE", help="inspected on or before (YYYY-MM-DD)")
    search.add_argument("--min-score", type=_similarity, default=0.0, help="drop results below this similarity")
    search.add_argument("--by-equipment", action="store_true", help="rank equipment by their best photo")
    search.add_argument("--rotations", action="store_true",
                        help="also match the query turned by 90, 180 and 270 degrees")
    search.add_argument("--crop", type=_crop_box, metavar="X0,Y0,X1,Y1",
                        help="search with this region of the query (fractions of width and height)")
    search.add_argument("--expansion", type=_at_least(0), default=None, metavar="N",
                        help="re-rank with the query averaged with its N best matches (default 20; 0 = off)")
    search.add_argument("--json", action="store_true", help="one JSON object per query image per line")


def _add_maintenance_commands(sub: argparse._SubParsersAction) -> None:
    """The sub-commands history, status, reindex and check: what the archive holds, and its repair."""
    history = sub.add_parser("history", help="an equipment's inspections and photos in date order")
    history.add_argument("tag", help="equipment tag")
    history.add_argument("--json", action="store_true", help="print JSON")

    status = sub.add_parser("status", help="counts, model, index state and skipped files")
    status.add_argument("--json", action="store_true", help="print JSON")

    reindex = sub.add_parser("reindex", help="refit PCA on stored features and rebuild the index")
    reindex.add_argument("--dim", type=_at_least(2), default=None, help="PCA dimensions (default 128)")

    check = sub.add_parser("check", help="verify that catalog, index, PCA and photo files agree",
                           description="Verify the archive: catalog integrity, photo files on disk, features, "
                                       "projection, index and thumbnails. Exits 1 when something is wrong.")
    check.add_argument("--repair", action="store_true",
                       help="rebuild what can be rebuilt from the catalog and report what cannot")
    check.add_argument("--json", action="store_true", help="print the report as JSON")


def _add_report_commands(sub: argparse._SubParsersAction) -> None:
    """The sub-commands export, evaluate and duplicates: reports over the whole archive."""
    export = sub.add_parser("export", help="write the catalog listing or search results as CSV or HTML",
                            description="Export photos with their metadata. Formula-like cells are neutralised "
                                        "(CSV) and all text is escaped (HTML).")
    export.add_argument("--format", choices=("csv", "html"), default="csv", help="csv (default) or html")
    export.add_argument("--out", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    export.add_argument("--query", type=Path, metavar="IMAGE",
                        help="export the matches of this photo instead of the whole catalog")
    export.add_argument("--top-k", "-k", type=_at_least(1), default=20,
                        help="matches exported with --query (default 20)")

    evaluate = sub.add_parser(
        "evaluate", help="measure search quality on a labelled folder (leave-one-out mAP, P@1, P@10)",
        description="Build a temporary archive of DIR (your archive is not touched), search with every labelled "
                    "photo in turn and score the ranking: a photo is relevant when it has the same label (class "
                    "subfolder of DIR, or group in --groups). Byte-identical files are scored once.")
    evaluate.add_argument("folder", type=Path, metavar="DIR", help="folder of class subfolders (or of photos)")
    evaluate.add_argument("--groups", type=Path, metavar="FILE",
                          help="CSV of path,group rows naming photos of the same object (others are distractors)")
    evaluate.add_argument("--expansion", type=_at_least(0), default=None, metavar="N",
                          help="best matches used for query expansion, as in search (default: the app's; 0 = off)")
    evaluate.add_argument("--keep-duplicates", action="store_true",
                          help="score byte-identical files separately instead of once")
    evaluate.add_argument("--json", action="store_true",
                          help="print one JSON object with mAP, P@1, P@10 and per_class")

    duplicates = sub.add_parser("duplicates", help="list groups of near-identical photos in the archive",
                                description="Groups of photos that are the same picture: re-saved, resized, "
                                            "recompressed or re-shot from the same spot (not merely alike).")
    duplicates.add_argument("--threshold", type=_similarity, default=None, metavar="T",
                            help="similarity from which two photos count as the same picture "
                                 "(default: calibrated, see docs/quality.md)")
    duplicates.add_argument("--json", action="store_true", help="print one JSON object with the groups")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``inspector-search``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="inspector-search: %(message)s")
    folder = args.archive or default_archive_folder()
    if args.command in (None, "gui"):
        if isinstance(folder, str):  # a postgresql:// URL
            print("inspector-search: error: the desktop app opens a local archive; link it to the shared one "
                  "(`link URL`) and `sync`", file=sys.stderr)
            return EXIT_USAGE
        from .gui.app import run_app

        return run_app(folder, model=args.model, photos=getattr(args, "photos", None) or ())
    try:
        if args.command in WITHOUT_ARCHIVE:
            return COMMANDS[args.command](None, args)
        with open_archive(folder, model=args.model, create=args.command in CREATING) as archive:
            return COMMANDS[args.command](archive, args)
    except NotAnArchiveError as exc:
        print(f"inspector-search: error: {exc}\n  (check --archive or ${ARCHIVE_ENV}; `inspector-search add "
              "PHOTOS` creates an archive)", file=sys.stderr)
        return EXIT_ERROR
    except InspectorSearchError as exc:
        print(f"inspector-search: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        kept = "; finished batches are kept" if args.command == "add" else ""
        print(f"inspector-search: interrupted{kept}", file=sys.stderr)
        return 130


def _at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


def _similarity(text: str) -> float:
    """An argparse type: a cosine similarity, -1 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a similarity is between -1 and 1, got {value}")
    return value


# -- add -------------------------------------------------------------------------------------------
class TerminalProgress:
    """A one-line progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.started = time.perf_counter()
        self._last = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        now = time.perf_counter()
        if not self.enabled or (now - self._last < 0.1 and event.done < event.total):
            return
        self._last = now
        if event.total:
            rate = event.done / max(now - self.started, 1e-6)
            filled = int(30 * event.done / event.total)
            eta = (event.total - event.done) / rate if rate > 0 else 0
            line = (f"{event.phase:9} [{'#' * filled}{'.' * (30 - filled)}] {event.done}/{event.total} "
                    f"{rate:5.1f}/s eta {eta:4.0f}s")
        else:
            line = f"{event.phase}..."
        sys.stderr.write("\r" + line.ljust(79))
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def cmd_add(archive: Archive, args: argparse.Namespace) -> int:
    bar = TerminalProgress()
    try:
        report = archive.add(args.paths, metadata=args.metadata, layout=args.layout,
                             progress=Progress(bar), workers=args.workers)
    finally:
        bar.finish()
    if args.json:
        print(json.dumps(add_json(report), ensure_ascii=False))
    else:
        _print_add(report)
    return 0


def _print_add(report: AddReport) -> None:
    rate = f", {report.added / report.seconds:.1f} photos added/s" if report.added and report.seconds else ""
    print(f"scanned {report.scanned} files: {report.added} added, {report.unchanged} unchanged, "
          f"{report.moved} moved, {report.copies} copies, {report.removed} removed, "
          f"{report.updated_metadata} metadata updates, {len(report.skipped)} skipped "
          f"({report.seconds:.1f} s{rate})")
    for item in report.skipped:
        print(f"  skipped {item.path}: {item.reason}")
    for problem in report.metadata_errors:
        print(f"  metadata: {problem}")
    for note in report.notes:
        print(f"  note: {note}")


# -- search ----------------------------------------------------------------------------------------
def cmd_search(archive: Archive, args: argparse.Namespace) -> int:
    flt = archive.resolve_filter(SearchFilter(site=args.site, equipment_tag=args.equipment,
                                              equipment_type=args.equipment_type, since=args.since, until=args.until,
                                              area=args.area, inspector=args.inspector))
    failures = 0
    if not args.images and not args.text and not args.like:
        print("inspector-search: error: give a query photo, --text WORDS or --like ID", file=sys.stderr)
        return EXIT_USAGE
    for image in args.images or [None]:
        request = SearchRequest(image=image.absolute() if image else None, top_k=args.top_k, filter=flt,
                                min_score=args.min_score, crop=args.crop, rotations=args.rotations,
                                expansion=args.expansion, text=args.text, like=tuple(args.like),
                                unlike=tuple(args.unlike), verification=args.verify,
                                learned=args.learned)
        query = _shown(image.absolute()) if image else None
        try:
            if args.by_equipment:
                rows = [hit_json(h) for h in archive.search_by_equipment(request)]
            else:
                rows = [hit_json(h) for h in archive.search(request)]
        except InspectorSearchError as exc:
            failures += 1
            print(f"inspector-search: error: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"query": query, "text": args.text, "error": str(exc), "results": []}))
            continue
        if args.json:
            print(json.dumps({"query": query, "text": args.text, "results": rows}, ensure_ascii=False))
        else:
            _print_results(image or (f"text: {args.text}" if args.text else f"like: {args.like}"), rows,
                           args.by_equipment)
    return EXIT_ERROR if failures else 0


def _shown(path: Path | str) -> str:
    """A path as printable text: bytes of a name that are not UTF-8 (a Latin-1 ``caf\\xe9.jpg``) as escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _print_results(image: Path | str, rows: list[dict[str, Any]], by_equipment: bool = False) -> None:
    """One block per match: rank, similarity, equipment, site, date, inspector and path, then the notes."""
    print(f"{_shown(image)}:")
    if not rows:
        print("  (no matches)")
    elif by_equipment:
        print("  (one line per equipment: its best photo, and how many of its photos are among the best matches)")
    for row in rows:
        print(f"  {row['rank']:3}. {row['score']:.3f}  {row['equipment_tag'] or '-':14} {row['site'] or '-':12} "
              f"{row['inspected_on'] or '-':10}  {row['inspector'] or '-':12}  {row['path']}"
              f"{_labels_text(row['labels'])}")
        if "match_count" in row:
            count = row["match_count"]
            print(f"{'':13}{count} matching photo{'' if count == 1 else 's'} of this equipment")
        for number, line in enumerate((row["notes"] or "").splitlines()):
            print(f"{'':13}{'notes: ' if number == 0 else '':7}{line}")
        if row.get("is_query"):
            print(f"{'':13}the query itself (this very photo is in the archive)")
        elif row.get("same_object"):
            points = f": {row['inliers']} keypoints matched" if "inliers" in row else ""
            print(f"{'':13}same object{points}")


def _labels_text(labels: PhotoRecord | list[dict[str, str]]) -> str:
    """``  [defect=crack, tag=flange]`` for a photo's labels, or nothing."""
    pairs = ([(x.kind, x.value) for x in labels.labels] if isinstance(labels, PhotoRecord)
             else [(x["kind"], x["value"]) for x in labels])
    return f"  [{', '.join(f'{k}={v}' for k, v in pairs)}]" if pairs else ""


# -- history and status ------------------------------------------------------------------------------
def cmd_history(archive: Archive, args: argparse.Namespace) -> int:
    history = archive.history(args.tag)
    if args.json:
        print(json.dumps(history_json(history), ensure_ascii=False))
        return 0
    eq = history.equipment
    print(f"{eq.tag}  {eq.name or ''}  type: {eq.type or '-'}  site: {eq.site or '-'}  area: {eq.area or '-'}  "
          f"photos: {eq.photo_count}")
    for inspection in history.inspections:
        day = inspection.inspected_on.isoformat() if inspection.inspected_on else "undated"
        count = len(inspection.photos)
        print(f"  {day}  {inspection.inspector or '-'}  ({count} photo{'' if count == 1 else 's'})")
        if inspection.notes:
            for line in inspection.notes.splitlines():
                print(f"      {line}")
        for photo in inspection.photos:
            print(f"      {photo.path}{_labels_text(photo)}")
    return 0


def cmd_status(archive: Archive, args: argparse.Namespace) -> int:
    status = archive.status()
    if args.json:
        print(json.dumps(status_json(status), ensure_ascii=False))
        return 0
    print(f"archive:     {status.folder}")
    print(f"photos:      {status.photos} ({status.files} files, {status.deleted} deleted)")
    print(f"metadata:    {status.sites} sites, {status.equipment} equipment, {status.inspections} inspections")
    print(f"model:       {status.model_id} ({status.feature_dim}-d features)")
    print(f"projection:  {status.projection}")
    print(f"index:       {status.indexed} vectors of {status.vector_dim} dims, {status.index_state}")
    print(f"skipped:     {len(status.skipped)} files")
    for item in status.skipped:
        print(f"  {item.path}: {item.reason}")
    for message in status.messages:
        print(f"note:        {message}")
    return 0


def cmd_reindex(archive: Archive, args: argparse.Namespace) -> int:
    archive.reindex(dim=args.dim)
    status = archive.status()
    print(f"reindexed {status.indexed} photos: {status.projection}")
    return 0


def cmd_check(archive: Archive, args: argparse.Namespace) -> int:
    report = archive.check(repair=args.repair)
    if args.json:
        print(json.dumps({"ok": report.ok, "checked": list(report.checked), "problems": list(report.problems),
                          "repaired": list(report.repaired), "unrepairable": list(report.unrepairable)},
                         ensure_ascii=False))
        return 0 if report.ok else EXIT_ERROR
    print(f"archive:     {archive.folder}")
    for label, lines in (("checked:", report.checked), ("problem:", report.problems),
                         ("repaired:", report.repaired), ("cannot fix:", report.unrepairable)):
        for line in lines:
            print(f"{label:12} {line}")
    if report.ok:
        print("OK: catalog, photo files, projection, index and thumbnails agree")
        return 0
    if report.problems:
        print("run `inspector-search check --repair` to fix the problems above")
    return EXIT_ERROR


def cmd_export(archive: Archive, args: argparse.Namespace) -> int:
    if args.query is not None:
        items: list = archive.search(SearchRequest(image=args.query.absolute(), top_k=args.top_k))
    else:
        items = archive.listing()
    document = archive.export(items, args.format)
    if args.out is None:
        sys.stdout.write(document)
        return 0
    encoding = "utf-8-sig" if args.format == "csv" else "utf-8"  # the BOM makes Excel read UTF-8
    try:
        args.out.write_text(document, encoding=encoding, newline="")
    except OSError as exc:
        print(f"inspector-search: error: {args.out}: cannot write ({exc.strerror or exc})", file=sys.stderr)
        return EXIT_ERROR
    print(f"exported {len(items)} photos to {args.out}")
    return 0


# -- evaluate and duplicates -----------------------------------------------------------------------------
def cmd_evaluate(_archive: None, args: argparse.Namespace) -> int:
    bar = TerminalProgress()
    try:
        report = evaluate_folder(args.folder, groups=args.groups, model=args.model, expansion=args.expansion,
                                 keep_duplicates=args.keep_duplicates, progress=Progress(bar))
    finally:
        bar.finish()
    if args.json:
        print(json.dumps(_evaluation_json(report, args.expansion), ensure_ascii=False))
        return 0
    print(f"{report.folder}: {report.queries} queries among {report.photos} photos "
          f"({report.distractors} unlabelled), model {report.model_id}, {report.projection}")
    print(f"mAP {report.mean_average_precision:.3f}   P@1 {report.precision_at_1:.3f}   "
          f"P@10 {report.precision_at_10:.3f}   ({report.seconds:.0f} s)")
    print(f"  {'class':<24} {'photos':>6} {'mAP':>6} {'P@1':>6} {'P@10':>6}")
    for row in report.per_class:
        figures = (row.mean_average_precision, row.precision_at_1, row.precision_at_10)
        print(f"  {row.name:<24} {row.photos:>6} " + " ".join("     -" if f is None else f"{f:>6.3f}" for f in figures))
    for path in report.dropped_duplicates:
        print(f"  scored once: {path} (same bytes as another file)")
    for item in report.skipped:
        print(f"  skipped {item.path}: {item.reason}")
    return 0


def _evaluation_json(report: EvaluationReport, expansion: int | None) -> dict[str, Any]:
    return {
        "mAP": report.mean_average_precision, "P@1": report.precision_at_1, "P@10": report.precision_at_10,
        "per_class": {row.name: {"photos": row.photos, "mAP": row.mean_average_precision, "P@1": row.precision_at_1,
                                 "P@10": row.precision_at_10} for row in report.per_class},
        "folder": str(report.folder), "photos": report.photos, "queries": report.queries,
        "distractors": report.distractors, "expansion": expansion, "model": report.model_id,
        "projection": report.projection, "dropped_duplicates": [str(p) for p in report.dropped_duplicates],
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in report.skipped],
        "seconds": round(report.seconds, 3),
    }


def cmd_duplicates(archive: Archive, args: argparse.Namespace) -> int:
    threshold = archive.default_duplicate_threshold() if args.threshold is None else args.threshold
    groups = archive.duplicates(threshold)
    if args.json:
        print(json.dumps({"threshold": threshold, "groups": [
            {"similarity": round(g.similarity, 5), "photos": [result_json(n + 1, g.similarity, p)
                                                               for n, p in enumerate(g.photos)]}
            for g in groups]}, ensure_ascii=False))
        return 0
    print(f"{len(groups)} group(s) of near-identical photos (similarity >= {threshold:g})")
    for group in groups:
        print(f"  {len(group.photos)} photos, similarity >= {group.similarity:.3f}:")
        for photo in group.photos:
            print(f"      {photo.path}")
    return 0


WITHOUT_ARCHIVE = frozenset({"evaluate", "serve", "token", *SERVER_COMMANDS})
"""Commands that do not get the opened archive: evaluate builds a temporary one, serve opens its own (one
ONNX thread per search), token only touches the token file."""

CREATING = frozenset({"add"})
"""Commands that create the archive when it does not exist; the others refuse a folder holding none."""

COMMANDS = {"add": cmd_add, "search": cmd_search, "history": cmd_history, "status": cmd_status,
            "reindex": cmd_reindex, "check": cmd_check, "export": cmd_export,
            "evaluate": cmd_evaluate, "duplicates": cmd_duplicates, "label": cmd_label, "serve": cmd_serve,
            "report": cmd_report,
            "clusters": cmd_clusters, "token": cmd_token, **SERVER_COMMANDS,
            **SYNC_COMMANDS}
