"""Bad input never crashes: non-images, folders, empty archives and empty clipboards get a message."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QGuiApplication

from inspector_search.core.archive import Archive
from inspector_search.gui.query_pane import HINT, read_image
from inspector_search.gui.results_panel import EMPTY_ARCHIVE_TITLE

from .conftest import open_window
from .helpers import drop, drop_files


def test_a_text_file_named_jpg_shows_a_message(qtbot, window, tmp_path: Path) -> None:
    fake = tmp_path / "flange.jpg"
    fake.write_text("this is not a photo", encoding="utf-8")
    generation = window.searcher.generation
    with qtbot.waitSignal(window.query_pane.loadFinished, timeout=10000) as loaded:
        assert drop_files(window.query_pane, [fake])
    assert loaded.args == [False]
    message = window.query_pane.message
    assert not message.isHidden()
    assert "flange.jpg" in message.text() and "cannot be read" in message.text()
    assert window.query_pane.source is None
    assert window.searcher.generation == generation  # nothing was searched


def test_a_folder_shows_a_message(qtbot, window, tmp_path: Path) -> None:
    folder = tmp_path / "inspections"
    folder.mkdir()
    with qtbot.waitSignal(window.query_pane.loadFinished, timeout=10000):
        assert drop_files(window.query_pane, [folder])
    assert "is a folder" in window.query_pane.message.text()
    assert window.query_pane.source is None


def test_a_bad_drop_keeps_the_previous_query(qtbot, window, query_photo: Path, tmp_path: Path) -> None:
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        drop_files(window.query_pane, [query_photo])
    missing = tmp_path / "gone.jpg"
    with qtbot.waitSignal(window.query_pane.loadFinished, timeout=10000):
        assert drop_files(window.query_pane, [missing])
    assert "does not exist" in window.query_pane.message.text()
    assert window.query_pane.source == query_photo
    assert window.results.model.rowCount() > 0


def test_web_urls_and_plain_text_are_refused_politely(qtbot, window) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.com/photo.jpg")])
    assert drop(window.query_pane, mime)
    assert "web addresses" in window.query_pane.message.text()
    QGuiApplication.clipboard().setText("hello\nworld")
    window.paste()
    assert "no photo" in window.query_pane.message.text().lower()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("~nosuchuser-inspector/flange.jpg", "cannot be used as a photo path"),  # no such home folder
        ("a" * 5000 + ".jpg", "cannot be used as a photo path (File name too long)"),
        ("http://host/a.jpg", "web addresses"),
    ],
    ids=["unknown-user", "too-long", "web-address"],
)
def test_text_that_is_no_usable_path_says_why(qtbot, window, text: str, expected: str) -> None:
    QGuiApplication.clipboard().setText(text)
    window.paste()
    message = window.query_pane.message
    qtbot.waitUntil(lambda: expected in message.text(), timeout=10000)  # a too-long name: when its load fails
    assert not message.isHidden()
    assert len(message.text()) < 200  # a long path is elided
    window.query_pane.show_message("")
    mime = QMimeData()
    mime.setText(text)
    assert drop(window.query_pane, mime)
    qtbot.waitUntil(lambda: expected in message.text(), timeout=10000)
    assert window.query_pane.source is None


def test_read_image_explains_paths_the_system_refuses() -> None:
    image, reason = read_image(Path("nul\x00byte.jpg"))
    assert image is None and reason
    image, reason = read_image(Path("/tmp") / ("b" * 300 + ".jpg"))
    assert image is None and "File name too long" in reason and len(reason) < 200


def test_the_query_pane_invites_a_drop(window) -> None:
    assert window.query_pane.hint.text() == HINT
    assert window.query_pane.stack.currentWidget() is window.query_pane.hint


@pytest.fixture
def empty_archive(tmp_path: Path) -> Iterator[Archive]:
    with Archive.open(tmp_path / "empty-archive") as archive:
        yield archive


def test_an_empty_archive_invites_adding_photos(qtbot, empty_archive: Archive, settings) -> None:
    window = open_window(qtbot, empty_archive, settings)
    qtbot.waitUntil(window.results.showing_empty_archive, timeout=10000)
    empty = window.results.empty
    assert empty.title.text() == EMPTY_ARCHIVE_TITLE == "Add photos to start"
    assert not empty.button.isHidden()
    empty.button.click()
    dialog = window.add_dialog()
    assert dialog.isVisible()
    assert "0 photos" in window.photos_label.text()
    dialog.hide()
    window.shutdown()


def test_searching_an_empty_archive_says_why(qtbot, empty_archive: Archive, settings, query_photo: Path) -> None:
    window = open_window(qtbot, empty_archive, settings)
    with qtbot.waitSignal(window.query_pane.loadFinished, timeout=10000):
        window.query_pane.load_path(query_photo)
    qtbot.waitUntil(lambda: not window.searcher.busy, timeout=60000)
    qtbot.wait(50)
    assert window.results.model.rowCount() == 0
    assert window.results.summary.text()  # "No matching photos…" or the archive's reason
    window.shutdown()


def test_the_open_dialog_offers_only_formats_the_app_can_read() -> None:
    from PySide6.QtGui import QImageReader

    from inspector_search.core.imaging import SUPPORTED_EXTENSIONS
    from inspector_search.gui.main_window import IMAGE_FILTER

    offered = set(re.findall(r"\*\.(\w+)", IMAGE_FILTER.split(";;")[0]))
    qt_formats = {bytes(name).decode().lower() for name in QImageReader.supportedImageFormats()}
    assert offered and "heic" not in offered
    assert offered <= qt_formats
    assert {f".{suffix}" for suffix in offered} <= SUPPORTED_EXTENSIONS
