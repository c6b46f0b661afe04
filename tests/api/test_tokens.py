"""API tokens: stored hashed, owner-only, managed by the CLI; every request without a valid token is
refused with 401, a read token writing with 403; a revoked token stops working at once."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from inspector_search.api.tokens import TokenError, TokenStore
from inspector_search.core.archive import Archive

from .conftest import Served


def cli(archive: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inspector_search", "--archive", str(archive), *args],
                          capture_output=True, text=True, timeout=120, check=check)


def test_token_commands_create_list_revoke(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    proc = cli(archive, "token", "create", "--scope", "read", check=False)  # a mistyped --archive
    assert proc.returncode == 1 and "not an Inspector Search archive" in proc.stderr and not archive.exists()
    Archive.open(archive).close()  # an empty archive
    token = cli(archive, "token", "create", "--scope", "write", "--name", "CMMS").stdout.strip()
    assert token.startswith("isk_") and len(token) > 40
    stored = (archive / "api_tokens.json").read_text()
    assert token not in stored and token[4:20] not in stored  # only the hash is kept
    if os.name == "posix":
        assert stat.S_IMODE((archive / "api_tokens.json").stat().st_mode) == 0o600
    (listed,) = json.loads(cli(archive, "token", "list", "--json").stdout)
    assert listed["name"] == "CMMS" and listed["scope"] == "write" and "sha256" not in listed
    record = TokenStore(archive).verify(token)
    assert record is not None and record.id == listed["id"]
    assert "revoked" in cli(archive, "token", "revoke", listed["id"]).stdout
    assert TokenStore(archive).verify(token) is None
    proc = cli(archive, "token", "revoke", listed["id"], check=False)
    assert proc.returncode == 1 and "no token with id" in proc.stderr
    proc = cli(archive, "token", "create", "--scope", "admin", check=False)
    assert proc.returncode == 2 and "admin" in proc.stderr


def test_a_damaged_token_file_is_an_error_not_an_open_door(tmp_path: Path) -> None:
    (tmp_path / "api_tokens.json").write_text("{broken")
    with pytest.raises(TokenError, match="api_tokens.json"):
        TokenStore(tmp_path).verify("isk_anything")


def test_requests_without_a_valid_token_are_refused(served: Served) -> None:
    for token in (None, "isk_made-up", served.read + "x"):
        with served.client(token) as client:
            for path in ("/v1/health", "/v1/status", "/v1/photos/1", "/v1/equipment/P-101/history"):
                answer = client.get(path)
                assert answer.status_code == 401, (token, path, answer.text)
                assert answer.json()["error"]["code"] == "unauthorized"
                assert answer.headers["www-authenticate"] == "Bearer"
            assert client.post("/v1/search", files=[("images", ("a.jpg", b"x", "image/jpeg"))]).status_code == 401
    with served.client(None, headers={"Authorization": f"Basic {served.read}"}) as client:
        assert client.get("/v1/health").status_code == 401


def test_a_revoked_token_stops_working_without_a_restart(served: Served) -> None:
    store = TokenStore(served.archive.folder)
    record, token = store.create("read", "short-lived")
    with served.client(token) as client:
        assert client.get("/v1/health").status_code == 200
        store.revoke(record.id)
        assert client.get("/v1/health").status_code == 401


def test_the_openapi_document_needs_no_token_and_lists_the_bearer_scheme(served: Served) -> None:
    with served.client(None) as client:
        document = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 404  # Swagger UI would load scripts from the internet
    assert "/v1/search" in document["paths"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_uploads_without_a_valid_token_are_refused_before_their_body_is_read(served: Served) -> None:
    import socket

    host, port = served.url.removeprefix("http://").split(":")
    for path, token, status in (("/v1/search", None, 401), ("/v1/photos", "isk_wrong", 401),
                                ("/v1/photos", served.read, 403)):
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            auth = f"Authorization: Bearer {token}\r\n" if token else ""
            conn.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: multipart/form-data; "
                         "boundary=b\r\nContent-Length: 50000000\r\n\r\n--b\r\n".encode())  # and no more
            reply = ""
            while '"}}' not in reply:  # the headers, then the JSON body, without sending the upload
                chunk = conn.recv(65536).decode("latin-1")
                assert chunk, reply
                reply += chunk
        assert reply.startswith(f"HTTP/1.1 {status} "), reply
        assert '"code":"unauthorized"' in reply or '"code":"forbidden"' in reply
