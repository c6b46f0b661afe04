"""Runs searches on a worker; a newer search supersedes older ones (their results are dropped)."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from inspector_search.core.records import SearchHit, SearchRequest

from .workers import TaskRunner


class SearchController(QObject):
    """``search(request)`` returns at once; ``resultsReady(hits, request, seconds)`` or
    ``searchFailed(error, request)`` follow on the GUI thread, only for the latest request."""

    resultsReady = Signal(object, object, float)
    searchFailed = Signal(object, object)

    def __init__(self, archive: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._archive = archive
        self._generation = 0
        self._runner = TaskRunner(max_threads=2, parent=self)
        self.last_request: SearchRequest | None = None
        self.last_hits: list[SearchHit] = []

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def busy(self) -> bool:
        return self._runner.active > 0

    def search(self, request: SearchRequest) -> int:
        """Start a search; returns its generation number."""
        self._generation += 1
        generation = self._generation
        archive = self._archive

        def run(_progress: object) -> tuple[list[SearchHit], float]:
            started = time.perf_counter()
            hits = archive.search(request)
            return hits, time.perf_counter() - started

        self._runner.submit(
            run,
            lambda result: self._finished(generation, request, result),
            lambda error: self._failed(generation, request, error),
        )
        return generation

    def _finished(self, generation: int, request: SearchRequest, result: tuple[list[SearchHit], float]) -> None:
        if generation != self._generation:
            return
        hits, seconds = result
        self.last_request, self.last_hits = request, list(hits)
        self.resultsReady.emit(self.last_hits, request, seconds)

    def _failed(self, generation: int, request: SearchRequest, error: BaseException) -> None:
        if generation == self._generation:
            self.searchFailed.emit(error, request)

    def shutdown(self) -> None:
        self._runner.shutdown()
