"""Fixtures of the API tests: a real archive of real photos, served by a real uvicorn server on a free
loopback port, called with httpx, and the tokens to call it with."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import NEU_CLASSES, plant_folder

from inspector_search.api.app import create_app
from inspector_search.api.settings import ServerSettings
from inspector_search.api.tokens import TokenStore
from inspector_search.core.archive import Archive


@dataclass
class Served:
    """A running server: its base URL, its archive and one token of each scope."""

    url: str
    archive: Archive
    read: str
    write: str

    def client(self, token: str | None = "read", **kwargs) -> httpx.Client:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {getattr(self, token, token)}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, **kwargs)


@contextmanager
def live_server(archive: Archive, settings: ServerSettings | None = None) -> Iterator[str]:
    """Serve ``archive`` with uvicorn on a free 127.0.0.1 port in a thread; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(archive, settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the uvicorn server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def tokens_for(folder: Path) -> tuple[str, str]:
    store = TokenStore(folder)
    return store.create("read", "tests")[1], store.create("write", "tests")[1]


@pytest.fixture(scope="package")
def plant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(archive folder, photo folder): 24 real NEU-DET photos in a site/equipment/date layout."""
    root = tmp_path_factory.mktemp("api")
    photos = plant_folder(root / "photos", per_class=6, classes=NEU_CLASSES[:4])
    with Archive.open(root / "archive") as archive:
        archive.add([photos], layout="{site}/{equipment}/{date}")
    return root / "archive", photos


@pytest.fixture(scope="package")
def served(plant: tuple[Path, Path]) -> Iterator[Served]:
    """The plant archive served read-mostly (tests must not change it)."""
    read, write = tokens_for(plant[0])
    with Archive.open(plant[0]) as archive, live_server(archive) as url:
        yield Served(url, archive, read, write)


def wait_for_job(client: httpx.Client, job_id: str, until: frozenset[str] = frozenset({"done", "failed",
                                                                                       "cancelled", "interrupted"}),
                 timeout: float = 300, check=None) -> dict:  # noqa: ANN001 - check(job) -> bool
    """Poll ``GET /v1/jobs/{id}`` until its state is in ``until`` (or ``check(job)`` holds)."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in until or (check is not None and check(job)):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s: {job}")
        time.sleep(0.1)


def copy_photos(target: Path, count: int, start: int = 0) -> Path:
    """``count`` real NEU-DET photos of the classes the plant archive does not hold, into ``target``."""
    import shutil

    from conftest import neu_sample

    sources = neu_sample(300, NEU_CLASSES[4:])[start:start + count]
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copy2(source, target / f"{source.parent.name}-{source.name}")
    return target


@pytest.fixture
def writable(plant: tuple[Path, Path], tmp_path: Path) -> Iterator[Served]:
    """A private copy of the plant archive, served with ``tmp_path/imports`` as its import folder."""
    import shutil

    folder = tmp_path / "archive"
    shutil.copytree(plant[0], folder, ignore=shutil.ignore_patterns("api_tokens.json", "lock", "api_jobs"))
    (tmp_path / "imports").mkdir()
    read, write = tokens_for(folder)
    settings = ServerSettings(import_folders=(tmp_path / "imports",), max_jobs=2)
    with Archive.open(folder) as archive, live_server(archive, settings) as url:
        yield Served(url, archive, read, write)
