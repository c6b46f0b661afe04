"""Shared fixtures: real images from ../shared/datasets (skipped when absent) and small archives."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"
NEU_DET = DATASETS / "neu_det"
INSULATORS = DATASETS / "insulators"
NEU_CLASSES = ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches")


def require(folder: Path) -> Path:
    """Skip the calling test with a clear reason when a shared dataset folder is missing."""
    if not folder.is_dir():
        pytest.skip(f"dataset folder {folder} is absent (it lives in ../shared/datasets beside the project)")
    return folder


@pytest.fixture(scope="session")
def neu_det() -> Path:
    return require(NEU_DET)


@pytest.fixture(scope="session")
def insulators() -> Path:
    return require(INSULATORS)


def neu_sample(per_class: int, classes: tuple[str, ...] = NEU_CLASSES) -> list[Path]:
    """The first ``per_class`` images of each NEU-DET class, sorted, so tests are deterministic."""
    root = require(NEU_DET)
    return [p for c in classes for p in sorted((root / c).glob("*.jpg"))[:per_class]]


def plant_folder(target: Path, per_class: int = 6, classes: tuple[str, ...] = NEU_CLASSES[:3]) -> Path:
    """Copy real photos into a plant-like layout ``site/equipment/date/file.jpg``: one equipment per
    class, two inspection dates, two sites."""
    for n, src in enumerate(neu_sample(per_class, classes)):
        cls = src.parent.name
        site = "North" if classes.index(cls) % 2 == 0 else "South"
        tag = f"P-{classes.index(cls) + 101}"
        day = "2023-05-14" if n % 2 == 0 else "2024-06-01"
        dest = target / site / tag / day / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    return target


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "archive"
