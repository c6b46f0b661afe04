"""Laptops that sync with a shared archive on a real PostgreSQL: push, pull, limits, the conflict rule
and its audit trail, and faults (client killed mid-sync, server killed, newer schema, no network)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import psycopg
import pytest
from conftest import NEU_CLASSES, PROJECT_ROOT, plant_folder

from inspector_search.core.archive import Archive, add_shared_user, init_shared_archive, link_archive, sync_archive
from inspector_search.core.errors import SharedArchiveError
from inspector_search.core.records import SearchFilter, SearchRequest
from inspector_search.core.storage.pg_schema import SCHEMA_VERSION
from inspector_search.core.sync import SHARED_DIR, sync_status

from .test_server_init import as_user

LAYOUT = "{site}/{equipment}/{date}"
PER_CLASS = 4


def laptop(root: Path, name: str, classes: tuple[str, ...]) -> Archive:
    photos = plant_folder(root / f"{name}-photos", per_class=PER_CLASS, classes=classes)
    archive = Archive.open(root / f"{name}-archive")
    archive.add([photos], layout=LAYOUT)
    return archive


def server_hashes(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT content_hash FROM photos WHERE NOT deleted")]


def local_hashes(archive: Archive) -> list[str]:
    return [r[0] for r in archive.catalog.conn.execute("SELECT content_hash FROM images WHERE deleted = 0")]


@pytest.fixture
def plant_server(shared_url: str) -> str:
    for name, role in (("alice", "contributor"), ("bob", "contributor"), ("carol", "reader")):
        add_shared_user(shared_url, name, role, password=f"{name}-pw")
    return shared_url


def test_two_laptops_exchange_their_photos_once(plant_server: str, tmp_path: Path) -> None:
    a = laptop(tmp_path, "a", NEU_CLASSES[:3])
    b = laptop(tmp_path, "b", NEU_CLASSES[3:])
    link_archive(a, as_user(plant_server, "alice"))
    link_archive(b, as_user(plant_server, "bob"))
    first = sync_archive(a)
    assert (first.pushed, first.pulled) == (12, 0) and first.bytes_pushed > 12 * 2560
    second = sync_archive(b)
    assert (second.pushed, second.pulled) == (12, 12)
    third = sync_archive(a)
    assert (third.pushed, third.pulled) == (0, 12)
    assert sorted(local_hashes(a)) == sorted(local_hashes(b)) == sorted(server_hashes(plant_server))
    assert len(set(server_hashes(plant_server))) == 24
    again = sync_archive(b)
    assert (again.pushed, again.pulled, again.updated, again.already_on_server) == (0, 0, 0, 0)

    # a pulled photo is an ordinary local photo: searchable offline, with metadata, its file the display copy
    query = sorted((tmp_path / "b-photos").rglob("*.jpg"))[0]
    hit = a.search(SearchRequest(image=query, top_k=1))[0]
    assert hit.photo.path.parent.parent.name == SHARED_DIR and hit.photo.path.is_relative_to(a.folder)
    assert hit.score > 0.95 and hit.photo.site == query.parents[2].name and hit.photo.equipment_tag == "P-101"
    assert a.thumbnail(hit.photo.image_id).exists()
    with psycopg.connect(plant_server) as conn:  # keypoints made once by the pusher, stored with the copy
        server_keypoints = conn.execute("SELECT m.keypoints FROM media m JOIN photos p ON p.id = m.photo_id "
                                        "WHERE p.content_hash = (SELECT content_hash FROM photos WHERE added_by = "
                                        "'bob' ORDER BY id LIMIT 1)").fetchone()[0]
    pulled_id = a.catalog.conn.execute("SELECT id FROM images WHERE content_hash = (SELECT content_hash FROM "
                                       "images ORDER BY id DESC LIMIT 1)").fetchone()[0]
    assert server_keypoints and len(a.catalog.local_features([pulled_id])) == 1
    with psycopg.connect(plant_server) as conn:
        added_by = dict(conn.execute("SELECT added_by, count(*) FROM photos GROUP BY added_by").fetchall())
    assert added_by == {"alice": 12, "bob": 12}
    status = sync_status(a)
    assert (status.pending, status.pushed, status.pulled) == (0, 12, 12) and status.last_sync


def test_pull_limits_by_site_and_size_budget(plant_server: str, tmp_path: Path) -> None:
    a = laptop(tmp_path, "a", NEU_CLASSES[:4])
    link_archive(a, as_user(plant_server, "alice"))
    sync_archive(a)
    reader = Archive.open(tmp_path / "carol-archive")
    link_archive(reader, as_user(plant_server, "carol"))
    north = sync_archive(reader, sites=["North"])
    assert north.pulled == 8 and {p.site for p in reader.listing()} == {"North"}
    with psycopg.connect(plant_server) as conn:  # room for exactly the first three South photos, in pull order
        sizes = [r[0] for r in conn.execute(
            "SELECT octet_length(m.thumbnail) + octet_length(m.display) + COALESCE(octet_length(m.keypoints), 0) "
            "+ 2 * 1280 FROM photos p JOIN media m "
            "ON m.photo_id = p.id WHERE p.site = 'South' ORDER BY p.changed_xid, p.id")]
    budget = north.bytes_pulled + sum(sizes[:3]) + 1
    wider = sync_archive(reader, budget_bytes=budget)
    assert (wider.pulled, wider.not_pulled) == (3, 5)
    assert sync_status(reader).pulled_bytes <= budget
    rest = sync_archive(reader)
    assert rest.pulled == 5 and len(reader.listing()) == 16
    with pytest.raises(SharedArchiveError, match="permission denied"):  # a reader pushes nothing
        other = laptop(tmp_path, "c", NEU_CLASSES[4:5])
        link_archive(other, as_user(plant_server, "carol"))
        sync_archive(other)


def test_first_edit_to_reach_the_server_wins_and_both_are_audited(plant_server: str, tmp_path: Path) -> None:
    a = laptop(tmp_path, "a", NEU_CLASSES[:2])
    link_archive(a, as_user(plant_server, "alice"))
    sync_archive(a)
    photos = a.listing()
    contested, free = photos[0], photos[1]
    with psycopg.connect(plant_server) as owner:  # the owner corrects the server's copy first
        owner.execute("UPDATE photos SET notes = 'owner: weld crack', metadata_version = metadata_version + 1 "
                      "WHERE content_hash = (SELECT content_hash FROM photos ORDER BY id LIMIT 1)")
    a.assign_labels([contested.image_id], [("tag", "rust")])
    a.assign_labels([free.image_id], [("defect", "crack")])
    report = sync_archive(a)
    assert (report.conflicts, report.metadata_pushed) == (1, 1)
    assert a.photo(contested.image_id).notes == "owner: weld crack"  # the laptop adopted the server's
    assert a.photo(contested.image_id).labels == ()
    assert [lab.value for lab in a.photo(free.image_id).labels] == ["crack"]
    with psycopg.connect(plant_server) as conn:
        audit = conn.execute("SELECT outcome, proposed->'labels', kept->>'notes' FROM metadata_audit "
                             "ORDER BY id").fetchall()
        assert conn.execute("SELECT count(*) FROM labels WHERE kind = 'defect'").fetchone()[0] == 1
    assert [row[0].split(":")[0] for row in audit] == ["not applied", "applied"]
    assert audit[0][1] == [["tag", "rust"]] and audit[0][2] == "owner: weld crack"
    assert a.catalog.conn is not None and sync_archive(a).conflicts == 0  # settled: nothing left to push


_KILLER = """
import os, signal, sys
from inspector_search.core.archive import Archive, sync_archive
from inspector_search.core.progress import Progress
phase, after = sys.argv[2], int(sys.argv[3])
def kill(event):
    if event.phase == phase and event.done >= after:
        os.kill(os.getpid(), signal.SIGKILL)
