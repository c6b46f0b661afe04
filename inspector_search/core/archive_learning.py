"""The learned ranking part of the archive façade (mixed into :class:`~inspector_search.core.archive.Archive`):
once photos carry defect labels, a map learned from them re-ranks every search's best matches (see
:mod:`~inspector_search.core.learned_ranking`). Unlabelled archives rank as before."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from typing import TYPE_CHECKING

import numpy as np

from . import labels as label_store
from .errors import InspectorSearchError
from .learned_ranking import RERANK_CANDIDATES, LearnedMap, fit_learned_map
from .query_expansion import expanded_queries, pinned_order, refined_first

if TYPE_CHECKING:
    from .catalog import Catalog
    from .vector_store import VectorStore

LEARNED_KIND = "defect"
LEARNED_META_KEY = "learned_map"
"""Meta value: the fitted map (or that none helps) with the labels generation and projection it is for."""


class LearningMixin:
    """Fit (cached) and apply the learned map."""

    catalog: Catalog
    store: VectorStore

    def learned_map(self) -> LearnedMap | None:
        """The map learned from the defect labels, refitted when labels or the projection change;
        ``None`` when the labels are too few or cross-validation found that they do not help."""
        self._load_store()  # type: ignore[attr-defined]  # the key names the projection
        key = (self.labels_generation(), self.store.describe()[0])  # type: ignore[attr-defined]
        lock = self.__dict__.setdefault("_learned_lock", threading.Lock())
        with lock:
            cached = self.__dict__.get("_learned_cache")
            if cached is not None and cached[0] == key:
                return cached[1]
            stored = self._stored_map(key)
            if stored is not None:
                self.__dict__["_learned_cache"] = (key, stored[0])
                return stored[0]
            labelled = label_store.photos_labelled(self.catalog.conn, LEARNED_KIND)
            fitted = None
            if len(labelled) >= 6:
                ids, features = self._stored_features(sorted(labelled))  # type: ignore[attr-defined]
                with self.store.consistent():
                    vectors = self.store.project(features)
                names = sorted(set(labelled.values()))
                classes = np.array([names.index(labelled[i]) for i in ids], dtype=np.int64)
                fitted = fit_learned_map(vectors, classes)
            self.__dict__["_learned_cache"] = (key, fitted)
            self._store_map(key, fitted)
            return fitted

    def _stored_map(self, key: tuple) -> tuple[LearnedMap | None] | None:
        """The map stored in the catalog by an earlier fit for the same labels and projection (so a
        CLI search does not fit again in every process); ``None`` when there is none for this key."""
        text = self.catalog.get_meta(LEARNED_META_KEY)
        if not text:
            return None
        with contextlib.suppress(ValueError, KeyError, TypeError):
            data = json.loads(text)
            if data["key"] != [key[0], key[1]]:
                return None
            if data["weight"] is None:
                return (None,)
            dim = int(data["dim"])
            matrix = np.frombuffer(base64.b64decode(data["matrix"]), dtype=np.float32).reshape(dim, dim).copy()
            return (LearnedMap(matrix, float(data["weight"]), int(data["photos"]), int(data["classes"]), {}),)
        return None

    def _store_map(self, key: tuple, fitted: LearnedMap | None) -> None:
        data: dict[str, object] = {"key": [key[0], key[1]], "weight": None}
        if fitted is not None:
            data.update(weight=fitted.weight, photos=fitted.photos, classes=fitted.classes, dim=fitted.matrix.shape[0],
                        matrix=base64.b64encode(fitted.matrix.astype(np.float32).tobytes()).decode("ascii"))
        with contextlib.suppress(InspectorSearchError), self.catalog.transaction() as conn:  # read-only: fit again
            self.catalog.set_meta(conn, LEARNED_META_KEY, json.dumps(data))

    def learned_ranking_status(self) -> str:
        """One line for people: whether searches use a learned ranking, and from what."""
        fitted = self.learned_map()
        if fitted is None:
            return "off (too few defect labels, or they did not improve ranking among the labelled photos)"
        return (f"on: learned from {fitted.photos} photos with defect labels in {fitted.classes} classes "
                f"(stretch {fitted.weight:g})")

    @staticmethod
    def rerank_candidates(k: int) -> int:
        """How many index matches a search re-ranks with the learned map."""
        return max(RERANK_CANDIDATES, 20 * k)

    def _learned_order(self, fitted: LearnedMap, raw: np.ndarray, vectors: np.ndarray, candidates: list[int],
                       expansion: int) -> list[int]:
        """The candidates ordered as the app ranks, in the learned space: by the mapped query
        expanded with its ``expansion`` best mapped candidates, the best raw-feature match among
        those first. Call inside ``store.consistent()``."""
        ids, features = self._stored_features(candidates)  # type: ignore[attr-defined]
        if not ids:
            return candidates
        mapped = fitted.apply(self.store.project(features))
        queries = fitted.apply(vectors)
        sims = mapped @ queries.T
        turn = int(np.argmax(sims.max(axis=0)))
        scores = sims[:, turn]
        if expansion:
            top = np.argsort(-scores, kind="stable")[:expansion]
            query = expanded_queries(queries[turn:turn + 1], mapped[top][None], scores[top][None])
            scores = (mapped @ query.T)[:, 0]
            first = ids[int(top[refined_first(raw, features[top])])]
        order = [ids[i] for i in np.argsort(-scores, kind="stable")]
        return pinned_order(first, order) if expansion else order
