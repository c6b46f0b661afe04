"""Desktop entry point: ``inspector-search`` with no sub-command, or ``inspector-search-app``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QStyleFactory

from inspector_search import __version__
from inspector_search.core import archive as archive_module
from inspector_search.core.errors import InspectorSearchError

from .icons import app_icon
from .messages import describe_error
from .platform_check import EXIT_MISSING_LIBRARIES, platform_problem
from .results import Role
from .settings import APPLICATION, ORGANIZATION, default_qsettings

EXIT_ARCHIVE_ERROR = 2
EXIT_BROKEN_QT = 3
EXIT_SCREENSHOT_TIMEOUT = 5
_PROBE_CALLS = 64
#: Set to a PNG path, the app saves its window there once a search (from photos on the command line)
#: has shown its results and thumbnails, then quits: the real-window test under Xvfb uses it.
SCREENSHOT_ENV = "INSPECTOR_SEARCH_SCREENSHOT"
SCREENSHOT_TIMEOUT_S = 180


def qt_binding_defect() -> str | None:
    """Why this PySide6 cannot run the app, or ``None`` if it can.

    PySide6-Essentials 6.12.0 returns ``None`` from void methods without a reference; on Python
    3.11 (where ``None`` is not immortal) any window then aborts within seconds with "Fatal Python
    error: none_dealloc". Measured, not guessed from the version, so a fixed build passes.
    """
    if sys.version_info >= (3, 12):
        return None
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        probe.setObjectName("probe")
    if before - sys.getrefcount(None) < _PROBE_CALLS // 2:
        return None
    return (
        f"PySide6 {pyside_version} drops references to None on Python "
        f"{sys.version_info.major}.{sys.version_info.minor} and would crash; "
        "install another version, e.g. pip install 'PySide6-Essentials!=6.12.0'"
    )


def resolve_archive_folder(argument: str | None) -> Path:
    """``--archive``, else the façade's default (``$INSPECTOR_SEARCH_ARCHIVE`` or the per-user folder)."""
    if argument:
        return Path(argument).expanduser()
    return Path(archive_module.default_archive_folder())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="inspector-search-app", description="Inspector Search desktop app")
    parser.add_argument("--archive", metavar="DIR",
                        help=f"archive folder (default: ${archive_module.ARCHIVE_ENV} or per-user)")
    parser.add_argument("--model", type=Path, metavar="MANIFEST",
                        help="model manifest (.json) to use instead of the bundled one")
    parser.add_argument("--version", action="version", version=f"Inspector Search {__version__}")
    parser.add_argument("photos", nargs="*", type=Path, metavar="PHOTO", help="search with these photos at once")
    return parser.parse_args(argv)


def create_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (re-used if one exists), with names, icon and the platform's own style."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication([sys.argv[0] if sys.argv else "inspector-search", *(argv or [])])
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("inspector-search")
    app.setWindowIcon(app_icon())
    if app.style() is None and "Fusion" in QStyleFactory:
        app.setStyle("Fusion")
    return app


def open_archive(folder: Path, model: Path | None = None) -> object | None:
    """Open the archive, or say why it cannot be opened (and return ``None``)."""
    try:
        return archive_module.Archive.open(folder, model=model)
    except (InspectorSearchError, OSError) as error:
        QMessageBox.critical(
            None, "Inspector Search", f"The archive at {folder} cannot be opened.\n\n{describe_error(error)}"
        )
        return None


def run_app(archive_folder: Path, *, model: Path | None = None, settings: QSettings | None = None,
            photos: Sequence[Path] = ()) -> int:
    """Show the main window on ``archive_folder`` and run the event loop; the process exit code.

    ``model`` is a model manifest other than the bundled one; ``settings`` replaces the per-user
    settings store (tests); ``photos`` are searched with at once (the first; the others are listed).
    Before Qt starts, missing system libraries are named in words (exit code 4) instead of Qt's abort.
    """
    from .main_window import MainWindow

    defect = qt_binding_defect()
    if defect is not None:
        print(f"inspector-search: {defect}", file=sys.stderr)
        return EXIT_BROKEN_QT
    problem = platform_problem() if QApplication.instance() is None else None
    if problem is not None:
        print(f"inspector-search: {problem}", file=sys.stderr)
        return EXIT_MISSING_LIBRARIES
    app = create_application()
    archive = open_archive(Path(archive_folder), model)
    if archive is None:
        return EXIT_ARCHIVE_ERROR
    try:
        window = MainWindow(archive, settings if settings is not None else default_qsettings())
        window.show()
        window.start_warm_up()
        if photos:
            window.query_pane.load_paths([Path(p).absolute() for p in photos])
        screenshot = os.environ.get(SCREENSHOT_ENV)
        if screenshot:
            _screenshot_when_shown(window, Path(screenshot))
        code = app.exec()
        window.shutdown()  # no worker may outlive the archive it reads
        return code
    finally:
        archive.close()  # type: ignore[attr-defined]


def _screenshot_when_shown(window: Any, target: Path) -> None:
    """Save the window as the X server shows it once a search's results and thumbnails are in, then quit
    (exit code 0; 5 if that has not happened within SCREENSHOT_TIMEOUT_S)."""
    started = time.monotonic()
    timer = QTimer(window)

    def shown() -> bool:
        proxy = window.results.proxy
        rows = min(proxy.rowCount(), 8)
        return (window.searcher.last_request is not None and not window.searcher.busy and rows > 0
                and all(proxy.index(r, 0).data(Role.THUMBNAIL) is not None for r in range(rows)))

    def poll() -> None:
        timed_out = time.monotonic() - started > SCREENSHOT_TIMEOUT_S
        if not shown() and not timed_out:
            return
        timer.stop()
        QApplication.processEvents()
        screen = window.screen()
        picture = screen.grabWindow(window.winId()) if screen is not None else window.grab()
        picture.save(str(target))
        print(f"inspector-search: screenshot saved to {target} (Qt platform {QApplication.platformName()}"
              f"{', timed out waiting for results' if timed_out else ''})", file=sys.stderr)
        QApplication.instance().exit(EXIT_SCREENSHOT_TIMEOUT if timed_out else 0)

    timer.timeout.connect(poll)
    timer.start(250)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``--archive DIR`` and ``--model MANIFEST`` and run the desktop app."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run_app(resolve_archive_folder(args.archive), model=args.model, photos=args.photos)


if __name__ == "__main__":
    sys.exit(main())
