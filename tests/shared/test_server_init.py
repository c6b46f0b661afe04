"""``server init``: versioned schema on a real PostgreSQL, refusal of a newer one, roles and row-level
security tested by connecting as real roles."""

from __future__ import annotations

import psycopg
import pytest

from inspector_search.cli import main
from inspector_search.core.archive import add_shared_user, init_shared_archive
from inspector_search.core.errors import SharedArchiveError
from inspector_search.core.storage.pg_schema import SCHEMA_VERSION, check_schema


def as_user(url: str, user: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://{user}@", 1)


def _insert_photo(conn: psycopg.Connection, content_hash: str) -> int:
    return conn.execute("INSERT INTO photos (content_hash, byte_size, site) VALUES (%s, 10, 'North') RETURNING id",
                        (content_hash,)).fetchone()[0]


def test_init_creates_the_schema_once_and_migrating_again_changes_nothing(pg_url: str) -> None:
    first = init_shared_archive(pg_url)
    assert (first.from_version, first.to_version, len(first.applied)) == (0, SCHEMA_VERSION, SCHEMA_VERSION)
    again = init_shared_archive(pg_url)
    assert (again.from_version, again.applied) == (SCHEMA_VERSION, ())
    with psycopg.connect(pg_url) as conn:
        assert check_schema(conn, pg_url) == SCHEMA_VERSION
        index = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'vectors_hnsw'").fetchone()[0]
        assert "hnsw" in index and "vector_cosine_ops" in index
        dim = conn.execute("SELECT atttypmod FROM pg_attribute WHERE attrelid = 'vectors'::regclass "
                           "AND attname = 'embedding'").fetchone()[0]
        assert dim == 128


def test_a_newer_schema_is_refused_and_left_untouched(shared_url: str) -> None:
    with psycopg.connect(shared_url) as conn:
        conn.execute("UPDATE schema_info SET value = %s WHERE key = 'version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(SharedArchiveError, match="newer than this Inspector Search"):
        init_shared_archive(shared_url)
    with psycopg.connect(shared_url) as conn:
        with pytest.raises(SharedArchiveError, match="update the program"):
            check_schema(conn, shared_url)
        assert conn.execute("SELECT value FROM schema_info WHERE key = 'version'").fetchone()[0] == \
            str(SCHEMA_VERSION + 1)


def test_an_uninitialised_database_is_named_as_such(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn, pytest.raises(SharedArchiveError, match="server init"):
        check_schema(conn, pg_url)


def test_a_contributor_cannot_change_or_delete_photos_others_added(shared_url: str) -> None:
    for name, role in (("alice", "contributor"), ("bob", "contributor"), ("carol", "reader")):
        add_shared_user(shared_url, name, role, password=f"{name}-secret")
    with psycopg.connect(as_user(shared_url, "alice"), autocommit=True) as alice:
        photo = _insert_photo(alice, "a" * 64)
        alice.execute("INSERT INTO media (photo_id, thumbnail, display) VALUES (%s, %s, %s)", (photo, b"t", b"d"))
        assert alice.execute("SELECT added_by FROM photos WHERE id = %s", (photo,)).fetchone()[0] == "alice"
    with psycopg.connect(as_user(shared_url, "bob"), autocommit=True) as bob:
        assert bob.execute("SELECT count(*) FROM photos").fetchone()[0] == 1  # bob reads it...
        assert bob.execute("UPDATE photos SET site = 'South' WHERE id = %s", (photo,)).rowcount == 0  # ...cannot edit
        assert bob.execute("DELETE FROM photos WHERE id = %s", (photo,)).rowcount == 0
        assert bob.execute("DELETE FROM media WHERE photo_id = %s", (photo,)).rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # nor pass a photo off as alice's
            bob.execute("INSERT INTO photos (content_hash, byte_size, added_by) VALUES (%s, 1, 'alice')", ("b" * 64,))
        own = _insert_photo(bob, "c" * 64)
        assert bob.execute("UPDATE photos SET site = 'South' WHERE id = %s", (own,)).rowcount == 1
    with psycopg.connect(as_user(shared_url, "carol"), autocommit=True) as carol:
        assert carol.execute("SELECT count(*) FROM photos").fetchone()[0] == 2
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _insert_photo(carol, "d" * 64)
    with psycopg.connect(shared_url) as owner:
        assert owner.execute("SELECT site FROM photos WHERE id = %s", (photo,)).fetchone()[0] == "North"
        secret = owner.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'alice'").fetchone()[0]
        assert secret.startswith("SCRAM-SHA-256$") and "alice-secret" not in secret


def test_server_init_on_the_command_line(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "init", pg_url]) == 0
    assert f"schema version {SCHEMA_VERSION} (created)" in capsys.readouterr().out
    assert main(["server", "init", pg_url]) == 0
    assert "already up to date" in capsys.readouterr().out
    assert main(["server", "init", pg_url.replace("/plant_", "/no_such_db_")]) == 1
    assert "cannot connect" in capsys.readouterr().err


def test_an_older_schema_is_migrated_in_place_keeping_its_rows(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from inspector_search.core.storage import pg_schema

    monkeypatch.setattr(pg_schema, "MIGRATIONS", pg_schema.MIGRATIONS[:1])
    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", 1)
    init_shared_archive(pg_url)
    with psycopg.connect(pg_url) as conn:
        photo = _insert_photo(conn, "e" * 64)
        conn.execute("INSERT INTO labels (photo_id, label) VALUES (%s, 'corroded')", (photo,))
    monkeypatch.undo()
    with psycopg.connect(pg_url) as conn, pytest.raises(SharedArchiveError, match="older than this program"):
        check_schema(conn, pg_url)
    report = init_shared_archive(pg_url)
    assert (report.from_version, report.to_version, len(report.applied)) == (1, SCHEMA_VERSION, SCHEMA_VERSION - 1)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT kind, label FROM labels").fetchall() == [("tag", "corroded")]
