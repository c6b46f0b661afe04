"""Work off the GUI thread: superseded searches and thumbnail loads are dropped, pool threads live as long
as their pool, and closing a dialog never waits for a worker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtGui import QImage

from inspector_search.core.records import PhotoRecord, SearchHit, SearchRequest
from inspector_search.gui import compare
from inspector_search.gui.compare import CompareDialog
from inspector_search.gui.results import ResultsModel, Role
from inspector_search.gui.search_controller import SearchController
from inspector_search.gui.thumbnails import ThumbnailLoader
from inspector_search.gui.workers import TaskRunner

#: Closing a dialog must feel instant; the defect made it wait 5 s.
CLOSE_SECONDS = 1.0


class BlockingArchive:
    """Stands in for the archive where its calls must be held: each call is recorded and waits for ``release``."""

    def __init__(self, thumbnail: Path | None = None) -> None:
        self.calls: list[object] = []
        self.release = threading.Event()
        self._thumbnail = thumbnail
        self._lock = threading.Lock()

    def _call(self, what: object) -> None:
        with self._lock:
            self.calls.append(what)
        assert self.release.wait(30)

    def search(self, request: SearchRequest) -> list:
        self._call(request)
        return []

    def search_by_equipment(self, request: SearchRequest) -> list:
        self._call(request)
        return []

    def thumbnail(self, image_id: int, size: int = 256) -> Path:
        self._call(image_id)
        assert self._thumbnail is not None
        return self._thumbnail


def test_superseded_searches_that_have_not_started_are_dropped(qtbot) -> None:
    archive = BlockingArchive()
    controller = SearchController(archive)
    requests = [SearchRequest(image=Path(f"/queries/{n}.jpg")) for n in range(5)]
    received: list[SearchRequest] = []
    controller.resultsReady.connect(lambda _hits, request, _seconds: received.append(request))
    try:
        controller.search(requests[0])
        qtbot.waitUntil(lambda: len(archive.calls) == 1, timeout=10000)
        for request in requests[1:]:
            controller.search(request)
    finally:
        archive.release.set()
    qtbot.waitUntil(lambda: not controller.busy, timeout=10000)
    # The running search could not be stopped; of the four queued behind it only the latest ran.
    assert archive.calls == [requests[0], requests[-1]]
    assert received == [requests[-1]]
    assert controller.last_request is requests[-1]
    controller.shutdown()


def test_thumbnail_loads_of_replaced_results_are_dropped(qtbot, tmp_path: Path) -> None:
    picture = tmp_path / "thumb.png"
    image = QImage(16, 16, QImage.Format.Format_RGB32)
    image.fill(0x336699)
    assert image.save(str(picture))
    archive = BlockingArchive(picture)
    loader = ThumbnailLoader(archive)  # two threads
    model = ResultsModel(loader)
    photos = [PhotoRecord(image_id=n, path=tmp_path / f"{n}.jpg") for n in range(10)]
    model.set_hits(SearchHit(n + 1, 0.9, photo) for n, photo in enumerate(photos))
    try:
        for row in range(model.rowCount()):
            assert model.index(row).data(Role.THUMBNAIL) is None  # starts the load
        qtbot.waitUntil(lambda: len(archive.calls) == 2, timeout=10000)
        assert loader.pixmap(9) is None  # someone else (the detail pane) also waits for photo 9
        assert model.drop_pending_thumbnails() == 7
        assert loader.loading == 3
    finally:
        archive.release.set()
    qtbot.waitUntil(lambda: loader.loading == 0, timeout=10000)
    assert sorted(archive.calls) == [0, 1, 9]
    assert loader.pixmap(9) is not None
    # Asking again for a dropped thumbnail loads it.
    with qtbot.waitSignal(loader.ready, timeout=10000):
        assert model.index(5).data(Role.THUMBNAIL) is None
    assert model.index(5).data(Role.THUMBNAIL) is not None
    loader.shutdown()


def test_pool_threads_live_as_long_as_their_pool(window) -> None:
    """Each new pool thread opens a catalog connection: threads that expired and were replaced leaked them."""
    runners = window.findChildren(TaskRunner)
    assert len(runners) >= 3  # the window's own, the searcher's and the thumbnail loader's
    assert all(runner.pool.expiryTimeout() < 0 for runner in runners)
    assert TaskRunner().pool.expiryTimeout() < 0


def seconds_to_close(dialog) -> float:
    started = time.perf_counter()
    dialog.close()
    return time.perf_counter() - started


def wait_deleted(qtbot, dialog) -> None:
    gone = threading.Event()
    dialog.destroyed.connect(gone.set)
    qtbot.waitUntil(gone.is_set, timeout=10000)


def held_until_released(monkeypatch, owner: object, name: str) -> tuple[threading.Event, threading.Event]:
    """Replace ``owner.name`` by a version that signals ``entered`` and then waits for ``release``."""
    entered, release = threading.Event(), threading.Event()
    real = getattr(owner, name)

    def held(*args):
        entered.set()
        assert release.wait(30)
        return real(*args)

    monkeypatch.setattr(owner, name, held)
    return entered, release


def test_closing_a_history_that_is_still_loading_does_not_wait(qtbot, window, monkeypatch) -> None:
    entered, release = held_until_released(monkeypatch, window.archive, "history")
    try:
        dialog = window.show_history("PU-201")
        assert entered.wait(10)
        seconds = seconds_to_close(dialog)
    finally:
        release.set()
    assert seconds < CLOSE_SECONDS
    wait_deleted(qtbot, dialog)
    assert window.last_history is None
    qtbot.waitUntil(lambda: window._runner.active == 0, timeout=30000)  # the late result is ignored


def test_closing_a_compare_that_is_still_decoding_does_not_wait(qtbot, monkeypatch, query_photo: Path) -> None:
    entered, release = held_until_released(monkeypatch, compare, "load_full_image")
    runner = TaskRunner(max_threads=1)
    query = QImage(str(query_photo))
    try:
        dialog = CompareDialog(query, None, PhotoRecord(image_id=1, path=query_photo), 0.5, runner)
        dialog.show()
        assert entered.wait(10)
        seconds = seconds_to_close(dialog)
    finally:
        release.set()
    assert seconds < CLOSE_SECONDS
    wait_deleted(qtbot, dialog)
    qtbot.waitUntil(lambda: runner.active == 0, timeout=30000)  # the late image is ignored
    assert runner.wait(10000)
