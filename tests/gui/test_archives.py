"""Switching archives from the app: recent archives, a new window on the other archive, the old one closed."""

from __future__ import annotations

from pathlib import Path

from inspector_search.gui.main_window import MainWindow


def test_switch_to_another_archive_and_back_via_recent(qtbot, window, archive, tmp_path: Path) -> None:
    other = tmp_path / "second-archive"
    assert window.recent_archives() == [Path(archive.folder)]
    switched = window.switch_archive(other)  # no archive there yet: the app creates one
    assert isinstance(switched, MainWindow) and switched is not window
    qtbot.addWidget(switched)
    assert not window.isVisible() and switched.isVisible()
    assert Path(switched.archive.folder) == other and (other / "catalog.sqlite").is_file()
    qtbot.waitUntil(lambda: switched.status is not None, timeout=30000)
    assert switched.status.photos == 0 and switched.results.showing_empty_archive()
    assert switched.recent_archives() == [other, Path(archive.folder)]
    switched._fill_recent_menu()
    entries = [a.text() for a in switched.recent_menu.actions()]
    assert entries == [f"&1 {archive.folder}"]  # the open archive is not offered
    back = switched.switch_archive(Path(archive.folder))
    qtbot.addWidget(back)
    qtbot.waitUntil(lambda: back.status is not None, timeout=30000)
    assert back.status.photos > 0 and not switched.isVisible()
    assert back.recent_archives()[:2] == [Path(archive.folder), other]
    back.close()
    archive.status()  # the session's archive is still open: only windows that opened one close theirs


def test_an_archive_that_cannot_be_opened_keeps_the_window(qtbot, window, tmp_path: Path, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda *args: shown.append(args[2])))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "catalog.sqlite").write_bytes(b"this is not a database")
    assert window.switch_archive(broken) is None
    assert window.isVisible() and shown and "cannot be opened" in shown[0]
