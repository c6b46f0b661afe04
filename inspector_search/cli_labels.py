"""The ``label`` sub-commands of the command line: assign, remove, undo, list, actions, import."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .core.errors import LabelError
from .core.records import LabelAction, LabelChange, SearchRequest, Suggestion

if TYPE_CHECKING:
    from .core.archive import Archive

KIND_OPTIONS = (("defect", "defect class, e.g. corrosion, crack, leak, none"),
                ("severity", "severity, e.g. low, medium, high"),
                ("equipment_type", "equipment type, e.g. pump, valve, flange"))


def add_label_command(sub: argparse._SubParsersAction) -> None:
    """Register ``label`` and its sub-commands."""
    label = sub.add_parser("label", help="label photos (defect, severity, equipment type, tags), undo, list",
                           description="Labels on archive photos, stored in the catalog with who and when. "
                                       "Every assign, remove and import is one action that `label undo` reverses.")
    actions = label.add_subparsers(dest="label_command", metavar="ACTION", required=True)
    for verb, text in (("assign", "give the selected photos labels (a defect, severity or equipment type "
                                  "replaces the photo's earlier one)"),
                       ("remove", "take labels off the selected photos")):
        parser = actions.add_parser(verb, help=text, description=text)
        parser.add_argument("ids", nargs="*", type=int, metavar="ID", help="photo ids (as in search --json)")
        for kind, what in KIND_OPTIONS:
            parser.add_argument(f"--{kind.replace('_', '-')}", dest=kind, metavar="VALUE", help=what)
        parser.add_argument("--tag", action="append", default=[], metavar="TAG", help="a free tag (repeatable)")
        parser.add_argument("--query", type=Path, metavar="IMAGE", help="also select a search's results")
        parser.add_argument("--top-k", "-k", type=int, default=10, help="results selected with --query (default 10)")
        parser.add_argument("--labelled", metavar="KIND=VALUE", help="also select the photos carrying this label")
        parser.add_argument("--cluster", type=int, action="append", default=[], metavar="N",
                            help="also select every photo of this cluster (see `clusters`; repeatable)")
        _add_who(parser)
    undo = actions.add_parser("undo", help="reverse the latest label action not undone yet")
    _add_who(undo)
    listing = actions.add_parser("list", help="every label in use with its photo count")
    listing.add_argument("--json", action="store_true", help="print JSON")
    log = actions.add_parser("actions", help="the latest label actions, newest first")
    log.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    log.add_argument("--json", action="store_true", help="print JSON")
    imported = actions.add_parser("import", help="apply a label CSV (path or image_id, defect, severity, "
                                                 "equipment_type, tags); all or nothing",
                                  description="Apply a label CSV as one action. Every bad line (unknown photo, "
                                              "empty or over-long label, conflicting rows) is reported and then "
                                              "nothing is applied.")
    imported.add_argument("csv", type=Path, metavar="CSV")
    _add_who(imported)
    suggest = actions.add_parser(
        "suggest", help="labels the nearest labelled photos suggest, with a calibrated confidence",
        description="Suggest defect, severity and equipment type for photos from the labels of their nearest "
                    "labelled photos. Only suggestions calibrated (on the archive's own labels) to be right at "
                    "least 90 % of the time are shown.")
    suggest.add_argument("ids", nargs="*", type=int, metavar="ID", help="archive photos to suggest labels for")
    suggest.add_argument("--query", type=Path, metavar="IMAGE", help="a photo (in the archive or not)")
    suggest.add_argument("--unlabelled", metavar="KIND", help="the most confident suggestions of KIND for the "
                                                              "photos without a label of that kind")
    suggest.add_argument("--limit", type=int, default=50, help="suggestions listed with --unlabelled (default 50)")
    suggest.add_argument("--accept", action="store_true", help="assign the suggested labels (one undoable action)")
    suggest.add_argument("--json", action="store_true", help="print JSON")
    _add_who(suggest)


def _add_who(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--who", default=None, help="who labels (default: the login name)")


def _who(args: argparse.Namespace) -> str | None:
    if args.who:
        return args.who
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a service account without a passwd entry)
        return None


def cmd_label(archive: Archive, args: argparse.Namespace) -> int:
    """Run one ``label`` action."""
    if args.label_command in ("assign", "remove"):
        labels = [(kind, getattr(args, kind)) for kind, _ in KIND_OPTIONS if getattr(args, kind)]
        labels += [("tag", tag) for tag in args.tag]
        ids = _selection(archive, args)
        change = (archive.assign_labels if args.label_command == "assign" else archive.remove_labels)(
            ids, labels, who=_who(args))
        _print_change(change)
    elif args.label_command == "undo":
        action = archive.undo_labels()
        print("nothing to undo" if action is None else f"undone: {action.summary} ({action.changes} label changes)")
    elif args.label_command == "import":
        _print_change(archive.import_labels(args.csv, who=_who(args)))
    elif args.label_command == "suggest":
        return _suggest(archive, args)
    elif args.label_command == "list":
        counts = archive.label_counts()
        if args.json:
            print(json.dumps([{"kind": k, "value": v, "photos": n} for k, v, n in counts], ensure_ascii=False))
        for kind, value, count in [] if args.json else counts:
            print(f"  {kind:15} {value:30} {count:6}")
        if not args.json:
            print(f"learned ranking: {archive.learned_ranking_status()}")
            for kind, state in archive.suggestion_status().items():
                print(f"suggestions of {kind}: {state}")
    else:
        actions = archive.label_actions(args.limit)
        if args.json:
            print(json.dumps([_action_json(a) for a in actions], ensure_ascii=False))
        for a in [] if args.json else actions:
            print(f"  #{a.action_id:<5} {a.at}  {a.who or '-':12} {a.summary}{'  (undone)' if a.undone else ''}")
    return 0


def _suggest(archive: Archive, args: argparse.Namespace) -> int:
    found: list[Suggestion] = []
    if args.query is not None:
        found += archive.suggest_for_query(SearchRequest(image=args.query.absolute()))
    if args.ids:
        found += [s for group in archive.suggest_for_photos(args.ids).values() for s in group]
    if args.unlabelled:
        found += archive.unlabelled_suggestions(args.unlabelled.replace("-", "_"), args.limit)
    if args.query is None and not args.ids and not args.unlabelled:
        raise LabelError("give photo ids, --query IMAGE or --unlabelled KIND")
    if args.json:
        print(json.dumps({"suggestions": [{"image_id": s.image_id, "kind": s.kind, "value": s.value,
                                           "confidence": round(s.confidence, 4)} for s in found],
                          "status": archive.suggestion_status()}, ensure_ascii=False))
    else:
        for s in found:
            print(f"  {'query' if s.image_id is None else s.image_id!s:>8}  {s.kind:15} {s.value:30} "
                  f"{s.confidence:.0%}")
        if not found:
            print("no suggestion reaches 90 % confidence")
            for kind, state in archive.suggestion_status().items():
                print(f"  {kind}: {state}")
    if args.accept:
        accepted = [s for s in found if s.image_id is not None]
        if accepted:
            _print_change(archive.accept_suggestions(accepted, who=_who(args)))
    return 0


def _selection(archive: Archive, args: argparse.Namespace) -> list[int]:
    ids = list(args.ids)
    if args.query is not None:
        ids += [h.photo.image_id for h in archive.search(SearchRequest(image=args.query.absolute(),
                                                                       top_k=args.top_k))]
    if args.labelled:
        kind, sep, value = args.labelled.partition("=")
        if not sep:
            raise LabelError(f"--labelled expects KIND=VALUE, got {args.labelled!r}")
        ids += archive.photos_with_label(kind.strip().replace("-", "_"), value)
    for cluster in args.cluster:
        ids += archive.cluster_photos(cluster)
    return list(dict.fromkeys(ids))


def _print_change(change: LabelChange) -> None:
    if change.action_id is None:
        print(f"nothing changed on {change.photos} photo(s)")
        return
    print(f"{change.verb} (action #{change.action_id}): {change.added} label(s) added, {change.removed} removed "
          f"on {change.photos} photo(s); `inspector-search label undo` reverses it")


def _action_json(action: LabelAction) -> dict[str, object]:
    return {"id": action.action_id, "verb": action.verb, "who": action.who, "at": action.at,
            "summary": action.summary, "undone": action.undone, "changes": action.changes}
