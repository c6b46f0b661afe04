"""Geometric verification on real photos: keypoints stored with each photo, re-shots of the same
scene verified and ranked first, look-alikes not, damaged or missing keypoints never an error."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import INSULATORS, PROJECT_ROOT, neu_sample, require
from PIL import Image, ImageEnhance

from inspector_search.core.archive import Archive
from inspector_search.core.local_features import (
    SAME_OBJECT_INLIERS,
    LocalFeatures,
    extract,
    verified_order,
    verify,
)
from inspector_search.core.records import SearchRequest


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def reshot(path: Path) -> bytes:
    """Another photo of the same scene: 80 % crop off-centre, tilted 6 degrees, darker, smaller, JPEG 70."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    image = image.crop((int(w * 0.15), int(h * 0.05), int(w * 0.95), int(h * 0.85)))
    image = image.rotate(6, resample=Image.Resampling.BICUBIC)
    image = ImageEnhance.Brightness(image).enhance(0.85)
    return jpeg(image.resize((image.width * 2 // 3, image.height * 2 // 3)), quality=70)


def keypoints(source: Path | bytes) -> LocalFeatures:
    return extract(Image.open(io.BytesIO(source) if isinstance(source, bytes) else source))


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    return sorted(require(INSULATORS).glob("*.jpg"))[:12]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, photos: list[Path]) -> Archive:
    """12 insulator photos (each other's look-alikes) among 12 steel-surface photos."""
    root = tmp_path_factory.mktemp("verify")
    for source in [*photos, *neu_sample(2)]:
        (root / "photos").mkdir(exist_ok=True)
        shutil.copy2(source, root / "photos" / source.name)
    opened = Archive.open(root / "archive")
    opened.add([root / "photos"])
    yield opened
    opened.close()


def test_stored_form_round_trips_and_damage_is_named(photos: list[Path]) -> None:
    found = keypoints(photos[0])
    assert 100 < len(found) <= 300
    blob = found.to_bytes()
    assert len(blob) < 12_000
    again = LocalFeatures.from_bytes(blob)
    assert (again.width, again.height) == (found.width, found.height)
    assert np.array_equal(again.descriptors, found.descriptors)
    assert np.abs(again.points - found.points).max() < 1e-4
    flipped = bytearray(blob)
    flipped[-5] ^= 0xFF
    with pytest.raises(ValueError, match="checksum"):
        LocalFeatures.from_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="truncated"):
        LocalFeatures.from_bytes(blob[:-40])
    with pytest.raises(ValueError, match="too short"):
        LocalFeatures.from_bytes(b"\x01")
    with pytest.raises(ValueError, match="version 9"):
        LocalFeatures.from_bytes(b"\x09" + blob[1:])


def test_a_reshot_photo_verifies_and_a_look_alike_does_not(photos: list[Path]) -> None:
    original = keypoints(photos[0])
    result = verify(keypoints(reshot(photos[0])), original)
    assert result.same_object and result.inliers >= 2 * SAME_OBJECT_INLIERS
    assert result.query_points.shape == result.match_points.shape == (result.inliers, 2)
    assert result.match_points.min() >= 0 and result.match_points.max() <= 1
    for other in photos[1:]:
        assert verify(keypoints(reshot(photos[0])), keypoints(other)).inliers < SAME_OBJECT_INLIERS, other


def test_a_blank_photo_has_no_keypoints_and_verifies_nothing(photos: list[Path]) -> None:
    blank = extract(Image.new("RGB", (640, 480), (128, 128, 128)))
    assert len(blank) == 0
    assert LocalFeatures.from_bytes(blank.to_bytes()).points.shape == (0, 2)
    assert verify(blank, keypoints(photos[0])).inliers == 0
    assert verify(keypoints(photos[0]), blank).inliers == 0
    assert len(extract(Image.new("RGB", (3, 2)))) == 0  # tiny


def test_verified_photos_rank_first_by_inliers() -> None:
    assert verified_order([5, 6, 7, 8], {6: 3, 7: 40, 8: 12}) == [7, 8, 5, 6]
    assert verified_order([5, 6], {}) == [5, 6]


def test_keypoints_are_stored_with_each_photo(archive: Archive) -> None:
    conn = sqlite3.connect(archive.catalog.path)
    try:
        photos = conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        blobs = conn.execute("SELECT data FROM local_features").fetchall()
    finally:
        conn.close()
    assert len(blobs) == photos == 24  # a low-contrast steel photo may have none: stored empty, never verified
    assert sum(len(LocalFeatures.from_bytes(b)) > 100 for (b,) in blobs) >= 12


def test_search_puts_the_same_scene_first_and_says_so(archive: Archive, photos: list[Path]) -> None:
    stored = sorted(archive.files_below(archive.folder.parent / "photos"))
    for original in photos[:4]:
        path = next(p for p in stored if p.name == original.name)
        hits = archive.search(SearchRequest(image=reshot(original), top_k=10))
        assert hits[0].photo.path == path
        assert hits[0].same_object and hits[0].inliers >= SAME_OBJECT_INLIERS and not hits[0].is_query
        assert not any(h.same_object for h in hits[1:])  # the other insulators are look-alikes only
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))


