"""The archive's own record of where photo metadata came from: ``adds.json`` beside the catalog.

Every ``add`` that is given a metadata CSV or a folder layout writes one entry (the folders added, the
CSV's absolute path and sha256, the layout) before it commits anything. The file lives outside SQLite on
purpose: when the catalog loses its last saved changes (a write-ahead log truncated, garbled or deleted),
the record of the add that made them survives, so the next ``add`` of the same folders can restore the
photos *and* their metadata without being told the CSV again, or say which CSV to give if it changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .atomic import atomic_write_bytes

RECORD_FILE = "adds.json"
MAX_ENTRIES = 200


@dataclass(frozen=True)
class RecordedAdd:
    """One earlier add's metadata sources."""

    roots: tuple[str, ...]
    metadata: str | None
    metadata_sha256: str | None
    layout: str | None
    at: str

    def covers(self, roots: list[Path]) -> bool:
        """Whether one of this add's folders is, or holds, one of ``roots`` (or the other way round)."""
        mine = [Path(r) for r in self.roots]
        return any(r == m or r.is_relative_to(m) or m.is_relative_to(r) for r in roots for m in mine)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_record(folder: Path) -> list[RecordedAdd]:
    """The recorded adds, oldest first; an unreadable or damaged record is an empty one (it only helps)."""
    try:
        entries = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
        return [RecordedAdd(tuple(e["roots"]), e.get("metadata"), e.get("metadata_sha256"), e.get("layout"),
                            e.get("at", "")) for e in entries]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return []


def record_add(folder: Path, roots: list[Path], metadata: Path | None, layout: str | None) -> None:
    """Remember this add's metadata sources (the writer only, under its lock). Nothing to remember
    without a CSV or a layout. A record that cannot be written is not an error: the add goes on."""
    if metadata is None and layout is None:
        return
    csv_path = os.path.abspath(metadata) if metadata is not None else None
    sha = None
    if csv_path is not None:
        with contextlib.suppress(OSError):
            sha = file_sha256(Path(csv_path))
    entry = RecordedAdd(tuple(str(r) for r in roots), csv_path, sha, layout,
                        datetime.now(UTC).isoformat(timespec="seconds"))
    kept = [e for e in read_record(folder) if (e.roots, e.metadata, e.layout) != (entry.roots, csv_path, layout)]
    entries = [*kept, entry][-MAX_ENTRIES:]
    with contextlib.suppress(OSError):
        atomic_write_bytes(folder / RECORD_FILE, json.dumps([e.__dict__ for e in entries], indent=1).encode())


def sources_to_restore(folder: Path, roots: list[Path]) -> tuple[Path | None, str | None, list[str]]:
    """(metadata CSV, layout, notes) to add ``roots`` again with after the catalog lost photos: the latest
    recorded add of these folders, its CSV only while it still has the recorded content."""
    recorded = [e for e in read_record(folder) if e.covers(roots)]
    if not recorded:
        return None, None, ["no earlier add of these folders is recorded with a metadata CSV or layout: if the "
                            "lost photos had metadata, run the add again with --metadata CSV / --layout PATTERN"]
    latest = recorded[-1]
    notes: list[str] = []
    metadata: Path | None = None
    if latest.metadata is not None:
        path = Path(latest.metadata)
        try:
            same = file_sha256(path) == latest.metadata_sha256
        except OSError:
            notes.append(f"the lost photos' metadata came from {path} (add of {latest.at}), which is gone: "
                         "run the add again with --metadata and that CSV")
        else:
            if same:
                metadata = path
                notes.append(f"metadata taken again from {path}, as recorded by the add of {latest.at}")
            else:
                notes.append(f"the lost photos' metadata came from {path} (add of {latest.at}), which has changed "
                             "since: run the add again with --metadata and the CSV of that day")
    if latest.layout is not None:
        notes.append(f"folder layout {latest.layout!r} applied again, as recorded by the add of {latest.at}")
    return metadata, latest.layout, notes
