"""The labelling part of the archive façade (mixed into :class:`~inspector_search.core.archive.Archive`).

Label writes touch only the catalog, in short transactions of their own: they do not take the
archive's writer lock, so people can label while ``add`` runs in another process (SQLite serialises
the two; nothing is lost). See :mod:`~inspector_search.core.labels`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import labels as label_store
from .catalog import now_iso
from .errors import LabelError
from .label_file import read_label_file
from .records import LabelAction, LabelChange, SearchRequest, Suggestion
from .suggestions import MIN_LABELLED, KindModel

if TYPE_CHECKING:
    from .catalog import Catalog
    from .vector_store import VectorStore

SUGGESTED_KINDS = ("defect", "severity", "equipment_type")


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


class SuggestionsMixin:
    """Suggested labels from the nearest labelled photos (see :mod:`~inspector_search.core.suggestions`).
    The per-kind models (labelled vectors + calibration) are cached until labels, photos or the
    projection change."""

    catalog: Catalog
    store: VectorStore

    def _suggestion_models(self) -> dict[str, KindModel]:
        self._load_store()  # type: ignore[attr-defined]  # the key names the projection
        key = (self.labels_generation(), self.catalog.generation, self.store.describe()[0])
        lock = self.__dict__.setdefault("_suggestion_lock", threading.Lock())
        with lock:
            cached = self.__dict__.get("_suggestion_cache")
            if cached is not None and cached[0] == key:
                return cached[1]
            models = {}
            for kind in SUGGESTED_KINDS:
                labelled = label_store.photos_labelled(self.catalog.conn, kind)
                if len(labelled) < MIN_LABELLED:
                    continue
                ids, features = self._stored_features(sorted(labelled))  # type: ignore[attr-defined]
                with self.store.consistent():
                    vectors = self.store.project(features)
                models[kind] = KindModel.fit(kind, labelled, dict(zip(ids, vectors, strict=True)))
            self.__dict__["_suggestion_cache"] = (key, models)
            return models

    def suggest_for_photos(self, image_ids: Sequence[int]) -> dict[int, tuple[Suggestion, ...]]:
        """Suggestions for archive photos, for the kinds each photo has no label of yet (a photo's own
        labels never vote for it). Photos without any suggestion are left out."""
        self._load_store()  # type: ignore[attr-defined]
        models = self._suggestion_models()
        ids, features = self._stored_features([int(i) for i in image_ids])  # type: ignore[attr-defined]
        if not ids or not models:
            return {}
        with self.store.consistent():
            vectors = self.store.project(features)
        have = label_store.labels_of(self.catalog.conn, ids)
        found: dict[int, list[Suggestion]] = {}
        for kind, model in models.items():
            for image_id, shown in zip(ids, model.suggest(vectors, skip_ids=ids), strict=True):
                if shown is not None and not any(label.kind == kind for label in have.get(image_id, ())):
                    found.setdefault(image_id, []).append(Suggestion(image_id, kind, shown[0], shown[1]))
        return {i: tuple(v) for i, v in found.items()}

    def suggest_for_query(self, request: SearchRequest) -> tuple[Suggestion, ...]:
        """Suggestions for a query photo (not in the archive, or not necessarily)."""
        self._load_store()  # type: ignore[attr-defined]
        models = self._suggestion_models()
        if not models:
            return ()
        raw = self.embed_query(request)[:1]  # type: ignore[attr-defined]
        with self.store.consistent():
            vector = self.store.project(raw)
        result = []
        for kind, model in models.items():
            shown = model.suggest(vector)[0]
            if shown is not None:
                result.append(Suggestion(None, kind, shown[0], shown[1]))
        return tuple(result)

    def unlabelled_suggestions(self, kind: str, limit: int = 50) -> list[Suggestion]:
        """The most confident suggestions of one kind for photos without a label of that kind."""
        if kind not in SUGGESTED_KINDS:
            raise LabelError(f"suggestions are made for {', '.join(SUGGESTED_KINDS)}, not {kind!r}")
        unlabelled = [r[0] for r in self.catalog.conn.execute(
            "SELECT i.id FROM images i WHERE i.deleted = 0 AND NOT EXISTS (SELECT 1 FROM labels l "
            "WHERE l.image_id = i.id AND l.kind = ?) ORDER BY i.id", (kind,))]
        found = [s for suggestions in self.suggest_for_photos(unlabelled).values() for s in suggestions
                 if s.kind == kind]
        return sorted(found, key=lambda s: (-s.confidence, s.image_id))[:limit]

    def accept_suggestions(self, accepted: Sequence[Suggestion], *, who: str | None = None) -> LabelChange:
        """Assign suggested labels (of archive photos) as one undoable action."""
        assignments = [(int(s.image_id), s.kind, label_store.clean_value(s.kind, s.value))
                       for s in accepted if s.image_id is not None]
        if not assignments:
            raise LabelError("no suggestion of an archive photo to accept")
        with self.catalog.transaction() as conn:
            return label_store.change_labels(conn, assignments, remove=False, who=who, at=now_iso(),
                                             summary=f"accept {len(assignments)} suggested label(s)")

    def suggestion_status(self) -> dict[str, str]:
        """Per kind of label: whether suggestions are made, and why not."""
        models = self._suggestion_models()
        status = {}
        for kind in SUGGESTED_KINDS:
            count = len(label_store.photos_labelled(self.catalog.conn, kind))
            if kind in models and models[kind].calibration is not None:
                status[kind] = f"suggested (calibrated on {models[kind].calibration.samples} labelled photos)"
            elif count < MIN_LABELLED:
                status[kind] = f"not suggested: {count} labelled photos, needs {MIN_LABELLED}"
            else:
                status[kind] = (f"not suggested: the {count} labelled photos do not yet predict each other "
                                "reliably enough to reach 90 %")
        return status
