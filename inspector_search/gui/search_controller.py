"""Runs searches on a worker; a newer search supersedes older ones.

A superseded search that has not started is dropped (at most one search waits at any time); one that
is already running cannot be interrupted, so its results are ignored when they arrive.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from inspector_search.core.records import EquipmentHit, SearchHit, SearchRequest

from .workers import TaskRunner

Results = list[SearchHit] | list[EquipmentHit]


class SearchController(QObject):
    """``search(request)`` returns at once; ``resultsReady(results, request, seconds)`` or
    ``searchFailed(error, request)`` follow on the GUI thread, only for the latest request.

    ``results`` are :class:`SearchHit` s, or for a search by equipment the same hits grouped into
    :class:`EquipmentHit` s (``last_by_equipment`` says which): a group counts its photos among the
    ``top_k`` matches the request asked for, and holds them."""

    resultsReady = Signal(object, object, float)
    searchFailed = Signal(object, object)

    def __init__(self, archive: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._archive = archive
        self._generation = 0
        # One search at a time: a second thread would only share the CPU with a search already superseded.
        self._runner = TaskRunner(max_threads=1, parent=self)
        self.last_request: SearchRequest | None = None
        self.last_results: Results = []
        self.last_by_equipment = False

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def busy(self) -> bool:
        return self._runner.active > 0

    def search(self, request: SearchRequest, by_equipment: bool = False) -> int:
        """Start a search (ranked photos, or equipment with ``by_equipment``); returns its generation.
        Searches queued before it that have not started yet are dropped."""
        self._runner.drop_queued()
        self._generation += 1
        generation = self._generation
        archive = self._archive

        def run(_progress: object) -> tuple[Results, float]:
            started = time.perf_counter()
            results: Results = archive.search(request)
            if by_equipment:  # the same matches, grouped: each group counts its photos among them
                results = archive.group_by_equipment(results)
            return results, time.perf_counter() - started

        self._runner.submit(
            run,
            lambda result: self._finished(generation, request, by_equipment, result),
            lambda error: self._failed(generation, request, error),
            name="search",
        )
        return generation

    def _finished(self, generation: int, request: SearchRequest, by_equipment: bool,
                  result: tuple[Results, float]) -> None:
        if generation != self._generation:
            return
        results, seconds = result
        self.last_request, self.last_results, self.last_by_equipment = request, list(results), by_equipment
        self.resultsReady.emit(self.last_results, request, seconds)

    def _failed(self, generation: int, request: SearchRequest, error: BaseException) -> None:
        if generation == self._generation:
            self.searchFailed.emit(error, request)

    def shutdown(self) -> None:
        self._runner.shutdown()
