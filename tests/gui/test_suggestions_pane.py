"""Suggested labels in the detail pane: shown for a photo without a defect label once enough photos
are labelled, accepted or rejected with one click; the photo's labels are shown."""

from __future__ import annotations

from pathlib import Path

from inspector_search.core.archive import Archive
from inspector_search.gui.main_window import MainWindow

from .conftest import LAYOUT, PLANT


def test_accept_and_reject_a_suggestion(qtbot, settings, plant_photos: Path, tmp_path: Path) -> None:
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([plant_photos], layout=LAYOUT)
        by_tag: dict[str, list] = {}
        for photo in archive.listing():
            by_tag.setdefault(photo.equipment_tag, []).append(photo)
        defect = {tag: cls for cls, (_site, tag) in PLANT.items()}
        for tag, photos in by_tag.items():
            archive.assign_labels([p.image_id for p in photos[:-2]], [("defect", defect[tag])])
        window = MainWindow(archive, settings)
        qtbot.addWidget(window)
        box = window.detail.suggestions
        first, second = (photos[-1] for photos in list(by_tag.values())[:2])

        window.show_detail(first)
        qtbot.waitUntil(lambda: bool(box.rows), timeout=60000)
        window.detail.grab().save(str(tmp_path / "suggestion.png"))
        suggestion, accept, _reject = box.rows[0]
        assert (suggestion.kind, suggestion.value) == ("defect", defect[first.equipment_tag])
        assert suggestion.confidence >= 0.9
        accept.click()
        qtbot.waitUntil(lambda: window.detail.labels["labels"].text() == f"Defect: {defect[first.equipment_tag]}",
                        timeout=30000)
        assert archive.photo(first.image_id).label_values("defect") == [defect[first.equipment_tag]]
        qtbot.waitUntil(lambda: not box.rows, timeout=30000)  # labelled now: nothing more to suggest
        window.undo_labels_action.trigger()  # Photo > Undo last label change
        qtbot.waitUntil(lambda: window.detail.labels["labels"].isHidden(), timeout=30000)
        assert archive.photo(first.image_id).labels == ()
        assert "Undone: accept 1 suggested label(s)" in window.statusBar().currentMessage()

        window.show_detail(second)
        qtbot.waitUntil(lambda: bool(box.rows), timeout=60000)
        box.rows[0][2].click()  # Reject
        assert not box.rows and box.isHidden()
        assert archive.photo(second.image_id).labels == ()
        window.shutdown()


def test_tile_tooltip_lists_the_photos_labels(window) -> None:
    from inspector_search.core.records import Label, PhotoRecord
    from inspector_search.gui.results import ResultItem, ResultsModel

    model = ResultsModel(window.thumbnails)
    photo = PhotoRecord(7, Path("/photos/p.jpg"), equipment_tag="P-101",
                        labels=(Label("defect", "corrosion"), Label("tag", "flange")))
    model.set_items([ResultItem(photo, 0.9, 1), ResultItem(PhotoRecord(8, Path("/photos/q.jpg")), 0.8, 2)])
    assert "Labels: corrosion, flange" in model.index(0).data(0x0003)  # ToolTipRole
    assert "Labels" not in model.index(1).data(0x0003)
