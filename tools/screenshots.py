"""Render the main GUI states to PNG files, offscreen, from a temporary archive of real photos.

    python tools/screenshots.py --out docs/screenshots

The archive is built from ``../shared/datasets`` (NEU-DET steel surfaces and CPLID insulators) with
a metadata CSV, so every screen shows real photos and realistic metadata. Nothing outside the
temporary folder and ``--out`` is written (settings go to a temporary ini file).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from inspector_search.core.archive import Archive  # noqa: E402
from inspector_search.gui.app import create_application  # noqa: E402
from inspector_search.gui.main_window import MainWindow  # noqa: E402
from inspector_search.gui.results import Role  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
DATES = ("2022-04-12", "2023-04-18", "2024-04-16")
INSPECTORS = ("A. Moreau", "J. Okafor", "L. Lindqvist")
STEEL = {  # NEU-DET class -> (tag, name, type, notes)
    "crazing": ("FL-101", "Feed line flange", "Flange", "Fine crazing on the flange face; monitor."),
    "inclusion": ("PU-201", "Cooling pump casing", "Pump", "Inclusions near the seal seat."),
    "patches": ("WE-301", "Header weld 3", "Weld", "Patchy surface beside the weld toe."),
}
INSULATOR_TAGS = ("INS-701", "INS-702", "INS-703", "INS-704")


def settle(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Turn the event loop until ``condition()`` holds (or the timeout passes)."""
    app = QApplication.instance()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if condition():
            return
        time.sleep(0.01)
    print(f"warning: gave up waiting after {timeout:.0f} s", file=sys.stderr)


def pause(seconds: float) -> None:
    end = time.monotonic() + seconds
    settle(lambda: time.monotonic() >= end, seconds + 1)


def save(widget: QWidget, out: Path, name: str) -> None:
    pause(0.2)
    path = out / f"{name}.png"
    widget.grab().save(str(path))
    print(f"wrote {path}")


def build_photos(datasets: Path, target: Path) -> tuple[Path, Path, list[Path]]:
    """Copy real photos into a plant layout and write a metadata CSV; returns (folder, csv, extra)."""
    rows = []
    for cls, (tag, name, kind, notes) in STEEL.items():
        for n, src in enumerate(sorted((datasets / "neu_det" / cls).glob("*.jpg"))[:9]):
            rows.append(_place(src, target / "North Plant" / tag, n, (tag, name, kind, "North Plant", notes)))
    insulators = sorted((datasets / "insulators").glob("*.jpg"))
    for n, src in enumerate(insulators[:48]):
        tag = INSULATOR_TAGS[n % len(INSULATOR_TAGS)]
        info = (tag, f"Line 7 tower {tag[-1]} insulator string", "Insulator", "Line 7", "Glaze intact; no flashover.")
        rows.append(_place(src, target / "Line 7" / tag, n // len(INSULATOR_TAGS), info))
    for n, (src, quality, scale) in enumerate(((insulators[5], 70, 1.0), (insulators[5], 88, 0.5))):
        with Image.open(src) as image:  # re-saved and resized copies for the duplicate review
            copy = image.convert("RGB")
            copy = copy.resize((int(copy.width * scale), int(copy.height * scale))) if scale != 1.0 else copy
            copy.save(target / f"copy-{n}-of-{src.name}", "JPEG", quality=quality)
    metadata = target / "inspections.csv"
    with metadata.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "equipment_tag", "equipment_name", "equipment_type", "site", "area",
                         "inspected_on", "inspector", "notes"])
        writer.writerows(rows)
    return target, metadata, insulators[48:]


def _place(src: Path, folder: Path, n: int, info: tuple[str, str, str, str, str]) -> list[str]:
    tag, name, kind, site, notes = info
    day = DATES[n % len(DATES)]
    dest = folder / day / src.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    area = "Unit 2" if site == "North Plant" else "Span 14-15"
    return [str(dest), tag, name, kind, site, area, day, INSPECTORS[n % len(INSPECTORS)], notes]


def new_photo_of(src: Path, target: Path) -> Path:
    """A "new inspection photo" of the same scene: cropped, slightly turned, brighter, re-encoded."""
    with Image.open(src) as image:
        w, h = image.size
        changed = image.convert("RGB").crop((int(w * 0.08), int(h * 0.1), int(w * 0.9), int(h * 0.95)))
        changed = changed.rotate(3, expand=False, fillcolor=(90, 90, 90))
        changed = changed.point(lambda v: min(255, int(v * 1.08)))
        changed.save(target, "JPEG", quality=82)
    return target


def shoot_main(window: MainWindow, out: Path, query: Path) -> None:
    window.query_pane.load_path(query)
    settle(lambda: window.searcher.last_request is not None and not window.searcher.busy)
    wait_thumbnails(window)
    settle(lambda: window.detail.preview._pixmap is not None and not window.detail.preview._pixmap.isNull(), 20)
    save(window, out, "results")
    window.resize(1600, 900)
    wait_thumbnails(window)
    save(window, out, "results-1600")
    window.resize(1280, 760)
    window.group_action.setChecked(True)
    settle(lambda: window.searcher.last_by_equipment and not window.searcher.busy)
    window.results.toggle_group(window.results.proxy.index(0, 0))  # the best group's photos listed
    wait_thumbnails(window)
    save(window, out, "grouped")
    window.group_action.setChecked(False)
    settle(lambda: not window.searcher.last_by_equipment and not window.searcher.busy)
    wait_thumbnails(window)
    window.filters.site.setCurrentText("Line 7")
    settle(lambda: window.filters.equipment_tag.count() == 1 + len(INSULATOR_TAGS))
    window.filters.use_dates.setChecked(True)
    settle(lambda: window.searcher.last_request.filter.since is not None and not window.searcher.busy, 20)
    wait_thumbnails(window)
    save(window, out, "filters")
    window.filters.reset()
    settle(lambda: window.searcher.last_request.filter.is_empty() and not window.searcher.busy, 20)
    window.browser_action.trigger()
    window.query_pane.set_region((0.3, 0.15, 0.75, 0.7))
    settle(lambda: window.searcher.last_request.crop is not None and not window.searcher.busy)
    wait_thumbnails(window)
    save(window, out, "region-and-browser")
    window.browser_action.trigger()


