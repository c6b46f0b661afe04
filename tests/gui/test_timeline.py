"""History as a timeline: newest or oldest first, the matched photo marked, years to jump to, two
inspections compared."""

from __future__ import annotations

from inspector_search.gui.compare import CompareDialog

from .conftest import DATES
from .test_views import open_history


def test_timeline_order_years_and_the_matched_photo(qtbot, window) -> None:
    first = open_history(qtbot, window, "PU-201")
    photo = first.strips[-1].photos()[0]  # the oldest inspection's photo
    first.close()
    qtbot.waitUntil(lambda: window.last_history is None, timeout=10000)
    dialog = window.show_history("PU-201", photo.image_id)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.history is not None, timeout=30000)
    days = [s.inspection.inspected_on.isoformat() for s in dialog.strips]
    assert days == sorted(DATES, reverse=True)
    marked = [s for s in dialog.strips if "the matched photo" in s.heading.text()]
    assert len(marked) == 1 and marked[0].chosen_photo() == photo
    assert all(f"{len(s.photos())} photo" in s.heading.text() for s in dialog.strips)
    dialog.order.setCurrentIndex(dialog.order.findData(False))  # oldest first
    assert [s.inspection.inspected_on.isoformat() for s in dialog.strips] == sorted(DATES)
    assert dialog.photo_dates() == sorted(dialog.photo_dates())
    assert sorted(dialog.year_buttons) == sorted(int(d[:4]) for d in DATES)
    dialog.resize(700, 300)
    qtbot.waitUntil(lambda: dialog.scroll.verticalScrollBar().maximum() > 0, timeout=5000)
    target = dialog.show_year(int(max(DATES)[:4]))
    assert target is dialog.strips[-1] and dialog.scroll.verticalScrollBar().value() > 0


def test_two_ticked_inspections_are_compared(qtbot, window) -> None:
    dialog = open_history(qtbot, window, "WE-301")
    newest, middle, oldest = dialog.strips
    assert not dialog.compare_button.isEnabled()
    newest.pick.setChecked(True)
    oldest.pick.setChecked(True)
    middle.pick.setChecked(True)
    assert not dialog.compare_button.isEnabled() and "only two" in dialog.compare_button.text()
    middle.pick.setChecked(False)
    assert dialog.compare_button.isEnabled()
    newest.view.setCurrentIndex(newest.model.index(1))
    dialog.compare_button.click()
    compare = window.last_compare
    assert isinstance(compare, CompareDialog)
    qtbot.addWidget(compare)
    assert compare.sides[0].photo == oldest.photos()[0] and compare.sides[1].photo == newest.photos()[1]
    qtbot.waitUntil(lambda: compare.left_view.has_image() and compare.right_view.has_image(), timeout=30000)
    dialog.close()
