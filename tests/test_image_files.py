"""Tests of core.image_files.iter_image_files: which files an add finds under folders (real files in tmp_path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from inspector_search.core.image_files import iter_image_files


def touch_image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")  # content does not matter for listing
    return path


def test_iter_image_files_walks_sorted_skips_hidden_and_survives_links(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for rel in (
        "a/x.jpg",
        "a/b/y.PNG",
        "c/z.JPG",
        "c/w.tiff",
        ".hidden/h.jpg",
        "a/.h.jpg",
        "readme.txt",
        "d/v.gif",
    ):
        touch_image(root / rel)
    (root / "broken.jpg").symlink_to(root / "gone.jpg")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    outside = touch_image(tmp_path / "elsewhere" / "e.webp").parent
    (root / "linked").symlink_to(outside, target_is_directory=True)
    errors: list[tuple[Path, str]] = []
    found = list(iter_image_files([root], on_error=lambda p, r: errors.append((p, r))))
    assert found == [root / rel for rel in ("a/b/y.PNG", "a/x.jpg", "c/w.tiff", "c/z.JPG", "linked/e.webp")]
    assert all(p.is_absolute() for p in found)
    assert dict(errors) == {
        root / "a" / "loop": "symlink loop or duplicate folder (already scanned)",
        root / "broken.jpg": "broken symlink",
    }


def test_iter_image_files_explicit_files_and_missing_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = touch_image(tmp_path / "notes.txt")
    hidden = touch_image(tmp_path / ".secret.jpg")
    inside = touch_image(tmp_path / "dir" / "p.jpeg")
    errors: list[tuple[Path, str]] = []
    monkeypatch.chdir(tmp_path)
    given = [Path("notes.txt"), hidden, tmp_path / "nope", inside, tmp_path / "dir"]
    found = list(iter_image_files(given, on_error=lambda p, r: errors.append((p, r))))
    assert found == [notes, hidden, inside]  # relative made absolute; a file named twice comes once
    assert errors == [(tmp_path / "nope", "file not found")]


def test_iter_image_files_self_loop_and_mutual_loop_terminate(tmp_path: Path) -> None:
    (tmp_path / "self").symlink_to(tmp_path / "self")
    (tmp_path / "m1").symlink_to(tmp_path / "m2")
    (tmp_path / "m2").symlink_to(tmp_path / "m1")
    touch_image(tmp_path / "ok.bmp")
    errors: list[tuple[Path, str]] = []
    found = list(iter_image_files([tmp_path], on_error=lambda p, r: errors.append((p, r))))
    assert found == [tmp_path / "ok.bmp"]
    assert {p.name for p, _ in errors} == {"self", "m1", "m2"}
    assert all(reason == "too deep symlink / loop" for _, reason in errors)


def test_iter_image_files_keeps_symlinked_file_path(tmp_path: Path) -> None:
    target = touch_image(tmp_path / "store" / "real.jpg")
    (tmp_path / "view").mkdir()
    (tmp_path / "view" / "alias.jpg").symlink_to(target)
    assert list(iter_image_files([tmp_path / "view"])) == [tmp_path / "view" / "alias.jpg"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_iter_image_files_reports_unreadable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    touch_image(locked / "x.jpg")
    touch_image(tmp_path / "z.jpg")
    locked.chmod(0)
    errors: list[tuple[Path, str]] = []
    try:
        found = list(iter_image_files([tmp_path], on_error=lambda p, r: errors.append((p, r))))
    finally:
        locked.chmod(0o755)
    assert found == [tmp_path / "z.jpg"]
    assert errors == [(locked, "permission denied")]
