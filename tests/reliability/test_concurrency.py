"""Two at once: the app (or a second app) reading while the command line adds photos, two writers, two
processes creating one archive, and write contention on the catalog, all in real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from inspector_search.core.archive import Archive
from inspector_search.core.catalog import SCHEMA_VERSION, Catalog
from inspector_search.core.errors import ArchiveBusyError
from inspector_search.core.records import SearchRequest

from .harness import neu_photos, run_cli

READER = """
import json, sys, time
from pathlib import Path
from inspector_search.core.archive import Archive
from inspector_search.core.records import SearchRequest
archive_dir, query, seconds = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
counts = []
with Archive.open(archive_dir) as archive:
    end = time.time() + seconds
    while time.time() < end:
        archive.refresh()
        hits = archive.search(SearchRequest(image=query, top_k=5))
        assert all(h.photo.path.is_file() for h in hits)
        counts.append(archive.status().photos)
assert counts == sorted(counts), counts
print(json.dumps({"reads": len(counts), "last": counts[-1]}))
"""


def python(*args: str) -> list[str]:
    return [sys.executable, "-c", *args]


def committed(archive: Path) -> int:
    if not (archive / "catalog.sqlite").exists():
        return 0
    try:
        with Archive.open(archive) as opened:
            return opened.status().files
    except Exception:  # noqa: BLE001 - the catalog may be being created this very moment
        return 0


def test_app_reads_while_the_command_line_adds_and_a_second_writer_is_told_to_wait(tmp_path: Path) -> None:
    photos = neu_photos(120, tmp_path / "photos")
    archive = tmp_path / "archive"
    query = sorted(photos.rglob("*.jpg"))[0]
    adding = subprocess.Popen([sys.executable, "-m", "inspector_search", "--archive", str(archive), "add",
                               str(photos), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while committed(archive) == 0 and adding.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    other_app = subprocess.Popen(python(READER, str(archive), str(query), "4"), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    second_writer = run_cli(archive, "add", str(photos), check=False)
    seen: list[int] = []
    with Archive.open(archive) as app:
        try:
            app.add([photos])
            raise AssertionError("a second writer was let in")
        except ArchiveBusyError as busy:
            assert f"is writing to {archive}" in str(busy) and "try again when it has finished" in str(busy)
        while adding.poll() is None:
            app.refresh()
            hits = app.search(SearchRequest(image=query, top_k=5))
            assert all(h.photo.path.is_file() for h in hits)
            status = app.status()
            assert status.indexed <= status.photos
            seen.append(status.photos)
        out, err = adding.communicate()
        assert adding.returncode == 0, err
        report = json.loads(out)
        assert (report["added"], report["copies"]) == (119, 1)  # 120 files, one pair of them identical
        app.refresh()
        final = app.status()
        assert final.photos == final.indexed == 119 and final.index_state == "up to date"
        assert app.search(SearchRequest(image=query, top_k=1))[0].photo.path == query
        assert app.check().ok
    assert seen == sorted(seen) and len(seen) > 1
    assert second_writer.returncode == 1 and "Traceback" not in second_writer.stderr
    assert "another Inspector Search process (pid" in second_writer.stderr and "is writing to" in second_writer.stderr
    out, err = other_app.communicate(timeout=120)
    assert other_app.returncode == 0, err
    assert json.loads(out)["reads"] > 0
    assert "database is locked" not in err + second_writer.stderr


OPEN_AT = """
import sys, time
from inspector_search.core.archive import Archive
start = float(sys.argv[2])
while time.time() < start:
    pass
with Archive.open(sys.argv[1]) as archive:
    print(archive.status().schema_version)
"""


def test_two_app_instances_creating_the_same_archive_at_once(tmp_path: Path) -> None:
    for round_ in range(2):
        archive = tmp_path / f"archive{round_}"
        start = time.time() + 2.0  # all processes are imported and waiting by then
        procs = [subprocess.Popen(python(OPEN_AT, str(archive), str(start)), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        results = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], [err for _out, err in results]
        assert [out.strip() for out, _err in results] == [str(SCHEMA_VERSION)] * 3


WRITER = """
import sys
from inspector_search.core.catalog import SCHEMA_VERSION, Catalog
catalog = Catalog(sys.argv[1])
for n in range(int(sys.argv[2])):
    with catalog.transaction() as conn:
        catalog.set_meta(conn, sys.argv[3], str(n))
        catalog.bump_generation(conn)
    catalog.counts()
catalog.close()
"""


def test_concurrent_catalog_writers_wait_for_each_other_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    procs = [subprocess.Popen(python(WRITER, str(path), "300", f"writer{n}"), stderr=subprocess.PIPE, text=True)
             for n in range(3)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    catalog = Catalog(path)
    assert catalog.generation == 900
    assert [catalog.get_meta(f"writer{n}") for n in range(3)] == ["299"] * 3
    catalog.close()
