"""The main window: query pane (left), results (centre), details (right), archive browser (dock)."""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector_search import __version__
from inspector_search.core.errors import ImageError
from inspector_search.core.records import ArchiveStatus, EquipmentHit, PhotoRecord, SearchHit, SearchRequest

from . import photo_actions
from .add_dialog import AddPhotosDialog
from .browser import ArchiveBrowser
from .check_dialog import CheckDialog
from .compare import CompareDialog
from .detail import DetailPane
from .duplicates_dialog import DuplicatesDialog
from .filters import FilterPanel
from .history import HistoryDialog
from .icons import app_icon, icon
from .label_panel import LabelController
from .messages import describe_error
from .query_pane import QueryPane
from .results import GroupState, Role
from .results_panel import ResultsPanel
from .search_controller import SearchController
from .settings import THUMBNAIL_SIZES, Preferences, WindowState
from .skipped import SkippedDialog
from .sync_panel import SyncController
from .thumbnails import ThumbnailLoader
from .viewer import PhotoViewer, ViewerItem
from .window_extras import SWITCHED_WINDOWS, ReportsAndArchives
from .workers import TaskRunner

DEFAULT_SIZE = (1280, 760)
MAX_MATCHES = 2000  # scrolling loads pages of matches up to this many
DEFAULT_SPLITTER = [300, 640, 340]
#: Formats both the core and Qt can decode (no HEIC: neither can).
IMAGE_FILTER = "Photos (*.jpg *.jpeg *.png *.tif *.tiff *.bmp *.webp);;All files (*)"


