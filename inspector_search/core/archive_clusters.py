"""The clusters part of the archive façade (mixed into :class:`~inspector_search.core.archive.Archive`);
see :mod:`~inspector_search.core.clustering`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from . import clustering
from .catalog import now_iso
from .errors import QueryError
from .photo_map import layout_2d
from .progress import Progress
from .records import ClusterReport, ClusterSummary

if TYPE_CHECKING:
    from .catalog import Catalog
    from .vector_store import VectorStore


class ClustersMixin:
    """Compute, read and extend the archive's clusters."""

    catalog: Catalog
    store: VectorStore

    def compute_clusters(self, k: int | None = None, progress: Progress | None = None) -> ClusterReport:
        """Cluster every indexed photo (``k`` clusters, by default :func:`~clustering.default_k`) and
        store the result, replacing the previous clusters only when the run finishes."""
        self._load_store()  # type: ignore[attr-defined]
        ids, vectors = self.vectors()  # type: ignore[attr-defined]
        if len(ids) < 2:
            raise QueryError("the archive needs at least 2 indexed photos to be clustered")
        if k is not None and k < 2:
            raise QueryError(f"clusters: k must be at least 2, got {k}")
        k = min(k or clustering.default_k(len(ids)), len(ids))
        result = clustering.cluster_vectors(vectors, k, progress)
        meta = {"k": int(len(result.centres)), "at": now_iso(), "photos": int(len(ids)),
                "projection": self.store.describe()[0]}
        with self.catalog.transaction() as conn:
            clustering.store_clustering(conn, ids, result)
            self.catalog.set_meta(conn, clustering.CLUSTERS_META_KEY, json.dumps(meta))
        return self.clusters()

    def clusters(self, typical: int = clustering.TYPICAL) -> ClusterReport:
        """The stored clusters, largest first, each with its most typical photos; photos added since
        the run are first put in their nearest cluster. An archive never clustered has none (k = 0)."""
        meta = json.loads(self.catalog.get_meta(clustering.CLUSTERS_META_KEY) or "{}")
        stale = self._assign_new_photos(meta)
        conn = self.catalog.conn
        summaries = []
        for cluster, size in clustering.cluster_sizes(conn):
            ids = clustering.typical_members(conn, cluster, typical)
            photos = self.photos(ids)  # type: ignore[attr-defined]
            labels = tuple(tuple(r) for r in conn.execute(
                "SELECT l.kind, l.value, COUNT(*) FROM cluster_members m JOIN labels l ON l.image_id = m.image_id "
                "JOIN images i ON i.id = m.image_id AND i.deleted = 0 WHERE m.cluster = ? "
                "GROUP BY l.kind, l.value ORDER BY COUNT(*) DESC, l.kind, l.value LIMIT 5", (cluster,)))
            summaries.append(ClusterSummary(cluster, size, tuple(photos), labels))
        summaries.sort(key=lambda s: (-s.size, s.cluster))
        return ClusterReport(int(meta.get("k", 0)), sum(s.size for s in summaries), meta.get("at"), stale,
                             tuple(summaries))

    def cluster_photos(self, cluster: int) -> list[int]:
        """Ids of every live photo of a cluster (to label or search with them)."""
        self._assign_new_photos(json.loads(self.catalog.get_meta(clustering.CLUSTERS_META_KEY) or "{}"))
        found = clustering.members(self.catalog.conn, cluster)
        if not found:
            raise QueryError(f"no cluster {cluster} in this archive (run `inspector-search clusters` first)")
        return found

    def photo_map(self, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(photo ids, (N, 2) positions in the unit square): the archive laid out so that look-alike
        photos lie close together (see :mod:`~inspector_search.core.photo_map`), cached until photos
        or the projection change."""
        self._load_store()  # type: ignore[attr-defined]
        key = (self.catalog.generation, self.store.describe()[0])
        cached = self.__dict__.get("_map_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        ids, vectors = self.vectors()  # type: ignore[attr-defined]
        result = (ids, layout_2d(vectors, progress=progress))
        self.__dict__["_map_cache"] = (key, result)
        return result

    def assign_new_photos_to_clusters(self) -> bool:
        """Put photos added since the clustering in their nearest cluster (``add`` does it); True
        when the clusters are stale (the projection changed: re-run the clustering)."""
        return self._assign_new_photos(json.loads(self.catalog.get_meta(clustering.CLUSTERS_META_KEY) or "{}"))

    def _assign_new_photos(self, meta: dict) -> bool:
        """Put photos added since the run in their nearest cluster; True (and nothing assigned) when
        the projection changed since the run, so the stored centres no longer fit."""
        if not meta:
            return False
        self._load_store()  # type: ignore[attr-defined]
        if meta.get("projection") != self.store.describe()[0]:
            return True
        new = [r[0] for r in self.catalog.conn.execute(
            "SELECT i.id FROM images i WHERE i.deleted = 0 AND NOT EXISTS "
            "(SELECT 1 FROM cluster_members m WHERE m.image_id = i.id)")]
        numbers, centres = clustering.stored_centres(self.catalog.conn)
        ids, features = self._stored_features(new)  # type: ignore[attr-defined]
        if not ids or not len(centres):
            return False
        with self.store.consistent():
            vectors = self.store.project(features)
        nearest, similarity = clustering.nearest_centres(vectors, centres)
        with self.catalog.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO cluster_members VALUES (?, ?, ?)",
                             zip(ids, numbers[nearest].tolist(), similarity.tolist(), strict=True))
        return False
