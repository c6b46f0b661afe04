"""Fixtures of the reliability tests: one small real archive built once per session, copied per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import build_archive, copy_archive, neu_photos

TEMPLATE_PHOTOS = 30


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(archive folder, photo folder): 30 real NEU-DET photos, PCA fitted (16 dims). Never modify it:
    use ``archive_copy``. The photos are shared and must not be changed either."""
    root = tmp_path_factory.mktemp("template")
    photos = neu_photos(TEMPLATE_PHOTOS, root / "photos")
    build_archive(root / "archive", photos)
    return root / "archive", photos


@pytest.fixture
def archive_copy(template: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy of the template archive (its photos are the template's)."""
    return copy_archive(template[0], tmp_path / "archive")


@pytest.fixture
def photos(template: tuple[Path, Path]) -> Path:
    """The template's photo folder (read only)."""
    return template[1]