class MainWindow(QMainWindow, ReportsAndArchives):
    """Wires the panes to the archive façade; every archive call runs on a worker thread."""

    reportWritten = Signal(object)  # Path of a report just written

    def __init__(self, archive: Any, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.archive = archive
        self.preferences = Preferences(settings)
        self.window_state = WindowState(settings)
        self.status: ArchiveStatus | None = None
        self.ready = False
        self.last_history: HistoryDialog | None = None
        self.last_compare: CompareDialog | None = None
        self.last_viewer: PhotoViewer | None = None
        self.last_check: CheckDialog | None = None
        self.last_duplicates: DuplicatesDialog | None = None
        self.last_clusters = None  # the latest Clusters dialog (tests look at it)
        self.last_map = None
        self._add_dialog: AddPhotosDialog | None = None
        self.owns_archive = False  # True for a window opened by switching archives
        self._more = 0  # matches fetched beyond the Matches number, by scrolling to the end
        self._loading_more = False
        self.feedback: dict[int, bool] = {}  # results marked more (True) or less (False) like this query
        self.like_only = False  # searching with the map's selection instead of the query photo
        self._runner = TaskRunner(max_threads=2, parent=self)
        self.thumbnails = ThumbnailLoader(archive, parent=self)
        self.searcher = SearchController(archive, self)
        self.setWindowTitle(f"Inspector Search — {Path(archive.folder).name}")
        self.setWindowIcon(app_icon())
        self._build_panes()
        self.labelling = LabelController(archive, self._runner, self.detail.suggestions, self)
        self.labelling.changed.connect(self._labels_changed)
        self._name_widgets()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._connect()
        self._apply_preferences()
        self._restore_window()
        self._remember_archive(Path(archive.folder))
        self.refresh_status()

    # -- construction --------------------------------------------------------------------------
    def _build_panes(self) -> None:
        self.query_pane = QueryPane()
        self.filters = FilterPanel()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 6, 6)
        left_layout.addWidget(self.query_pane, 1)
        # In a scroll area: the filters never force a window taller than a small laptop's screen.
        filter_scroll = QScrollArea()
        filter_scroll.setWidget(self.filters)
        filter_scroll.setWidgetResizable(True)
        filter_scroll.setFrameShape(QFrame.Shape.NoFrame)
        filter_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        filter_scroll.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        filter_scroll.setMinimumHeight(120)
        filter_scroll.setMaximumHeight(self.filters.sizeHint().height() + 2)
        left_layout.addWidget(filter_scroll)
        self.results = ResultsPanel(self.thumbnails, self.preferences.get("thumbnail_size"))
        self.detail = DetailPane(self.thumbnails)
        detail_box = QWidget()
        detail_layout = QVBoxLayout(detail_box)
        detail_layout.setContentsMargins(6, 6, 6, 6)
        detail_layout.addWidget(self.detail)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        for index, widget in enumerate((left, self.results, detail_box)):
            self.splitter.addWidget(widget)
            self.splitter.setCollapsible(index, index != 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes(DEFAULT_SPLITTER)
        self.setCentralWidget(self.splitter)
        self.browser = ArchiveBrowser()
        self.browser_dock = QDockWidget("Archive", self)
        self.browser_dock.setObjectName("browserDock")
        self.browser_dock.setWidget(self.browser)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.browser_dock)

    def _name_widgets(self) -> None:
        """Accessible names for the main widgets (what a screen reader says for them)."""
        for widget, name in ((self.query_pane, "Query photo"), (self.results.view, "Matching photos"),
                             (self.results.sort_combo, "Order of the matches"), (self.detail, "Photo details"),
                             (self.browser.tree, "Sites and equipment"),
                             (self.browser.filter_edit, "Filter sites and equipment"),
                             (self.filters, "Search options")):
            widget.setAccessibleName(name)

    def _action(self, text: str, icon_name: str = "", shortcut: Any = None, slot: Any = None) -> QAction:
        action = QAction(icon(icon_name) if icon_name else QIcon(), text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if slot is not None:
            action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action("Open photo…", "open", QKeySequence.StandardKey.Open, self.open_photo)
        self.paste_action = self._action("Paste", "paste", QKeySequence.StandardKey.Paste, self.paste)
        self.add_action = self._action("Add photos…", "add", "Ctrl+Shift+A", self.show_add_dialog)
        self.plant_sync = SyncController(self.archive, self)  # File > Sync with plant archive, state in the status bar
        self.duplicates_action = self._action("Review duplicates…", "compare", None, self.show_duplicates)
        self.duplicates_action.setToolTip("Groups of near-identical photos: keep one or dismiss; decisions are kept")
        self.clusters_action = self._action("Clusters…", "group", None, self.show_clusters)
        self.clusters_action.setToolTip("The archive grouped into clusters of look-alike photos; label a whole cluster")
        self.undo_labels_action = self._action("Undo last label change", "", "Ctrl+Z", self.undo_labels)
        self.undo_labels_action.setToolTip("Reverse the latest label change (assign, accept, cluster or import)")
        self.map_action = self._action("Map of the archive…", "browser", None, self.show_map)
        self.map_action.setToolTip("Every photo placed so that look-alike photos lie close together; select to "
                                   "label or search")
        self.check_action = self._action("Check && repair archive…", "", None, self.show_check)
        self.check_action.setToolTip("Verify catalog, photo files, index and thumbnails; repair what can be rebuilt")
        self.open_archive_action = self._action("Open archive…", "folder", "Ctrl+Shift+O", self.ask_open_archive)
        self.open_archive_action.setToolTip("Switch to another archive folder (or create one)")
        self.report_action = self._action("Report of this search…", "", "Ctrl+P", self.ask_search_report)
        self.report_action.setToolTip("A PDF or HTML report: the query, its matches with their metadata, your remark")
        self.quit_action = self._action("Quit", "", QKeySequence.StandardKey.Quit, self.close)
        self.group_action = self._action("Group by equipment", "group", "Ctrl+G")
        self.group_action.setCheckable(True)
        self.group_action.setToolTip("Show the best photo per equipment, with how many of its photos match")
        self.browser_action = self.browser_dock.toggleViewAction()
        self.browser_action.setIcon(icon("browser"))
        self.browser_action.setText("Archive browser")
        self.browser_action.setShortcut(QKeySequence("Ctrl+B"))
        self.open_file_action = self._action("Open file", "open", None, lambda: self._on_current(self.open_file))
        self.show_folder_action = self._action(
            "Show in folder", "folder", None, lambda: self._on_current(self.show_in_folder)
        )
        self.copy_path_action = self._action("Copy path", "copy", None, lambda: self._on_current(self.copy_path))
        self.view_action = self._action("View photo", "search", None, self.view_current)
        self.view_action.setToolTip("The photo large, with zoom, previous/next and its details (Space in the grid)")
        self.history_action = self._action("Equipment history", "history", "Ctrl+H", self.show_current_history)
        self.compare_action = self._action("Compare with query", "compare", "Ctrl+D", self.compare_current)
        self.photo_actions = [
            self.view_action,
            self.history_action,
            self.compare_action,
            self.open_file_action,
            self.show_folder_action,
            self.copy_path_action,
        ]
        self.query_pane.set_actions(self.open_action, self.paste_action)
        self.detail.set_actions(self.photo_actions)
        self._update_photo_actions()

    def _build_menus_and_toolbar(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for action in (self.open_action, self.paste_action, None, self.add_action, self.plant_sync.action, None,
                       self.open_archive_action):
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        self.recent_menu = file_menu.addMenu("Recent archives")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        for action in (None, self.report_action, None, self.quit_action):
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.browser_action)
        view_menu.addAction(self.group_action)
        size_menu = view_menu.addMenu("Thumbnail size")
        self.size_group = QActionGroup(self)
        for name, pixels in THUMBNAIL_SIZES.items():
            action = size_menu.addAction(name.capitalize())
            action.setCheckable(True)
            action.setData(pixels)
            action.setChecked(pixels == self.preferences.get("thumbnail_size"))
            self.size_group.addAction(action)
        self.size_group.triggered.connect(lambda action: self.set_thumbnail_size(action.data()))
        photo_menu = self.menuBar().addMenu("&Photo")
        for action in self.photo_actions:
            photo_menu.addAction(action)
        photo_menu.addSeparator()
        photo_menu.addAction(self.undo_labels_action)
        tools_menu = self.menuBar().addMenu("&Tools")
        tools_menu.addAction(self.check_action)
        tools_menu.addAction(self.duplicates_action)
        tools_menu.addAction(self.clusters_action)
        tools_menu.addAction(self.map_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("About Inspector Search", self.show_about)
        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.open_action, self.paste_action, self.add_action, None, self.browser_action,
                       self.group_action, None, self.history_action, self.compare_action):
            toolbar.addSeparator() if action is None else toolbar.addAction(action)
        self.addToolBar(toolbar)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.photos_label = QLabel("Opening archive…")
        self.model_label = QLabel()
        self.model_label.setEnabled(False)
        self.skipped_button = QToolButton()
        self.skipped_button.setAutoRaise(True)
        self.skipped_button.setToolTip("Files that could not be added, and why")
        self.skipped_button.clicked.connect(self.show_skipped)
        self.skipped_button.hide()
        self.add_progress = QProgressBar()
        self.add_progress.setMaximumWidth(160)
        self.add_progress.setFormat("Adding %p%")
        self.add_progress.hide()
        bar.addWidget(self.photos_label)
        bar.addPermanentWidget(self.add_progress)
        bar.addPermanentWidget(self.plant_sync.label)
        bar.addPermanentWidget(self.skipped_button)
        bar.addPermanentWidget(self.model_label)

    def _connect(self) -> None:
        self.query_pane.queryChanged.connect(self._new_query)  # marks belong to the query they refined
        self.query_pane.queryChanged.connect(self.run_search)
        self.plant_sync.synced.connect(lambda _report: self.refresh_status())
        self.filters.filtersChanged.connect(self._filters_changed)
        self.filters.minScoreChanged.connect(self._min_score_changed)
        self.filters.siteChanged.connect(self._read_site_choices)
        self.group_action.toggled.connect(self._grouping_changed)
        self.searcher.resultsReady.connect(self._show_results)
        self.searcher.searchFailed.connect(self._search_failed)
        self.results.addRequested.connect(self.show_add_dialog)
        self.results.currentChanged.connect(self._current_changed)
        self.results.view.openRequested.connect(self.open_detail)
        self.results.view.viewRequested.connect(self.view_result)
        self.results.view.verticalScrollBar().valueChanged.connect(self._results_scrolled)
        self.results.view.customContextMenuRequested.connect(self._results_context_menu)
        self.browser.historyRequested.connect(self.show_history)
        self.browser.siteRequested.connect(self.filters.set_site)

    def _apply_preferences(self) -> None:
        prefs = self.preferences
        self.filters.top_k.setValue(prefs.get("top_k"))
        self.filters.min_score.setValue(max(prefs.get("min_score"), 0.0))
        self.results.set_min_score(self.filters.min_score.value())
        self.filters.rotations.setChecked(prefs.get("rotations"))
        self.group_action.setChecked(prefs.get("group_by_equipment"))
        self.browser_dock.setVisible(prefs.get("show_browser"))
        self.filters.discard_pending()  # the values above are preferences, not a user's change

    def _restore_window(self) -> None:
        self.resize(*DEFAULT_SIZE)
        geometry = self.window_state.load("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.window_state.load("state")
        if state is not None:
            self.restoreState(state)
        splitter = self.window_state.load("splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)

    def save_window(self) -> None:
        self.window_state.save("geometry", self.saveGeometry())
        self.window_state.save("state", self.saveState())
        self.window_state.save("splitter", self.splitter.saveState())
        prefs = self.preferences
        prefs.set("top_k", self.filters.top_k.value())
        prefs.set("min_score", float(self.filters.min_score.value()))
        prefs.set("rotations", self.filters.rotations.isChecked())
        prefs.set("group_by_equipment", self.group_action.isChecked())
        prefs.set("show_browser", self.browser_dock.isVisible())
        prefs.sync()

    # -- archive status ------------------------------------------------------------------------
    def start_warm_up(self) -> None:
        """Load the model and index on a worker so the first search does not wait for them."""
        self.statusBar().showMessage("Loading the recognition model…")
        self._runner.submit(lambda _p: self.archive.warm_up(), self._warmed_up, self._warm_up_failed)

    def _warmed_up(self, _result: object) -> None:
        self.ready = True
        self.statusBar().showMessage("Ready", 4000)

    def _warm_up_failed(self, error: BaseException) -> None:
        self.statusBar().showMessage(describe_error(error))

    def refresh_status(self) -> None:
        """Re-read counts, sites, types and equipment on a worker; update status bar, filters, browser."""
        archive = self.archive

        site = self.filters.search_filter().site

        def read(_progress: object) -> tuple:
            return archive.status(), archive.sites(), archive.filter_choices(site), archive.equipment()

        self._runner.submit(read, self._status_read, self._status_failed)

    def _read_site_choices(self, site: str | None) -> None:
        """Narrow the equipment, type, area and inspector lists to ``site`` (read on a worker)."""
        archive = self.archive

        def shown(choices: Any) -> None:
            if self.filters.search_filter().site == site:  # not a site chosen since
                self.filters.set_site_choices(choices)

        self._runner.submit(lambda _p: archive.filter_choices(site), shown, self._status_failed)

    def _status_read(self, result: tuple) -> None:
        status, sites, choices, equipment = result
        self.status = status
        self.photos_label.setText(
            f"{status.photos:,} photos · {status.equipment:,} equipment · {status.sites} sites"
        )
        self.model_label.setText(f"Model {status.model_id}")
        skipped = len(status.skipped)
        self.skipped_button.setText(f"{skipped} skipped")
        self.skipped_button.setVisible(skipped > 0)
        self.filters.set_choices(sites, list(choices.types))
        self.filters.set_site_choices(choices)
        self.filters.set_date_span(choices.first_day, choices.last_day)
        self.browser.set_equipment(equipment)
        if status.photos == 0:
            self.results.show_empty_archive()
        elif self.results.showing_empty_archive():
            self.results.show_no_query()

    def _status_failed(self, error: BaseException) -> None:
        self.photos_label.setText(describe_error(error))

    # -- searching -----------------------------------------------------------------------------
    @property
    def grouped(self) -> bool:
        """Searching by equipment (one row per equipment with how many of its photos match)."""
        return self.group_action.isChecked()

    def current_request(self) -> SearchRequest | None:
        source, words = None if self.like_only else self.query_pane.source, self.filters.words()
        if source is None and words is None and not any(self.feedback.values()):
            return None
        return SearchRequest(
            image=source,
            text=words,
            top_k=self.filters.top_k.value() + self._more,
            filter=self.filters.search_filter(),
            # Grouped, the minimum similarity decides which photos an equipment's match count counts,
            # so the archive applies it; otherwise the proxy only hides rows (no new search).
            min_score=float(self.filters.min_score.value()) if self.grouped else 0.0,
            crop=self.query_pane.region(),
            rotations=self.filters.rotations.isChecked(),
            like=tuple(i for i, liked in self.feedback.items() if liked),
            unlike=tuple(i for i, liked in self.feedback.items() if not liked),
        )

    def run_search(self) -> None:
        self._more = 0  # a new search starts with the first page again
        self._loading_more = False
        request = self.current_request()
        if request is None:
            return
        self.results.show_searching()
        self.statusBar().showMessage("Searching…")
        self.results.model.drop_pending_thumbnails()  # the results shown are about to be replaced
        self.searcher.search(request, by_equipment=self.grouped)
        self._update_photo_actions()

    def _filters_changed(self) -> None:
        if self.query_pane.source is not None or self.filters.words() is not None:
            self.run_search()

    def _min_score_changed(self, value: float) -> None:
        self.results.set_min_score(value)
        if self.grouped and self.query_pane.source is not None:
            self.run_search()

    def _grouping_changed(self, _grouped: bool) -> None:
        if self.query_pane.source is not None:
            self.run_search()

    def _show_results(
        self, results: list[SearchHit] | list[EquipmentHit], _request: SearchRequest, seconds: float
    ) -> None:
        self.statusBar().clearMessage()
        more, self._loading_more = self._loading_more, False
        if self.searcher.last_by_equipment:
            self.results.show_groups(results, seconds)
        elif more:
            self.results.extend_hits(results, seconds)
        else:
            self.results.show_hits(results, seconds)

    def _results_scrolled(self, value: int) -> None:
        """Near the end of the grid: fetch one more page of matches (unless all there are are shown)."""
        bar = self.results.view.verticalScrollBar()
        if value >= bar.maximum() - bar.pageStep() // 2 and bar.maximum() > 0:
            self.load_more()

    def load_more(self) -> bool:
        """Search again for one page (the Matches number) more; the matches shown stay where they are.
        False when there is nothing more to fetch (fewer matches than asked for came back) or a search runs."""
        request = self.searcher.last_request
        shown = len(self.results.model.items())
        if (request is None or self.grouped or self._loading_more or self.results.searching
                or shown < request.top_k or shown >= MAX_MATCHES):
            return False
        self._more += self.filters.top_k.value()
        self._loading_more = True
        more = self.current_request()
        if more is None:
            self._loading_more = False
            return False
        self.statusBar().showMessage("Loading more matches…")
        self.searcher.search(more, by_equipment=False)
        return True

    def _search_failed(self, error: BaseException, _request: SearchRequest) -> None:
        self.statusBar().clearMessage()
        text = describe_error(error)
        if isinstance(error, ImageError):
            self.query_pane.show_message(text)
        self.results.show_error(text)

    # -- query input ---------------------------------------------------------------------------
    def open_photo(self) -> None:
        start = self.preferences.get("last_query_folder")
        names, _ = QFileDialog.getOpenFileNames(self, "Search with a photo", start, IMAGE_FILTER)
        if names:
            self.preferences.set("last_query_folder", str(Path(names[0]).parent))
            self.query_pane.load_paths([Path(name) for name in names])

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            self.query_pane.show_message("The clipboard is empty.")
        else:
            self.query_pane.load_mime(mime)

    # -- current photo -------------------------------------------------------------------------
    def _current_changed(self, photo: PhotoRecord | None, score: float | None) -> None:
        self.detail.show_photo(photo, score)
        self.labelling.show_photo(photo)
        self._update_photo_actions()

    def undo_labels(self) -> None:
        """Reverse the latest label change (on the runner); the photo shown is read again."""
        archive, shown = self.archive, self.detail.photo

        def undo(_progress: Any) -> tuple[Any, PhotoRecord | None]:
            action = archive.undo_labels()
            return action, archive.photo(shown.image_id) if shown is not None else None

        def done(result: tuple[Any, PhotoRecord | None]) -> None:
            action, photo = result
            self.statusBar().showMessage("Nothing to undo" if action is None else f"Undone: {action.summary}", 8000)
            if photo is not None:
                self._labels_changed(photo)

        self._runner.submit(undo, done, lambda error: self.statusBar().showMessage(describe_error(error), 8000),
                            name="undo-labels", context=self)

    def _labels_changed(self, photo: PhotoRecord) -> None:
        """A suggestion was accepted: show the photo again with its new labels."""
        if self.detail.photo is not None and self.detail.photo.image_id == photo.image_id:
            self.detail.show_photo(photo, self.detail.score)
            self.labelling.show_photo(photo)

    def current_photo(self) -> PhotoRecord | None:
        return self.detail.photo

    def _update_photo_actions(self) -> None:
        photo = self.current_photo()
        for action in (self.open_file_action, self.show_folder_action, self.copy_path_action, self.view_action):
            action.setEnabled(photo is not None)
        self.history_action.setEnabled(photo is not None and bool(photo.equipment_tag))
        self.compare_action.setEnabled(photo is not None and self.query_pane.image is not None)

    def _on_current(self, handler: Any) -> None:
        photo = self.current_photo()
        if photo is not None:
            handler(photo)

    def open_detail(self, index: Any) -> None:
        """Enter or double-click on a match: show it in the detail pane, reopening the pane if collapsed;
        on an equipment group: list its matching photos after it (or hide them again)."""
        if self.results.toggle_group(index):
            return
        self.show_detail(index.data(Role.PHOTO), index.data(Role.SCORE))

    def show_detail(self, photo: PhotoRecord, score: float | None = None) -> None:
        """Make ``photo`` the current photo: the detail pane (reopened if collapsed) and the photo actions."""
        self.detail.show_photo(photo, score)
        self.labelling.show_photo(photo)
        sizes = self.splitter.sizes()
        if sizes[2] == 0:
            sizes[2] = DEFAULT_SPLITTER[2]
            self.splitter.setSizes(sizes)
        self._update_photo_actions()

    def open_file(self, photo: PhotoRecord) -> None:
        if not photo_actions.open_file(photo.path):
            self.statusBar().showMessage(f"Cannot open {photo.path}", 6000)

    def show_in_folder(self, photo: PhotoRecord) -> None:
        if not photo_actions.show_in_folder(photo.path):
            self.statusBar().showMessage(f"Cannot open {photo.path.parent}", 6000)

    def copy_path(self, photo: PhotoRecord) -> None:
        photo_actions.copy_path(photo.path)
        self.statusBar().showMessage("Path copied", 3000)

    def photo_menu(self, photo: PhotoRecord, parent: QWidget | None = None) -> QMenu:
        """The context menu for a photo (results grid and history strips)."""
        menu = QMenu(parent or self)
        menu.addAction(icon("search"), "View photo", lambda: self.view_photos([ViewerItem(photo)], 0))
        menu.addAction(icon("open"), "Open file", lambda: self.open_file(photo))
        menu.addAction(icon("folder"), "Show in folder", lambda: self.show_in_folder(photo))
        menu.addAction(icon("copy"), "Copy path", lambda: self.copy_path(photo))
        menu.addSeparator()
        tag = photo.equipment_tag
        shown_in = parent.window() if parent is not None else None
        if not (isinstance(shown_in, HistoryDialog) and shown_in.shows(tag)):  # not the history already open
            history = menu.addAction(icon("history"), "Equipment history",
                                     lambda: self.show_history(tag, photo.image_id))
            history.setEnabled(bool(photo.equipment_tag))
        score = self.results.score_of(photo.image_id)
        compare = menu.addAction(icon("compare"), "Compare with query", lambda: self.compare(photo, score))
        compare.setEnabled(self.query_pane.image is not None)
        previous = menu.addAction(icon("history"), "Compare with previous inspection",
                                  lambda: self.compare_with_previous(photo))
        previous.setEnabled(bool(photo.equipment_tag and photo.inspected_on))
        return menu

    def _results_context_menu(self, pos: QPoint) -> None:
        view = self.results.view
        index = view.indexAt(pos)
        if index.isValid():
            view.setCurrentIndex(index)
            menu = self.photo_menu(index.data(Role.PHOTO), view)
            state = index.data(Role.GROUP_STATE)
            if state in (GroupState.COLLAPSED, GroupState.EXPANDED):
                count = index.data(Role.MATCH_COUNT)
                text = "Hide its photos" if state == GroupState.EXPANDED else f"List its {count} matching photos"
                toggle = QAction(text, menu)
                toggle.triggered.connect(lambda: self.results.toggle_group(index))
                menu.insertAction(menu.actions()[0], toggle)
                menu.insertSeparator(menu.actions()[1])
            self._add_feedback_actions(menu, index.data(Role.PHOTO))
            menu.exec(view.viewport().mapToGlobal(pos))

    def _add_feedback_actions(self, menu: QMenu, photo: PhotoRecord) -> None:
        """More like this / Less like this on a match: the search is refined with the marked photos."""
        menu.addSeparator()
        marked = self.feedback.get(photo.image_id)
        more = menu.addAction("More like this", lambda: self.mark_result(photo, True))
        more.setCheckable(True)
        more.setChecked(marked is True)
        less = menu.addAction("Less like this", lambda: self.mark_result(photo, False))
        less.setCheckable(True)
        less.setChecked(marked is False)
        if self.feedback:
            menu.addAction(f"Forget the {len(self.feedback)} marked result(s)", self.clear_marks)

    def mark_result(self, photo: PhotoRecord, liked: bool) -> None:
        """Mark a match more (or less) like what is sought and search again with the refined query;
        marking it the same way again takes the mark off."""
        if self.feedback.get(photo.image_id) is liked:
            del self.feedback[photo.image_id]
        else:
            self.feedback[photo.image_id] = liked
        self.run_search()

    def _new_query(self) -> None:
        self.feedback.clear()
        self.like_only = False

    def search_like(self, image_ids: tuple[int, ...]) -> None:
        """Search for photos like these archive photos (the map's selection): they are the query."""
        self.like_only = True  # until the next query photo: the selection alone is the query
        self.feedback.clear()
        self.feedback.update({int(i): True for i in image_ids})
        self.run_search()

    def clear_marks(self) -> None:
        self.feedback.clear()
        self.run_search()

    # -- secondary windows ---------------------------------------------------------------------
    def show_current_history(self) -> None:
        photo = self.current_photo()
        if photo is not None and photo.equipment_tag:
            self.show_history(photo.equipment_tag, photo.image_id)

    def show_history(self, tag: str | None, highlight: int | None = None) -> HistoryDialog | None:
        """Open the history of ``tag`` (marking photo ``highlight``), or bring its window forward when it is
        already open."""
        if not tag:
            return None
        for open_dialog in self.findChildren(HistoryDialog):
            if open_dialog.isVisible() and open_dialog.shows(tag):
                open_dialog.raise_()
                open_dialog.activateWindow()
                return open_dialog
        dialog = HistoryDialog(self.archive, tag, self.thumbnails, self._runner, self.photo_menu, self,
                               highlight=highlight)
        dialog.compareRequested.connect(self.compare_photos)
        dialog.reportRequested.connect(self.ask_history_report)
        dialog.photoActivated.connect(lambda photo: self.show_detail(photo, self.results.score_of(photo.image_id)))
        dialog.viewRequested.connect(lambda photos, n: self.view_photos([ViewerItem(p) for p in photos], n))
        dialog.show()
        self._remember_dialog("last_history", dialog)
        return dialog

    def _remember_dialog(self, name: str, dialog: QWidget) -> None:
        """Keep ``dialog`` as the latest of its kind until it is gone, unless a newer one replaced it."""
        setattr(self, name, dialog)
        ref = weakref.ref(dialog)

        def forget() -> None:
            if getattr(self, name) is ref():
                setattr(self, name, None)

        dialog.destroyed.connect(forget)

    def add_dialog(self) -> AddPhotosDialog:
        if self._add_dialog is None:
            self._add_dialog = AddPhotosDialog(self.archive, self.preferences, self)
            self._add_dialog.addStarted.connect(self._add_started)
            self._add_dialog.progress.connect(self._add_progress)
            self._add_dialog.addFinished.connect(self._add_finished)
        return self._add_dialog

    def show_add_dialog(self) -> AddPhotosDialog:
        dialog = self.add_dialog()
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def _add_started(self) -> None:
        self.add_progress.setRange(0, 0)
        self.add_progress.show()

    def _add_progress(self, event: Any) -> None:
        if event.total > 0:
            self.add_progress.setRange(0, event.total)
            self.add_progress.setValue(min(event.done, event.total))

    def _add_finished(self, _report: object) -> None:
        self.add_progress.hide()
        self._runner.submit(lambda _p: self.archive.refresh(), self._archive_refreshed, self._status_failed)

    def _archive_refreshed(self, _changed: object) -> None:
        self.refresh_status()
        if self.query_pane.source is not None:
            self.run_search()

    def show_skipped(self) -> None:
        self._runner.submit(lambda _p: self.archive.skipped(), self._show_skipped, self._status_failed)

    def _show_skipped(self, skipped: list) -> None:
        dialog = SkippedDialog(skipped, self)
        dialog.show()

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About Inspector Search",
            f"<b>Inspector Search {__version__}</b><br>Find earlier inspection photos that look like a "
            f"new one, offline.<br><br>Archive: {self.archive.folder}",
        )

    def set_thumbnail_size(self, pixels: int) -> None:
        self.preferences.set("thumbnail_size", int(pixels))
        self.results.set_thumbnail_size(int(pixels))

    # -- shutdown ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop background work: cancel an add (committed photos are kept) and wait for the workers that use
        the archive; work that does not (decoding a query, checking a file, previewing folders) is dropped."""
        if self._add_dialog is not None:
            self._add_dialog.shutdown()
        self.query_pane.shutdown()
        self.detail.shutdown()
        self.searcher.shutdown()
        self.plant_sync.shutdown()
        self.thumbnails.shutdown()
        self._runner.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_window()
        self.shutdown()
        super().closeEvent(event)
        if self.owns_archive:  # opened by switching archives: nobody else closes it
            self.archive.close()
            if self in SWITCHED_WINDOWS:
                SWITCHED_WINDOWS.remove(self)
