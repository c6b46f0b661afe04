"""Opening a big catalog: the whole-file quick_check is skipped, a truncated file is still refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from inspector_search.core import catalog as catalog_module
from inspector_search.core.catalog import Catalog
from inspector_search.core.errors import CatalogError


def filled_catalog(path: Path) -> Path:
    """A real catalog with enough rows to span many pages, checkpointed into the main file."""
    Catalog(path).close()
    conn = sqlite3.connect(path)
    conn.executemany("INSERT INTO skipped(path, reason, seen_at) VALUES (?, 'unreadable', '2026-01-01')",
                     ((f"/photos/{n:06d}.jpg",) for n in range(5000)))
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def test_big_catalog_opens_without_reading_it_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = filled_catalog(tmp_path / "catalog.sqlite")
    monkeypatch.setattr(catalog_module, "QUICK_CHECK_MAX_BYTES", 0)
    statements: list[str] = []
    real_connect = sqlite3.connect

    def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(catalog_module.sqlite3, "connect", traced)
    opened = Catalog(path)
    assert len(opened.skipped()) == 5000
    opened.close()
    assert not any("quick_check" in s for s in statements)


def test_truncated_big_catalog_is_refused_without_a_quick_check(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = filled_catalog(tmp_path / "catalog.sqlite")
    monkeypatch.setattr(catalog_module, "QUICK_CHECK_MAX_BYTES", 0)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before = path.read_bytes()
    with pytest.raises(CatalogError, match="truncated"):
        Catalog(path)
    assert path.read_bytes() == before
