"""Missing system libraries for Qt's X11 platform are named in words, with the packages to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector_search.gui import app as app_module
from inspector_search.gui import platform_check
from inspector_search.gui.platform_check import (
    EXIT_MISSING_LIBRARIES,
    debian_package,
    missing_in_ldd_output,
    missing_libraries,
    platform_problem,
    uses_xcb,
    xcb_plugin,
)

# What ldd printed for PySide6's libqxcb.so on a fresh Debian 12 desktop (issue 15), shortened.
FRESH_DEBIAN_LDD = """\
\tlinux-vdso.so.1 (0x00007ffd5a3f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f0e1c000000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f0e1bff0000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f0e1bf00000)
\tlibxcb-icccm.so.4 => not found
"""


def test_ldd_output_names_the_missing_libraries_and_their_packages() -> None:
    missing = missing_in_ldd_output(FRESH_DEBIAN_LDD)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert [debian_package(name) for name in missing] == ["libxcb-icccm4", "libxcb-keysyms1"]
    assert debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert debian_package("libxcb-frobnicate.so.2") == "libxcb-frobnicate2"  # a guess from the name
    message = platform_check.explain_missing(missing)
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in message
    assert "libxcb-cursor0" in message  # the full list as well


def test_which_platform_qt_will_use() -> None:
    assert uses_xcb({"DISPLAY": ":0"}) and uses_xcb({"QT_QPA_PLATFORM": "xcb"})
    assert not uses_xcb({"QT_QPA_PLATFORM": "offscreen"}) and not uses_xcb({"WAYLAND_DISPLAY": "wayland-0"})
    assert platform_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert platform_problem({"DISPLAY": ":0"}, platform="win32") is None
    assert "DISPLAY is not set" in platform_problem({}, find_missing=lambda _p: [])


def test_the_real_plugin_finds_its_libraries_here() -> None:
    plugin = xcb_plugin()
    if plugin is None:
        pytest.skip("this PySide6 ships no xcb platform plugin")
    missing = missing_libraries(plugin)
    assert missing == [], f"install: {platform_check.explain_missing(missing)}"  # .ci/run installs them
    assert platform_problem({"DISPLAY": ":99", "QT_QPA_PLATFORM": "xcb"}, platform="linux") is None


def test_app_explains_instead_of_aborting(monkeypatch, capsys, tmp_path: Path) -> None:
    """With libraries missing, the app prints the packages and exits 4 before Qt would abort."""
    monkeypatch.setattr(app_module.QApplication, "instance", staticmethod(lambda: None))
    monkeypatch.setattr(app_module, "platform_problem",
                        lambda: platform_problem({"DISPLAY": ":0"}, platform="linux",
                                                 plugin=Path("/qt/plugins/platforms/libqxcb.so"),
                                                 find_missing=lambda _p: missing_in_ldd_output(FRESH_DEBIAN_LDD)))
    assert app_module.run_app(tmp_path / "archive") == EXIT_MISSING_LIBRARIES
    err = capsys.readouterr().err
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in err and "apt-get install libxcb-icccm4 libxcb-keysyms1" in err
    assert not (tmp_path / "archive").exists()  # nothing was created before the check
