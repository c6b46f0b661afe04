"""Keypoint records (geometric verification) in archives made before them, damaged or missing:
``check`` reports them, ``check --repair`` and ``add`` make them again, and search works meanwhile."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import INSULATORS, require
from PIL import Image

from inspector_search.core.archive import Archive
from inspector_search.core.catalog import SCHEMA_VERSION
from inspector_search.core.errors import Cancelled
from inspector_search.core.local_feature_fill import fill_local_features
from inspector_search.core.progress import Progress
from inspector_search.core.records import SearchRequest

from .harness import run_cli


def keypoint_rows(archive: Path) -> dict[int, bytes]:
    conn = sqlite3.connect(archive / "catalog.sqlite")
    try:
        return dict(conn.execute("SELECT image_id, data FROM local_features"))
    finally:
        conn.close()


BEFORE = SCHEMA_VERSION - 1  # the schema before keypoints


def make_schema_before(archive: Path) -> None:
    """Turn an archive back into what a version before geometric verification wrote."""
    conn = sqlite3.connect(archive / "catalog.sqlite")
    conn.execute("DROP TABLE local_features")
    conn.execute(f"PRAGMA user_version = {BEFORE}")
    conn.commit()
    conn.close()


def reshot(path: Path) -> bytes:
    image = Image.open(path).convert("RGB")
    w, h = image.size
    buffer = io.BytesIO()
    image.crop((w // 10, h // 10, w, h)).rotate(4).resize((w * 2 // 3, h * 2 // 3)).save(buffer, "JPEG", quality=75)
    return buffer.getvalue()


@pytest.fixture
def insulator_archive(tmp_path: Path) -> tuple[Path, Path]:
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in sorted(require(INSULATORS).glob("*.jpg"))[:10]:
        shutil.copy2(source, photos / source.name)
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([photos])
    return tmp_path / "archive", photos


def test_an_archive_from_before_gets_keypoints_by_add_and_searches_meanwhile(
        insulator_archive: tuple[Path, Path]) -> None:
    folder, photos = insulator_archive
    before = keypoint_rows(folder)
    make_schema_before(folder)
    query = reshot(sorted(photos.glob("*.jpg"))[3])
    with Archive.open(folder) as archive:
        assert archive.catalog.schema_version == SCHEMA_VERSION
        assert (folder / f"catalog.sqlite.v{BEFORE}.bak").is_file()  # backed up before the upgrade
        hits = archive.search(SearchRequest(image=query, top_k=3))
        assert hits[0].photo.path.name == sorted(photos.glob("*.jpg"))[3].name  # the global ranking alone
        assert hits[0].inliers == 0 and not hits[0].same_object
        report = archive.add([photos])  # nothing new to add: the fill pass runs at its end
        assert report.added == 0
        hits = archive.search(SearchRequest(image=query, top_k=3))
        assert hits[0].same_object
    assert keypoint_rows(folder) == before  # the same keypoints as add time, byte for byte


def test_the_fill_pass_can_be_cancelled_and_goes_on_where_it_stopped(insulator_archive: tuple[Path, Path]) -> None:
    folder, _photos = insulator_archive
    with Archive.open(folder) as archive:
        with archive.catalog.transaction() as conn:
            conn.execute("DELETE FROM local_features")
        seen = []

        def cancel_after_first_batch(event) -> None:
            seen.append((event.done, event.total, event.phase))
            stops.cancel()

        stops = Progress(cancel_after_first_batch)
        with pytest.raises(Cancelled):
            fill_local_features(archive.catalog, stops, min_side=224, batch=4)
        assert seen == [(4, 10, "keypoints")]
        assert len(keypoint_rows(folder)) == 4  # the first batch is committed
        assert archive.fill_local_features() == 6
    assert len(keypoint_rows(folder)) == 10


def test_check_reports_missing_and_damaged_keypoints_and_repair_rebuilds_them(archive_copy: Path) -> None:
    rows = keypoint_rows(archive_copy)
    conn = sqlite3.connect(archive_copy / "catalog.sqlite")
    conn.execute("DELETE FROM local_features WHERE image_id IN (2, 9)")
    conn.execute("UPDATE local_features SET data = substr(data, 1, 40) WHERE image_id = 4")
    conn.execute("UPDATE local_features SET data = X'00' WHERE image_id = 7")
    conn.commit()
    conn.close()

    found = run_cli(archive_copy, "check", "--json", check=False)
    assert found.returncode == 1
    problems = json.loads(found.stdout)["problems"]
    assert any("2 photo(s) have a damaged keypoint record (ids 4, 7)" in p for p in problems), problems
    assert any("2 photo(s) have no keypoints" in p for p in problems), problems

    repaired = json.loads(run_cli(archive_copy, "check", "--repair", "--json").stdout)
    assert repaired["ok"], repaired
    assert keypoint_rows(archive_copy) == rows  # made again from the files, identical
    again = json.loads(run_cli(archive_copy, "check", "--json").stdout)
    assert again["ok"] and any("keypoints: every photo has an intact record" in c for c in again["checked"])


def test_a_photo_whose_file_changed_cannot_get_keypoints_and_check_says_so(
        insulator_archive: tuple[Path, Path]) -> None:
    folder, photos = insulator_archive
    changed = sorted(photos.glob("*.jpg"))[0]
    with Archive.open(folder) as archive:
        image_id = archive.files_below(photos)[changed]
        with archive.catalog.transaction() as conn:
            conn.execute("DELETE FROM local_features WHERE image_id = ?", (image_id,))
        changed.write_bytes(reshot(changed))
        report = archive.check(repair=True)
    assert any("could not be given keypoints" in u and changed.name in u for u in report.unrepairable), report
