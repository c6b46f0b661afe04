"""Passwords on a laptop: a role with a real SCRAM password, the password kept in the keyring (an
in-memory keyring backend stands in for the OS's), never in a file of ours or a message."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from inspector_search.core.archive import Archive, add_shared_user, link_archive, remember_server_password
from inspector_search.core.errors import SharedArchiveError
from inspector_search.core.storage.pg_connect import connect, redact

from .test_server_init import as_user


@pytest.fixture
def memory_keyring():
    keyring = pytest.importorskip("keyring")
    from keyring.backend import KeyringBackend

    class Backend(KeyringBackend):
        priority = 1
        items: dict[tuple[str, str], str] = {}

        def get_password(self, service, username):
            return self.items.get((service, username))

        def set_password(self, service, username, password):
            self.items[(service, username)] = password

        def delete_password(self, service, username):
            self.items.pop((service, username), None)

    previous = keyring.get_keyring()
    backend = Backend()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def scram_user(pg_server, shared_url: str):
    """A login role ``dave`` that must give its SCRAM password (a pg_hba line ahead of the trust ones)."""
    hba = pg_server.data_dir / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text("local all dave scram-sha-256\n" + original)
    add_shared_user(shared_url, "dave", "contributor", password="dave-Secret-1")
    with psycopg.connect(shared_url) as conn:
        conn.execute("SELECT pg_reload_conf()")
    yield as_user(shared_url, "dave")
    hba.write_text(original)
    with psycopg.connect(shared_url) as conn:
        conn.execute("SELECT pg_reload_conf()")


def test_the_keyring_supplies_the_password_and_no_file_holds_it(scram_user: str, memory_keyring,
                                                                tmp_path: Path) -> None:
    with pytest.raises(SharedArchiveError, match="cannot connect") as refused:
        connect(scram_user).close()
    assert "dave-Secret-1" not in str(refused.value)
    key = remember_server_password(scram_user, "dave-Secret-1")
    assert key.startswith("dave@") and list(memory_keyring.items.values()) == ["dave-Secret-1"]
    with connect(scram_user) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "dave"
    archive = Archive.open(tmp_path / "archive")
    link_archive(archive, scram_user)
    archive.close()
    for path in (tmp_path / "archive").rglob("*"):
        if path.is_file():
            assert b"dave-Secret-1" not in path.read_bytes(), path


def test_urls_in_messages_never_show_a_password() -> None:
    assert redact("postgresql://dave:hunter2@db/plant?sslmode=verify-full") == \
        "postgresql://dave:***@db/plant?sslmode=verify-full"
    assert redact("host=db user=dave password=hunter2 dbname=plant") == "host=db user=dave password=*** dbname=plant"
    with pytest.raises(SharedArchiveError) as refused:
        connect("postgresql://dave:hunter2@/nowhere?host=/nonexistent").close()
    assert "hunter2" not in str(refused.value) and "***" in str(refused.value)
