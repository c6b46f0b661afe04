"""What can be done with an archive photo outside the app: open it, show its folder, copy its path."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication


def open_file(path: Path) -> bool:
    """Open the photo in the system's default viewer."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def show_in_folder(path: Path) -> bool:
    """Open the folder that contains the photo in the system's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))


def copy_path(path: Path) -> None:
    """Put the photo's full path on the clipboard as text."""
    QGuiApplication.clipboard().setText(str(path))
