"""Text search: words against each photo's labels, notes, equipment tag, name, type and area, site
and inspector, through an SQLite FTS5 table.

``photo_text`` holds one row per photo (rowid = photo id) built by the view ``photo_text_source``;
triggers rebuild a photo's row in the same transaction as any change to the photo, its labels, its
equipment, its inspection or its site, so the text index can never disagree with the catalog (and a
rolled-back change rolls back its text too). Words are matched as prefixes ("leak" finds "leaking"),
all of them must occur, case and accents are ignored.
"""

from __future__ import annotations

import re
import sqlite3

import numpy as np

from .errors import QueryError

_REFRESH = ("DELETE FROM photo_text WHERE rowid IN ({ids}); "
            "INSERT INTO photo_text(rowid, body) SELECT id, body FROM photo_text_source WHERE id IN ({ids});")


def _trigger(name: str, event: str, ids: str) -> str:
    return f"CREATE TRIGGER {name} AFTER {event} BEGIN {_REFRESH.format(ids=ids)} END;\n"


TEXT_SCHEMA = (
    "CREATE VIRTUAL TABLE photo_text USING fts5(body, tokenize = 'unicode61 remove_diacritics 2');\n"
    "CREATE VIEW photo_text_source AS SELECT i.id AS id, "
    "COALESCE(i.notes, '') || ' ' || COALESCE(e.tag, '') || ' ' || COALESCE(e.name, '') || ' ' || "
    "COALESCE(e.type, '') || ' ' || COALESCE(e.area, '') || ' ' || COALESCE(s.name, '') || ' ' || "
    "COALESCE(n.inspector, '') || ' ' || COALESCE(n.notes, '') || ' ' || "
    "COALESCE((SELECT group_concat(l.value, ' ') FROM labels l WHERE l.image_id = i.id), '') AS body "
    "FROM images i LEFT JOIN equipment e ON e.id = i.equipment_id "
    "LEFT JOIN sites s ON s.id = COALESCE(i.site_id, e.site_id) "
    "LEFT JOIN inspections n ON n.id = i.inspection_id;\n"
    + _trigger("photo_text_image_added", "INSERT ON images", "NEW.id")
    + _trigger("photo_text_image_changed", "UPDATE OF site_id, equipment_id, inspection_id, notes ON images",
               "NEW.id")
    + _trigger("photo_text_label_added", "INSERT ON labels", "NEW.image_id")
    + _trigger("photo_text_label_removed", "DELETE ON labels", "OLD.image_id")
    + _trigger("photo_text_equipment_changed", "UPDATE ON equipment",
               "SELECT id FROM images WHERE equipment_id = NEW.id")
    + _trigger("photo_text_inspection_changed", "UPDATE ON inspections",
               "SELECT id FROM images WHERE inspection_id = NEW.id")
    + _trigger("photo_text_site_changed", "UPDATE ON sites",
               "SELECT id FROM images WHERE site_id = NEW.id OR equipment_id IN "
               "(SELECT id FROM equipment WHERE site_id = NEW.id)")
    + "INSERT INTO photo_text(rowid, body) SELECT id, body FROM photo_text_source;\n"
)
"""Migration script (statements end with ``;`` and a line break; trigger bodies stay on one line)."""

MAX_QUERY_WORDS = 16


def match_expression(text: str) -> str:
    """The FTS5 query for what someone typed: every word, as a prefix, must occur. Raises
    :class:`QueryError` for text without any word."""
    words = [w for w in re.split(r"[^\w]+", text.casefold()) if w]
    if not words:
        raise QueryError(f"no words to search for in {text!r}")
    if len(words) > MAX_QUERY_WORDS:
        raise QueryError(f"a text search takes at most {MAX_QUERY_WORDS} words, got {len(words)}")
    return " ".join(f'"{w}"*' for w in words)


def text_matches(conn: sqlite3.Connection, text: str) -> np.ndarray:
    """Ids (ascending) of the photos whose text holds every word, for a text filter of an image
    search. Deleted photos may be among them: the vector index holds none, so a filter never returns
    them, and leaving out the check against ``images`` halves the cost for common words."""
    rows = conn.execute("SELECT rowid FROM photo_text WHERE photo_text MATCH ? ORDER BY rowid",
                        (match_expression(text),))
    return np.fromiter((r[0] for r in rows), dtype=np.int64)


def text_ranked(conn: sqlite3.Connection, text: str, limit: int,
                allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
    """The best ``limit`` live photos for the words by BM25, as ``(id, relevance in (0, 1))``; with
    ``allowed`` only those ids (a metadata filter)."""
    expression = match_expression(text)
    if allowed is None:  # FTS5 sorts by its rank and stops at the limit (deleted photos skipped after)
        rows = conn.execute(
            "SELECT t.rowid, -t.rank FROM photo_text t JOIN images i ON i.id = t.rowid AND i.deleted = 0 "
            "WHERE photo_text MATCH ? ORDER BY t.rank LIMIT ?", (expression, int(limit)))
    else:
        rows = conn.execute(
            "SELECT t.rowid, -bm25(photo_text) AS relevance FROM photo_text t "
            "JOIN images i ON i.id = t.rowid AND i.deleted = 0 WHERE photo_text MATCH ? "
            "ORDER BY relevance DESC, t.rowid", (expression,))
    keep = None if allowed is None else set(allowed.tolist())
    ranked: list[tuple[int, float]] = []
    for image_id, relevance in rows:
        if keep is None or image_id in keep:
            ranked.append((int(image_id), float(relevance / (1.0 + relevance)) if relevance > 0 else 0.0))
            if len(ranked) >= limit:
                break
    return ranked
