"""What the main window does beyond searching: compare windows, the Tools windows (check & repair,
duplicate review), inspection reports of the search or of a history, and switching archives (Open
archive…, Recent archives). A mixin of :class:`~.main_window.MainWindow`, kept apart so that each
module stays readable; it uses the window's archive, runner, thumbnails, preferences, status bar,
query pane, results and ``reportWritten`` signal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from inspector_search.core.errors import InspectorSearchError
from inspector_search.core.records import PhotoRecord
from inspector_search.core.reporting import write_report

from .check_dialog import CheckDialog
from .clusters_dialog import ClustersDialog
from .compare import CompareDialog
from .duplicates_dialog import DuplicatesDialog
from .map_dialog import MapDialog
from .messages import describe_error
from .results import Role
from .viewer import PhotoViewer, ViewerItem

MAX_RECENT_ARCHIVES = 8
#: Windows opened by switching archives: kept referenced until they close (each owns its archive).
SWITCHED_WINDOWS: list[Any] = []


class ReportsAndArchives:
    """Mixin: compare and tools windows, reports and archive switching for the main window."""

    # -- viewer, compare and tools windows -----------------------------------------------------
    def view_result(self, index: Any) -> PhotoViewer | None:
        """Double click or Space on a match: the viewer, stepping through the matches as shown; on an
        equipment group: list its photos (or hide them again)."""
        if self.results.toggle_group(index):
            return None
        proxy = self.results.proxy
        rows = [proxy.index(row, 0) for row in range(proxy.rowCount())]
        items = [ViewerItem(i.data(Role.PHOTO), i.data(Role.SCORE)) for i in rows]
        return self.view_photos(items, index.row())

    def view_current(self) -> PhotoViewer | None:
        """The current photo in the viewer (with the matches to step through when it is one of them)."""
        photo = self.current_photo()
        if photo is None:
            return None
        current = self.results.view.currentIndex()
        if current.isValid() and current.data(Role.PHOTO) == photo:
            return self.view_result(current)
        return self.view_photos([ViewerItem(photo, self.detail.score)], 0)

    def view_photos(self, items: list[ViewerItem], index: int) -> PhotoViewer:
        """Open the viewer on ``items[index]``; previous/next step through ``items``."""
        viewer = PhotoViewer(items, index, self._runner, self)
        viewer.show()
        self._remember_dialog("last_viewer", viewer)
        return viewer

    def view_archive_photos(self, image_ids: tuple[int, ...], first: int) -> PhotoViewer:
        """Archive photos (a map's selection, say) in the viewer, starting at ``first``."""
        photos = self.archive.photos(image_ids)
        start = next((row for row, photo in enumerate(photos) if photo.image_id == first), 0)
        return self.view_photos([ViewerItem(photo, None) for photo in photos], start)

    def compare_current(self) -> None:
        if self.detail.photo is not None:
            self.compare(self.detail.photo, self.detail.score)

    def compare(self, photo: PhotoRecord, score: float | None) -> CompareDialog | None:
        image = self.query_pane.image
        if image is None:
            self.statusBar().showMessage("Open a query photo first", 5000)
            return None
        request = self.current_request()
        matches = None if request is None else (lambda: self.archive.point_matches(request, photo.image_id))
        dialog = CompareDialog(image, self.query_pane.region(), photo, score, self._runner, self,
                               history_loader=self.archive.history, point_matches=matches)
        dialog.show()
        self._remember_dialog("last_compare", dialog)
        return dialog

    def compare_photos(self, left: PhotoRecord, right: PhotoRecord) -> CompareDialog:
        """Compare two archive photos (two inspections of an equipment, say)."""
        dialog = CompareDialog(left, None, right, self.results.score_of(right.image_id), self._runner, self,
                               history_loader=self.archive.history)
        dialog.show()
        self._remember_dialog("last_compare", dialog)
        return dialog

    def compare_with_previous(self, photo: PhotoRecord) -> CompareDialog:
        """This photo beside one of the inspection of its equipment before it (before / after)."""
        dialog = self.compare_photos(photo, photo)
        dialog.compare_with_previous()
        return dialog

    def show_duplicates(self) -> DuplicatesDialog:
        dialog = DuplicatesDialog(self.archive, self.thumbnails, self._runner, self)
        dialog.show()
        self._remember_dialog("last_duplicates", dialog)
        return dialog

    def show_clusters(self) -> ClustersDialog:
        """The archive's clusters of look-alike photos (computed on a worker when there are none)."""
        dialog = ClustersDialog(self.archive, self.thumbnails, self._runner, self)
        dialog.show()
        self._remember_dialog("last_clusters", dialog)
        return dialog

    def show_map(self) -> MapDialog:
        """The map of the archive (laid out on a worker); "Search like these" searches with the selection."""
        dialog = MapDialog(self.archive, self.thumbnails, self._runner, self)
        dialog.searchRequested.connect(self.search_like)
        dialog.viewRequested.connect(self.view_archive_photos)
        dialog.show()
        self._remember_dialog("last_map", dialog)
        return dialog

    def show_check(self) -> CheckDialog:
        """The check report of this archive (on a worker), with Repair."""
        dialog = CheckDialog(self.archive, self._runner, self)
        dialog.checked.connect(lambda _report: self.refresh_status())
        dialog.show()
        self._remember_dialog("last_check", dialog)
        return dialog

    # -- reports -------------------------------------------------------------------------------
    def _ask_report_target(self, title: str, suggested: str) -> tuple[Path, str] | None:
        """A file to write (PDF or HTML by its suffix) and the remark to print in it, or None if cancelled."""
        name, _ = QFileDialog.getSaveFileName(self, title, suggested, "PDF report (*.pdf);;HTML report (*.html)")
        if not name:
            return None
        remark, ok = QInputDialog.getMultiLineText(self, title, "Your remark (printed in the report):")
        return (Path(name), remark) if ok else None

    def ask_search_report(self) -> None:
        request = self.current_request()
        if request is None:
            self.statusBar().showMessage("Open a query photo first", 5000)
            return
        chosen = self._ask_report_target("Report of this search", "search-report.pdf")
        if chosen is not None:
            self.save_search_report(*chosen)

    def save_search_report(self, target: Path, remark: str = "") -> None:
        """Write the report of the current search to ``target`` (PDF, or HTML for .html/.htm) on a worker."""
        request = self.current_request()
        if request is None:
            return
        name = self.query_pane.source.name if isinstance(self.query_pane.source, Path) else "pasted image"
        archive = self.archive
        self._write_report(lambda: archive.report_search(request, remark, name), target)

    def save_history_report(self, tag: str, target: Path, remark: str = "") -> None:
        """Write the report of ``tag``'s history to ``target`` on a worker."""
        archive = self.archive
        self._write_report(lambda: archive.report_history(tag, remark), target)

    def ask_history_report(self, tag: str) -> None:
        chosen = self._ask_report_target(f"Report of the history of {tag}", f"history-{tag}.pdf")
        if chosen is not None:
            self.save_history_report(tag, *chosen)

    def _write_report(self, gather: Any, target: Path) -> None:
        fmt = "html" if target.suffix.lower() in (".html", ".htm") else "pdf"
        self.statusBar().showMessage(f"Writing {target.name}…")

        def work(_progress: object) -> Path:
            return write_report(gather(), target, fmt)

        def done(path: Path) -> None:
            self.statusBar().showMessage(f"Report written: {path}", 10000)
            self.reportWritten.emit(path)

        self._runner.submit(work, done, lambda e: self.statusBar().showMessage(describe_error(e), 10000))

    # -- archives --------------------------------------------------------------------------------
    def recent_archives(self) -> list[Path]:
        """Archive folders opened lately, newest first (this one included)."""
        return [Path(line) for line in self.preferences.get("recent_archives").splitlines() if line.strip()]

    def _remember_archive(self, folder: Path) -> None:
        folders = [folder, *(f for f in self.recent_archives() if f != folder)][:MAX_RECENT_ARCHIVES]
        self.preferences.set("recent_archives", "\n".join(str(f) for f in folders))
        self.preferences.sync()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        current = Path(self.archive.folder)
        others = [f for f in self.recent_archives() if f != current]
        for number, folder in enumerate(others, start=1):
            action = self.recent_menu.addAction(f"&{number} {folder}", lambda f=folder: self.switch_archive(f))
            action.setToolTip(str(folder))
        if not others:
            self.recent_menu.addAction("(no other archive yet)").setEnabled(False)

    def ask_open_archive(self) -> None:
        name = QFileDialog.getExistingDirectory(self, "Open archive", str(Path(self.archive.folder).parent))
        if not name:
            return
        folder = Path(name)
        if not (folder / "catalog.sqlite").is_file():
            answer = QMessageBox.question(self, "Open archive", f"{folder} holds no archive yet. Create one there?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.switch_archive(folder)

    def switch_archive(self, folder: Path) -> Any:
        """Open the archive in ``folder`` in a new window (same settings) and close this one; None (and a
        message) if it cannot be opened."""
        from inspector_search.core.archive import Archive

        if Path(folder) == Path(self.archive.folder):
            return self
        try:
            archive = Archive.open(folder)
        except (InspectorSearchError, OSError) as error:
            QMessageBox.warning(self, "Open archive", f"{folder} cannot be opened.\n\n{describe_error(error)}")
            return None
        self.save_window()
        window = type(self)(archive, self.preferences.settings)
        window.owns_archive = True
        SWITCHED_WINDOWS.append(window)
        window.show()
        window.start_warm_up()
        self.close()
        return window
