"""Labels people give photos: a defect class, a severity, an equipment type and free tags.

Stored in the catalog (table ``labels``, one row per photo, kind and value, with who gave it and
when). Every change made through :func:`change_labels` is one *action* in ``label_actions`` with its
row-level changes in ``label_changes``, so :func:`undo_last` can put back exactly what was there
before (also labels that an assignment replaced). The functions here take the caller's connection
inside its transaction: a label change is all or nothing, and ``add`` running in another process
(short batch transactions) loses nothing and is not blocked for long.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import LabelError
from .records import Label, LabelAction, LabelChange

LABEL_KINDS = ("defect", "severity", "equipment_type", "tag")
SINGLE_VALUED = frozenset({"defect", "severity", "equipment_type"})
"""Kinds a photo has at most one value of: assigning another replaces it (undo brings it back)."""
MAX_LABEL_LENGTH = 80
LABELS_GENERATION_KEY = "labels_generation"
"""Meta key bumped by every label change: what is derived from labels (suggestion calibration, the
learned projection) is recomputed when it moves."""

_DELETE = "DELETE FROM labels WHERE image_id = ? AND kind = ? AND value = ?"

LABELS_SCHEMA = """
CREATE TABLE labels (
    image_id INTEGER NOT NULL REFERENCES images(id),
    kind TEXT NOT NULL CHECK (kind IN ('defect', 'severity', 'equipment_type', 'tag')),
    value TEXT NOT NULL, who TEXT, labelled_at TEXT NOT NULL,
    PRIMARY KEY (image_id, kind, value));
CREATE INDEX labels_by_value ON labels(kind, value);
CREATE TABLE label_actions (
    id INTEGER PRIMARY KEY, verb TEXT NOT NULL, who TEXT, at TEXT NOT NULL, summary TEXT NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0);
CREATE TABLE label_changes (
    action_id INTEGER NOT NULL REFERENCES label_actions(id), seq INTEGER NOT NULL,
    image_id INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, added INTEGER NOT NULL,
    who TEXT, labelled_at TEXT, PRIMARY KEY (action_id, seq));
