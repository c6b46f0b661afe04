"""Damaged files of ours: derived files (index, PCA, index state, thumbnails) are detected and rebuilt from
the catalog with a message; a damaged, foreign or newer catalog is refused by name and left untouched."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from inspector_search.core.archive import Archive
from inspector_search.core.catalog import APPLICATION_ID
from inspector_search.core.errors import CatalogError, SchemaTooNewError
from inspector_search.core.projection import Projection
from inspector_search.core.records import SearchRequest
from inspector_search.core.vector_index import VectorIndex

from .harness import digests, run_cli


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(max(path.stat().st_size, 4096)))


def empty(path: Path) -> None:
    path.write_bytes(b"")


def delete(path: Path) -> None:
    path.unlink()


def other_projection(path: Path) -> None:
    state = json.loads(path.read_text())
    state["projection_id"] = "0123456789abcdef"
    path.write_text(json.dumps(state))


DERIVED_DAMAGE = [
    ("index.hnsw", truncate), ("index.hnsw", garbage), ("index.hnsw", empty), ("index.hnsw", delete),
    ("projection.npz", truncate), ("projection.npz", garbage),
    ("index.json", garbage), ("index.json", delete), ("index.json", other_projection),
]


@pytest.mark.parametrize(("name", "damage"), DERIVED_DAMAGE, ids=[f"{n}-{d.__name__}" for n, d in DERIVED_DAMAGE])
def test_damaged_derived_file_is_rebuilt_from_the_catalog_with_a_message(
        archive_copy: Path, photos: Path, name: str, damage: Callable[[Path], None]) -> None:
    damage(archive_copy / name)
    query = sorted(photos.rglob("*.jpg"))[7]
    with Archive.open(archive_copy) as archive:
        hits = archive.search(SearchRequest(image=query, top_k=3))
        status = archive.status()
    assert hits[0].photo.path == query and hits[0].score > 0.99
    assert status.indexed == status.photos == 30 and status.index_state == "up to date"
    assert any(name in m or "index.hnsw" in m for m in status.messages), status.messages
    # the rebuilt files were saved: they load again, and the next opening has nothing to say
    projection = Projection.load(archive_copy / "projection.npz")
    assert len(VectorIndex.load(archive_copy / "index.hnsw", projection.out_dim)) == 30
    with Archive.open(archive_copy) as archive:
        assert archive.status().messages == ()
        assert archive.check().ok


def test_status_command_shows_the_rebuild_message(archive_copy: Path) -> None:
    garbage(archive_copy / "index.hnsw")
    out = run_cli(archive_copy, "status").stdout
    assert "note:" in out and "index.hnsw is damaged" in out and "rebuilding it from the catalog" in out
    status = json.loads(run_cli(archive_copy, "status", "--json").stdout)
    assert status["messages"] == [] and status["index"] == {"state": "up to date", "count": 30}


@pytest.mark.parametrize("damage", [truncate, garbage, empty], ids=lambda d: d.__name__)
def test_damaged_thumbnail_is_made_again(archive_copy: Path, damage: Callable[[Path], None]) -> None:
    with Archive.open(archive_copy) as archive:
        thumb = archive.thumbnail(1, size=64)
        damage(thumb)
        assert not archive.check().ok
        again = archive.thumbnail(1, size=64)
        assert again == thumb
        with Image.open(again) as image:
            image.load()
            assert max(image.size) == 64
        damage(thumb)
        report = archive.check(repair=True)
        assert report.ok and any("thumbnail" in r for r in report.repaired) and not thumb.exists()


# -- the catalog: refused by name, never touched -----------------------------------------------------
def foreign_database(path: Path) -> None:
    path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
    conn.execute("INSERT INTO orders(item) VALUES ('valve')")
    conn.commit()
    conn.close()


def newer_schema(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()


def garbage_wal(path: Path) -> None:
    path.with_name(path.name + "-wal").write_bytes(os.urandom(64 * 1024))


def newer_schema_in_the_wal(path: Path) -> None:
    """A newer version's last commit still sits in the WAL: opening must not checkpoint it."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    wal = path.with_name(path.name + "-wal")
    kept = wal.read_bytes()
    conn.close()  # checkpoints and deletes the WAL; put it back as a crash would have left it
    shutil.copy(path.with_name("pristine"), path)
    wal.write_bytes(kept)


def text_file(path: Path) -> None:
    path.write_text("photo,equipment\n" * 300)


CATALOG_DAMAGE = [truncate, garbage, text_file, garbage_wal, foreign_database, newer_schema, newer_schema_in_the_wal]


@pytest.mark.parametrize("damage", CATALOG_DAMAGE, ids=lambda d: d.__name__)
def test_damaged_foreign_or_newer_catalog_is_refused_by_name_and_left_untouched(
        archive_copy: Path, damage: Callable[[Path], None]) -> None:
    catalog = archive_copy / "catalog.sqlite"
    shutil.copy(catalog, archive_copy / "pristine")
    damage(catalog)
    before = digests(archive_copy)
    with pytest.raises(CatalogError) as refused:
        Archive.open(archive_copy)
    named = refused.value.path
    assert named.parent == archive_copy and named.name.startswith("catalog.sqlite")
    assert str(named) in str(refused.value) and "untouched" in str(refused.value)
    if damage in (newer_schema, newer_schema_in_the_wal):
        assert isinstance(refused.value, SchemaTooNewError) and "newer" in str(refused.value)
    after = digests(archive_copy)
    assert {k: after.get(k) for k in before} == before
    for name in set(after) - set(before):  # SQLite's shared-memory file, and an empty WAL, may appear
        assert name in ("catalog.sqlite-shm", "catalog.sqlite-wal"), name
        assert name.endswith("-shm") or (archive_copy / name).stat().st_size == 0


def test_cli_refuses_a_newer_catalog_with_a_message_and_keeps_it(archive_copy: Path) -> None:
    catalog = archive_copy / "catalog.sqlite"
    newer_schema(catalog)
    before = catalog.read_bytes()
    proc = run_cli(archive_copy, "add", str(archive_copy), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{catalog}: written by a newer Inspector Search (schema 99" in proc.stderr
    assert catalog.read_bytes() == before
    conn = sqlite3.connect(f"{catalog.as_uri()}?mode=ro", uri=True)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 99  # refused, not "upgraded"
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()
