"""The map of the archive: laid out on a worker, look-alike photos close together, a rectangle
selects, the selection is labelled or searched with; and the layout itself on synthetic vectors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt

from inspector_search.core.archive import Archive
from inspector_search.core.photo_map import layout_2d
from inspector_search.gui.main_window import MainWindow
from inspector_search.gui.map_dialog import MapDialog

from .conftest import LAYOUT


def test_layout_keeps_groups_together() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 32))
    truth = np.repeat(np.arange(3), 60)
    vectors = centres[truth] + 0.2 * rng.normal(size=(180, 32))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    positions = layout_2d(vectors, sample=120)  # t-SNE on 120, the other 60 placed by neighbours
    assert positions.shape == (180, 2) and positions.min() >= 0 and positions.max() <= 1
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=2)
    same = truth[:, None] == truth[None]
    assert distances[same].mean() * 3 < distances[~same].mean()


@pytest.fixture
def mapped(qtbot, settings, plant_photos: Path, tmp_path: Path) -> Iterator[tuple[Archive, MainWindow, MapDialog]]:
    """An archive of the 24 plant photos, its main window and the map, laid out."""
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([plant_photos], layout=LAYOUT)
        window = MainWindow(archive, settings)
        qtbot.addWidget(window)
        window.map_action.trigger()
        dialog = window.last_map  # closed below (it deletes itself on close)
        dialog.show()
        qtbot.waitUntil(lambda: len(dialog.items) == 24, timeout=120000)
        yield archive, window, dialog
        dialog.close()
        window.shutdown()


def test_map_select_label_and_search(qtbot, mapped, tmp_path: Path) -> None:
    archive, window, dialog = mapped
    qtbot.wait(500)  # thumbnails
    dialog.grab().save(str(tmp_path / "map.png"))
    dialog.select_rect(QRectF(0, 0, 1, 1))
    assert len(dialog.selected_ids()) == 24 and "24 photos selected" in dialog.selected_label.text()
    dialog.select_rect(QRectF(0, 0, 0.5, 1))
    chosen = dialog.selected_ids()
    assert 0 < len(chosen) < 24
    dialog.value.setText("scale")
    with qtbot.waitSignal(dialog.labelled, timeout=30000):
        dialog.label_button.click()
    assert dialog.kind.currentData() == "defect" and archive.photos_with_label("defect", "scale") == chosen
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        dialog.search_button.click()
    assert window.current_request().image is None and set(window.current_request().like) == set(chosen)
    assert window.results.model.items()


def test_map_opens_the_viewer_on_a_double_click_and_on_the_selection(qtbot, mapped) -> None:
    _archive, window, dialog = mapped
    assert not dialog.view_button.isEnabled()
    dialog.select_rect(QRectF(0, 0, 0.5, 1))
    chosen = dialog.selected_ids()
    assert 0 < len(chosen) < 24 and dialog.view_button.isEnabled()
    dialog.view_button.click()
    viewer = window.last_viewer
    assert [item.photo.image_id for item in viewer.items] == chosen and viewer.photo.image_id == chosen[0]
    viewer.close()

    outside = next(image_id for image_id in dialog.items if image_id not in chosen)
    item = dialog.items[outside]
    item.setZValue(1000)  # on top of any neighbour it overlaps
    dialog.view.centerOn(item)
    qtbot.wait(50)
    spot = dialog.view.mapFromScene(item.sceneBoundingRect().center())
    qtbot.mouseDClick(dialog.view.viewport(), Qt.MouseButton.LeftButton, pos=spot)
    viewer = window.last_viewer
    assert [item.photo.image_id for item in viewer.items] == [outside]
    viewer.close()
