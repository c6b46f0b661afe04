"""``inspector-search check [--repair]``: verifies that catalog, photo files, PCA, index and thumbnails
agree; repairs what can be rebuilt and reports what cannot."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from inspector_search.core.archive import Archive
from inspector_search.core.catalog import SCHEMA_VERSION
from inspector_search.core.errors import ArchiveBusyError
from inspector_search.core.locking import WriterLock

from .harness import run_cli


def features_of(archive: Path, ids: list[int]) -> np.ndarray:
    conn = sqlite3.connect(archive / "catalog.sqlite")
    blobs = [conn.execute("SELECT vector FROM features WHERE image_id = ?", (i,)).fetchone()[0] for i in ids]
    conn.close()
    return np.stack([np.frombuffer(b, dtype=np.float16).astype(np.float32) for b in blobs])


def test_check_of_a_sound_archive_says_ok(archive_copy: Path) -> None:
    proc = run_cli(archive_copy, "check")
    assert "OK: catalog, photo files, projection, index and thumbnails agree" in proc.stdout
    assert f"catalog: intact (schema {SCHEMA_VERSION}); 30 photos, 30 files" in proc.stdout
    assert "PCA 1280->16" in proc.stdout and "index: 30 vectors for 30 live photos" in proc.stdout


def test_check_finds_problems_and_repair_rebuilds_them(archive_copy: Path) -> None:
    lost = [3, 11, 20]
    original = features_of(archive_copy, lost)
    conn = sqlite3.connect(archive_copy / "catalog.sqlite")
    conn.executemany("DELETE FROM features WHERE image_id = ?", [(i,) for i in lost])
    conn.execute("UPDATE images SET deleted = 1 WHERE id = 5")  # its file is still there
    conn.commit()
    conn.close()
    (archive_copy / "index.hnsw").write_bytes(b"\0" * 1000)
    leftover = archive_copy / ".projection.npz.0123456789ab.tmp"
    leftover.write_bytes(b"half a projection")
    os.utime(leftover, (time.time() - 3600, time.time() - 3600))

    found = run_cli(archive_copy, "check", check=False)
    assert found.returncode == 1 and "run `inspector-search check --repair`" in found.stdout
    problems = [line for line in found.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 4, found.stdout
    for phrase in ("marked deleted although a file", "3 photo(s) have no features", "index.hnsw is damaged",
                   "temporary file(s) left by interrupted writes"):
        assert phrase in found.stdout

    repaired = json.loads(run_cli(archive_copy, "check", "--repair", "--json").stdout)
    assert repaired["ok"] and repaired["problems"] == [] and repaired["unrepairable"] == []
    assert any("embedded 3 again from their files" in r for r in repaired["repaired"])
    assert not leftover.exists()
    again = np.sum(features_of(archive_copy, lost) * original, axis=1)
    assert np.all(again > 0.999)  # the same photos give the same features
    assert "OK:" in run_cli(archive_copy, "check").stdout


def test_what_check_cannot_repair_is_reported(archive_copy: Path, photos: Path, tmp_path: Path) -> None:
    moved = tmp_path / "photos"
    shutil.copytree(photos, moved)  # the archive now names files in a folder we can change
    conn = sqlite3.connect(archive_copy / "catalog.sqlite")
    conn.execute("UPDATE files SET path = replace(path, ?, ?)", (str(photos), str(moved)))
    conn.commit()
    conn.close()
    gone = sorted(moved.rglob("*.jpg"))[0]
    gone.unlink()
    with Archive.open(archive_copy) as archive:
        report = archive.check(repair=True)
    assert not report.ok and report.problems == ()
    assert len(report.unrepairable) == 1 and "1 photo file(s) recorded in the catalog are not on disk" in \
        report.unrepairable[0] and str(gone) in report.unrepairable[0]
    assert any("photo files: 29 of 30 found" in line for line in report.checked)


def test_sql_index_corruption_is_repaired_with_reindex(archive_copy: Path) -> None:
    """A real index b-tree that no longer matches its table (quick_check at open does not look)."""
    path = archive_copy / "catalog.sqlite"
    for sql in ("CREATE INDEX files_image ON files(size)", None, "CREATE INDEX files_image ON files(image_id)"):
        conn = sqlite3.connect(path, isolation_level=None)
        if sql is None:
            conn.execute("REINDEX files_image")  # the b-tree now holds sizes...
        else:
            conn.execute("PRAGMA writable_schema = ON")
            conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'files_image'", (sql,))
        conn.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok"  # ...but says image ids
    conn.close()
    with Archive.open(archive_copy) as archive:
        assert any("SQL indexes disagree" in p for p in archive.check().problems)
        report = archive.check(repair=True)
        assert report.ok and "REINDEX" in report.repaired[0]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_repair_waits_for_no_writer_and_plain_check_notes_one(archive_copy: Path) -> None:
    with WriterLock(archive_copy / "lock"):
        busy = run_cli(archive_copy, "check", "--repair", check=False)
        assert busy.returncode == 1 and f"(pid {os.getpid()}) is writing to {archive_copy}" in busy.stderr
        with Archive.open(archive_copy) as archive:
            with pytest.raises(ArchiveBusyError):
                archive.check(repair=True)
            report = archive.check()
    assert report.ok and any("another process is adding photos" in line for line in report.checked)
