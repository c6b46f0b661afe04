"""A bound on the memory that photo decoding holds at once, whatever the number of decoding threads.

A photo's decoded pixels can be far bigger than its file: a 196-megapixel 16-bit PNG of a few megabytes
decodes to 588 MB of RGB, and Pillow holds a second copy while it converts or reduces it. With four
decoding threads, four such photos were decoded together and an ``add`` peaked at 2.78 GB. Every decode
therefore first reserves its estimated bytes from one process-wide :data:`DECODE_BUDGET` and waits while
the photos already being decoded hold too much of it; a photo bigger than the whole budget is decoded
alone. Small photos (the usual case) never wait: hundreds of them fit in the budget together.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import threading
from collections.abc import Callable, Iterator

DEFAULT_BUDGET_BYTES = 1 << 30
"""1 GiB of decoded pixels in flight, over all decoding threads of the process."""
TRIM_ABOVE_BYTES = 64 << 20
"""After a decode this big, freed memory is handed back to the OS (see :func:`give_back_free_memory`)."""


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc; absent from musl
    except (OSError, AttributeError):
        return None


def give_back_free_memory() -> None:
    """Return freed heap memory to the OS (glibc ``malloc_trim``; nothing elsewhere).

    Pillow allocates a big image in 16 MB blocks, which glibc serves from the decoding thread's own heap
    arena once its mmap threshold has grown; freed, they stay in that arena. Each decoding thread then
    keeps the memory of the biggest photo it decoded, and the budget would bound the work but not the
    resident memory (measured with 4 threads on 4 x 64 MP PNGs, one decoded at a time: 895 MB peak RSS without
    this, 430 MB with it)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class DecodeBudget:
    """Bytes of decoded images in flight, shared by threads; :meth:`hold` blocks while it is spent."""

    def __init__(self, limit_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        if limit_bytes <= 0:
            raise ValueError(f"the decode budget must be positive, got {limit_bytes}")
        self.limit = limit_bytes
        self._used = 0
        self._holders = 0
        self.peak_bytes = 0
        """The most bytes held at once so far (for tests and benchmarks)."""
        self.peak_holders = 0
        """The most decodes in flight at once so far."""
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def hold(self, estimate: int) -> Iterator[None]:
        """Reserve ``estimate`` bytes for one decode, waiting until they fit (alone, if bigger than the budget)."""
        amount = min(max(int(estimate), 0), self.limit)
        with self._changed:
            while self._holders and self._used + amount > self.limit:
                self._changed.wait()
            self._used += amount
            self._holders += 1
            self.peak_bytes = max(self.peak_bytes, self._used)
            self.peak_holders = max(self.peak_holders, self._holders)
        try:
            yield
        finally:
            if amount >= TRIM_ABOVE_BYTES:
                give_back_free_memory()
            with self._changed:
                self._used -= amount
                self._holders -= 1
                self._changed.notify_all()


BUDGET_ENV_VAR = "INSPECTOR_SEARCH_DECODE_BUDGET_MB"
"""Another budget in MiB (a machine with little memory; benchmarks/decode_memory.py compares)."""


def configured_budget() -> int:
    """The budget in bytes: :data:`BUDGET_ENV_VAR` if it holds a positive number of MiB, else the default."""
    try:
        mib = int(os.environ.get(BUDGET_ENV_VAR, ""))
    except ValueError:
        return DEFAULT_BUDGET_BYTES
    return mib << 20 if mib > 0 else DEFAULT_BUDGET_BYTES


DECODE_BUDGET = DecodeBudget(configured_budget())
"""The budget every photo decode of this process draws from (:func:`inspector_search.core.imaging.open_image`)."""


def decoded_bytes(width: int, height: int, mode: str) -> int:
    """Estimated peak bytes of decoding a ``width`` x ``height`` image of Pillow ``mode``: the decoded
    pixels plus one working copy (conversion to RGB, reduction)."""
    bands = {"1": 1, "L": 1, "P": 1, "I;16": 1, "I;16B": 1, "I;16L": 1, "I": 1, "F": 1, "LA": 2, "PA": 2,
             "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4, "RGBX": 4, "CMYK": 4}.get(mode, 4)
    sample = 4 if mode in ("I", "F") else 2 if mode.startswith("I;16") else 1
    return width * height * (bands * sample + 3)  # + the RGB working copy
