"""The fault tries of issue 16, one test each: file names that are not UTF-8, unusable lock files, special
files posing as photos, a JPEG whose header lies, and what kills and damage can leave behind."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inspector_search.core import decode_budget
from inspector_search.core.archive import Archive
from inspector_search.core.decode_budget import DecodeBudget, decoded_bytes

from .harness import PROJECT_ROOT, copy_archive, digests, neu_files, permissions_apply, run_cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names, FIFOs and /dev/zero")

LATIN1_NAME = os.fsencode("caf") + b"\xe9.jpg"  # "café.jpg" written by a Latin-1 machine: not valid UTF-8


def test_a_name_that_is_not_utf8_is_skipped_with_its_reason_and_every_other_photo_commits(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    good = neu_files("crazing", 40)
    for source in good:
        shutil.copy(source, photos / source.name)
    shutil.copy(neu_files("inclusion", 1)[0], os.path.join(os.fsencode(photos), LATIN1_NAME))
    latin_folder = os.path.join(os.fsencode(tmp_path), b"d\xe9p\xf4t")
    os.mkdir(latin_folder)
    shutil.copy(neu_files("patches", 1)[0], os.path.join(latin_folder, b"ok.jpg"))
    archive = tmp_path / "archive"
    for run in range(2):  # the skip must not block anything on a re-run either
        proc = run_cli(archive, "add", str(photos), os.fsdecode(latin_folder), "--json")
        report = json.loads(proc.stdout)
        assert report["added"] == (40 if run == 0 else 0) and report["unchanged"] == (0 if run == 0 else 40)
        reasons = {item["path"]: item["reason"] for item in report["skipped"]}
        assert set(reasons) == {str(photos / "caf\\xe9.jpg"), str(tmp_path / "d\\xe9p\\xf4t" / "ok.jpg")}
        assert all("not valid UTF-8" in reason for reason in reasons.values())
    status = json.loads(run_cli(archive, "status", "--json").stdout)
    assert status["photos"] == 40 and status["index"]["count"] == 40
    assert {item["path"] for item in status["skipped"]} == set(reasons)
    # Named directly on the command line, and as a query: a clear skip, and a search that works.
    named = json.loads(run_cli(archive, "add", os.fsdecode(os.path.join(os.fsencode(photos), LATIN1_NAME)),
                               "--json").stdout)
    assert named["added"] == 0 and "not valid UTF-8" in named["skipped"][0]["reason"]
    query = run_cli(archive, "search", os.fsdecode(os.path.join(os.fsencode(photos), LATIN1_NAME)), "-k", "1",
                    "--json")
    assert json.loads(query.stdout.splitlines()[0])["results"][0]["path"].startswith(str(photos))


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(archive, photos): 12 photos added by the CLI, to copy."""
    root = tmp_path_factory.mktemp("small")
    photos = root / "photos"
    photos.mkdir()
    for source in neu_files("scratches", 12):
        shutil.copy(source, photos / source.name)
    run_cli(root / "archive", "add", str(photos))
    return root / "archive", photos


@pytest.mark.parametrize("kind", ["folder", "read-only"])
def test_an_unusable_lock_file_is_named_in_one_sentence(small_archive: tuple[Path, Path], tmp_path: Path,
                                                        kind: str) -> None:
    template, photos = small_archive
    archive = copy_archive(template, tmp_path / "archive")
    lock = archive / "lock"
    preexec = None
    if kind == "folder":
        lock.mkdir()
        why = "a folder is in its place"
    else:
        lock.write_text("")
        lock.chmod(0o444)
        preexec = permissions_apply()
        why = "not writable by this user"
    before = digests(archive)
    for command in (("add", str(photos)), ("check", "--repair")):
        proc = run_cli(archive, *command, check=False, preexec_fn=preexec)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"inspector-search: error: cannot use the lock file {lock}: ")
        assert why in lines[0]
    check = run_cli(archive, "check", check=False, preexec_fn=preexec)
    assert check.returncode == 1 and "another process is adding photos" not in check.stdout
    assert f"cannot use the lock file {lock}" in check.stdout and why in check.stdout
    assert digests(archive) == before
    searched = run_cli(archive, "search", str(sorted(photos.iterdir())[0]), "-k", "1", preexec_fn=preexec)
    assert str(sorted(photos.iterdir())[0]) in searched.stdout  # readers need no lock


