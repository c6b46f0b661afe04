"""Clusters of the archive: visually coherent groups of photos, for archives nobody labelled.

MiniBatchKMeans (scikit-learn) on the searchable vectors (unit length, so Euclidean k-means is
spherical k-means up to a constant), fed in batches so that a 1M-photo archive never needs more than
one copy of its vectors and the job reports progress and can be cancelled between batches. The
result is stored in the catalog in one transaction (``cluster_centres``, ``cluster_members``): a
clustering that is killed or cancelled leaves the previous clusters as they were. Photos added later
are put in the cluster of their nearest centre (:func:`nearest_centres`), until the next run.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass

import numpy as np

from .progress import Progress

CLUSTER_SCHEMA = """
CREATE TABLE cluster_centres (
    cluster INTEGER PRIMARY KEY, centre BLOB NOT NULL);
CREATE TABLE cluster_members (
    image_id INTEGER PRIMARY KEY REFERENCES images(id), cluster INTEGER NOT NULL, similarity REAL NOT NULL);
CREATE INDEX cluster_members_by_cluster ON cluster_members(cluster, similarity);
"""
CLUSTERS_META_KEY = "clusters"
"""Meta value: JSON with k, when, how many photos, and the projection the centres live in."""

BATCH = 4096
EPOCHS = 3
MAX_DEFAULT_K = 100
TYPICAL = 6


def default_k(photos: int) -> int:
    """Clusters for an archive of this size when none is asked for: about sqrt(n / 2), 2 to 100
    (a person can look through 100 groups of typical photos; at 1,800 photos this gives 30)."""
    return max(2, min(MAX_DEFAULT_K, round(math.sqrt(photos / 2))))


@dataclass(frozen=True)
class Clustering:
    """A finished run: unit ``centres`` (k x D), each photo's cluster and its similarity to its centre."""

    centres: np.ndarray
    assignment: np.ndarray
    similarity: np.ndarray


def cluster_vectors(vectors: np.ndarray, k: int, progress: Progress | None = None, seed: int = 0) -> Clustering:
    """Cluster unit rows into ``k`` groups with MiniBatchKMeans, :data:`EPOCHS` passes of shuffled
    batches; raises :class:`~inspector_search.core.errors.Cancelled` between batches when asked."""
    from sklearn.cluster import MiniBatchKMeans  # deferred: scikit-learn takes ~0.5 s to import

    n = len(vectors)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    batch = max(BATCH, 2 * k)  # a first batch smaller than k cannot start the centres
    model = MiniBatchKMeans(n_clusters=k, batch_size=batch, random_state=seed, n_init=1,
                            init_size=min(n, max(3 * k, 3 * batch)))
    batches = max(1, math.ceil(n / batch))
    total = EPOCHS * batches
    done = 0
    for _epoch in range(EPOCHS):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            if progress is not None:
                progress.check()
                progress.report(done, total, "clustering")
            part = vectors[np.sort(order[start:start + batch])]
            if len(part) >= k or hasattr(model, "cluster_centers_"):
                model.partial_fit(part)
            done += 1
    centres = model.cluster_centers_.astype(np.float32)
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    if progress is not None:
        progress.report(total, total, "clustering")
    assignment, similarity = nearest_centres(vectors, centres, progress)
    return Clustering(centres, assignment, similarity)


def nearest_centres(vectors: np.ndarray, centres: np.ndarray,
                    progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centre (cosine) and its similarity, in chunks."""
    assignment = np.zeros(len(vectors), dtype=np.int64)
    similarity = np.zeros(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), 65536):
        if progress is not None:
            progress.check()
        sims = vectors[start:start + 65536] @ centres.T
        assignment[start:start + len(sims)] = sims.argmax(axis=1)
        similarity[start:start + len(sims)] = sims.max(axis=1)
    return assignment, similarity


def store_clustering(conn: sqlite3.Connection, ids: np.ndarray, result: Clustering) -> None:
    """Replace the stored clusters (inside the caller's transaction: all or nothing). Clusters are
    numbered from 1 by decreasing size."""
    sizes = np.bincount(result.assignment, minlength=len(result.centres))
    order = np.argsort(-sizes, kind="stable")
    number = np.empty_like(order)
    number[order] = np.arange(1, len(order) + 1)
    conn.execute("DELETE FROM cluster_members")
    conn.execute("DELETE FROM cluster_centres")
    conn.executemany("INSERT INTO cluster_centres VALUES (?, ?)",
                     ((int(number[c]), result.centres[c].astype(np.float32).tobytes())
                      for c in range(len(result.centres)) if sizes[c]))
    conn.executemany("INSERT INTO cluster_members VALUES (?, ?, ?)",
                     zip(ids.tolist(), number[result.assignment].tolist(), result.similarity.tolist(), strict=True))


def stored_centres(conn: sqlite3.Connection) -> tuple[np.ndarray, np.ndarray]:
    """(cluster numbers, unit centres) of the stored clustering (empty when there is none)."""
    rows = conn.execute("SELECT cluster, centre FROM cluster_centres ORDER BY cluster").fetchall()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    return (np.array([r[0] for r in rows], dtype=np.int64),
            np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows]))


def cluster_sizes(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """(cluster, live photos) by cluster number."""
    return [tuple(r) for r in conn.execute(
        "SELECT m.cluster, COUNT(*) FROM cluster_members m JOIN images i ON i.id = m.image_id AND i.deleted = 0 "
        "GROUP BY m.cluster ORDER BY m.cluster")]


def typical_members(conn: sqlite3.Connection, cluster: int, count: int = TYPICAL) -> list[int]:
    """The live photos of a cluster nearest its centre, most typical first."""
    return [r[0] for r in conn.execute(
        "SELECT m.image_id FROM cluster_members m JOIN images i ON i.id = m.image_id AND i.deleted = 0 "
        "WHERE m.cluster = ? ORDER BY m.similarity DESC, m.image_id LIMIT ?", (cluster, count))]


def members(conn: sqlite3.Connection, cluster: int) -> list[int]:
    """Every live photo of a cluster, by id."""
    return [r[0] for r in conn.execute(
        "SELECT m.image_id FROM cluster_members m JOIN images i ON i.id = m.image_id AND i.deleted = 0 "
        "WHERE m.cluster = ? ORDER BY m.image_id", (cluster,))]
