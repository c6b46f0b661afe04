"""Searching from the main window: drop, paste, region, grouping, filters, and the results view."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QPointF, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication, QImage

from inspector_search.gui.dates import human_date
from inspector_search.gui.results import GroupState, Role

from .conftest import PLANT
from .helpers import drop_files


def search_by_drop(qtbot, window, paths: list[Path]) -> list:
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        assert drop_files(window.query_pane, paths)
    return window.results.model.items()


def shown_ids(window) -> list[int]:
    proxy = window.results.proxy
    return [proxy.index(row, 0).data(Role.IMAGE_ID) for row in range(proxy.rowCount())]


def test_dropped_photo_is_the_first_match_with_score_one(qtbot, window, query_photo: Path) -> None:
    items = search_by_drop(qtbot, window, [query_photo])
    assert items[0].photo.path == query_photo
    assert items[0].score == pytest.approx(1.0, abs=1e-3)
    assert [item.rank for item in items] == list(range(1, len(items) + 1))  # shown best match first
    assert len(items) == min(window.filters.top_k.value(), 8 * len(PLANT))
    assert window.results.stack.currentIndex() == 1
    assert "matching photo" in window.results.summary.text()
    # The first match is selected and shown in the detail pane with its metadata.
    assert window.detail.photo.path == query_photo
    assert window.detail.labels["tag"].text() == "FL-101"
    assert window.detail.labels["site"].text() == "site_A"
    assert window.detail.labels["date"].text() == human_date(date.fromisoformat(query_photo.parent.name))


def test_several_dropped_photos_search_the_first_and_queue_the_rest(qtbot, window, plant_photos: Path) -> None:
    photos = sorted((plant_photos / "site_B" / "WE-301").rglob("*.jpg"))[:3]
    items = search_by_drop(qtbot, window, photos)
    assert items[0].photo.path == photos[0]
    assert window.query_pane.queue_model.paths() == photos
    assert not window.query_pane.queue_box.isHidden()
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        index = window.query_pane.queue_model.index(2)
        window.query_pane.queue_view.clicked.emit(index)
    assert window.results.model.items()[0].photo.path == photos[2]


def test_thumbnails_load_lazily_off_the_gui_thread(qtbot, window, query_photo: Path) -> None:
    search_by_drop(qtbot, window, [query_photo])
    index = window.results.proxy.index(0, 0)
    qtbot.waitUntil(lambda: index.data(Role.THUMBNAIL) is not None, timeout=30000)
    pixmap = index.data(Role.THUMBNAIL)
    assert not pixmap.isNull() and max(pixmap.width(), pixmap.height()) <= 256
    window.results.view.viewport().repaint()  # the delegate paints real thumbnails without error


def test_region_query_changes_the_ranking(qtbot, window, query_photo: Path) -> None:
    search_by_drop(qtbot, window, [query_photo])
    whole = [(item.photo.image_id, round(item.score, 4)) for item in window.results.model.items()]
    box = (0.0, 0.0, 0.35, 0.35)
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        window.query_pane.set_region(box)
    assert window.searcher.last_request.crop == pytest.approx(box)
    region = [(item.photo.image_id, round(item.score, 4)) for item in window.results.model.items()]
    assert region != whole
    assert window.query_pane.clear_region_button.isEnabled()
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        qtbot.keyClick(window.query_pane.view, Qt.Key.Key_Escape)
    assert window.query_pane.region() is None
    assert window.searcher.last_request.crop is None


def test_drawing_a_region_with_the_mouse(qtbot, window, query_photo: Path) -> None:
    search_by_drop(qtbot, window, [query_photo])
    view = window.query_pane.view
    rect = view.image_rect()
    start = QPointF(rect.left() + rect.width() * 0.25, rect.top() + rect.height() * 0.25).toPoint()
    end = rect.center().toPoint()
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
        qtbot.mouseMove(view, end)
        qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=end)
    x0, y0, x1, y1 = window.query_pane.region()
    assert 0.2 < x0 < 0.3 and 0.2 < y0 < 0.3 and 0.45 < x1 < 0.55 and 0.45 < y1 < 0.55


def test_group_by_equipment_counts_the_matches_shown_and_expands(qtbot, window, query_photo: Path) -> None:
    window.filters.top_k.setValue(12)  # fewer than the archive's photos: the groups share these 12 matches
    window.filters.discard_pending()  # no second, late search for the Matches change
    search_by_drop(qtbot, window, [query_photo])
    plain = window.results.model.items()
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        window.group_action.setChecked(True)
    assert window.searcher.last_by_equipment
    groups = window.results.model.items()
    tags = [item.photo.equipment_tag for item in groups]
    assert len(tags) == len(set(tags)) and set(tags) <= {tag for _site, tag in PLANT.values()}
    # Each group counts its photos among the 12 matches (issue 15: it counted all its photos above the minimum).
    assert sum(item.match_count for item in groups) == 12
    for group in groups:
        assert group.match_count == sum(p.photo.equipment_tag == group.photo.equipment_tag for p in plain)
    assert groups[0].photo.path == query_photo
    assert window.results.delegate.show_match_count
    summary = window.results.summary.text()
    assert f"{len(groups)} equipment with 12 matching photos" in summary

    proxy = window.results.proxy
    first = proxy.index(0, 0)
    assert first.data(Role.GROUP_STATE) == GroupState.COLLAPSED
    window.results.view.openRequested.emit(first)  # Enter or double-click on a group lists its photos
    count = groups[0].match_count
    assert proxy.rowCount() == len(groups) + count - 1
    listed = [proxy.index(row, 0) for row in range(1, count)]
    assert all(i.data(Role.GROUP_STATE) == GroupState.MEMBER for i in listed)
    assert [i.data(Role.TAG) for i in listed] == [groups[0].photo.equipment_tag] * (count - 1)
    assert [i.data(Role.RANK) for i in listed] == sorted(i.data(Role.RANK) for i in listed)
    assert proxy.index(count, 0).data(Role.GROUP_STATE) == GroupState.COLLAPSED  # the next group follows
    assert f"{len(groups)} equipment with 12 matching photos" in window.results.summary.text()
    assert proxy.index(0, 0).data(Role.GROUP_STATE) == GroupState.EXPANDED
    window.results.view.openRequested.emit(proxy.index(0, 0))
    assert proxy.rowCount() == len(groups)
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        window.group_action.setChecked(False)
    assert len(window.results.model.items()) == 12


def test_grouped_match_counts_follow_the_minimum_similarity(qtbot, window, query_photo: Path) -> None:
    window.group_action.setChecked(True)
    search_by_drop(qtbot, window, [query_photo])
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        window.filters.min_score.setValue(0.95)
    assert window.searcher.last_request.min_score == pytest.approx(0.95)
    groups = window.results.model.items()
    assert groups[0].photo.path == query_photo
    assert all(item.score >= 0.95 for item in groups)
    assert sum(item.match_count for item in groups) < window.filters.top_k.value()


def test_site_filter_reruns_the_search_in_the_archive(qtbot, window, query_photo: Path) -> None:
    search_by_drop(qtbot, window, [query_photo])
    assert window.filters.site.findText("site_B") > 0
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        window.filters.site.setCurrentText("site_B")
    assert window.searcher.last_request.filter.site == "site_B"
    items = window.results.model.items()
    assert items and {item.photo.site for item in items} == {"site_B"}
    assert len(items) == 8  # server-side: all of site_B's photos, not a hidden subset


def test_minimum_similarity_hides_rows_in_the_proxy_only(qtbot, window, query_photo: Path) -> None:
    items = search_by_drop(qtbot, window, [query_photo])
    generation = window.searcher.generation
    window.filters.min_score.setValue(0.95)
    assert window.searcher.generation == generation  # no new search
    assert window.results.model.rowCount() == len(items)
    shown = window.results.proxy.rowCount()
    assert 1 <= shown < len(items)
    assert all(window.results.proxy.index(r, 0).data(Role.SCORE) >= 0.95 for r in range(shown))


def test_the_summary_counts_the_matches_shown(qtbot, window, query_photo: Path) -> None:
    items = search_by_drop(qtbot, window, [query_photo])
    summary = window.results.summary
    assert summary.text().startswith(f"{len(items)} matching photos (")
    window.filters.min_score.setValue(0.95)
    shown = window.results.proxy.rowCount()
    assert summary.text().startswith(f"{shown} matching photo{'s' if shown != 1 else ''} (")
    assert f"{len(items) - shown} less similar than 0.95 hidden" in summary.text()
    window.results.set_min_score(1.5)  # above any similarity: nothing is left to show
    assert window.results.proxy.rowCount() == 0
    assert summary.text().startswith(f"None of the {len(items)} matching photos is at least 1.50 similar.")
    assert "Lower the minimum similarity" in summary.text()
    window.filters.min_score.setValue(0.0)
    assert summary.text().startswith(f"{len(items)} matching photos (")


def test_sorting_by_date_puts_newest_inspections_first(qtbot, window, query_photo: Path) -> None:
    search_by_drop(qtbot, window, [query_photo])
    window.results.sort_combo.setCurrentIndex(window.results.sort_combo.findData("date"))
    proxy = window.results.proxy
    dates = [proxy.index(r, 0).data(Role.DATE) for r in range(proxy.rowCount())]
    assert dates == sorted(dates, reverse=True)


def test_a_newer_search_supersedes_an_older_one(qtbot, window, plant_photos: Path) -> None:
    first = sorted((plant_photos / "site_A" / "PU-201").rglob("*.jpg"))[0]
    second = sorted((plant_photos / "site_B" / "WE-301").rglob("*.jpg"))[0]
    with qtbot.waitSignal(window.query_pane.loadFinished, timeout=10000):
        window.query_pane.load_path(first)  # its search starts
    window.query_pane.load_path(second)
    qtbot.waitUntil(lambda: not window.searcher.busy and window.searcher.last_request is not None, timeout=60000)
    assert window.searcher.last_request.image == second
    assert window.results.model.items()[0].photo.path == second


def test_paste_an_image_from_the_clipboard(qtbot, window, query_photo: Path) -> None:
    QGuiApplication.clipboard().setImage(QImage(str(query_photo)))
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        window.paste_action.trigger()
    assert isinstance(window.query_pane.source, bytes)
    first = window.results.model.items()[0]
    assert first.photo.path == query_photo and first.score > 0.99


def test_paste_a_path_as_text(qtbot, window, query_photo: Path) -> None:
    QGuiApplication.clipboard().setText(str(query_photo))
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        window.paste()
    assert window.query_pane.source == query_photo


def test_enter_opens_the_detail_of_the_current_match(qtbot, window, query_photo: Path) -> None:
    search_by_drop(qtbot, window, [query_photo])
    view = window.results.view
    view.setFocus()
    window.splitter.setSizes([300, 700, 0])
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    second = view.currentIndex().data(Role.PHOTO)
    assert view.currentIndex().row() == 1
    assert window.detail.photo == second
    assert window.splitter.sizes()[2] > 0


class UrlRecorder(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_context_menu_actions(qtbot, window, query_photo: Path) -> None:
    search_by_drop(qtbot, window, [query_photo])
    photo = window.results.model.items()[0].photo
    menu = window.photo_menu(photo)
    actions = {action.text(): action for action in menu.actions() if action.text()}
    assert list(actions) == ["View photo", "Open file", "Show in folder", "Copy path", "Equipment history",
                             "Compare with query", "Compare with previous inspection"]
    assert all(action.isEnabled() for action in actions.values())
    recorder = UrlRecorder()
    QDesktopServices.setUrlHandler("file", recorder, "open")
    try:
        actions["Open file"].trigger()
        actions["Show in folder"].trigger()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [Path(url.toLocalFile()) for url in recorder.urls] == [query_photo, query_photo.parent]
    actions["Copy path"].trigger()
    assert QGuiApplication.clipboard().text() == str(query_photo)
    actions["Equipment history"].trigger()
    assert window.last_history is not None and window.last_history.tag == "FL-101"
    actions["Compare with query"].trigger()
    assert window.last_compare is not None and window.last_compare.photo == photo
    window.last_history.close()
    window.last_compare.close()


def test_scrolling_to_the_end_loads_more_matches(qtbot, window, query_photo: Path) -> None:
    window.filters.top_k.setValue(6)
    window.resize(1280, 600)
    window.set_thumbnail_size(224)  # two rows of six photos are taller than the grid
    window.filters.discard_pending()  # no second search for the Matches change
    first = [item.photo.image_id for item in search_by_drop(qtbot, window, [query_photo])]
    assert len(first) == 6
    view = window.results.view
    view.setCurrentIndex(window.results.proxy.index(2, 0))
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5000)
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        bar.setValue(bar.maximum())  # the user scrolls to the end
    items = [item.photo.image_id for item in window.results.model.items()]
    assert len(items) == 12 and items[:6] == first  # the first page stays as it was
    assert view.currentIndex().row() == 2 and window.searcher.last_request.top_k == 12
    assert window.results.summary.text().startswith("12 matching photos")
    while window.load_more():
        qtbot.waitUntil(lambda: not window._loading_more, timeout=60000)
    assert len(window.results.model.items()) == 24  # every photo of the archive, then no more requests
    assert not window.load_more()
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        window.filters.top_k.setValue(5)  # a new search starts from the first page again
    assert len(window.results.model.items()) == 5
