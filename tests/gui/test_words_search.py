"""The Words box: a search by words alone (no query photo) and words narrowing a photo search."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from .conftest import PER_CLASS
from .helpers import drop_files


def type_words(qtbot, window, words: str) -> list:
    window.filters.text.setText(words)
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        qtbot.keyClick(window.filters.text, Qt.Key.Key_Return)
    return window.results.model.items()


def test_words_alone_and_with_a_photo(qtbot, window, query_photo: Path) -> None:
    items = type_words(qtbot, window, "pu 201")
    assert len(items) == PER_CLASS and {i.photo.equipment_tag for i in items} == {"PU-201"}
    assert window.query_pane.source is None
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        assert drop_files(window.query_pane, [query_photo])  # an FL-101 photo, words still "pu 201"
    items = window.results.model.items()
    assert {i.photo.equipment_tag for i in items} == {"PU-201"}
    items = type_words(qtbot, window, "")
    assert items[0].photo.path == query_photo  # the words cleared: the whole archive again
