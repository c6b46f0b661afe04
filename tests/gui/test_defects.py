"""Defects found by trying the app as a new user would (issue 15), each pinned by a test."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from PySide6.QtCore import Qt

from inspector_search.gui.browser import TAG_ROLE
from inspector_search.gui.dates import human_date, human_timestamp
from inspector_search.gui.history import HistoryDialog

from .test_views import open_history


def _equipment_index(window, tag: str):
    proxy = window.browser.proxy
    for site_row in range(proxy.rowCount()):
        site = proxy.index(site_row, 0)
        for row in range(proxy.rowCount(site)):
            index = proxy.index(row, 0, site)
            if index.data(TAG_ROLE) == tag:
                return index
    raise AssertionError(tag)


def test_double_clicking_an_equipment_opens_one_history(qtbot, window) -> None:
    window.browser_action.trigger()
    tree = window.browser.tree
    tree.expandAll()
    index = _equipment_index(window, "PU-201")
    qtbot.waitUntil(lambda: tree.visualRect(index).isValid())
    centre = tree.visualRect(index).center()
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)  # a double click: click, then
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)  # the second press
    qtbot.waitUntil(lambda: window.findChildren(HistoryDialog) != [], timeout=5000)
    qtbot.wait(200)
    dialogs = [d for d in window.findChildren(HistoryDialog) if d.isVisible()]
    assert len(dialogs) == 1 and dialogs[0].tag == "PU-201"
    # asking again (Enter in the tree, the toolbar) brings the same window forward
    assert window.show_history("PU-201") is dialogs[0]
    assert len([d for d in window.findChildren(HistoryDialog) if d.isVisible()]) == 1
    qtbot.addWidget(dialogs[0])
    dialogs[0].close()


def test_history_menu_does_not_offer_the_history_already_open(qtbot, window) -> None:
    dialog = open_history(qtbot, window, "FL-101")
    strip = dialog.strips[0]
    photo = strip.photos()[0]
    texts = [a.text() for a in window.photo_menu(photo, strip).actions()]
    assert "Equipment history" not in texts and "Open file" in texts
    assert "Equipment history" in [a.text() for a in window.photo_menu(photo, window).actions()]
    dialog.close()


def test_dates_read_as_people_write_them(qtbot, window) -> None:
    assert human_date(date(2023, 5, 14)) == "14 May 2023" and human_date(None) == "undated"
    assert human_timestamp("2016-04-02T12:15:53") == "2 Apr 2016, 12:15"
    assert human_timestamp("2016:04:02 12:15:53") == "2 Apr 2016, 12:15"
    assert human_timestamp("2016-04-02") == "2 Apr 2016"
    assert human_timestamp("sometime in spring") == "sometime in spring" and human_timestamp(None) is None
    dialog = open_history(qtbot, window, "FL-101")
    photo = dialog.strips[0].photos()[0]
    window.show_detail(photo)
    assert window.detail.labels["date"].text() == human_date(photo.inspected_on)
    assert "T" not in window.detail.labels["date"].text() and "-" not in window.detail.labels["date"].text()
    window.show_detail(replace(photo, taken_at="2016-04-02T12:15:53"))
    assert window.detail.labels["taken"].text() == "2 Apr 2016, 12:15"
    heading = dialog.strips[0].findChildren(type(dialog.heading))[0].text()
    assert human_date(photo.inspected_on) in heading
    dialog.close()


def test_tile_tooltip_holds_inspector_and_notes(window) -> None:
    from pathlib import Path

    from inspector_search.core.records import PhotoRecord
    from inspector_search.gui.results import ResultItem, ResultsModel

    model = ResultsModel(window.thumbnails)
    photo = PhotoRecord(7, Path("/photos/p.jpg"), equipment_tag="P-101", site="North", inspected_on=date(2023, 5, 14),
                        inspector="Ann Inspector", notes="flange corroded\nbolt 3 loose")
    model.set_items([ResultItem(photo, 0.91, 1)])
    tip = model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    assert "Inspector: Ann Inspector" in tip and "Notes: flange corroded\nbolt 3 loose" in tip
    assert "14 May 2023" in tip and "Similarity 0.910" in tip


def _texts(combo) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def test_filters_offer_what_the_chosen_site_holds_and_reset(qtbot, window, query_photo) -> None:
    from .conftest import DATES, PLANT
    from .helpers import drop_files

    filters = window.filters
    qtbot.waitUntil(lambda: filters.equipment_tag.count() > 1, timeout=10000)
    assert _texts(filters.equipment_tag) == ["Any", *sorted(tag for _site, tag in PLANT.values())]
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        drop_files(window.query_pane, [query_photo])
    assert not filters.reset_button.isEnabled()
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        filters.site.setCurrentText("site_A")
    qtbot.waitUntil(lambda: _texts(filters.equipment_tag) == ["Any", "FL-101", "PU-201"], timeout=10000)
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        filters.equipment_tag.setCurrentText("PU-201")
    request = window.searcher.last_request
    assert (request.filter.site, request.filter.equipment_tag) == ("site_A", "PU-201")
    assert {item.photo.equipment_tag for item in window.results.model.items()} == {"PU-201"}
    # another site does not hold PU-201: the tag goes back to Any instead of hiding everything
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        filters.site.setCurrentText("site_B")
    qtbot.waitUntil(lambda: _texts(filters.equipment_tag) == ["Any", "WE-301"], timeout=10000)
    qtbot.waitUntil(lambda: window.searcher.last_request.filter.equipment_tag is None, timeout=10000)
    assert filters.reset_button.isEnabled()
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        filters.reset_button.click()
    assert window.searcher.last_request.filter.is_empty() and not filters.reset_button.isEnabled()
    qtbot.waitUntil(lambda: len(_texts(filters.equipment_tag)) == 1 + len(PLANT), timeout=10000)
    assert min(DATES) and filters.date_span() is not None


def test_dates_default_to_the_archives_span(qtbot, window, query_photo) -> None:
    from .conftest import DATES
    from .helpers import drop_files

    filters = window.filters
    first, last = date.fromisoformat(min(DATES)), date.fromisoformat(max(DATES))
    qtbot.waitUntil(lambda: filters.date_span() == (first, last), timeout=10000)
    assert filters.since.date().toPython() == first and filters.until.date().toPython() == last
    window.filters.top_k.setValue(100)
    window.filters.discard_pending()  # no late search for the Matches change
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        drop_files(window.query_pane, [query_photo])
    everything = len(window.results.model.items())
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        filters.use_dates.setChecked(True)  # an old archive: the span still holds all its photos
    assert window.searcher.last_request.filter.since == first
    assert len(window.results.model.items()) == everything
    # nothing in the span any more: no results, and the details say so instead of showing a stale tag
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        filters.since.setDate(filters.since.date().addYears(5))
        filters.until.setDate(filters.until.date().addYears(5))
    assert window.results.model.items() == []
    assert window.detail.photo is None and window.detail.title.text() == "<b>Details</b>"
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        filters.reset()
    assert filters.since.date().toPython() == first and not filters.use_dates.isChecked()


def test_results_grid_fills_the_width(qtbot, window, query_photo) -> None:
    from .helpers import drop_files

    window.filters.top_k.setValue(24)
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        drop_files(window.query_pane, [query_photo])
    view = window.results.view
    for width, browser in ((1600, False), (1280, True), (1280, False)):
        window.browser_dock.setVisible(browser)
        window.resize(width, 800)
        qtbot.waitUntil(lambda: view.gridSize().width() * (view.columns() + 1) > view.viewport().width() - 1)
        unused = view.viewport().width() - view.columns() * view.gridSize().width()
        assert 0 < unused <= view.columns(), (width, browser, unused)  # issue 15: ~120 px unused at 1600 px
        assert view.columns() >= 2, (width, browser)  # issue 15: one column with the browser open at 1280 px
        proxy = window.results.proxy
        rects = [view.visualRect(proxy.index(n, 0)) for n in range(view.columns() + 1)]
        assert len({r.top() for r in rects[:-1]}) == 1 and rects[-1].top() > rects[0].top()  # one full row
        assert rects[0].width() >= view.gridSize().width() - 2 * window.results.delegate.PADDING
    small = view.columns()
    window.set_thumbnail_size(112)
    assert view.columns() > small
