"""Photos that moved: renamed files, reorganised folders, the photo folder or the archive on another mount
point. Identities, vectors and metadata follow the content hash; nothing is embedded again."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from inspector_search.core.archive import Archive
from inspector_search.core.records import SearchRequest

from .harness import bind_mount, can_mount, kill_loop, neu_files, tmpfs

LAYOUT = "{site}/{equipment}/{date}"


def plant(root: Path) -> Path:
    """18 real photos as site/equipment/date/file.jpg."""
    for n, source in enumerate(neu_files("crazing", 6) + neu_files("inclusion", 6) + neu_files("patches", 6)):
        tag = {"crazing": "P-101", "inclusion": "V-202", "patches": "HX-303"}[source.parent.name]
        folder = root / ("North" if n % 2 else "South") / tag / ("2023-05-14" if n % 3 else "2024-06-01")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, folder / source.name)
    return root


def snapshot(archive: Archive) -> dict[str, tuple]:
    """content hash -> (image id, stored features, equipment, site, date): what must follow a photo."""
    rows = archive.catalog.conn.execute(
        "SELECT i.content_hash, i.id, f.vector FROM images i JOIN features f ON f.image_id = i.id "
        "WHERE i.deleted = 0").fetchall()
    result = {}
    for content, image_id, vector in rows:
        photo = archive.photo(image_id)
        result[content] = (image_id, vector, photo.equipment_tag, photo.site, photo.inspected_on)
    return result


def count_embeddings(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    embed = archive.extractor.embed

    def counted(batch):  # noqa: ANN001, ANN202 - same signature as the real one
        calls.append(len(batch))
        return embed(batch)

    monkeypatch.setattr(archive.extractor, "embed", counted)
    return calls


def test_renamed_files_and_reorganised_folders_keep_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = plant(tmp_path / "photos")
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([photos], layout=LAYOUT)
        before = snapshot(archive)
        # reorganise: one flat folder per site, files renamed after their equipment
        for n, path in enumerate(sorted(photos.rglob("*.jpg"))):
            site, tag, day = path.relative_to(photos).parts[:3]
            target = photos / f"{site.lower()}-photos" / f"{tag}_{day}_{n:03}.jpg"
            target.parent.mkdir(exist_ok=True)
            path.rename(target)
        for folder in sorted((p for p in photos.rglob("*") if p.is_dir()), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()
        embedded = count_embeddings(archive, monkeypatch)
        report = archive.add([photos])  # no layout now: the metadata must come along with the content
        assert (report.added, report.moved, report.removed, report.skipped) == (0, 18, 0, ())
        assert embedded == []
        assert snapshot(archive) == before
        assert archive.check().ok
        query = sorted(photos.rglob("*.jpg"))[4]
        hit = archive.search(SearchRequest(image=query, top_k=1))[0]
        assert hit.photo.path == query and hit.photo.equipment_tag == query.name.split("_")[0]
    assert kill_loop().verify(tmp_path / "archive", photos) == []


@pytest.mark.parametrize("how", ["other-mount-point", "renamed-parent-folder"])
def test_photo_folder_seen_at_another_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Like a share that comes back under another drive letter: the old paths are gone, the same
    photos appear under a new root."""
    if how == "other-mount-point" and not can_mount():
        pytest.skip("mounting is not allowed here (needs root with CAP_SYS_ADMIN on Linux)")
    real = plant(tmp_path / "real")
    with Archive.open(tmp_path / "archive") as archive:
        if how == "other-mount-point":
            with bind_mount(real, tmp_path / "D") as old_root:
                archive.add([old_root], layout=LAYOUT)
                before = snapshot(archive)
            new_context = bind_mount(real, tmp_path / "E")
        else:
            old_root = real
            archive.add([old_root], layout=LAYOUT)
            before = snapshot(archive)
            real.rename(tmp_path / "renamed")
            new_context = contextlib.nullcontext(tmp_path / "renamed")
        with new_context as new_root:
            embedded = count_embeddings(archive, monkeypatch)
            report = archive.add([new_root])
            assert (report.added, report.moved, embedded) == (0, 18, [])
            assert snapshot(archive) == before
            paths = [p for (p,) in archive.catalog.conn.execute("SELECT path FROM files WHERE deleted = 0")]
            assert len(paths) == 18 and all(p.startswith(str(new_root)) for p in paths)
            assert archive.check().ok


def test_archive_folder_moved_to_another_file_system(archive_copy: Path, photos: Path, tmp_path: Path) -> None:
    """The archive names nothing of its own by absolute path: it opens elsewhere without rebuilding."""
    drive = tmp_path / "other-drive"
    elsewhere = tmpfs(drive, "20m") if can_mount() else contextlib.nullcontext(drive)
    with elsewhere:
        drive.mkdir(exist_ok=True)
        moved = Path(shutil.move(str(archive_copy), drive / "archive"))
        with Archive.open(moved) as archive:
            status = archive.status()
            assert (status.photos, status.indexed, status.messages) == (30, 30, ())
            query = sorted(photos.rglob("*.jpg"))[9]
            assert archive.search(SearchRequest(image=query, top_k=1))[0].photo.path == query
            assert archive.check().ok
        conn = sqlite3.connect(moved / "catalog.sqlite")
        assert conn.execute("SELECT COUNT(*) FROM files WHERE path LIKE ?", (f"{moved}%",)).fetchone()[0] == 0
        conn.close()
