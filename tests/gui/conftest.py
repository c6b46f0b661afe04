"""GUI test fixtures: offscreen Qt, settings in a temporary ini file, a real archive of real photos."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from inspector_search.core.archive import Archive
from inspector_search.gui.app import qt_binding_defect
from inspector_search.gui.main_window import MainWindow

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
NEU_DET = DATASETS / "neu_det"
LAYOUT = "{site}/{equipment}/{date}"
#: NEU-DET class -> (site, equipment tag) in the test plant.
PLANT = {
    "crazing": ("site_A", "FL-101"),
    "inclusion": ("site_A", "PU-201"),
    "patches": ("site_B", "WE-301"),
}
DATES = ("2022-03-14", "2023-03-20", "2024-03-18")
PER_CLASS = 8

_DEFECT = qt_binding_defect()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With a PySide6 that corrupts reference counts, skip the GUI tests instead of aborting pytest
    (``test_qt_binding_is_sound`` still runs and fails, naming the problem)."""
    if _DEFECT is None:
        return
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and item.name != "test_qt_binding_is_sound":
            item.add_marker(pytest.mark.skip(reason=_DEFECT))


def neu_det() -> Path:
    if not NEU_DET.is_dir():
        pytest.skip(f"dataset folder {NEU_DET} is absent (it lives in ../shared/datasets beside the project)")
    return NEU_DET


def distinct_photos(cls: str, count: int, start: int = 0) -> list[Path]:
    """``count`` photos of a NEU-DET class, skipping byte-identical duplicates, in a stable order."""
    root = neu_det()
    duplicates = set()
    listing = root / "exact_duplicates.txt"
    if listing.is_file():
        for line in listing.read_text(encoding="utf-8").splitlines():
            if "==" in line:
                duplicates.add(Path(line.split("==")[1].strip()).name)
    files = sorted(p for p in (root / cls).glob("*.jpg") if p.name not in duplicates)
    return files[start : start + count]


def build_plant(target: Path, per_class: int = PER_CLASS, start: int = 0) -> Path:
    """Copy real photos into ``<site>/<tag>/<date>/`` folders (one equipment per class)."""
    for cls, (site, tag) in PLANT.items():
        for n, src in enumerate(distinct_photos(cls, per_class, start)):
            dest = target / site / tag / DATES[n % len(DATES)] / src.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    return target


@pytest.fixture(scope="session")
def plant_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_plant(tmp_path_factory.mktemp("plant"))


@pytest.fixture(scope="session")
def archive(plant_photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """One real archive for the session (read-only for tests: they must not add to it)."""
    folder = tmp_path_factory.mktemp("archive")
    with Archive.open(folder) as opened:
        report = opened.add([plant_photos], layout=LAYOUT)
        assert report.added == PER_CLASS * len(PLANT) and not report.skipped, report
        yield opened


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path) -> Iterator[None]:
    """Any QSettings made without a file lands in a temporary folder, never the real configuration."""
    folder = tmp_path / "qsettings"
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(folder))
    yield


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "inspector-search.ini"), QSettings.Format.IniFormat)


def open_window(qtbot, archive: Archive, settings: QSettings) -> MainWindow:
    window = MainWindow(archive, settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.status is not None, timeout=30000)
    return window


@pytest.fixture
def window(qtbot, archive: Archive, settings: QSettings) -> Iterator[MainWindow]:
    win = open_window(qtbot, archive, settings)
    yield win
    win.shutdown()


@pytest.fixture
def query_photo(plant_photos: Path) -> Path:
    """A photo of equipment FL-101 that is in the archive."""
    return sorted((plant_photos / "site_A" / "FL-101").rglob("*.jpg"))[0]
