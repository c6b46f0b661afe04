"""More like this / Less like this on the results: the search is refined with the marked matches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import drop_files


def ranks_of(window, tag: str) -> list[int]:
    return [item.rank for item in window.results.model.items() if item.photo.equipment_tag == tag]


def test_marking_results_refines_the_search(qtbot, window, query_photo: Path) -> None:
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        assert drop_files(window.query_pane, [query_photo])  # an FL-101 photo
    items = window.results.model.items()
    others = [item.photo for item in items if item.photo.equipment_tag == "PU-201"]
    before = np.mean(ranks_of(window, "PU-201"))
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        window.mark_result(others[0], True)
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        window.mark_result(others[1], True)
    assert window.current_request().like == (others[0].image_id, others[1].image_id)
    assert np.mean(ranks_of(window, "PU-201")) < before
    assert window.results.model.items()[0].photo.path == query_photo  # the query's own photo stays first
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        window.mark_result(others[1], True)  # the same mark again takes it off
    assert window.current_request().like == (others[0].image_id,)
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        window.clear_marks()
    assert window.current_request().like == () and np.mean(ranks_of(window, "PU-201")) == before
