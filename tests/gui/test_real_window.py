"""The real app in a real X server: Xvfb, Qt's xcb platform (not offscreen), a search given on the
command line, and a screenshot of the window as the X server shows it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from inspector_search.gui.platform_check import missing_libraries, xcb_plugin

SCREEN = (1600, 1000)


@pytest.fixture
def x_display():
    """A private Xvfb server; its display name (``:N``)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (.ci/run installs it: apt-get install xvfb)")
    plugin = xcb_plugin()
    if plugin is None or missing_libraries(plugin):
        pytest.skip("Qt's xcb platform plugin or its system libraries are missing (.ci/run installs them)")
    read, write = os.pipe()
    server = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                               "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        pytest.skip("Xvfb did not start")
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_real_app_under_xvfb_searches_and_saves_a_screenshot(x_display: str, archive, query_photo: Path,
                                                             tmp_path: Path) -> None:
    shot = tmp_path / "real-window.png"
    env = {key: value for key, value in os.environ.items() if key not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=x_display, QT_QPA_PLATFORM="xcb", INSPECTOR_SEARCH_SCREENSHOT=str(shot),
               XDG_CONFIG_HOME=str(tmp_path / "config"), HOME=str(tmp_path))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "inspector_search", "--archive", str(archive.folder), "gui",
                           str(query_photo)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode} after {time.monotonic() - started:.0f} s\n{proc.stderr}"
    assert f"screenshot saved to {shot} (Qt platform xcb)" in proc.stderr  # the real X11 platform, not offscreen
    with Image.open(shot) as image:
        assert image.width >= 800 and image.height >= 500
        colours = image.convert("RGB").resize((64, 40)).getcolors(64 * 40)
    assert colours is not None and len(colours) > 200  # photos and text, not an empty or black window
