"""The entry point: archive folder resolution, a clear error for an unusable archive, icons."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from inspector_search.gui import app as app_module
from inspector_search.gui.icons import app_icon, icon, resources_dir

ICONS = ("app", "search", "add", "folder", "history", "compare", "group", "filter", "clear")


def test_qt_binding_is_sound() -> None:
    """PySide6-Essentials 6.12.0 corrupts reference counts on Python 3.11; the GUI cannot run on it."""
    assert app_module.qt_binding_defect() is None


def test_archive_folder_comes_from_the_option_then_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(app_module.archive_module.ARCHIVE_ENV, str(tmp_path / "from-env"))
    assert app_module.resolve_archive_folder(str(tmp_path / "given")) == tmp_path / "given"
    assert app_module.resolve_archive_folder(None) == tmp_path / "from-env"
    monkeypatch.delenv(app_module.archive_module.ARCHIVE_ENV)
    assert app_module.resolve_archive_folder(None).name == "archive"


def test_an_unusable_archive_is_reported_and_exits_with_2(qapp, monkeypatch, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "catalog.sqlite").write_bytes(b"this is not a database" * 100)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda _parent, _title, text: shown.append(text))
    assert app_module.main(["--archive", str(folder)]) == app_module.EXIT_ARCHIVE_ERROR
    assert len(shown) == 1 and str(folder) in shown[0]


def test_run_app_shows_the_window_and_returns_the_exit_code(qapp, tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    seen: list[str] = []

    def quit_soon() -> None:
        seen.extend(w.windowTitle() for w in QApplication.topLevelWidgets() if w.isVisible())
        QApplication.exit(0)

    QTimer.singleShot(300, quit_soon)
    assert app_module.run_app(tmp_path / "new-archive", settings=settings) == 0
    assert "Inspector Search — new-archive" in seen
    assert (tmp_path / "new-archive" / "catalog.sqlite").exists()
    assert QApplication.applicationName() == "Inspector Search"
    assert not QApplication.windowIcon().isNull()
    for widget in QApplication.topLevelWidgets():
        widget.close()


@pytest.mark.parametrize("name", ICONS)
def test_icons_load_from_svg(qapp, name: str) -> None:
    assert (resources_dir() / "icons" / f"{name}.svg").is_file()
    assert not icon(name).isNull()
    assert not icon(name).pixmap(48, 48).isNull()


def test_app_icon_has_a_256px_png(qapp) -> None:
    assert (resources_dir() / "inspector-search.png").is_file()
    assert not app_icon().isNull()


def test_resources_are_found_when_frozen(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys._MEIPASS", str(tmp_path), raising=False)
    assert resources_dir() == tmp_path / "resources"


def test_the_cli_without_a_command_opens_the_app(qapp, tmp_path: Path) -> None:
    from inspector_search import cli

    QTimer.singleShot(300, lambda: QApplication.exit(0))
    assert cli.main(["--archive", str(tmp_path / "cli-archive")]) == 0
    assert (tmp_path / "cli-archive" / "catalog.sqlite").exists()
    assert not list((tmp_path / "qsettings").rglob("*.ini")) or all(
        p.is_relative_to(tmp_path) for p in (tmp_path / "qsettings").rglob("*.ini")
    )
    for widget in QApplication.topLevelWidgets():
        widget.close()
