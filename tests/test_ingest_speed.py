"""The add pipeline's speed measures keep its results: batches skipped before a refit, BLAS on one
thread. Real photos, the real model, real SQLite files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import plant_folder

from inspector_search.core import ingest
from inspector_search.core.archive import Archive
from inspector_search.core.records import SearchRequest
from inspector_search.core.vector_store import ProjectionPolicy, VectorStore

SMALL_PCA = ProjectionPolicy(dim=16, min_photos=12)


def count_store_adds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record how many photos each VectorStore.add call indexes (the real method still runs)."""
    calls: list[int] = []
    real_add = VectorStore.add

    def add(self: VectorStore, ids: np.ndarray, features: np.ndarray) -> None:
        calls.append(len(ids))
        real_add(self, ids, features)

    monkeypatch.setattr(VectorStore, "add", add)
    return calls


def test_add_that_ends_in_a_refit_indexes_once_at_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = plant_folder(tmp_path / "photos")
    calls = count_store_adds(monkeypatch)
    with Archive.open(tmp_path / "archive", policy=SMALL_PCA) as archive:
        report = archive.add([photos])
        status = archive.status()
        query = next(photos.rglob("*.jpg"))
        hits = archive.search(SearchRequest(image=query, top_k=3))
    assert report.added == 18 and calls == []  # no batch went into the index the refit threw away
    assert status.indexed == 18 and status.vector_dim == 16 and status.index_state == "up to date"
    assert hits[0].photo.path == query


def test_add_without_a_refit_indexes_batch_by_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = plant_folder(tmp_path / "photos")
    first, second = tmp_path / "first", tmp_path / "second"
    for n, path in enumerate(sorted(photos.rglob("*.jpg"))):
        target = (first if n < 14 else second) / path.relative_to(photos)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    with Archive.open(tmp_path / "archive", policy=SMALL_PCA) as archive:
        archive.add([first])  # 14 photos: PCA fitted on 14; 18 < 2 x 14, so the next add refits nothing
        calls = count_store_adds(monkeypatch)
        report = archive.add([second])
        status = archive.status()
    assert report.added == 4 and calls == [4]
    assert status.indexed == 18 and status.index_state == "up to date"


def test_blas_runs_on_one_thread_during_the_batches() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with ingest._single_threaded_blas():
        blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)
