"""Lazy thumbnail loading: the archive's cached JPEG is decoded on a worker, shown on the GUI thread.

``archive.thumbnail(image_id, size)`` returns a JPEG path in the archive's thumbnail cache
(creating it if needed); a worker decodes it into a ``QImage`` (safe off the GUI thread) and the
GUI thread turns it into a ``QPixmap`` (which must only be made there).

A view that asks for thumbnails names itself as their ``owner``; when it shows something else (a new
search started), :meth:`ThumbnailLoader.drop_queued` drops the loads it asked for that have not started
and that no one else is waiting for.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage, QPixmap

from .workers import Task, TaskRunner

#: Sizes asked of the archive's cache; a view asks for the smallest one at least as big as it needs.
CACHE_SIZES = (256, 512)


def cache_size_for(pixels: float) -> int:
    """The archive thumbnail size to request to paint ``pixels`` device pixels sharply."""
    for size in CACHE_SIZES:
        if pixels <= size:
            return size
    return CACHE_SIZES[-1]


@dataclass
class _Load:
    """A thumbnail load on its way, and who asked for it (``None``: someone who never drops it)."""

    task: Task
    owners: set[object] = field(default_factory=set)


class ThumbnailLoader(QObject):
    """Hands out thumbnails by image id; a miss starts a load and ``ready(image_id)`` follows."""

    ready = Signal(int)

    def __init__(self, archive: Any, capacity: int = 800, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._archive = archive
        self._capacity = capacity
        self._cache: OrderedDict[tuple[int, int], QPixmap] = OrderedDict()
        self._pending: dict[tuple[int, int], _Load] = {}
        self._failed: set[tuple[int, int]] = set()
        self._runner = TaskRunner(max_threads=2, parent=self)

    def pixmap(self, image_id: int, size: int = 256, owner: object | None = None) -> QPixmap | None:
        """The cached thumbnail, or ``None`` while it loads (a load is started on a miss).

        ``owner`` (a view's model) may later drop the load with :meth:`drop_queued`."""
        key = (image_id, size)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        if key in self._failed:
            return None
        load = self._pending.get(key)
        if load is None:
            task = self._runner.submit(
                lambda _progress: self._decode(key),
                on_finished=self._loaded,
                on_failed=lambda _error: self._load_failed(key),
                name="thumbnail",
            )
            load = self._pending[key] = _Load(task)
        load.owners.add(owner)
        return None

    def drop_queued(self, owner: object) -> int:
        """Forget ``owner``'s requests; loads no one else waits for and that have not started are
        dropped (asking again starts a new load). Returns how many were dropped."""
        dropped = 0
        for key, load in list(self._pending.items()):
            load.owners.discard(owner)
            if not load.owners and self._runner.drop(load.task):
                del self._pending[key]
                dropped += 1
        return dropped

    @property
    def loading(self) -> int:
        """Thumbnail loads queued or running."""
        return len(self._pending)

    def failed(self, image_id: int, size: int = 256) -> bool:
        """True if the thumbnail could not be made (the photo is gone or unreadable)."""
        return (image_id, size) in self._failed

    def _decode(self, key: tuple[int, int]) -> tuple[tuple[int, int], QImage]:
        """Runs on a worker thread."""
        path = self._archive.thumbnail(key[0], key[1])
        image = QImage(str(path))
        if image.isNull():
            raise ValueError(f"cannot decode thumbnail {path}")
        return key, image

    @Slot(object)
    def _loaded(self, result: tuple[tuple[int, int], QImage]) -> None:
        key, image = result
        self._pending.pop(key, None)
        self._cache[key] = QPixmap.fromImage(image)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        self.ready.emit(key[0])

    def _load_failed(self, key: tuple[int, int]) -> None:
        self._pending.pop(key, None)
        self._failed.add(key)
        self.ready.emit(key[0])

    def shutdown(self) -> None:
        self._runner.shutdown()
