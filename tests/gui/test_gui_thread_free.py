"""File reads, image encoding and folder walks run off the GUI thread: the thread that asked is never the one
that does the work, a newer request supersedes an older one, and shutting down never waits for a file
system call that may hang (an offline share)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from inspector_search.core.records import ImportPreview, PhotoRecord
from inspector_search.gui import add_dialog, detail, query_pane
from inspector_search.gui.add_dialog import PREVIEW_DEBOUNCE_MS, AddPhotosDialog
from inspector_search.gui.detail import CHECKING_TEXT, DetailPane
from inspector_search.gui.query_pane import PREVIEW_MAX_SIDE, QueryPane
from inspector_search.gui.thumbnails import ThumbnailLoader
from inspector_search.gui.workers import TaskRunner

from .conftest import open_window
from .helpers import drop_files

#: Handing work to a worker must feel instant; the defects blocked for 0.1-2 s (or a hung share's timeout).
AT_ONCE_SECONDS = 0.5
GUI_THREAD = threading.get_ident()


class Gate:
    """Wraps a function so that each call is recorded with the thread it ran on, and the calls ``held``
    accepts wait for ``release``."""

    def __init__(self, fn: Callable[..., Any], held: Callable[..., bool] = lambda *_args: True) -> None:
        self._fn = fn
        self._held = held
        self.calls: list[tuple[Any, ...]] = []
        self.threads: set[int] = set()
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(args)
        self.threads.add(threading.get_ident())
        if self._held(*args):
            self.entered.set()
            assert self.release.wait(30)
        return self._fn(*args, **kwargs)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@pytest.fixture
def pane(qtbot) -> Iterator[QueryPane]:
    widget = QueryPane()
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.shutdown()


def photos(plant_photos: Path, count: int) -> list[Path]:
    return sorted(plant_photos.rglob("*.jpg"))[:count]


# -- the worker pool nothing waits for ---------------------------------------------------------------
def test_a_daemon_runner_works_off_the_gui_thread_and_is_never_waited_for(qtbot) -> None:
    owner = QWidget()
    runner = TaskRunner(max_threads=1, parent=owner, daemon=True)
    answered: list[tuple[int, int]] = []
    runner.submit(lambda _p: threading.get_ident(), lambda worker: answered.append((worker, threading.get_ident())))
    qtbot.waitUntil(lambda: bool(answered), timeout=10000)
    assert answered[0][0] != GUI_THREAD and answered[0][1] == GUI_THREAD  # result handed back to the GUI thread
    assert runner.pool.expiryTimeout() < 0
    release = threading.Event()
    runner.submit(lambda _p: release.wait(30))
    try:
        # A QThreadPool's destructor waits for its running jobs (2.8 s for a 3 s job); this one does not.
        assert timed(lambda: shiboken6.delete(owner)) < AT_ONCE_SECONDS
    finally:
        release.set()


# -- item 2: a dropped or opened photo is decoded on a worker ----------------------------------------
def test_a_dropped_photo_is_decoded_off_the_gui_thread(qtbot, pane, monkeypatch, query_photo: Path) -> None:
    gate = Gate(query_pane.read_image)
    monkeypatch.setattr(query_pane, "read_image", gate)
    changed: list[None] = []
    pane.queryChanged.connect(lambda: changed.append(None))
    try:
        assert timed(lambda: drop_files(pane, [query_photo])) < AT_ONCE_SECONDS
        assert gate.entered.wait(10)
        assert pane.loading and pane.caption.text().startswith("Loading")
        assert pane.hint.text() == query_pane.LOADING_TEXT
        qtbot.wait(30)  # the event loop turns while the worker decodes
        assert pane.source is None and not changed
    finally:
        gate.release.set()
    with qtbot.waitSignal(pane.loadFinished, timeout=10000) as loaded:
        pass
    assert loaded.args == [True]
    assert gate.threads and GUI_THREAD not in gate.threads
    assert pane.source == query_photo and pane.image is not None and pane.view.has_image()
    assert pane.caption.text() == query_photo.name and not pane.loading
    assert len(changed) == 1


def test_a_newer_drop_supersedes_a_load_on_its_way(qtbot, pane, monkeypatch, plant_photos: Path) -> None:
    first, second, third, fourth = photos(plant_photos, 4)
    gate = Gate(query_pane.read_image, held=lambda path, *_: path in (first, second))
    monkeypatch.setattr(query_pane, "read_image", gate)
    finished: list[bool] = []
    pane.loadFinished.connect(finished.append)
    try:
        drop_files(pane, [first])
        qtbot.waitUntil(lambda: len(gate.calls) == 1, timeout=10000)
        drop_files(pane, [second])  # both threads hang on these two
        qtbot.waitUntil(lambda: len(gate.calls) == 2, timeout=10000)
        drop_files(pane, [third])  # queued…
        drop_files(pane, [fourth])  # …and dropped for this one
    finally:
        gate.release.set()
    qtbot.waitUntil(lambda: pane.source == fourth, timeout=10000)
    assert pane._runner.wait(10000)
    qtbot.wait(50)  # the late results of the first two, had they been delivered
    assert [call[0] for call in gate.calls] == [first, second, fourth]
    assert pane.source == fourth and finished == [True]


# -- item 1: a pasted image is scaled down and encoded on a worker -----------------------------------
def test_a_pasted_image_shows_at_once_and_is_encoded_small_off_the_gui_thread(qtbot, pane, monkeypatch) -> None:
    encoded: list[tuple[int, int]] = []

    def encode(image: QImage) -> bytes:
        encoded.append((image.width(), image.height()))
        return real_encode(image)

    real_encode = query_pane.encode_png
    gate = Gate(encode)
    monkeypatch.setattr(query_pane, "encode_png", gate)
    big = QImage(4096, 3072, QImage.Format.Format_RGB32)
    big.fill(0x336699)
    changed: list[None] = []
    pane.queryChanged.connect(lambda: changed.append(None))
    box = (0.1, 0.1, 0.5, 0.5)
    try:
        assert timed(lambda: pane.load_image(big)) < AT_ONCE_SECONDS
        assert pane.view.has_image() and pane.image is not None  # shown at once…
        assert pane.source is None and pane.loading  # …searched once its bytes are ready
        assert gate.entered.wait(10)
        pane.set_region(box)  # drawn while the image is being prepared: kept
    finally:
        gate.release.set()
    with qtbot.waitSignal(pane.loadFinished, timeout=10000) as loaded:
        pass
    assert loaded.args == [True]
    assert GUI_THREAD not in gate.threads
    assert encoded == [(PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE * 3 // 4)]
    assert isinstance(pane.source, bytes) and len(pane.source) < 5_000_000
    searched = QImage.fromData(pane.source)
    assert (searched.width(), searched.height()) == (PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE * 3 // 4)
    assert pane.region() == pytest.approx(box)
    assert len(changed) == 2 and pane.caption.text() == query_pane.PASTED_LABEL  # the region, then the bytes


def test_a_failed_drop_after_an_unfinished_paste_leaves_no_half_query(qtbot, pane, monkeypatch, tmp_path) -> None:
    gate = Gate(query_pane.encode_png)
    monkeypatch.setattr(query_pane, "encode_png", gate)
    image = QImage(64, 48, QImage.Format.Format_RGB32)
    image.fill(0x336699)
    try:
        pane.load_image(image)
        assert gate.entered.wait(10)
        with qtbot.waitSignal(pane.loadFinished, timeout=10000) as loaded:
            drop_files(pane, [tmp_path / "gone.jpg"])
    finally:
        gate.release.set()
    assert loaded.args == [False] and "does not exist" in pane.message.text()
    assert pane.source is None and pane.image is None and pane.stack.currentWidget() is pane.hint


# -- item 3: the detail pane's file facts -------------------------------------------------------------
class ThumbnailArchive:
    def __init__(self, picture: Path) -> None:
        self.picture = picture

    def thumbnail(self, image_id: int, size: int = 256) -> Path:
        return self.picture


def test_file_facts_are_read_off_the_gui_thread_for_the_current_photo_only(
    qtbot, monkeypatch, plant_photos: Path
) -> None:
    first, second = photos(plant_photos, 2)
    gate = Gate(detail.file_size_text, held=lambda path: path == first)
    monkeypatch.setattr(detail, "file_size_text", gate)
    loader = ThumbnailLoader(ThumbnailArchive(first))
    pane = DetailPane(loader)
    qtbot.addWidget(pane)
    label = pane.labels["file"]
    try:
        elapsed = timed(lambda: pane.show_photo(PhotoRecord(1, first, width=200, height=200)))
        assert elapsed < AT_ONCE_SECONDS and gate.entered.wait(10)
        assert label.text() == f"200 × 200 px, {CHECKING_TEXT}"
        pane.show_photo(PhotoRecord(2, second))  # the selection changes while the first file hangs
        size = detail.human_size(second.stat().st_size)
        qtbot.waitUntil(lambda: label.text() == size, timeout=10000)
    finally:
        gate.release.set()
    assert pane._facts_runner.wait(10000)
    qtbot.wait(50)  # the first photo's late answer, had it been shown
    assert label.text() == size
    assert GUI_THREAD not in gate.threads
    pane.shutdown()
    loader.shutdown()


# -- item 4: the add dialog's previews ----------------------------------------------------------------
def fake_preview(paths: list[Path], metadata: Path | None = None, layout: str | None = None,
                 limit: int = 20) -> ImportPreview:
    return ImportPreview(len(paths), (), 0, (), 0)


@pytest.fixture
def preview_gate(monkeypatch) -> Iterator[Gate]:
    """``preview_import`` as a walk of an offline share: the first two calls hang until released."""
    gate = Gate(fake_preview, held=lambda *_args: len(gate.calls) <= 2)
    monkeypatch.setattr(add_dialog, "preview_import", lambda paths, **kwargs: gate(paths, kwargs["layout"]))
    yield gate
    gate.release.set()


def test_preview_edits_are_debounced_and_queued_previews_dropped(qtbot, preview_gate: Gate, tmp_path) -> None:
    dialog = AddPhotosDialog(archive=None)
    qtbot.addWidget(dialog)
    runner = dialog._preview_runner
    ready: list[None] = []
    dialog.previewReady.connect(lambda: ready.append(None))
    dialog.add_folder(tmp_path)
    qtbot.waitUntil(preview_gate.entered.is_set, timeout=PREVIEW_DEBOUNCE_MS * 10)  # runs, and hangs
    assert runner.active == 1
    for text in ("{s", "{site", "{site}/", "{site}/{equipment}"):
        dialog.set_layout(text)  # typing: one preview for the lot, after a pause
    assert runner.active == 1
    qtbot.waitUntil(lambda: len(preview_gate.calls) == 2, timeout=PREVIEW_DEBOUNCE_MS * 10)  # hangs too
    dialog.set_layout("{site}")
    dialog.refresh_preview()  # both threads are busy: queued…
    dialog.set_layout("{site}/{equipment}/{date}")
    dialog.refresh_preview()  # …and dropped for this one
    assert runner.active == 3
    preview_gate.release.set()
    qtbot.waitUntil(lambda: runner.active == 0, timeout=10000)
    layouts = [layout for _paths, layout in preview_gate.calls]
    assert layouts == [None, "{site}/{equipment}", "{site}/{equipment}/{date}"]
    assert len(ready) == 1 and dialog.last_preview is not None  # the first walk's late result was ignored


def test_closing_does_not_wait_for_a_preview_walk(qtbot, preview_gate: Gate, tmp_path: Path) -> None:
    dialog = AddPhotosDialog(archive=None)
    qtbot.addWidget(dialog)
    dialog.add_folder(tmp_path)
    qtbot.waitUntil(preview_gate.entered.is_set, timeout=PREVIEW_DEBOUNCE_MS * 10)
    assert timed(dialog.shutdown) < AT_ONCE_SECONDS
    preview_gate.release.set()
    assert dialog._preview_runner.wait(10000)
    qtbot.wait(50)
    assert dialog.last_preview is None  # the walk that ended after shutdown was ignored


def test_the_main_window_shuts_down_without_waiting_for_hung_file_access(
    qtbot, monkeypatch, archive, settings, query_photo: Path, tmp_path: Path
) -> None:
    window = open_window(qtbot, archive, settings)
    gates = {
        "decode": Gate(query_pane.read_image),
        "stat": Gate(detail.file_size_text),
        "walk": Gate(fake_preview),
    }
    monkeypatch.setattr(query_pane, "read_image", gates["decode"])
    monkeypatch.setattr(detail, "file_size_text", gates["stat"])
    monkeypatch.setattr(add_dialog, "preview_import", gates["walk"])
    try:
        window.query_pane.load_path(query_photo)
        window.detail.show_photo(PhotoRecord(1, query_photo))
        window.add_dialog().add_folder(tmp_path)
        window.add_dialog().refresh_preview()
        assert all(gate.entered.wait(10) for gate in gates.values())
        assert timed(window.shutdown) < AT_ONCE_SECONDS * 2
    finally:
        for gate in gates.values():
            gate.release.set()
    assert all(GUI_THREAD not in gate.threads for gate in gates.values())
    for runner in window.findChildren(TaskRunner):
        assert runner.wait(10000)
    qtbot.wait(50)
    assert window.query_pane.source is None  # the decode that finished after shutdown was ignored


def test_daemon_pool_waits_only_when_asked() -> None:
    runner = TaskRunner(max_threads=2, daemon=True)
    release = threading.Event()
    for _ in range(3):
        runner.submit(lambda _p: release.wait(30))
    assert not runner.wait(100)
    release.set()
    assert runner.wait(10000)


def test_a_task_is_freed_without_the_garbage_collector() -> None:
    """A task in a reference cycle was freed by the collector, which could run inside another QObject's
    destructor (a widget closing) and deadlock on Qt's connection lock: the test suite hung."""
    import gc
    import weakref

    from inspector_search.gui.workers import Task

    enabled = gc.isenabled()
    gc.disable()
    try:
        task = Task(lambda _p: None)
        events: list[object] = []
        task.progress.connect(events.append)
        task.channel.report(1, 2)
        gone = weakref.ref(task)
        del task
        assert gone() is None
    finally:
        if enabled:
            gc.enable()
    assert len(events) == 1
