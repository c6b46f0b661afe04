"""The labelling part of the archive façade (mixed into :class:`~inspector_search.core.archive.Archive`).

Label writes touch only the catalog, in short transactions of their own: they do not take the
archive's writer lock, so people can label while ``add`` runs in another process (SQLite serialises
the two; nothing is lost). See :mod:`~inspector_search.core.labels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import labels as label_store
from .catalog import now_iso
from .errors import LabelError
from .label_file import read_label_file
from .records import LabelAction, LabelChange

if TYPE_CHECKING:
    from .catalog import Catalog


class LabelsMixin:
    """Assign, remove, undo, list and import labels."""

    catalog: Catalog

    def assign_labels(self, image_ids: Sequence[int], labels: Sequence[tuple[str, str]], *, who: str | None = None,
                      summary: str | None = None) -> LabelChange:
        """Give the photos these ``(kind, value)`` labels (a defect, severity or equipment type
        replaces the photo's earlier one) as one undoable action."""
        return self._change(image_ids, labels, remove=False, who=who, summary=summary)

    def remove_labels(self, image_ids: Sequence[int], labels: Sequence[tuple[str, str]], *, who: str | None = None,
                      summary: str | None = None) -> LabelChange:
        """Take these ``(kind, value)`` labels off the photos, as one undoable action."""
        return self._change(image_ids, labels, remove=True, who=who, summary=summary)

    def _change(self, image_ids: Sequence[int], labels: Sequence[tuple[str, str]], *, remove: bool,
                who: str | None, summary: str | None) -> LabelChange:
        if not labels:
            raise LabelError("no label given")
        if not image_ids:
            raise LabelError("no photo selected")
        clean = list(dict.fromkeys((kind, label_store.clean_value(kind, value)) for kind, value in labels))
        text = summary or (f"{'remove' if remove else 'assign'} "
                           f"{', '.join(f'{k}={v}' for k, v in clean)} on {len(set(image_ids))} photo(s)")
        assignments = [(int(i), kind, value) for i in dict.fromkeys(image_ids) for kind, value in clean]
        with self.catalog.transaction() as conn:
            return label_store.change_labels(conn, assignments, remove=remove, who=who, at=now_iso(), summary=text)

    def undo_labels(self) -> LabelAction | None:
        """Reverse the latest label action (assign, remove or import) not undone yet; ``None`` if none."""
        with self.catalog.transaction() as conn:
            return label_store.undo_last(conn)

    def import_labels(self, path: Path | str, *, who: str | None = None) -> LabelChange:
        """Apply a label CSV (see :mod:`~inspector_search.core.label_file`) as one undoable action, or
        nothing of it when any line is bad (:class:`LabelError` lists them)."""
        path = Path(path)
        assignments = read_label_file(path, self._find_photo)
        if not assignments:
            raise LabelError(f"{path.name}: no label rows")
        with self.catalog.transaction() as conn:
            return label_store.change_labels(conn, assignments, remove=False, who=who, at=now_iso(),
                                             summary=f"import {path.name}")

    def _find_photo(self, key: str) -> int | None:
        if key.isdigit():
            row = self.catalog.conn.execute("SELECT id FROM images WHERE id = ? AND deleted = 0", (int(key),))
        else:
            row = self.catalog.conn.execute("SELECT image_id FROM files WHERE path = ? AND deleted = 0", (key,))
        found = row.fetchone()
        return int(found[0]) if found else None

    def label_counts(self) -> list[tuple[str, str, int]]:
        """Every label in use as ``(kind, value, photos)``, by kind then frequency."""
        return label_store.label_counts(self.catalog.conn)

    def label_actions(self, limit: int = 20) -> list[LabelAction]:
        """The latest label actions, newest first (what ``undo`` would reverse is the first not undone)."""
        return label_store.recent_actions(self.catalog.conn, limit)

    def photos_with_label(self, kind: str, value: str) -> list[int]:
        """Ids of live photos carrying a label, ascending."""
        value = label_store.clean_value(kind, value)
        return [r[0] for r in self.catalog.conn.execute(
            "SELECT l.image_id FROM labels l JOIN images i ON i.id = l.image_id AND i.deleted = 0 "
            "WHERE l.kind = ? AND l.value = ? ORDER BY l.image_id", (kind, value))]

    def labels_generation(self) -> int:
        """A counter that moves with every label change (for caches of what is learned from labels)."""
        return int(self.catalog.get_meta(label_store.LABELS_GENERATION_KEY) or 0)
