"""Limits on a real server: request size (announced or streamed), image pixels (decompression bombs),
images per search; CORS off unless configured; TLS through uvicorn's options."""

from __future__ import annotations

import io
import shutil
import ssl
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from inspector_search.api.settings import ServerSettings

from .conftest import Served, live_server


@pytest.fixture(scope="module")
def limited(served: Served) -> Iterator[Served]:
    settings = ServerSettings(max_request_bytes=2**20, max_image_pixels=1_000_000, max_images_per_search=2,
                              max_top_k=50, cors_origins=("https://portal.plant",))
    with live_server(served.archive, settings) as url:
        yield Served(url, served.archive, served.read, served.write)


def jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(buffer, "JPEG", quality=50)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")


def test_request_bodies_over_the_limit_are_refused_announced_or_streamed(limited: Served) -> None:
    big = b"\xff\xd8" + b"\0" * (2**20 + 10)
    with limited.client() as client:
        announced = client.post("/v1/search", files=[("images", ("big.jpg", big, "image/jpeg"))])

        def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked, counted as it arrives
            yield b'--b\r\nContent-Disposition: form-data; name="images"; filename="s.jpg"\r\n\r\n'
            for _ in range(40):
                yield b"x" * 65536

        streamed = client.post("/v1/search", content=chunks(), headers={"Content-Type": "multipart/form-data; "
                                                                                         "boundary=b"})
        still_fine = client.post("/v1/search", files=[("images", ("ok.jpg", jpeg((300, 200)), "image/jpeg"))])
    for answer in (announced, streamed):
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["code"] == "too_large" and "1,048,576" in answer.json()["error"]["message"]
    assert still_fine.status_code == 200


def test_images_with_too_many_pixels_are_refused_before_decoding(limited: Served) -> None:
    with limited.client() as client:
        bomb = client.post("/v1/search", files=[("images", ("bomb.png", png_claiming(40000, 40000), "image/png"))])
        large = client.post("/v1/search", files=[("images", ("large.jpg", jpeg((1200, 1000)), "image/jpeg"))])
        upload = client.post("/v1/photos", files={"image": ("bomb.png", png_claiming(40000, 40000), "image/png")},
                             headers={"Authorization": f"Bearer {limited.write}"})
    for answer in (bomb, large, upload):
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["code"] == "too_many_pixels"
    assert "bomb.png" in bomb.json()["error"]["message"]
    assert "1200 x 1000" in large.json()["error"]["message"]


def test_search_size_limits(limited: Served) -> None:
    small = ("images", ("a.jpg", jpeg((64, 64)), "image/jpeg"))
    with limited.client() as client:
        many = client.post("/v1/search", files=[small] * 3)
        deep = client.post("/v1/search", files=[small], data={"top_k": "51"})
    assert many.status_code == 413 and "at most 2" in many.json()["error"]["message"]
    assert deep.status_code == 400 and "top_k" in deep.json()["error"]["message"]


def test_cors_is_off_unless_an_origin_is_configured(served: Served, limited: Served) -> None:
    origin = {"Origin": "https://portal.plant"}
    with served.client(headers=origin) as client:
        plain = client.get("/v1/health")
        preflight = client.options("/v1/search", headers={"Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in plain.headers
    assert "access-control-allow-origin" not in preflight.headers
    with limited.client(headers=origin) as client:
        allowed = client.get("/v1/health")
    with limited.client(headers={"Origin": "https://elsewhere.example"}) as client:
        other = client.get("/v1/health")
    assert allowed.headers["access-control-allow-origin"] == "https://portal.plant"
    assert "access-control-allow-origin" not in other.headers


def test_tls_through_uvicorns_options(plant: tuple[Path, Path], tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed, so no test certificate can be made")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    from .conftest import tokens_for
    from .test_serve_command import serve_process

    read, _ = tokens_for(plant[0])
    with serve_process(plant[0], "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)) as (url, _proc):
        assert url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(cert))
        answer = httpx.get(f"{url}/v1/health", headers={"Authorization": f"Bearer {read}"}, verify=trusted)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/v1/health", headers={"Authorization": f"Bearer {read}"})  # not trusted by default
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(url.replace("https", "http") + "/v1/health")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def test_requests_beyond_the_concurrent_limit_get_a_json_503(served: Served) -> None:
    import socket
    import time

    with live_server(served.archive, ServerSettings(max_requests=1)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as slow:  # an upload that is still coming in
            slow.sendall(f"POST /v1/search HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {served.read}\r\n"
                         "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n"
                         .encode())
            time.sleep(0.5)
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {served.read}"}) as client:
                busy = client.get("/v1/health")
        time.sleep(0.5)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {served.read}"}) as client:
            after = client.get("/v1/health")
    assert busy.status_code == 503 and busy.json()["error"]["code"] == "busy"
    assert busy.headers["retry-after"] == "1"
    assert after.status_code == 200