def test_a_symlink_to_dev_zero_and_a_fifo_are_skipped_saying_what_they_are(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in neu_files("inclusion", 3):
        shutil.copy(source, photos / source.name)
    (photos / "endless.jpg").symlink_to("/dev/zero")
    os.mkfifo(photos / "pipe.jpg")
    (photos / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    os.mkfifo(photos / "notes.txt")  # not a photo type: not looked at, like any .txt
    report = json.loads(run_cli(tmp_path / "archive", "add", str(photos), "--json", timeout=120).stdout)
    reasons = {Path(item["path"]).name: item["reason"] for item in report["skipped"]}
    assert reasons == {"endless.jpg": "not a regular file: a symlink to a character device",
                       "pipe.jpg": "not a regular file: a named pipe (FIFO)", "gone.jpg": "broken symlink"}
    assert report["added"] == 3
    named = json.loads(run_cli(tmp_path / "archive", "add", str(photos / "pipe.jpg"), "--json", timeout=120).stdout)
    assert named["skipped"][0]["reason"] == "not a regular file: a named pipe (FIFO)"


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real 200x200 JPEG whose frame header (SOF0) was rewritten to claim ``width`` x ``height``."""
    pixels = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    data = bytearray(out.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_a_jpeg_whose_header_claims_more_than_its_data_holds_is_refused(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "liar.jpg").write_bytes(jpeg_claiming(14000, 14000))
    for progressive in (False, True):  # flat photos compress best; they must still pass, progressive or not
        Image.new("RGB", (4000, 3000), (90, 90, 90)).save(photos / f"flat-{progressive}.jpg", progressive=progressive)
    shutil.copy(neu_files("crazing", 1)[0], photos / "real.jpg")
    report = json.loads(run_cli(tmp_path / "archive", "add", str(photos), "--json").stdout)
    assert report["added"] == 3
    (skipped,) = report["skipped"]
    assert Path(skipped["path"]).name == "liar.jpg"
    assert skipped["reason"].startswith("the header says 14000x14000 pixels but the file holds far too little data")


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_a_lost_catalog_beside_its_index_is_refused_and_never_written(small_archive: tuple[Path, Path],
                                                                      tmp_path: Path, state: str) -> None:
    template, photos = small_archive
    archive = copy_archive(template, tmp_path / "archive")
    catalog = archive / "catalog.sqlite"
    for leftover in archive.glob("catalog.sqlite*"):
        leftover.unlink()
    if state == "empty":
        catalog.write_bytes(b"")
    before = digests(archive)
    for command in (("search", str(sorted(photos.iterdir())[0])), ("status",), ("add", str(photos)),
                    ("check", "--repair")):
        proc = run_cli(archive, *command, check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert (f"{catalog}: the catalog is {state}, but index.hnsw, index.json beside it hold an "
                "index of 12 photos made from it: it was lost. Nothing was written. Restore catalog.sqlite") \
            in proc.stderr, proc.stderr
        assert "(no matches)" not in proc.stdout
    assert digests(archive) == before and catalog.exists() == (state == "empty")


def test_a_catalog_creation_cut_short_leaves_no_backup_and_repair_removes_an_old_one(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    half_made = sqlite3.connect(archive / "catalog.sqlite")  # what a kill before the schema's commit leaves
    half_made.execute("PRAGMA journal_mode = WAL")
    half_made.execute("CREATE TABLE t (x)")
    half_made.execute("DROP TABLE t")
    half_made.close()
    assert (archive / "catalog.sqlite").stat().st_size > 0
    shutil.copy(archive / "catalog.sqlite", archive / "catalog.sqlite.v0.bak")  # left by an earlier version
    kept = archive / "catalog.sqlite.v1.bak"
    real = sqlite3.connect(kept)
    real.execute("CREATE TABLE images (id)")
    real.close()
    found = run_cli(archive, "check", check=False)
    assert "catalog.sqlite.v0.bak: a backup of a catalog whose creation was cut short" in found.stdout
    run_cli(archive, "check", "--repair", check=False)
    assert sorted(p.name for p in archive.glob("*.bak")) == ["catalog.sqlite.v1.bak"]
    assert run_cli(archive, "check").returncode == 0


ADD_AND_DIE = """
import os, sys
from pathlib import Path
from inspector_search.core.archive import Archive
from inspector_search.core.vector_store import ProjectionPolicy
archive = Archive.open(Path(sys.argv[1]), policy=ProjectionPolicy(dim=16, min_photos=1000))
archive.add([Path(sys.argv[2])], metadata=Path(sys.argv[3]))
os._exit(0)  # killed before closing: the committed batches are still in the write-ahead log, not in the file
"""


@pytest.fixture(scope="module")
def wal_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, tuple]]:
    """(archive whose catalog changes are all in its -wal, photos, name -> (tag, site, inspector) as added)."""
    root = tmp_path_factory.mktemp("wal")
    photos = root / "photos"
    photos.mkdir()
    sources = [p for cls in ("crazing", "patches", "scratches") for p in neu_files(cls, 20)]
    lines = ["path,equipment_tag,site,inspector"]
    for n, source in enumerate(sources):
        shutil.copy(source, photos / source.name)
        lines.append(f"{source.name},T-{n % 5},Site{n % 3},Ann")
    (root / "export.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-c", ADD_AND_DIE, str(root / "archive"), str(photos), str(root / "export.csv")],
                   check=True, timeout=300, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert (root / "archive" / "catalog.sqlite-wal").stat().st_size > 100_000
    sound = shutil.copytree(root / "archive", root / "sound")  # opening it checkpoints its log: a copy
    expected = metadata_by_name(sound)
    assert len(set(expected.values())) == 15
    return root / "archive", photos, expected


def metadata_by_name(archive: Path) -> dict[str, tuple]:
    with Archive.open(archive, create=False) as opened:
        rows = opened.catalog.conn.execute("SELECT path, image_id FROM files WHERE deleted = 0").fetchall()
        return {Path(p).name: (r.equipment_tag, r.site, r.inspector) for p, i in rows for r in [opened.photo(i)]}


@pytest.mark.parametrize("fault", ["deleted", "truncated", "garbled"])
def test_a_lost_write_ahead_log_is_noticed_and_the_next_add_restores_photos_and_metadata(
        wal_archive: tuple[Path, Path, dict[str, tuple]], tmp_path: Path, fault: str) -> None:
    template, photos, expected = wal_archive
    archive = tmp_path / "archive"
    shutil.copytree(template, archive)
    wal = archive / "catalog.sqlite-wal"
    (archive / "catalog.sqlite-shm").unlink(missing_ok=True)
    if fault == "deleted":
        wal.unlink()
    elif fault == "truncated":
        os.truncate(wal, wal.stat().st_size * 3 // 4)  # past the first batch's commit, within the second
    else:
        with open(wal, "r+b") as handle:
            handle.seek(wal.stat().st_size * 3 // 4)
            handle.write(b"\x55" * 4096)
    index_before = (archive / "index.hnsw").read_bytes()
    status = json.loads(run_cli(archive, "status", "--json").stdout)
    lost = json.loads((archive / "index.json").read_text())["count"] - status["photos"]
    assert lost > 0
    assert (status["photos"] > 0) == (fault != "deleted")  # truncated and garbled logs keep their first batch
    note = f"the catalog lacks {lost} photos that index.hnsw holds: its last saved changes were lost"
    assert any(message.startswith(note) for message in status["messages"]), status["messages"]
    searched = run_cli(archive, "search", str(photos / sorted(expected)[-1]), "-k", "1")
    assert note in searched.stderr
    repair = run_cli(archive, "check", "--repair", check=False)
    assert repair.returncode == 1 and f"cannot fix:  the catalog lacks {lost} photos that index.hnsw" in repair.stdout
    assert (archive / "index.hnsw").read_bytes() == index_before, "a reader or the repair saved over the evidence"

    report = json.loads(run_cli(archive, "add", str(photos), "--json").stdout)  # no --metadata given
    assert report["added"] == lost
    assert report["notes"][0] == f"the catalog had lost {lost} photos against its index; {lost} added again"
    assert report["notes"][1].startswith(f"metadata taken again from {template.parent / 'export.csv'}")
    assert metadata_by_name(archive) == expected
    after = json.loads(run_cli(archive, "status", "--json").stdout)
    assert after["photos"] == status["photos"] + lost and after["messages"] == []
    assert run_cli(archive, "check").returncode == 0


def test_after_a_lost_log_a_changed_csv_is_named_instead_of_applied(wal_archive: tuple[Path, Path, dict[str, tuple]],
                                                                     tmp_path: Path) -> None:
    template, photos, _ = wal_archive
    archive = tmp_path / "archive"
    shutil.copytree(template, archive)
    (archive / "catalog.sqlite-wal").unlink()
    (archive / "catalog.sqlite-shm").unlink(missing_ok=True)
    table = template.parent / "export.csv"
    original = table.read_bytes()
    try:
        table.write_bytes(original + b"extra.jpg,T-9,Site9,Eve\n")
        report = json.loads(run_cli(archive, "add", str(photos), "--json").stdout)
    finally:
        table.write_bytes(original)
    assert any(f"came from {table}" in note and "has changed since" in note for note in report["notes"])
    assert set(metadata_by_name(archive).values()) == {(None, None, None)}


def test_the_decode_budget_makes_a_big_decode_wait_and_lets_an_oversized_one_run_alone() -> None:
    budget = DecodeBudget(100)
    order: list[str] = []
    small_in = threading.Event()
    release_small = threading.Event()

    def small() -> None:
        with budget.hold(60):
            order.append("small in")
            small_in.set()
            release_small.wait(10)
            order.append("small out")

    def big() -> None:
        small_in.wait(10)
        with budget.hold(500):  # more than the whole budget: waits for the others, then runs alone
            order.append("big in")

    threads = [threading.Thread(target=small), threading.Thread(target=big)]
    for thread in threads:
        thread.start()
    small_in.wait(10)
    threading.Event().wait(0.2)  # give the big decode the chance to (wrongly) start
    assert order == ["small in"]
    release_small.set()
    for thread in threads:
        thread.join(10)
    assert order == ["small in", "small out", "big in"]
    assert budget.peak_holders == 1 and budget.peak_bytes == 100


def test_an_add_with_four_threads_decodes_big_photos_within_the_budget(tmp_path: Path, monkeypatch) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for n in range(4):
        Image.fromarray(rng.integers(0, 255, (1500, 2000, 3), dtype=np.uint8)).save(photos / f"big_{n}.png")
    one = decoded_bytes(2000, 1500, "RGB")
    budget = DecodeBudget(one + one // 2)  # room for one of them at a time, not two
    monkeypatch.setattr(decode_budget, "DECODE_BUDGET", budget)
    with Archive.open(tmp_path / "archive") as archive:
        report = archive.add([photos], workers=4)
    assert report.added == 4 and budget.peak_holders == 1 and budget.peak_bytes == one
