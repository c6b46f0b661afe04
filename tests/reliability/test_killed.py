"""Killed mid-work: ``add`` and ``reindex`` killed with SIGKILL at random points; the next run finishes
the job, every photo is in the catalog exactly once, and index, PCA and catalog agree. CI runs three
seeds; ``benchmarks/kill_loop.py`` runs the same loop for as many seeds as wanted."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from inspector_search.core import vector_store
from inspector_search.core.archive import Archive
from inspector_search.core.records import SearchRequest

from .harness import SMALL_PCA, kill_loop, neu_photos


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="sends SIGKILL")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_add_killed_at_random_points_loses_and_duplicates_nothing(seed: int, tmp_path: Path) -> None:
    neu_photos(1, tmp_path / "probe")  # skips without the dataset
    result = kill_loop().run_seed(seed, tmp_path, photo_count=100, kills=3)
    assert result.violations == [], f"seed {seed}, kills {result.kills}: {result.violations}"
    assert result.final_report["added"] + result.final_report["unchanged"] + result.final_report["copies"] \
        + result.final_report["moved"] == 100


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs (not even ``except Exception``)."""


def test_crash_between_the_projection_and_the_index_save(archive_dir: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """add fits the PCA at its end (saved), then dies before the index is saved: the old index on
    disk names another projection, so it is rebuilt, never used with the new one."""
    photos = neu_photos(30, tmp_path / "photos")
    with Archive.open(archive_dir, policy=SMALL_PCA) as archive:
        archive.add([sorted(photos.iterdir())[0]])  # 5 photos: too few for PCA, index saved
        assert not (archive_dir / "projection.npz").exists()

        def crash(*_args: object) -> None:
            raise Crash

        monkeypatch.setattr(vector_store.VectorIndex, "save", crash)
        with pytest.raises(Crash):
            archive.add([photos])  # 30 photos: PCA is fitted and saved, then the "crash"
    monkeypatch.undo()
    assert (archive_dir / "projection.npz").exists()
    with Archive.open(archive_dir, policy=SMALL_PCA) as archive:
        query = sorted(photos.rglob("*.jpg"))[11]
        assert archive.search(SearchRequest(image=query, top_k=1))[0].photo.path == query
        status = archive.status()
        assert (status.photos, status.indexed) == (30, 30) and "PCA 1280->16" in status.projection
        assert any("does not match the projection" in m for m in status.messages)
    assert kill_loop().verify(archive_dir, photos) == []


def test_leftover_temporary_files_are_never_loaded_and_are_swept(archive_copy: Path, photos: Path) -> None:
    fresh = archive_copy / ".index.hnsw.0123456789ab.tmp"
    old = archive_copy / ".projection.npz.abcdef012345.tmp"
    for leftover in (fresh, old):
        leftover.write_bytes(os.urandom(5000))
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    with Archive.open(archive_copy) as archive:
        query = sorted(photos.rglob("*.jpg"))[0]
        assert archive.search(SearchRequest(image=query, top_k=1))[0].photo.path == query
        status = archive.status()
        assert status.messages == () and status.indexed == 30  # loaded the real files, silently
        report = archive.check()
        assert [p for p in report.problems if "temporary" in p] == [
            "1 temporary file(s) left by interrupted writes (4 KB; never loaded)"]  # a fresh one may be in use
        archive.add([photos])  # the writer sweeps old leftovers
    assert fresh.exists() and not old.exists()