def test_verification_can_be_left_out(archive: Archive, photos: list[Path]) -> None:
    request = SearchRequest(image=reshot(photos[1]), top_k=10)
    verified = archive.search(request)
    plain = archive.search(replace(request, verification=False))
    assert verified[0].same_object and not any(h.inliers or h.same_object for h in plain)
    assert {h.photo.image_id: h.score for h in plain}.get(verified[0].photo.image_id) == verified[0].score


def test_a_query_without_keypoints_keeps_the_global_ranking(archive: Archive) -> None:
    blank = jpeg(Image.new("RGB", (640, 480), (90, 90, 90)))
    hits = archive.search(SearchRequest(image=blank, top_k=5))
    assert len(hits) == 5
    assert not any(h.same_object or h.inliers for h in hits)


def test_photos_whose_keypoints_are_damaged_or_missing_are_just_not_verified(archive: Archive,
                                                                             photos: list[Path]) -> None:
    target = photos[5]
    image_id = archive.files_below(archive.folder.parent / "photos")[archive.folder.parent / "photos" / target.name]
    with archive.catalog.transaction() as conn:
        good = conn.execute("SELECT data FROM local_features WHERE image_id = ?", (image_id,)).fetchone()[0]
        conn.execute("UPDATE local_features SET data = ? WHERE image_id = ?", (good[:-7], image_id))
    try:
        hits = archive.search(SearchRequest(image=reshot(target), top_k=5))
        assert hits[0].photo.image_id == image_id and hits[0].inliers == 0  # found by the global ranking alone
        with archive.catalog.transaction() as conn:
            conn.execute("DELETE FROM local_features WHERE image_id = ?", (image_id,))
        assert archive.search(SearchRequest(image=reshot(target), top_k=5))[0].inliers == 0
    finally:
        with archive.catalog.transaction() as conn:
            archive.catalog.put_local_features(conn, image_id, good)
    assert archive.search(SearchRequest(image=reshot(target), top_k=5))[0].same_object


def test_search_json_has_inliers_and_same_object(archive: Archive, photos: list[Path], tmp_path: Path) -> None:
    query = tmp_path / "reshot.jpg"
    query.write_bytes(reshot(photos[2]))
    proc = subprocess.run(
        [sys.executable, "-m", "inspector_search", "--archive", str(archive.folder), "search", str(query),
         "-k", "3", "--json"], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert results[0]["path"].endswith(photos[2].name)
    assert results[0]["same_object"] is True and results[0]["inliers"] >= SAME_OBJECT_INLIERS
    assert results[1]["same_object"] is False and isinstance(results[1]["inliers"], int)
    assert results[0]["is_query"] is False
