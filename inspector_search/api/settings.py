"""What a server may do and how much it accepts: one declarative record, filled from ``serve``'s options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@dataclass(frozen=True)
class ServerSettings:
    """Limits and permissions of one API server.

    ``import_folders`` are the only folders ``POST /v1/imports`` may read (besides nothing else: the
    server never reads outside the archive and these). ``cors_origins`` empty means no CORS headers,
    so browsers on other origins cannot call the API. ``inference_slots`` bounds how many searches
    run the model at once; further requests queue instead of thrashing the CPU. Beyond ``max_requests``
    requests in progress at once, more are answered 503 at once.
    """

    import_folders: tuple[Path, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_request_bytes: int = 50 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    max_images_per_search: int = 16
    max_top_k: int = 1000
    max_jobs: int = 4
    max_requests: int = 64
    inference_slots: int = 2
