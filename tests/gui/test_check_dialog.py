"""Check & repair from the app: a damaged thumbnail is reported, Repair fixes it, the report says OK."""

from __future__ import annotations

from pathlib import Path

from inspector_search.core.archive import Archive
from inspector_search.gui.check_dialog import CheckDialog
from inspector_search.gui.main_window import MainWindow

from .conftest import LAYOUT, build_plant


def test_check_reports_and_repair_fixes(qtbot, settings, tmp_path: Path) -> None:
    photos = build_plant(tmp_path / "photos", per_class=2)
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([photos], layout=LAYOUT)
        damaged = archive.thumbnail(1, 256)
        damaged.write_bytes(b"not a jpeg any more")
        window = MainWindow(archive, settings)
        qtbot.addWidget(window)
        window.show()
        window.check_action.trigger()
        dialog = window.last_check
        assert isinstance(dialog, CheckDialog)
        qtbot.waitUntil(lambda: dialog.report is not None, timeout=60000)
        assert not dialog.report.ok and "problem" in dialog.summary.text()
        assert "problem:" in dialog.text.toPlainText() and dialog.repair_button.isEnabled()
        first = dialog.report
        with qtbot.waitSignal(dialog.checked, timeout=60000):
            dialog.repair_button.click()
        assert dialog.report is not first and dialog.report.repaired
        assert "repaired:" in dialog.text.toPlainText()
        with qtbot.waitSignal(dialog.checked, timeout=60000):
            dialog.run(repair=False)
        assert dialog.report.ok
        assert dialog.summary.text() == "The archive is sound." and not dialog.repair_button.isEnabled()
        dialog.close()
        window.shutdown()
