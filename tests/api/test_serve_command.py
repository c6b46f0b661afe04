"""`inspector-search serve` as a real process: binds 127.0.0.1 by default, prints its address, answers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from .conftest import tokens_for


@contextmanager
def serve_process(archive: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``inspector-search serve --port 0`` and yield (base URL, process) once it listens."""
    env = {k: v for k, v in os.environ.items() if k != "INSPECTOR_SEARCH_ARCHIVE"}
    proc = subprocess.Popen([sys.executable, "-m", "inspector_search", "--archive", str(archive), "serve",
                             "--port", "0", *args], stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                raise AssertionError(f"serve exited with {proc.returncode}")
            found = re.search(r"on (https?://\S+)", line)
            url = found.group(1) if found else None
        assert url, "serve did not print its address"
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stderr.close()


def test_serve_binds_loopback_and_answers_with_a_token(plant: tuple[Path, Path]) -> None:
    read, _ = tokens_for(plant[0])
    with serve_process(plant[0]) as (url, proc):
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.get(f"{url}/v1/status", headers={"Authorization": f"Bearer {read}"}, timeout=60)
        assert answer.status_code == 200 and answer.json()["photos"] == 24
        assert httpx.get(f"{url}/v1/status", timeout=60).status_code == 401
    assert proc.returncode == 0


def test_serve_refuses_a_missing_import_folder_and_half_tls(tmp_path: Path) -> None:
    for args, message in ((["--import-folder", str(tmp_path / "nope")], "is not a folder"),
                          (["--ssl-certfile", str(tmp_path / "c.pem")], "go together")):
        proc = subprocess.run([sys.executable, "-m", "inspector_search", "--archive", str(tmp_path / "a"), "serve",
                               "--port", "0", *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and message in proc.stderr
