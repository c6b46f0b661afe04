"""Preferences are a typed list of options kept in the given QSettings; window state is separate."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QSettings

from inspector_search.gui.settings import OPTIONS, Preferences, WindowState

from .conftest import open_window


def test_every_option_has_a_default_of_its_type() -> None:
    keys = [option.key for option in OPTIONS]
    assert len(keys) == len(set(keys))
    for option in OPTIONS:
        assert isinstance(option.default, option.type), option
        assert option.label


def test_preferences_round_trip_through_an_ini_file(tmp_path: Path) -> None:
    path = tmp_path / "prefs.ini"
    prefs = Preferences(QSettings(str(path), QSettings.Format.IniFormat))
    assert prefs.get("top_k") == 24 and prefs.get("rotations") is False
    prefs.set("top_k", 50)
    prefs.set("min_score", 0.4)
    prefs.set("rotations", True)
    prefs.set("last_add_folder", "/data/plant")
    prefs.sync()
    again = Preferences(QSettings(str(path), QSettings.Format.IniFormat))
    assert again.get("top_k") == 50
    assert again.get("min_score") == pytest.approx(0.4)
    assert again.get("rotations") is True
    assert again.get("last_add_folder") == "/data/plant"
    text = path.read_text(encoding="utf-8")
    assert "[preferences]" in text and "top_k=50" in text


def test_bad_stored_values_fall_back_to_defaults(tmp_path: Path) -> None:
    path = tmp_path / "prefs.ini"
    path.write_text("[preferences]\ntop_k=lots\nmin_score=7\nrotations=maybe\n", encoding="utf-8")
    prefs = Preferences(QSettings(str(path), QSettings.Format.IniFormat))
    assert prefs.get("top_k") == 24 and prefs.get("min_score") == 0.0 and prefs.get("rotations") is False
    with pytest.raises(ValueError):
        prefs.set("top_k", 0)
    with pytest.raises(KeyError):
        prefs.get("no_such_option")


def test_window_state_is_kept_apart(tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "state.ini"), QSettings.Format.IniFormat)
    state = WindowState(settings)
    assert state.load("geometry") is None
    state.save("geometry", QByteArray(b"\x01\x02"))
    assert state.load("geometry") == QByteArray(b"\x01\x02")
    assert Preferences(settings).as_dict()["top_k"] == 24


def test_the_window_remembers_its_layout_and_preferences(qtbot, archive, settings) -> None:
    window = open_window(qtbot, archive, settings)
    window.resize(780, 560)  # inside the offscreen screen, so restoring the geometry is not clamped
    window.splitter.setSizes([320, 200, 260])
    sizes = window.splitter.sizes()
    window.filters.top_k.setValue(12)
    window.filters.rotations.setChecked(True)
    window.group_action.setChecked(True)
    window.set_thumbnail_size(112)
    window.close()
    again = open_window(qtbot, archive, settings)
    assert again.size() == window.size()
    assert again.splitter.sizes() == sizes
    assert again.filters.top_k.value() == 12
    assert again.filters.rotations.isChecked()
    assert again.group_action.isChecked()
    assert again.results.delegate.thumbnail_size == 112
    again.shutdown()


def test_default_window_fits_a_small_laptop_screen(window) -> None:
    assert window.width() <= 1366 and window.height() <= 768
    assert window.minimumSizeHint().width() <= 1366
    assert all(size > 0 for size in window.splitter.sizes())