def wait_thumbnails(window: MainWindow) -> None:
    proxy = window.results.proxy

    def loaded() -> bool:
        rows = min(proxy.rowCount(), 24)
        return all(proxy.index(r, 0).data(Role.THUMBNAIL) is not None for r in range(rows))

    settle(loaded, 30)


def shoot_dialogs(window: MainWindow, out: Path) -> None:
    photo = window.results.model.items()[1]
    compare = window.compare(photo.photo, photo.score)
    compare.resize(1280, 700)
    settle(lambda: compare.right_view.has_image(), 20)
    pause(0.3)
    compare.fit()
    save(compare, out, "compare")
    compare.set_overlay(True)
    compare.opacity.setValue(50)
    pause(0.3)
    save(compare, out, "compare-overlay")
    compare.close()
    viewer = window.view_result(window.results.proxy.index(1, 0))
    viewer.resize(1280, 760)
    settle(lambda: viewer.view.has_image(), 20)
    pause(0.3)
    viewer.fit()
    save(viewer, out, "viewer")
    viewer.close()
    history = window.show_history(photo.photo.equipment_tag, photo.photo.image_id)
    history.resize(1000, 700)
    settle(lambda: history.history is not None, 20)
    settle(lambda: all(s.model.index(r).data(Role.THUMBNAIL) is not None
                       for s in history.strips for r in range(s.model.rowCount())), 20)
    save(history, out, "history")
    history.close()
    check = window.show_check()
    check.resize(900, 420)
    settle(lambda: check.report is not None, 60)
    save(check, out, "check")
    check.close()
    review = window.show_duplicates()
    review.resize(1100, 520)
    settle(lambda: "review" in review.summary.text() or "No near" in review.summary.text(), 60)
    settle(lambda: all(review.photos.index(r).data(Role.THUMBNAIL) is not None
                       for r in range(review.photos.rowCount())), 20)
    save(review, out, "duplicates")
    review.close()
    shoot_report(window, out)


def shoot_report(window: MainWindow, out: Path) -> None:
    """The first page of a search report, drawn by poppler's pdftoppm as a PDF viewer would."""
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "report.pdf"
        done: list[object] = []
        window.reportWritten.connect(done.append)
        window.save_search_report(pdf, "Glaze intact on tower 2; compare again after the winter.")
        settle(lambda: bool(done), 60)
        if shutil.which("pdftoppm") is None:
            print("pdftoppm missing: no report screenshot", file=sys.stderr)
            return
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                        str(out / "report-search")], check=True)
        print(f"wrote {out / 'report-search.png'}")


def shoot_add(window: MainWindow, out: Path, extra_folder: Path) -> None:
    dialog = window.show_add_dialog()
    dialog.add_folder(extra_folder)
    dialog.set_layout("{site}/{equipment}/{date}")
    dialog.refresh_preview()
    settle(lambda: dialog.last_preview is not None, 30)
    shots: list[bool] = []

    def on_progress(event) -> None:
        if event.phase == "indexing" and event.done > 0 and not shots:
            shots.append(True)
            save(dialog, out, "add-photos-progress")
            save(window, out, "adding-while-searching")
            dialog.cancel()

    dialog.progress.connect(on_progress)
    dialog.start()
    settle(lambda: not dialog.running, 120)
    save(dialog, out, "add-photos-cancelled")
    dialog.hide()


def shoot_empty(out: Path, folder: Path, settings: QSettings) -> None:
    with Archive.open(folder) as archive:
        window = MainWindow(archive, settings)
        window.resize(1280, 760)
        window.show()
        settle(lambda: window.status is not None)
        save(window, out, "empty-archive")
        window.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    args = parser.parse_args(argv)
    if not (args.datasets / "neu_det").is_dir() or not (args.datasets / "insulators").is_dir():
        print(f"datasets not found under {args.datasets}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    create_application()
    with tempfile.TemporaryDirectory(prefix="inspector-screens-") as tmp:
        tmp_path = Path(tmp)
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        shoot_empty(args.out, tmp_path / "empty", settings)
        photos, metadata, extra = build_photos(args.datasets, tmp_path / "photos")
        extra_folder = tmp_path / "new-survey" / "Line 7" / "INS-705" / "2024-09-30"
        extra_folder.mkdir(parents=True)
        for src in extra:
            shutil.copy2(src, extra_folder / src.name)
        query = new_photo_of(sorted((photos / "Line 7" / "INS-702").rglob("*.jpg"))[0], tmp_path / "new.jpg")
        with Archive.open(tmp_path / "archive") as archive:
            archive.add([photos], metadata=metadata)
            window = MainWindow(archive, QSettings(str(tmp_path / "main.ini"), QSettings.Format.IniFormat))
            window.resize(1280, 760)
            window.show()
            window.start_warm_up()
            settle(lambda: window.status is not None and window.ready)
            shoot_main(window, args.out, query)
            shoot_dialogs(window, args.out)
            shoot_add(window, args.out, tmp_path / "new-survey")
            window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
