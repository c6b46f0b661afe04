"""Disk trouble: a read-only archive folder (permissions, and a read-only mount) and a full disk (a
real small tmpfs, and injected ENOSPC/SQLITE_FULL): a clear error, then a consistent, usable archive."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from inspector_search.core import vector_index
from inspector_search.core.archive import Archive
from inspector_search.core.errors import CatalogError, IndexFileError
from inspector_search.core.records import SearchRequest

from .harness import bind_mount, digests, kill_loop, neu_photos, permissions_apply, resize_tmpfs, run_cli, tmpfs


def refused_everything(archive: Path, photos: Path, preexec=None) -> None:
    """status, search and add each fail with one clear line naming the read-only folder."""
    query = str(sorted(photos.rglob("*.jpg"))[0])
    for args in (("status",), ("search", query), ("add", str(photos))):
        proc = run_cli(archive, *args, check=False, preexec_fn=preexec)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert f"the archive folder {archive} is read-only" in proc.stderr, proc.stderr


def test_read_only_archive_folder_by_permissions(archive_copy: Path, photos: Path) -> None:
    as_user = permissions_apply()
    before = digests(archive_copy)
    for path in [archive_copy, *archive_copy.iterdir()]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        refused_everything(archive_copy, photos, as_user)
    finally:
        for path in [archive_copy, *archive_copy.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert digests(archive_copy) == before
    assert "OK:" in run_cli(archive_copy, "check").stdout


def test_read_only_mount(archive_copy: Path, photos: Path, tmp_path: Path) -> None:
    before = digests(archive_copy)
    with bind_mount(archive_copy, tmp_path / "ro", read_only=True) as mounted:
        refused_everything(mounted, photos)
    assert digests(archive_copy) == before
    assert "OK:" in run_cli(archive_copy, "check").stdout


@pytest.mark.parametrize("size", ["300k", "1000k"], ids=["catalog-fills-it", "index-fills-it"])
def test_disk_full_on_a_real_small_file_system(tmp_path: Path, size: str) -> None:
    photos = neu_photos(60, tmp_path / "photos")
    with tmpfs(tmp_path / "small", size) as small:
        archive = small / "archive"
        full = run_cli(archive, "add", str(photos), check=False)
        assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr
        assert any(says in full.stderr for says in ("disk is full", "No space left on device", "is the disk full?"))
        assert "is kept" in full.stderr or "rebuilt from it" in full.stderr
        resize_tmpfs(small, "40m")  # space freed
        again = run_cli(archive, "add", str(photos), "--json")
        assert '"added": 0' not in again.stdout or size == "1000k"  # the rest was added now
        assert kill_loop().verify(archive, photos) == []


def test_injected_enospc_while_saving_the_index(archive_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    photos = neu_photos(24, tmp_path / "photos")

    def no_space(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(vector_index, "atomic_write", no_space)
    with Archive.open(archive_dir) as archive:
        with pytest.raises(IndexFileError, match="No space left on device") as failed:
            archive.add([photos])
        assert failed.value.path == archive_dir / "index.hnsw"
    monkeypatch.undo()
    assert not list(archive_dir.glob(".*.tmp"))
    with Archive.open(archive_dir) as archive:  # the catalog has everything; the index is rebuilt from it
        query = sorted(photos.rglob("*.jpg"))[5]
        assert archive.search(SearchRequest(image=query, top_k=1))[0].photo.path == query
        assert archive.status().indexed == 24
        assert archive.check().ok
    assert kill_loop().verify(archive_dir, photos) == []


def test_injected_sqlite_full_during_add(archive_dir: Path, tmp_path: Path) -> None:
    photos = neu_photos(80, tmp_path / "photos")
    with Archive.open(archive_dir) as archive:
        archive.add([sorted(photos.iterdir())[0]])  # one class folder first
        pages = archive.catalog.conn.execute("PRAGMA page_count").fetchone()[0]
        archive.catalog.conn.execute(f"PRAGMA max_page_count = {pages + 40}")  # this writer's connection
        with pytest.raises(CatalogError, match="database or disk is full") as failed:
            archive.add([photos])
        assert "everything saved before it is kept" in str(failed.value)
        kept = archive.status().photos
        assert 14 <= kept < 80
        archive.catalog.conn.execute("PRAGMA max_page_count = 1073741823")
        report = archive.add([photos])
        assert report.added + kept == archive.status().photos == 79  # 80 files, two of them identical
        assert archive.check().ok
    assert kill_loop().verify(archive_dir, photos) == []


def test_opening_on_a_full_disk_says_so_and_works_once_space_is_freed(tmp_path: Path, archive_copy: Path,
                                                                      photos: Path) -> None:
    """SQLite must create its shared-memory file to read a WAL catalog: on a full disk that fails."""
    with tmpfs(tmp_path / "small", "4m") as small:
        shutil.copytree(archive_copy, small / "archive")
        filler = small / "filler"
        with open(filler, "wb", buffering=0) as handle, pytest.raises(OSError):
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        before = digests(small / "archive")
        query = sorted(photos.rglob("*.jpg"))[3]
        full = run_cli(small / "archive", "search", str(query), "-k", "1", check=False)
        assert full.returncode == 1 and "Traceback" not in full.stderr
        assert "cannot open the catalog: the disk is full" in full.stderr and "free some space" in full.stderr
        after = digests(small / "archive")
        assert {name: after[name] for name in before} == before
        filler.unlink()
        out = run_cli(small / "archive", "search", str(query), "-k", "1", "--json").stdout
        assert f'"path": "{query}"' in out
