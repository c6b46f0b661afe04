"""Equipment history, the archive browser, the compare view, the status bar and skipped files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage

from inspector_search.gui.browser import TAG_ROLE
from inspector_search.gui.compare import CompareDialog
from inspector_search.gui.skipped import SkippedDialog
from inspector_search.gui.workers import TaskRunner

from .conftest import DATES, PER_CLASS, PLANT
from .helpers import drop_files


def open_history(qtbot, window, tag: str):
    dialog = window.show_history(tag)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.history is not None, timeout=30000)
    return dialog


def test_history_lists_an_equipments_photos_in_date_order(qtbot, window) -> None:
    dialog = open_history(qtbot, window, "PU-201")
    dates = dialog.photo_dates()
    assert len(dates) == PER_CLASS
    assert dates == sorted(dates, reverse=True)  # a timeline, newest first
    assert [d.isoformat() for d in dict.fromkeys(dates)] == sorted(DATES, reverse=True)
    assert len(dialog.strips) == len(DATES)
    assert all(photo.equipment_tag == "PU-201" for strip in dialog.strips for photo in strip.photos())
    assert "PU-201" in dialog.heading.text()
    assert f"{PER_CLASS} photos in {len(DATES)} inspections" in dialog.summary.text()
    dialog.close()


def test_history_of_an_unknown_tag_says_so(qtbot, window) -> None:
    dialog = window.show_history("NO-SUCH-TAG")
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.loaded, timeout=30000):
        pass
    assert "NO-SUCH-TAG" in dialog.summary.text()
    assert dialog.strips == []
    dialog.close()


def test_opening_a_photo_from_the_history_enables_the_photo_actions(qtbot, window) -> None:
    file_actions = [window.open_file_action, window.show_folder_action, window.copy_path_action]
    assert window.current_photo() is None and not any(action.isEnabled() for action in file_actions)
    dialog = open_history(qtbot, window, "PU-201")
    strip = dialog.strips[-1]
    strip.view.openRequested.emit(strip.model.index(0))
    photo = strip.photos()[0]
    assert window.current_photo() == photo
    assert all(action.isEnabled() for action in file_actions)
    assert window.history_action.isEnabled()
    assert not window.compare_action.isEnabled()  # there is no query photo
    dialog.close()


def test_closing_an_older_history_keeps_the_newer_one(qtbot, window) -> None:
    older = open_history(qtbot, window, "PU-201")
    newer = open_history(qtbot, window, "FL-101")
    assert window.last_history is newer
    gone = []
    older.destroyed.connect(lambda: gone.append("older"))
    older.close()
    qtbot.waitUntil(lambda: gone == ["older"], timeout=10000)
    assert window.last_history is newer
    newer.destroyed.connect(lambda: gone.append("newer"))
    newer.close()
    qtbot.waitUntil(lambda: gone == ["older", "newer"], timeout=10000)
    assert window.last_history is None


def test_browser_shows_sites_and_equipment_with_counts(qtbot, window) -> None:
    assert not window.browser_action.isChecked()  # hidden by default
    window.browser_action.trigger()
    assert window.browser_dock.isVisible()
    model = window.browser.model
    sites = [model.index(row, 0).data() for row in range(model.rowCount())]
    assert sites == ["site_A", "site_B"]
    site_a = model.index(0, 0)
    equipment = [model.index(row, 0, site_a).data(TAG_ROLE) for row in range(model.rowCount(site_a))]
    assert equipment == ["FL-101", "PU-201"]
    assert model.index(0, 1).data() == 2 * PER_CLASS
    assert model.index(0, 1, site_a).data() == PER_CLASS
    window.browser.filter_edit.setText("we-3")
    proxy = window.browser.proxy
    assert proxy.rowCount() == 1 and proxy.index(0, 0).data() == "site_B"
    tag_index = proxy.index(0, 0, proxy.index(0, 0))
    assert tag_index.data(TAG_ROLE) == "WE-301"
    with qtbot.waitSignal(window.browser.historyRequested) as blocker:
        window.browser.tree.activated.emit(tag_index)
    assert blocker.args == ["WE-301"]
    assert window.last_history is not None and window.last_history.tag == "WE-301"
    qtbot.addWidget(window.last_history)
    window.last_history.close()


def test_compare_keeps_zoom_and_pan_in_step(qtbot, window, query_photo: Path, plant_photos: Path) -> None:
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        drop_files(window.query_pane, [query_photo])
    match = window.results.model.items()[1]
    dialog = window.compare(match.photo, match.score)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.match_view.item.pixmap().isNull(), timeout=30000)
    left, right = dialog.query_view, dialog.match_view
    dialog.sync.zoom_by(4.0, left)
    assert left.zoom() == right.zoom()
    left.horizontalScrollBar().setValue(left.horizontalScrollBar().maximum())
    left.verticalScrollBar().setValue(left.verticalScrollBar().minimum())
    a, b = left.normalised_centre(), right.normalised_centre()
    assert abs(a.x() - b.x()) < 0.05 and abs(a.y() - b.y()) < 0.05
    assert a.x() > 0.6
    dialog.sync.fit()
    assert left.zoom() == right.zoom() == 1.0  # qtbot closes the dialog


def test_compare_shows_the_query_region(qtbot) -> None:
    image = QImage(200, 100, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.gray)
    from inspector_search.core.records import PhotoRecord

    photo = PhotoRecord(image_id=1, path=Path("/nonexistent/photo.jpg"))
    runner = TaskRunner(max_threads=1)
    dialog = CompareDialog(image, (0.5, 0.5, 1.0, 1.0), photo, None, runner)
    qtbot.addWidget(dialog)
    items = dialog.query_view.scene().items()
    marker = [item for item in items if item.type() == 3]  # QGraphicsRectItem
    assert marker and marker[0].rect().topLeft() == QPointF(100.0, 50.0)  # in the photo's own pixels
    qtbot.waitUntil(lambda: "Cannot show" in dialog.match_view._message.text(), timeout=10000)
    dialog.close()


def test_status_bar_shows_archive_size_and_model(window, archive) -> None:
    status = archive.status()
    assert f"{status.photos:,} photos" in window.photos_label.text()
    assert status.model_id in window.model_label.text()
    assert window.skipped_button.isHidden()  # nothing was skipped in the test archive
    assert window.windowTitle().startswith("Inspector Search — ")
    assert window.windowTitle().endswith(archive.folder.name)
    assert window.filters.site.count() == 1 + len({site for site, _tag in PLANT.values()})


def test_skipped_dialog_lists_files_with_reasons(qtbot, tmp_path: Path) -> None:
    from inspector_search.core.records import SkippedFile

    rows = [SkippedFile(tmp_path / "bad.jpg", "not an image", "2024-05-01T10:00:00")]
    dialog = SkippedDialog(rows)
    qtbot.addWidget(dialog)
    assert dialog.model.rowCount() == 1
    assert dialog.model.index(0, 1).data() == "not an image"
    assert dialog.model.index(0, 0).data() == str(tmp_path / "bad.jpg")
