"""The ``clusters`` command: the archive grouped into visually coherent clusters."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from .core.progress import Progress

if TYPE_CHECKING:
    from .core.archive import Archive
    from .core.records import ClusterReport


def add_clusters_command(sub: argparse._SubParsersAction) -> None:
    """Register ``clusters``."""
    parser = sub.add_parser(
        "clusters", help="the archive grouped into clusters of look-alike photos, with typical photos",
        description="Group the archive into clusters of visually similar photos (k-means on the stored vectors), "
                    "largest first, each with its most typical photos. Computed on first use, with --k or "
                    "--recompute; stored in the catalog; photos added later join their nearest cluster. Label a "
                    "whole cluster with `label assign --cluster N`.")
    parser.add_argument("--k", type=int, default=None, metavar="N",
                        help="number of clusters (default: about sqrt(photos / 2), at most 100); recomputes")
    parser.add_argument("--recompute", action="store_true", help="cluster again with the stored k")
    parser.add_argument("--typical", type=int, default=4, metavar="N", help="typical photos shown per cluster")
    parser.add_argument("--json", action="store_true", help="print JSON")


def cmd_clusters(archive: Archive, args: argparse.Namespace) -> int:
    """Show the stored clusters, computing them first when asked or when there are none."""
    from .cli import TerminalProgress  # the CLI's progress bar (cli imports this module at start)

    report = archive.clusters(typical=args.typical)
    if args.k is not None or args.recompute or not report.clusters or report.stale:
        bar = TerminalProgress()
        try:
            archive.compute_clusters(args.k or (report.k if args.recompute and report.k else None), Progress(bar))
        finally:
            bar.finish()
        report = archive.clusters(typical=args.typical)
    if args.json:
        print(json.dumps(_report_json(report), ensure_ascii=False))
        return 0
    print(f"{len(report.clusters)} clusters of {report.photos} photos (computed {report.computed_at})")
    for summary in report.clusters:
        labels = ", ".join(f"{kind}={value} x{count}" for kind, value, count in summary.labels)
        print(f"  cluster {summary.cluster:3}: {summary.size:6} photos{'  [' + labels + ']' if labels else ''}")
        for photo in summary.typical:
            print(f"      {photo.image_id:>7}  {photo.path}")
    return 0


def _report_json(report: ClusterReport) -> dict[str, Any]:
    return {"k": report.k, "photos": report.photos, "computed_at": report.computed_at, "stale": report.stale,
            "clusters": [{"cluster": s.cluster, "size": s.size,
                          "typical": [{"image_id": p.image_id, "path": str(p.path)} for p in s.typical],
                          "labels": [{"kind": k, "value": v, "photos": n} for k, v, n in s.labels]}
                         for s in report.clusters]}
