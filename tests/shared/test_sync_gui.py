"""The app's sync: File > Sync with plant archive runs on a worker with progress and cancel, and the status
bar shows the sync state (real window offscreen, real archive, real PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from conftest import NEU_CLASSES  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QPushButton  # noqa: E402

from inspector_search.core.archive import link_archive, sync_archive  # noqa: E402
from inspector_search.gui.main_window import MainWindow  # noqa: E402

from .test_server_init import as_user  # noqa: E402
from .test_sync import laptop  # noqa: E402


@pytest.fixture
def window_on(qtbot, tmp_path: Path):
    windows = []

    def open_window(archive) -> MainWindow:
        window = MainWindow(archive, QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.status is not None, timeout=30000)
        windows.append(window)
        return window

    yield open_window
    for window in windows:
        window.shutdown()


def test_the_app_syncs_on_a_worker_and_shows_the_state(qtbot, window_on, shared_url: str, tmp_path: Path) -> None:
    a = laptop(tmp_path, "a", NEU_CLASSES[:2])
    link_archive(a, as_user(shared_url, "postgres"))
    sync_archive(a)
    b = laptop(tmp_path, "b", NEU_CLASSES[2:4])
    unlinked = window_on(b)
    qtbot.waitUntil(lambda: unlinked.plant_sync.state is not None)
    assert not unlinked.plant_sync.action.isEnabled() and unlinked.plant_sync.label.isHidden()
    unlinked.shutdown()

    link_archive(b, as_user(shared_url, "postgres"))
    window = window_on(b)
    controller = window.plant_sync
    qtbot.waitUntil(lambda: controller.action.isEnabled())
    assert controller.label.text() == "Plant archive: last sync never, 8 to send"
    assert controller.action in window.menuBar().actions()[0].menu().actions()
    with qtbot.waitSignal(controller.synced, timeout=60000) as done:
        controller.action.trigger()
        assert controller.dialog is not None and not controller.action.isEnabled()
    assert (done.args[0].pushed, done.args[0].pulled) == (8, 8)
    qtbot.waitUntil(lambda: controller.label.text().endswith(", 0 to send"))
    assert "last sync 20" in controller.label.text() and controller.dialog is None
    assert window.statusBar().currentMessage().startswith("Synced: 8 photos sent, 8 received")
    qtbot.waitUntil(lambda: window.status is not None and window.status.photos == 16, timeout=30000)


def test_cancelling_a_sync_keeps_what_was_exchanged(qtbot, window_on, shared_url: str, tmp_path: Path) -> None:
    b = laptop(tmp_path, "b", NEU_CLASSES[:3])
    link_archive(b, shared_url)
    window = window_on(b)
    controller = window.plant_sync
    qtbot.waitUntil(lambda: controller.action.isEnabled())
    controller.action.trigger()
    controller.dialog.findChild(QPushButton).click()  # the dialog's Cancel button
    qtbot.waitUntil(lambda: controller.task is None, timeout=60000)
    assert window.statusBar().currentMessage() == "Sync cancelled; what was already exchanged is kept."
    qtbot.waitUntil(lambda: controller.action.isEnabled())
    assert controller.label.text().endswith(", 12 to send")
    report = sync_archive(b)  # a later sync does the job
    assert report.pushed == 12
