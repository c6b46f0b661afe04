"""Reports from the app: the current search and an equipment history, written on a worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import drop_files

pypdf = pytest.importorskip("pypdf")


def test_search_and_history_reports_from_the_app(qtbot, window, query_photo: Path, tmp_path: Path) -> None:
    with qtbot.waitSignal(window.searcher.resultsReady, timeout=60000):
        drop_files(window.query_pane, [query_photo])
    target = tmp_path / "search.pdf"
    with qtbot.waitSignal(window.reportWritten, timeout=60000) as written:
        window.save_search_report(target, "Crazing spreading on the flange face")
    assert written.args == [target]
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(str(target)).pages)
    assert query_photo.name in text and "Crazing spreading on the flange face" in text and "FL-101" in text
    page = tmp_path / "history.html"
    with qtbot.waitSignal(window.reportWritten, timeout=60000):
        window.save_history_report("WE-301", page, "all good")
    document = page.read_text(encoding="utf-8")
    assert "Equipment history — WE-301" in document and "all good" in document and "data:image/jpeg" in document
    assert "Report written" in window.statusBar().currentMessage()
