"""The app shows why a match is the same object: tags on the tiles, a legend of the colours, and in
Compare the matched keypoints on both photos. Real archive of real insulator photos, real widgets."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QSettings

from inspector_search.core.archive import Archive
from inspector_search.gui.main_window import MainWindow
from inspector_search.gui.match_points import MAX_DRAWN
from inspector_search.gui.results import QUERY_TAG, SAME_OBJECT_TAG, Role, score_colour

from .conftest import DATASETS, open_window
from .helpers import drop_files

INSULATORS = DATASETS / "insulators"


@pytest.fixture(scope="module")
def insulator_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Archive, list[Path]]]:
    if not INSULATORS.is_dir():
        pytest.skip(f"dataset folder {INSULATORS} is absent (it lives in ../shared/datasets beside the project)")
    photos = tmp_path_factory.mktemp("insulators")
    for source in sorted(INSULATORS.glob("*.jpg"))[:8]:
        shutil.copy2(source, photos / source.name)
    with Archive.open(tmp_path_factory.mktemp("archive")) as archive:
        archive.add([photos])
        yield archive, sorted(photos.glob("*.jpg"))


@pytest.fixture
def window(qtbot, insulator_archive: tuple[Archive, list[Path]], settings: QSettings) -> Iterator[MainWindow]:
    win = open_window(qtbot, insulator_archive[0], settings)
    yield win
    win.shutdown()


def reshot(path: Path, target: Path) -> Path:
    image = Image.open(path).convert("RGB")
    w, h = image.size
    image = image.crop((w // 8, h // 10, w - w // 20, h)).rotate(5).resize((w * 3 // 5, h * 3 // 5))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=75)
    target.write_bytes(buffer.getvalue())
    return target


def search_by_drop(qtbot, window: MainWindow, path: Path) -> list:
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        assert drop_files(window.query_pane, [path])
    return window.results.model.items()


def tags(window: MainWindow) -> list:
    proxy = window.results.proxy
    return [proxy.index(row, 0).data(Role.VERIFIED) for row in range(proxy.rowCount())]


def test_a_re_shot_is_tagged_same_object_and_the_legend_explains_the_colours(
        qtbot, window: MainWindow, insulator_archive, tmp_path: Path) -> None:
    _archive, photos = insulator_archive
    items = search_by_drop(qtbot, window, reshot(photos[2], tmp_path / "reshot.jpg"))
    assert items[0].photo.path.name == photos[2].name and items[0].same_object and items[0].inliers >= 10
    assert tags(window)[0] == SAME_OBJECT_TAG and set(tags(window)[1:]) == {None}  # look-alikes: no tag
    tooltip = window.results.proxy.index(0, 0).data(0x0003)  # ToolTipRole
    assert f"Same object: {items[0].inliers} keypoints match" in tooltip
    legend = window.results.legend
    assert legend.isVisible() and "same object" in legend.text() and "0.88+" in legend.text()
    assert score_colour(0.9) != score_colour(0.8) != score_colour(0.5)


def test_the_query_photo_itself_is_tagged_this_photo(qtbot, window: MainWindow, insulator_archive) -> None:
    _archive, photos = insulator_archive
    items = search_by_drop(qtbot, window, photos[4])
    assert items[0].is_query and tags(window)[0] == QUERY_TAG
    assert not any(item.is_query for item in items[1:])


def test_compare_draws_the_matched_points_on_both_photos(qtbot, window: MainWindow, insulator_archive,
                                                         tmp_path: Path) -> None:
    _archive, photos = insulator_archive
    items = search_by_drop(qtbot, window, reshot(photos[1], tmp_path / "reshot.jpg"))
    dialog = window.compare(items[0].photo, items[0].score)
    points = dialog.points
    assert points is not None and not points.isChecked() and points.marked_points() == {"left": 0, "right": 0}
    points.setChecked(True)  # computed on a worker, painted on both photos
    qtbot.waitUntil(lambda: points.matches is not None, timeout=30000)
    pairs = min(len(points.matches.query_points), MAX_DRAWN)
    assert points.matches.inliers == items[0].inliers and "same object" in points.text()
    assert points.marked_points() == {"left": pairs, "right": pairs}
    assert len(dialog.left_view.overlays) == len(dialog.right_view.overlays) == 1
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in points.matches.photo_points)
    dialog.swap()  # the query goes right: its points go with it
    assert dialog.sides[1].photo is None and points.marked_points() == {"left": pairs, "right": pairs}
    assert dialog.left_view.overlays and dialog.right_view.overlays
    points.setChecked(False)
    assert points.marked_points() == {"left": 0, "right": 0}
    assert dialog.left_view.overlays == [] and dialog.right_view.overlays == []
    dialog.close()
