"""Application icons, loaded from the SVG files in ``resources/`` (sharp at any device pixel ratio)."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon


def resources_dir() -> Path:
    """The ``resources`` folder: beside the package in a checkout, under ``sys._MEIPASS`` when frozen."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root is not None:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


@cache
def icon(name: str) -> QIcon:
    """The icon ``resources/icons/<name>.svg``; an empty icon if the file is missing (never an error)."""
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def app_icon() -> QIcon:
    """The application icon: the SVG, plus the 256 px PNG for platforms that want a bitmap."""
    result = QIcon(icon("app"))
    png = resources_dir() / "inspector-search.png"
    if png.is_file():
        result.addFile(str(png))
    return result
