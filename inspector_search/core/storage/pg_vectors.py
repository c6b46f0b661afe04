"""The shared archive's PCA projection and vectors: fitted on the server's stored features, by the
same policy as the local archive (first fit at 200 photos, refit when the archive has doubled, up to
50,000 photos; ``reindex`` any time), and authoritative: every client projects with it.

Why server-side: laptops and the server must put query and archive vectors through one projection
for the HNSW search to mean anything. Laptops keep the *raw* features of what they pull and fit their
own local projection on them (as an offline archive always did), so a laptop search and a server
search agree up to their PCA fits; the features, the exchange currency, are the same model's.
"""

from __future__ import annotations

import numpy as np

from ..progress import Progress
from ..projection import MAX_FIT_SAMPLES, Projection
from ..vector_store import ProjectionPolicy
from .pg_connect import translated
from .pg_store import REFIT_LOCK, PgStore, projection_to_bytes


def refit_due(store: PgStore, policy: ProjectionPolicy) -> bool:
    """Whether the policy wants the server's projection (re)fitted now."""
    count, fitted = store.features_count(), store.fitted_on()
    if count <= store.vector_dim or count < policy.min_photos:  # PCA needs more photos than dimensions
        return False
    return fitted == 0 or (count >= policy.growth * fitted and fitted < policy.refit_until)


def maybe_refit(store: PgStore, policy: ProjectionPolicy, force: bool = False,
                progress: Progress | None = None) -> bool:
    """Fit a new projection on (a sample of) the stored features and rewrite every vector with it, in one
    transaction holding the refit lock (writers of vectors wait); True if it refitted."""
    if not (refit_due(store, policy) or (force and store.features_count() > store.vector_dim)):
        return False
    if progress is not None:
        progress.report(0, 1, "fitting PCA")
    features = np.concatenate([f for _ids, f in store.iter_features(sample=MAX_FIT_SAMPLES)])
    projection = Projection.fit(features, dim=store.vector_dim, power=policy.power)
    conn = store.conn()
    with translated(store.url, "refit the projection"), conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (REFIT_LOCK,))
        conn.execute("INSERT INTO projections (id, dim, fitted_on, data) VALUES (%s, %s, %s, %s) "
                     "ON CONFLICT (id) DO NOTHING",
                     (projection.projection_id, projection.out_dim, int(projection.n_fit),
                      projection_to_bytes(projection)))
        conn.execute("UPDATE projections SET active = false WHERE active")
        conn.execute("UPDATE projections SET active = true WHERE id = %s", (projection.projection_id,))
        conn.execute("DELETE FROM vectors")
        write_vectors(store, projection, progress)
    return True


def write_vectors(store: PgStore, projection: Projection, progress: Progress | None = None) -> int:
    """COPY every live photo's projected vector into ``vectors`` (inside the caller's transaction)."""
    conn = store.conn()
    done = 0
    total = store.features_count()
    for ids, features in store.iter_features():
        vectors = projection.transform(features)
        with conn.cursor().copy("COPY vectors (photo_id, projection_id, embedding) FROM STDIN "
                                "WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "text", "vector"])
            for photo_id, vector in zip(ids.tolist(), vectors, strict=True):
                copy.write_row([photo_id, projection.projection_id, vector])
        done += len(ids)
        if progress is not None:
            progress.report(done, total, "writing vectors")
    return done
