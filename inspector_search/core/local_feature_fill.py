"""Keypoints for photos that have none: archives made before geometric verification, and records
that ``check`` found damaged.

New photos get their keypoints at add time, in the transaction that stores the photo. Photos added
before (schema 1 catalogs) get them from :func:`fill_local_features`, which ``add`` runs at its end
and ``check --repair`` runs too: it decodes each photo's file again (only if it still holds the
photo's content), finds the keypoints on a thread pool and commits them in batches, so it can be
interrupted or cancelled at any moment and the next run goes on where it stopped. Search works
meanwhile: a photo without keypoints is simply not verified.
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

from .catalog import Catalog
from .errors import ImageError
from .imaging import open_image
from .local_features import LocalFeatures, extract
from .progress import Progress

__all__ = ["FillReport", "damaged_local_features", "fill_local_features", "keypoints_of"]

FILL_BATCH = 64
DECODE_MIN_SIDE = 224  # as ``add`` decodes photos for the model, so keypoints are found at the same scale


@dataclass(frozen=True)
class FillReport:
    """What one fill pass did: photos given keypoints, and those whose file could not be used (why)."""

    filled: int
    failed: tuple[tuple[str, str], ...]  # (path, reason)


def fill_local_features(catalog: Catalog, progress: Progress | None = None, workers: int | None = None,
                        min_side: int = DECODE_MIN_SIDE, batch: int = FILL_BATCH) -> FillReport:
    """Find and store the keypoints of every live photo that has none (see the module docstring).
    Raises ``Cancelled`` from ``progress``; everything committed before stays."""
    progress = progress or Progress()
    total = len(catalog.photos_missing_local_features())
    failed: dict[int, tuple[str, str]] = {}
    filled = 0
    if total == 0:
        return FillReport(0, ())
    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 2),
                            thread_name_prefix="keypoints") as pool:
        while True:
            todo = [(i, p) for i, p in catalog.photos_missing_local_features(limit=batch + len(failed))
                    if i not in failed][:batch]
            if not todo:
                break
            hashes = dict(catalog.conn.execute(
                f"SELECT id, content_hash FROM images WHERE id IN ({','.join('?' * len(todo))})",
                [i for i, _ in todo]).fetchall())
            results = list(pool.map(_keypoints, [Path(p) for _, p in todo], [hashes.get(i) for i, _ in todo],
                                    repeat(min_side)))
            with catalog.transaction() as conn:
                for (image_id, path), result in zip(todo, results, strict=True):
                    if isinstance(result, str):
                        failed[image_id] = (path, result)
                    else:
                        catalog.put_local_features(conn, image_id, result)
                        filled += 1
            progress.report(filled + len(failed), total, "keypoints")
            progress.check()
    return FillReport(filled, tuple(failed.values()))


def keypoints_of(data: bytes, min_side: int = DECODE_MIN_SIDE) -> bytes | None:
    """The keypoint blob of an encoded photo (e.g. the display copy a shared archive sends), or
    ``None`` when it cannot be decoded."""
    try:
        image, _info = open_image(io.BytesIO(data), min_side=min_side)
    except ImageError:
        return None
    return extract(image).to_bytes()


def _keypoints(path: Path, content_hash: str | None, min_side: int) -> bytes | str:
    """The stored keypoint blob of a photo's file, or why the file cannot give it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return exc.strerror or str(exc)
    if content_hash is None or hashlib.sha256(data).hexdigest() != content_hash:
        return "the file's content changed since it was added"
    try:
        image, _info = open_image(io.BytesIO(data), min_side=min_side)
    except ImageError as exc:
        return exc.reason
    return extract(image).to_bytes()


def damaged_local_features(catalog: Catalog) -> list[int]:
    """Ids of live photos whose stored keypoint record does not read back (truncated, bit rot)."""
    damaged = []
    for chunk in catalog.all_local_features():
        for image_id, blob in chunk:
            try:
                LocalFeatures.from_bytes(blob)
            except ValueError:
                damaged.append(image_id)
    return damaged