"""


def clean_value(kind: str, value: str) -> str:
    """A label value as stored: spaces collapsed, lower case. Raises :class:`LabelError` for an unknown
    kind and an empty, over-long or unprintable value."""
    if kind not in LABEL_KINDS:
        raise LabelError(f"unknown label kind {kind!r}; expected one of {', '.join(LABEL_KINDS)}")
    text = re.sub(r"\s+", " ", str(value)).strip().casefold()
    if not text:
        raise LabelError(f"empty {kind} label")
    if len(text) > MAX_LABEL_LENGTH:
        raise LabelError(f"{kind} label longer than {MAX_LABEL_LENGTH} characters: {text[:30]!r}...")
    if any(not ch.isprintable() for ch in text):
        raise LabelError(f"{kind} label {text!r} contains control characters")
    return text


@dataclass
class _Changes:
    rows: list[tuple[int, str, str, int, str | None, str | None]]  # image, kind, value, added, who, at

    def record(self, image_id: int, kind: str, value: str, added: bool, who: str | None, at: str | None) -> None:
        self.rows.append((image_id, kind, value, int(added), who, at))


def change_labels(conn: sqlite3.Connection, assignments: Sequence[tuple[int, str, str]], *, remove: bool,
                  who: str | None, at: str, summary: str) -> LabelChange:
    """Assign (or with ``remove`` take away) ``(photo id, kind, value)`` labels as one undoable action.
    Values must be clean (:func:`clean_value`); unknown photo ids raise :class:`LabelError` and change
    nothing."""
    ids = sorted({int(i) for i, _k, _v in assignments})
    missing = _missing_photos(conn, ids)
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise LabelError(f"no photo with id {shown} in this archive; no label was changed")
    changes = _Changes([])
    for image_id, kind, value in assignments:
        if remove:
            _remove_one(conn, changes, int(image_id), kind, value)
        else:
            _assign_one(conn, changes, int(image_id), kind, value, who, at)
    verb = "remove" if remove else "assign"
    if not changes.rows:
        return LabelChange(None, verb, 0, 0, len(ids))
    action_id = conn.execute("INSERT INTO label_actions(verb, who, at, summary) VALUES (?, ?, ?, ?)",
                             (verb, who, at, summary)).lastrowid
    conn.executemany("INSERT INTO label_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     ((action_id, n, *row) for n, row in enumerate(changes.rows)))
    bump_labels_generation(conn)
    added = sum(r[3] for r in changes.rows)
    return LabelChange(int(action_id), verb, added, len(changes.rows) - added, len(ids))


def _assign_one(conn: sqlite3.Connection, changes: _Changes, image_id: int, kind: str, value: str,
                who: str | None, at: str) -> None:
    if kind in SINGLE_VALUED:
        for old_value, old_who, old_at in conn.execute(
                "SELECT value, who, labelled_at FROM labels WHERE image_id = ? AND kind = ? AND value != ?",
                (image_id, kind, value)).fetchall():
            conn.execute(_DELETE, (image_id, kind, old_value))
            changes.record(image_id, kind, old_value, False, old_who, old_at)
    cur = conn.execute("INSERT OR IGNORE INTO labels VALUES (?, ?, ?, ?, ?)", (image_id, kind, value, who, at))
    if cur.rowcount:
        changes.record(image_id, kind, value, True, who, at)


def _remove_one(conn: sqlite3.Connection, changes: _Changes, image_id: int, kind: str, value: str) -> None:
    row = conn.execute("SELECT who, labelled_at FROM labels WHERE image_id = ? AND kind = ? AND value = ?",
                       (image_id, kind, value)).fetchone()
    if row is not None:
        conn.execute(_DELETE, (image_id, kind, value))
        changes.record(image_id, kind, value, False, row[0], row[1])


def undo_last(conn: sqlite3.Connection) -> LabelAction | None:
    """Reverse the latest label action not undone yet (its changes in reverse order); ``None`` if
    there is nothing to undo. Undoing again goes one action further back."""
    row = conn.execute("SELECT id, verb, who, at, summary FROM label_actions WHERE undone = 0 "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    action_id = row[0]
    changes = conn.execute("SELECT image_id, kind, value, added, who, labelled_at FROM label_changes "
                           "WHERE action_id = ? ORDER BY seq DESC", (action_id,)).fetchall()
    for image_id, kind, value, added, who, at in changes:
        if added:
            conn.execute(_DELETE, (image_id, kind, value))
        else:
            conn.execute("INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?)", (image_id, kind, value, who, at))
    conn.execute("UPDATE label_actions SET undone = 1 WHERE id = ?", (action_id,))
    bump_labels_generation(conn)
    return LabelAction(action_id, row[1], row[2], row[3], row[4], True, len(changes))


def add_imported_tags(conn: sqlite3.Connection, image_id: int, tags: Iterable[str], at: str) -> int:
    """Tags from a metadata CSV (``tags`` column) on a photo, kept beside the ones people gave;
    returns how many were new. Not an undoable action: re-running ``add`` gives them again."""
    added = 0
    for tag in tags:
        cur = conn.execute("INSERT OR IGNORE INTO labels VALUES (?, 'tag', ?, 'metadata CSV', ?)", (image_id, tag, at))
        added += cur.rowcount
    if added:
        bump_labels_generation(conn)
    return added


def split_tags(text: str) -> list[str]:
    """The tags in a CSV cell: separated by ``;``, ``|`` or ``,``; bad ones raise :class:`LabelError`."""
    return list(dict.fromkeys(clean_value("tag", part) for part in re.split(r"[;|,]", text) if part.strip()))


def bump_labels_generation(conn: sqlite3.Connection) -> None:
    """Count a label change (inside the caller's transaction)."""
    conn.execute("INSERT INTO meta VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET value = value + 1",
                 (LABELS_GENERATION_KEY,))


def labels_of(conn: sqlite3.Connection, image_ids: Sequence[int]) -> dict[int, tuple[Label, ...]]:
    """The labels of the given photos (photos without any are left out), by kind then value."""
    found: dict[int, list[Label]] = {}
    ids = [int(i) for i in image_ids]
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        marks = ",".join("?" * len(part))
        for image_id, kind, value, who, at in conn.execute(
                f"SELECT image_id, kind, value, who, labelled_at FROM labels WHERE image_id IN ({marks}) "
                "ORDER BY image_id, kind, value", part):
            found.setdefault(image_id, []).append(Label(kind, value, who, at))
    return {i: tuple(v) for i, v in found.items()}


def label_counts(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    """(kind, value, live photos carrying it), by kind then count."""
    return [tuple(r) for r in conn.execute(
        "SELECT l.kind, l.value, COUNT(*) FROM labels l JOIN images i ON i.id = l.image_id AND i.deleted = 0 "
        "GROUP BY l.kind, l.value ORDER BY l.kind, COUNT(*) DESC, l.value")]


def photos_labelled(conn: sqlite3.Connection, kind: str) -> dict[int, str]:
    """Live photo id -> its value of a single-valued kind (or one of its tags), for learning and votes."""
    return {int(i): v for i, v in conn.execute(
        "SELECT l.image_id, l.value FROM labels l JOIN images i ON i.id = l.image_id AND i.deleted = 0 "
        "WHERE l.kind = ? ORDER BY l.image_id, l.value", (kind,))}


def recent_actions(conn: sqlite3.Connection, limit: int) -> list[LabelAction]:
    """The latest label actions, newest first."""
    rows = conn.execute(
        "SELECT a.id, a.verb, a.who, a.at, a.summary, a.undone, (SELECT COUNT(*) FROM label_changes c "
        "WHERE c.action_id = a.id) FROM label_actions a ORDER BY a.id DESC LIMIT ?", (limit,)).fetchall()
    return [LabelAction(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]


def _missing_photos(conn: sqlite3.Connection, ids: list[int]) -> list[int]:
    known: set[int] = set()
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        marks = ",".join("?" * len(part))
        known.update(r[0] for r in conn.execute(f"SELECT id FROM images WHERE deleted = 0 AND id IN ({marks})", part))
    return [i for i in ids if i not in known]