with Archive.open(sys.argv[1]) as archive:
    sync_archive(archive, batch=2, progress=Progress(kill))
"""


@pytest.mark.parametrize("phase", ["pushing", "pulling"])
def test_a_client_killed_mid_sync_resumes_and_duplicates_nothing(plant_server: str, tmp_path: Path,
                                                                  phase: str) -> None:
    a = laptop(tmp_path, "a", NEU_CLASSES[:3])
    b = laptop(tmp_path, "b", NEU_CLASSES[3:])
    link_archive(a, as_user(plant_server, "alice"))
    link_archive(b, as_user(plant_server, "bob"))
    sync_archive(a)
    b.close()
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(_KILLER), str(tmp_path / "b-archive"), phase, "4"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    b = Archive.open(tmp_path / "b-archive")
    on_server = server_hashes(plant_server)
    assert len(on_server) == len(set(on_server)) and (len(on_server) < 24 if phase == "pushing" else True)
    if phase == "pulling":
        assert 0 < len(local_hashes(b)) - 12 < 12  # part of the pull was kept
    resumed = sync_archive(b)
    assert resumed.pushed + resumed.already_on_server <= 12
    assert sorted(local_hashes(b)) == sorted(server_hashes(plant_server)) and len(local_hashes(b)) == 24
    shared_files = list((b.folder / SHARED_DIR).rglob("*.jpg"))
    assert len(shared_files) == 12  # one display copy per pulled photo, none twice
    assert len(b.search(SearchRequest(image=sorted((tmp_path / "a-photos").rglob("*.jpg"))[0], top_k=30))) == 24


def test_a_stale_laptop_after_a_schema_upgrade_is_told_and_keeps_working(plant_server: str, tmp_path: Path) -> None:
    a = laptop(tmp_path, "a", NEU_CLASSES[:2])
    link_archive(a, as_user(plant_server, "alice"))
    sync_archive(a)
    with psycopg.connect(plant_server) as conn:
        conn.execute("UPDATE schema_info SET value = %s WHERE key = 'version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(SharedArchiveError, match="newer than this Inspector Search"):
        sync_archive(a)
    query = sorted((tmp_path / "a-photos").rglob("*.jpg"))[0]
    assert a.search(SearchRequest(image=query, top_k=1))[0].photo.path == query


def test_without_a_link_or_a_network_the_laptop_works_as_before(tmp_path: Path) -> None:
    a = laptop(tmp_path, "a", NEU_CLASSES[:1])
    with pytest.raises(SharedArchiveError, match="not linked"):
        sync_archive(a)
    with pytest.raises(SharedArchiveError, match="holds a password"):
        link_archive(a, "postgresql://alice:secret@localhost/plant")
    query = sorted((tmp_path / "a-photos").rglob("*.jpg"))[0]
    assert a.search(SearchRequest(image=query, top_k=1, filter=SearchFilter(site="North")))[0].photo.path == query


def test_the_server_killed_during_sync_then_a_rerun_completes(tmp_path: Path) -> None:
    from inspector_search.core.progress import Progress
    from inspector_search.core.storage.trial_server import TrialServer

    root = Path(tempfile.mkdtemp(prefix="inspector-pg-kill-"))
    server = TrialServer(root / "data").start()
    try:
        url = server.create_database("plant")
        init_shared_archive(url)
        a = laptop(tmp_path, "a", NEU_CLASSES[:3])
        b = laptop(tmp_path, "b", NEU_CLASSES[3:])
        link_archive(a, url)
        link_archive(b, url)
        sync_archive(a)

        def crash(event) -> None:
            if event.phase == "pulling" and event.done >= 4:
                server.kill()

        with pytest.raises(SharedArchiveError, match="connection lost|cannot connect"):
            sync_archive(b, batch=2, progress=Progress(crash))
        server.start()
        sync_archive(b)
        assert sorted(local_hashes(b)) == sorted(server_hashes(url)) and len(set(local_hashes(b))) == 24
        server.kill()  # and with the server gone, the laptop still searches
        query = sorted((tmp_path / "a-photos").rglob("*.jpg"))[0]
        assert b.search(SearchRequest(image=query, top_k=1))[0].score > 0.95
        with pytest.raises(SharedArchiveError, match="cannot connect"):
            sync_archive(b)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_the_connection_dropped_mid_pull_then_a_rerun_completes(plant_server: str, tmp_path: Path) -> None:
    from inspector_search.core.progress import Progress

    a = laptop(tmp_path, "a", NEU_CLASSES[:3])
    b = laptop(tmp_path, "b", NEU_CLASSES[3:])
    link_archive(a, as_user(plant_server, "alice"))
    link_archive(b, as_user(plant_server, "bob"))
    sync_archive(a)

    def drop(event) -> None:  # the owner ends bob's session, as a dropped network link would
        if event.phase == "pulling" and event.done >= 4:
            with psycopg.connect(plant_server, autocommit=True) as owner:
                owner.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'bob'")

    with pytest.raises(SharedArchiveError, match="connection lost"):
        sync_archive(b, batch=2, progress=Progress(drop))
    assert 12 < len(local_hashes(b)) < 24
    sync_archive(b)
    assert sorted(local_hashes(b)) == sorted(server_hashes(plant_server)) and len(local_hashes(b)) == 24


def test_the_server_killed_during_an_add_to_the_shared_archive(tmp_path: Path) -> None:
    from inspector_search.core.progress import Progress
    from inspector_search.core.shared_archive import SharedArchive
    from inspector_search.core.storage.trial_server import TrialServer

    root = Path(tempfile.mkdtemp(prefix="inspector-pg-kill-"))
    server = TrialServer(root / "data").start()
    try:
        url = server.create_database("plant")
        init_shared_archive(url)
        photos = plant_folder(tmp_path / "photos", per_class=PER_CLASS, classes=NEU_CLASSES[:3])

        def crash(event) -> None:
            if event.phase == "pushing":
                server.kill()

        with SharedArchive.open(url, staging=tmp_path / "staging") as shared, \
                pytest.raises(SharedArchiveError, match="connection lost|cannot connect"):
            shared.add([photos], layout=LAYOUT, progress=Progress(crash))
        server.start()
        with SharedArchive.open(url, staging=tmp_path / "staging") as shared:
            report = shared.add([photos], layout=LAYOUT)
            assert report.unchanged == 12 and shared.status().photos == 12  # decoded once, pushed on the re-run
        assert len(set(server_hashes(url))) == len(server_hashes(url)) == 12
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
