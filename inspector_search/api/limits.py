"""Limits the API puts on what it is sent: request size, image size, and which folders it may read.

All refusals are :class:`ApiError` with an HTTP status and a message naming the problem; the app turns
them into JSON.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import threading
import warnings
from pathlib import Path
from urllib.parse import unquote

from PIL import Image, UnidentifiedImageError

from ..core.errors import InspectorSearchError


class ApiError(InspectorSearchError):
    """A request the API refuses: ``status`` is the HTTP status, ``code`` a short machine-readable word."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class BodySizeLimit:
    """ASGI middleware refusing a request body larger than ``limit`` bytes with 413, whether the client
    announces it (Content-Length) or streams it (chunked): the body is counted as it arrives."""

    def __init__(self, app, limit: int) -> None:  # noqa: ANN001 - an ASGI app
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    await _send_error(send, 400, "bad_request", "Content-Length is not a number")
                    return
                if announced > self.limit:
                    await _send_error(send, 413, "too_large", _too_large(announced, self.limit))
                    return
        received = 0
        started = refused = False

        async def counting_receive():  # noqa: ANN202
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    if not started and not refused:
                        refused = True
                        await _send_error(send, 413, "too_large", _too_large(received, self.limit, streamed=True))
                    raise _BodyTooLarge  # the app may turn this into its own error: tracking_send drops that
            return message

        async def tracking_send(message) -> None:  # noqa: ANN001
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, counting_receive, tracking_send)


class FifoGate:
    """At most ``slots`` holders at once; waiters get in strictly in arrival order. A freed slot is handed
    to the longest waiter directly, so a request arriving later cannot slip in first (as it can with
    ``threading.Semaphore``) and no request waits round after round: that tail is the p95."""

    def __init__(self, slots: int) -> None:
        self._lock = threading.Lock()
        self._free = max(1, slots)
        self._waiters: collections.deque[threading.Event] = collections.deque()

    def __enter__(self) -> FifoGate:
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return self
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()  # the slot passes on without ever being free
            else:
                self._free += 1

    @property
    def waiting(self) -> int:
        return len(self._waiters)


class RequestLimit:
    """ASGI middleware answering 503 (JSON, ``Retry-After``) when ``limit`` requests are already in
    progress, so that many slow or large uploads cannot pile up memory and temporary files."""

    def __init__(self, app, limit: int) -> None:  # noqa: ANN001 - an ASGI app
        self.app = app
        self.limit = limit
        self.active = 0

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:  # one event loop: no lock needed between the test and the increment
            await _send_error(send, 503, "busy", f"{self.active} requests are in progress, this server's limit; "
                                                 "try again shortly", retry_after=1)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


class _BodyTooLarge(Exception):
    pass


def _too_large(size: int, limit: int, streamed: bool = False) -> str:
    more = "more than " if streamed else ""
    return f"request body of {more}{size:,} bytes exceeds the server's limit of {limit:,} bytes"


async def _send_error(send, status: int, code: str, message: str, retry_after: int | None = None) -> None:  # noqa: ANN001
    import json

    body = json.dumps({"error": {"code": code, "message": message}}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def check_image(data: bytes, name: str, max_pixels: int) -> None:
    """Refuse an uploaded file that is not an image or has more than ``max_pixels`` pixels, from its
    header alone (a decompression bomb is refused before anything is decoded)."""
    if not data:
        raise ApiError(400, "bad_image", f"{name}: the uploaded file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        raise ApiError(413, "too_many_pixels", f"{name}: the image has too many pixels "
                                               f"(this server accepts at most {max_pixels:,})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ApiError(400, "bad_image", f"{name}: not a readable image ({exc})") from None
    if width * height > max_pixels:
        raise ApiError(413, "too_many_pixels", f"{name}: {width} x {height} = {width * height:,} pixels exceeds "
                                               f"this server's limit of {max_pixels:,}")


def allowed_folder(requested: str, roots: tuple[Path, ...], what: str = "folder") -> Path:
    """The real path of ``requested`` if it lies inside one of the configured ``roots`` (after resolving
    ``..``, symlinks and percent-encoded separators), else ApiError 403 naming it. Relative paths are
    taken relative to the first root."""
    if not roots:
        raise ApiError(403, "imports_disabled", "this server has no import folders configured "
                                                "(start it with --import-folder DIR)")
    if "\x00" in requested or requested != unquote(requested):
        raise ApiError(400, "bad_path", f"{what} {requested!r}: encoded or NUL characters are not accepted")
    real_roots = [Path(os.path.realpath(r)) for r in roots]
    candidate = Path(requested)
    if not candidate.is_absolute():
        candidate = real_roots[0] / candidate
    real = Path(os.path.realpath(candidate))
    if not any(real == root or real.is_relative_to(root) for root in real_roots):
        raise ApiError(403, "outside_import_folders",
                       f"{what} {requested!r} is outside the server's import folders")
    if not real.exists():
        raise ApiError(404, "not_found", f"{what} {requested!r} does not exist")
    return real


def links_leaving(folder: Path, roots: tuple[Path, ...]) -> list[Path]:
    """Symlinks below ``folder`` (which an import would follow) that point outside the ``roots``."""
    real_roots = [Path(os.path.realpath(r)) for r in roots]
    leaving = []
    for parent, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            path = Path(parent) / name
            if path.is_symlink():
                target = Path(os.path.realpath(path))
                if not any(target == r or target.is_relative_to(r) for r in real_roots):
                    leaving.append(path)
    return leaving
