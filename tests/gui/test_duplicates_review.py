"""Duplicate review: groups side by side, keep one or dismiss, decisions remembered (a resolved group
stays resolved when the review is opened again, until a new copy joins the group)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from inspector_search.core.archive import Archive
from inspector_search.gui.duplicates_dialog import DuplicatesDialog
from inspector_search.gui.main_window import MainWindow
from inspector_search.gui.results import Role

INSULATORS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "insulators"


def resaved(source: Path, quality: int, scale: float = 1.0) -> bytes:
    with Image.open(source) as image:
        image = image.convert("RGB")
        if scale != 1.0:
            image = image.resize((int(image.width * scale), int(image.height * scale)))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def open_review(qtbot, window: MainWindow) -> DuplicatesDialog:
    window.duplicates_action.trigger()
    dialog = window.last_duplicates
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.summary.text().endswith("to review.") or "No near" in dialog.summary.text(),
                    timeout=60000)
    return dialog


def test_keep_and_dismiss_are_remembered(qtbot, settings, tmp_path: Path) -> None:
    if not INSULATORS.is_dir():
        pytest.skip(f"dataset folder {INSULATORS} is absent")
    photos = tmp_path / "photos"
    photos.mkdir()
    originals = sorted(INSULATORS.glob("*.jpg"))[:6]
    for source in originals:
        shutil.copy2(source, photos / source.name)
    (photos / "copy-a.jpg").write_bytes(resaved(originals[0], 70))
    (photos / "copy-b.jpg").write_bytes(resaved(originals[1], 90, scale=0.5))
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([photos])
        window = MainWindow(archive, settings)
        qtbot.addWidget(window)
        dialog = open_review(qtbot, window)
        assert dialog.groups.rowCount() == 2 and "2 to review" in dialog.summary.text()
        assert dialog.photos.rowCount() == 2  # the first group's photos side by side
        first = dialog.current()
        dialog.photo_view.setCurrentIndex(dialog.photos.index(1))
        kept = dialog.photos.index(1).data(Role.PHOTO)
        with qtbot.waitSignal(dialog.decided, timeout=30000) as decided:
            dialog.keep_button.click()
        assert decided.args[0].decision == "kept" and decided.args[0].keep_id == kept.image_id
        assert dialog.groups.rowCount() == 1 and "1 to review" in dialog.summary.text()
        with qtbot.waitSignal(dialog.decided, timeout=30000):
            dialog.dismiss_button.click()
        assert dialog.groups.rowCount() == 0
        dialog.show_resolved.setChecked(True)
        assert dialog.groups.rowCount() == 2 and "resolved" in dialog.groups.index(0).data()
        dialog.close()

        again = open_review(qtbot, window)  # remembered: nothing left to review
        assert again.groups.rowCount() == 0 and "0 to review" in again.summary.text()
        again.close()
        reviewed = {frozenset(p.path.name for p in r.group.photos): r for r in archive.duplicate_review()}
        assert {r.decision for r in reviewed.values()} == {"kept", "dismissed"}
        assert reviewed[frozenset(p.path.name for p in first.group.photos)].keep_id == kept.image_id

        (photos / "copy-c.jpg").write_bytes(resaved(originals[0], 60))  # a new copy joins the kept group
        archive.add([photos])
        back = {r.decision for r in archive.duplicate_review()}
        assert None in back and "dismissed" in back
        window.shutdown()
