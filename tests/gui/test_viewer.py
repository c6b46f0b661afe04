"""The photo viewer: full resolution, zoom (fit, 100 %, keys, wheel), previous/next through the results,
the metadata side bar; opened by double click or Space from the results and from a history."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from inspector_search.gui.viewer import PhotoViewer, ViewerItem, metadata_html

from .helpers import drop_files
from .test_views import open_history


def search(qtbot, window, query_photo: Path) -> None:
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        drop_files(window.query_pane, [query_photo])


def test_space_opens_the_viewer_and_steps_through_the_results(qtbot, window, query_photo: Path) -> None:
    search(qtbot, window, query_photo)
    view = window.results.view
    view.setFocus()
    proxy = window.results.proxy
    view.setCurrentIndex(proxy.index(2, 0))
    qtbot.keyClick(view, Qt.Key.Key_Space)
    viewer = window.last_viewer
    assert isinstance(viewer, PhotoViewer)
    qtbot.addWidget(viewer)
    assert viewer.index == 2 and len(viewer.items) == proxy.rowCount()
    assert viewer.photo == proxy.index(2, 0).data(Qt.ItemDataRole.UserRole + 2)
    qtbot.waitUntil(lambda: viewer.view.has_image(), timeout=30000)
    with Image.open(viewer.photo.path) as original:
        assert viewer.view.image_size().toSize().toTuple() == original.size  # every pixel
    assert "Similarity" in viewer.side_bar.text() and viewer.photo.equipment_tag in viewer.side_bar.text()
    assert viewer.position.text() == f"3 of {proxy.rowCount()}"
    qtbot.waitUntil(lambda: 3 in viewer._ahead, timeout=30000)  # the next photo is decoded ahead
    shown = []
    viewer.photoShown.connect(shown.append)
    qtbot.keyClick(viewer.view, Qt.Key.Key_Right)  # fitted: the arrows step
    assert viewer.index == 3 and viewer.photo == proxy.index(3, 0).data(Qt.ItemDataRole.UserRole + 2)
    assert shown == [viewer.photo] and viewer.view.has_image()  # shown at once, no "Loading…"
    assert set(viewer._ahead) <= {2, 3, 4}
    qtbot.keyClick(viewer.view, Qt.Key.Key_PageUp)
    assert viewer.index == 2
    viewer.step(-10)  # nothing past the ends
    assert viewer.index == 2


def test_zoom_fit_and_actual_size(qtbot, window, query_photo: Path) -> None:
    search(qtbot, window, query_photo)
    window.results.view.viewRequested.emit(window.results.proxy.index(0, 0))  # a double click
    viewer = window.last_viewer
    qtbot.addWidget(viewer)
    qtbot.waitUntil(lambda: viewer.view.has_image(), timeout=30000)
    view = viewer.view
    assert view.zoom() == 1.0
    viewer.actual_button.click()
    assert abs(view.pixel_zoom() - 1.0) < 1e-6  # 100 %: one photo pixel per screen pixel
    viewer.fit_button.click()
    assert view.zoom() == 1.0
    wheel = QWheelEvent(QPointF(50, 50), QPointF(view.mapToGlobal(QPoint(50, 50))), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), wheel)
    assert abs(view.zoom() - 1.25**2) < 1e-6
    index = viewer.index
    qtbot.keyClick(view, Qt.Key.Key_Right)  # zoomed in: the arrows pan instead of stepping
    assert viewer.index == index
    qtbot.keyClick(view, Qt.Key.Key_0)
    assert view.zoom() == 1.0


def test_viewer_from_the_history_steps_through_its_photos(qtbot, window) -> None:
    dialog = open_history(qtbot, window, "WE-301")
    strip = dialog.strips[1]
    strip.view.viewRequested.emit(strip.model.index(0))
    viewer = window.last_viewer
    qtbot.addWidget(viewer)
    everything = [p for s in dialog.strips for p in s.photos()]
    assert [item.photo for item in viewer.items] == everything and viewer.photo == strip.photos()[0]
    assert "Similarity" not in viewer.side_bar.text()
    dialog.close()


def test_side_bar_escapes_metadata(window) -> None:
    from inspector_search.core.records import PhotoRecord

    photo = PhotoRecord(1, Path("/p/a.jpg"), equipment_tag="<b>P-1</b>", notes="line 1\n<script>x</script>",
                        inspector="Ann & Bo", taken_at="2016-04-02T12:15:53")
    text = metadata_html(ViewerItem(photo, 0.5))
    assert "<script>" not in text and "&lt;script&gt;" in text and "Ann &amp; Bo" in text
    assert "2 Apr 2016, 12:15" in text and "line 1<br>" in text
