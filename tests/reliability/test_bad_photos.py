"""Bad photos: each one is indexed correctly or skipped with its reason recorded, and the run goes on."""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inspector_search.core.archive import Archive
from inspector_search.core.records import SearchRequest

from .harness import neu_files, permissions_apply, run_cli

LONG_NAME = "inspection_" + "x" * 230 + ".jpg"  # 245 bytes: near the 255-byte limit of most file systems


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + \
        chunk(b"IEND", b"")


def bad_photo_folder(root: Path) -> tuple[dict[str, str], set[str]]:
    """Write every kind of bad photo among good ones; (path -> expected skip reason, paths to index)."""
    good = neu_files("scratches", 8)
    root.mkdir()
    data = good[0].read_bytes()
    (root / "a_zero.jpg").write_bytes(b"")
    (root / "b_truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "c_notes.jpg").write_text("this is a text file, not a photo\n")
    (root / "d_bomb.png").write_bytes(png_claiming(30_000, 30_000))
    shutil.copy(good[1], root / "e_unreadable.jpg")
    (root / "e_unreadable.jpg").chmod(0)
    (root / "f_locked_folder").mkdir()
    shutil.copy(good[2], root / "f_locked_folder" / "inside.jpg")
    (root / "f_locked_folder").chmod(0)
    (root / "g_broken_link.jpg").symlink_to(root / "gone.jpg")
    (root / "h_loop").symlink_to(root, target_is_directory=True)
    skips = {"a_zero.jpg": "empty file", "b_truncated.jpg": "truncated", "c_notes.jpg": "not an image",
             "d_bomb.png": "too large", "e_unreadable.jpg": "permission denied",
             "f_locked_folder": "permission denied", "g_broken_link.jpg": "broken symlink", "h_loop": "symlink loop"}

    shutil.copy(good[3], root / "i_jpeg_named.png")  # wrong extension: decoded by content
    Image.new("L", (10_000, 10_000), 128).save(root / "j_100_megapixels.jpg", quality=70)
    noise = np.random.default_rng(6).integers(0, 65535, (120, 160), dtype=np.uint16)
    Image.fromarray(noise).save(root / "k_16bit.tif")
    cmyk = Image.new("CMYK", (96, 64), (0, 255, 255, 0))
    cmyk.paste((0, 0, 0, 255), (48, 0, 96, 64))
    cmyk.save(root / "l_cmyk.jpg", quality=90)
    frames = [Image.new("RGB", (80, 60), colour) for colour in ((200, 30, 30), (30, 200, 30), (30, 30, 200))]
    frames[0].save(root / "m_animated.jpg", "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    (root / "n folder with spaces").mkdir()
    shutil.copy(good[4], root / "n folder with spaces" / "photo 1 (copy).jpg")
    (root / "o_Überprüfung_検査").mkdir()
    shutil.copy(good[5], root / "o_Überprüfung_検査" / "фото_ñ.jpg")
    shutil.copy(good[6], root / LONG_NAME)
    shutil.copy(good[7], root / "p_last_good.jpg")
    indexed = {"i_jpeg_named.png", "j_100_megapixels.jpg", "k_16bit.tif", "l_cmyk.jpg", "m_animated.jpg",
               "n folder with spaces/photo 1 (copy).jpg", "o_Überprüfung_検査/фото_ñ.jpg", LONG_NAME,
               "p_last_good.jpg"}
    return skips, indexed


def test_every_bad_photo_is_indexed_or_skipped_with_its_reason(tmp_path: Path) -> None:
    as_user = permissions_apply()  # root here: drop the right to ignore permissions, so 000 files are unreadable
    root = tmp_path / "photos"
    skips, indexed = bad_photo_folder(root)
    archive = tmp_path / "archive"
    try:
        proc = run_cli(archive, "add", str(root), "--json", preexec_fn=as_user)
    finally:
        (root / "f_locked_folder").chmod(0o755)
    report = json.loads(proc.stdout)
    reasons = {str(Path(s["path"]).relative_to(root)): s["reason"] for s in report["skipped"]}
    assert set(reasons) == set(skips), reasons
    for name, phrase in skips.items():
        assert phrase in reasons[name], (name, reasons[name])
    assert report["added"] == len(indexed) and not report["metadata_errors"]

    with Archive.open(archive) as opened:
        recorded = {str(Path(p).relative_to(root)): s for p, s in
                    opened.catalog.conn.execute("SELECT path, image_id FROM files WHERE deleted = 0")}
        assert set(recorded) == indexed
        assert {str(s.path.relative_to(root)) for s in opened.skipped()} == set(skips)  # kept in the catalog
        big = opened.photo(recorded["j_100_megapixels.jpg"])
        assert (big.width, big.height) == (10_000, 10_000)
        formats = dict(opened.catalog.conn.execute("SELECT id, format FROM images"))
        assert formats[recorded["m_animated.jpg"]] == "GIF" and formats[recorded["i_jpeg_named.png"]] == "JPEG"
        assert formats[recorded["k_16bit.tif"]] == "TIFF"
        for name in ("o_Überprüfung_検査/фото_ñ.jpg", LONG_NAME, "n folder with spaces/photo 1 (copy).jpg",
                     "k_16bit.tif", "l_cmyk.jpg"):
            hits = opened.search(SearchRequest(image=root / name, top_k=1))
            assert hits[0].photo.image_id == recorded[name] and hits[0].score > 0.99, name


def test_a_gif_is_indexed_when_named_and_not_picked_up_from_folders(tmp_path: Path) -> None:
    """GIF is not an inspection-photo type, so folder scans pass over it (like .txt); named on the
    command line it is indexed (its first frame)."""
    root = tmp_path / "photos"
    root.mkdir()
    frames = [Image.new("RGB", (64, 48), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    shutil.copy(neu_files("patches", 1)[0], root / "photo.jpg")
    with Archive.open(tmp_path / "archive") as archive:
        assert archive.add([root]).added == 1
        report = archive.add([root / "animated.gif"])
        assert (report.added, report.skipped) == (1, ())
        assert archive.status().photos == 2


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_file_that_becomes_unreadable_keeps_its_photo_and_is_recorded(tmp_path: Path) -> None:
    as_user = permissions_apply()
    root = tmp_path / "photos"
    root.mkdir()
    for source in neu_files("inclusion", 3):
        shutil.copy(source, root / source.name)
    archive = tmp_path / "archive"
    run_cli(archive, "add", str(root))
    victim = sorted(root.iterdir())[1]
    victim.chmod(0)
    os.utime(victim)  # changed: the next add must read it again
    report = json.loads(run_cli(archive, "add", str(root), "--json", preexec_fn=as_user).stdout)
    assert [(Path(s["path"]).name, s["reason"]) for s in report["skipped"]] == [(victim.name, "permission denied")]
    assert report["removed"] == 0
    with Archive.open(archive) as opened:
        assert opened.status().photos == 3  # not lost: it is still there, only unreadable for now
