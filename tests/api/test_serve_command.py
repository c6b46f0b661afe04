"""`inspector-search serve` as a real process: binds 127.0.0.1 by default, prints its address, answers."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from .conftest import copy_photos, tokens_for, wait_for_job


@contextmanager
def serve_process(archive: Path, *args: str, env: dict[str, str] | None = None
                  ) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``inspector-search serve --port 0`` and yield (base URL, process) once it listens."""
    env = {k: v for k, v in os.environ.items() if k != "INSPECTOR_SEARCH_ARCHIVE"} | (env or {})
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


def private_archive(plant: tuple[Path, Path], tmp_path: Path) -> Path:
    folder = tmp_path / "archive"
    shutil.copytree(plant[0], folder, ignore=shutil.ignore_patterns("api_tokens.json", "lock", "api_jobs"))
    return folder


def test_an_import_killed_with_the_server_resumes_at_the_next_start(plant: tuple[Path, Path], tmp_path: Path) -> None:
    archive = private_archive(plant, tmp_path)
    copy_photos(tmp_path / "imports" / "big", 200)
    _, write = tokens_for(archive)
    headers = {"Authorization": f"Bearer {write}"}
    with serve_process(archive, "--import-folder", str(tmp_path / "imports")) as (url, proc), \
            httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        job = client.post("/v1/imports", json={"folder": "big"}).json()
        wait_for_job(client, job["id"], check=lambda j: j["progress"]["done"] >= 64)
        proc.kill()  # SIGKILL: no clean-up of any kind
        proc.wait()
    with serve_process(archive, "--import-folder", str(tmp_path / "imports")) as (url, proc), \
            httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        resumed = wait_for_job(client, job["id"])
        status = client.get("/v1/status").json()
    assert resumed["state"] == "done" and resumed["runs"] == 2, resumed
    assert resumed["result"]["added"] < 200 and resumed["result"]["unchanged"] > 0  # went on where it stopped
    assert status["photos"] == 24 + 200 and status["index"]["count"] == 24 + 200


def test_an_upload_dropped_mid_way_leaves_no_trace(plant: tuple[Path, Path], tmp_path: Path) -> None:
    archive = private_archive(plant, tmp_path)
    temp = tmp_path / "server-tmp"
    temp.mkdir()
    _, write = tokens_for(archive)
    photo = sorted(plant[1].rglob("*.jpg"))[0].read_bytes()
    payload = photo * 200  # about 2 MB: spooled to a temporary file, not kept in memory
    boundary = "cut-here"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    with serve_process(archive, env={"TMPDIR": str(temp)}) as (url, proc):
        host, port = url.removeprefix("http://").split(":")
        for _ in range(3):
            with socket.create_connection((host, int(port))) as conn:
                conn.sendall(f"POST /v1/photos HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {write}\r\n"
                             f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                             f"Content-Length: {len(head) + len(payload) + len(tail)}\r\n\r\n".encode())
                conn.sendall(head + payload[: len(payload) * 2 // 3])  # then the client goes away
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {write}"}, timeout=60) as client:
            for _ in range(50):  # the server notices the dropped connections and cleans up
                if not any(temp.iterdir()):
                    break
                time.sleep(0.1)
            assert client.get("/v1/jobs").json() == []
            assert client.get("/v1/status").json()["photos"] == 24
            assert client.post("/v1/search", files=[("images", ("q.jpg", photo, "image/jpeg"))]).status_code == 200
        leftovers = [p for p in temp.rglob("*")]
        uploads = archive / "uploads"
        assert leftovers == [] and (not uploads.exists() or [p for p in uploads.rglob("*") if p.is_file()] == [])
