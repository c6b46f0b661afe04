"""Decisions on duplicate groups, remembered so that a resolved group stays resolved.

A reviewer either keeps one photo of a group (the others are copies of it) or dismisses the group
(not duplicates). Decisions are keyed by the photos' content hashes, which survive moves, renames
and re-indexing, and live in ``duplicate_decisions.json`` in the archive folder, written atomically
(a versioned file; one written by a newer version is refused, never overwritten). A group counts as
resolved while all its photos were part of one decision: a new copy joining it brings it back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .atomic import atomic_write_bytes
from .errors import IndexFileError, QueryError

DECISIONS_FILE = "duplicate_decisions.json"
FORMAT_VERSION = 1
KEPT, DISMISSED = "kept", "dismissed"


@dataclass(frozen=True)
class Decision:
    """What a reviewer decided about a set of photos (by content hash)."""

    members: frozenset[str]
    decision: str  # KEPT or DISMISSED
    keep: str | None  # the hash of the photo kept (KEPT only)
    decided_at: str


class DuplicateDecisions:
    """The decisions file of one archive."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.decisions: list[Decision] = self._read()

    def _read(self) -> list[Decision]:
        if not self.path.is_file():
            return []
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            version = int(document.get("version", 0))
            if version > FORMAT_VERSION:
                raise IndexFileError(self.path, f"written by a newer Inspector Search (format {version})")
            return [Decision(frozenset(d["members"]), d["decision"], d.get("keep"), d.get("decided_at", ""))
                    for d in document.get("decisions", [])]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IndexFileError(self.path, f"duplicate decisions cannot be read ({exc})") from exc

    def decision_for(self, hashes: Iterable[str]) -> Decision | None:
        """The latest decision covering every one of ``hashes``, if any."""
        wanted = frozenset(hashes)
        covering = [d for d in self.decisions if wanted <= d.members]
        return covering[-1] if covering else None

    def record(self, hashes: Iterable[str], decision: str, keep: str | None = None) -> Decision:
        """Remember ``decision`` for these photos (replacing decisions about a subset of them); atomic."""
        members = frozenset(hashes)
        if decision not in (KEPT, DISMISSED):
            raise QueryError(f"unknown duplicate decision {decision!r}")
        if decision == KEPT and keep not in members:
            raise QueryError("the photo to keep must be one of the group")
        made = Decision(members, decision, keep if decision == KEPT else None,
                        datetime.now().replace(microsecond=0).isoformat())
        self.decisions = [d for d in self.decisions if not d.members <= members] + [made]
        document = {"version": FORMAT_VERSION, "decisions": [
            {"members": sorted(d.members), "decision": d.decision, "keep": d.keep, "decided_at": d.decided_at}
            for d in self.decisions]}
        atomic_write_bytes(self.path, json.dumps(document, indent=1).encode("utf-8"))
        return made
