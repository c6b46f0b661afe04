"""The centre of the window: the results grid, or a clear empty state when there is nothing to show."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from inspector_search.core.records import EquipmentHit, SearchHit

from .icons import icon
from .messages import plural
from .query_pane import HINT
from .results import (
    SCORE_LEGEND,
    GroupState,
    PhotoGridView,
    ResultItem,
    ResultsModel,
    ResultsProxy,
    Role,
    ThumbnailDelegate,
)
from .thumbnails import ThumbnailLoader

EMPTY_ARCHIVE_TITLE = "Add photos to start"
EMPTY_ARCHIVE_TEXT = (
    "This archive has no photos yet. Add folders of inspection photos: they are indexed on this "
    "computer, and nothing leaves it."
)
NO_QUERY_TITLE = "Search the archive by photo"


class EmptyState(QWidget):
    """A centred icon, title, explanation and optional button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel()
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.text.setFixedWidth(self.fontMetrics().averageCharWidth() * 60)
        self.button = QPushButton()
        self.button.hide()
        for widget in (self.picture, self.title, self.text):
            layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(8)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)

    def configure(self, icon_name: str, title: str, text: str, button_text: str = "") -> None:
        self.picture.setPixmap(icon(icon_name).pixmap(QSize(64, 64), self.devicePixelRatioF()))
        self.title.setText(title)
        self.text.setText(text)
        # A wrapped label inside an aligned layout item gets no height-for-width: size it here.
        self.text.setFixedHeight(self.text.heightForWidth(self.text.width()))
        self.button.setText(button_text)
        self.button.setVisible(bool(button_text))


class ResultsPanel(QWidget):
    """Shows matches (photos or equipment groups) sorted and filtered by a proxy, or an empty state."""

    addRequested = Signal()
    currentChanged = Signal(object, object)  # PhotoRecord | None, score | None

    def __init__(self, thumbnails: ThumbnailLoader, thumbnail_size: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ResultsModel(thumbnails, self)
        self.proxy = ResultsProxy(self)
        self.proxy.setSourceModel(self.model)
        self.grouped = False
        self._showing = ""  # "hits" or "groups" when the grid shows search results
        self._seconds = 0.0
        self._searching = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        self.empty = EmptyState()
        self.empty.button.setIcon(icon("add"))
        self.empty.button.clicked.connect(self.addRequested)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self._build_results(thumbnail_size))
        layout.addWidget(self.stack)
        self.show_no_query()

    def _build_results(self, thumbnail_size: int) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        header = QHBoxLayout()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.sort_combo = QComboBox()
        self.sort_combo.addItem("Best match first", "rank")
        self.sort_combo.addItem("Newest inspection first", "date")
        self.sort_combo.setToolTip(
            "Best match first: the query photo itself (if the archive holds it), then the photos of the\n"
            "same object (keypoints matched), then by what the query shares with its closest matches,\n"
            "so a photo may come before a slightly more similar one. Each photo shows its own similarity."
        )
        self.sort_combo.currentIndexChanged.connect(
            lambda _i: self.proxy.set_sort_key(self.sort_combo.currentData())
        )
        header.addWidget(self.summary, 1)
        header.addWidget(self.sort_combo)
        layout.addLayout(header)
        self.legend = QLabel(SCORE_LEGEND)
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.legend.setAccessibleName("What the colours mean")
        layout.addWidget(self.legend)
        self.view = PhotoGridView()
        self.delegate = ThumbnailDelegate(thumbnail_size, self.view)
        self.view.setItemDelegate(self.delegate)
        self.view.setModel(self.proxy)
        self.view.setAccessibleName("Matching photos")
        self.view.drawnSizeChanged.connect(
            lambda side: self.model.set_thumbnail_pixels(side * self.devicePixelRatioF()))
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.proxy.modelReset.connect(self._select_first)
        self.proxy.rowsInserted.connect(self._update_summary)
        self.proxy.rowsRemoved.connect(self._update_summary)
        layout.addWidget(self.view, 1)
        self.view.make_responsive()
        self.set_thumbnail_size(thumbnail_size)
        return page

    # -- states --------------------------------------------------------------------------------
    def show_empty_archive(self) -> None:
        self._showing = ""
        self.model.clear()
        self.empty.configure("add", EMPTY_ARCHIVE_TITLE, EMPTY_ARCHIVE_TEXT, "Add photos…")
        self.stack.setCurrentWidget(self.empty)

    def show_no_query(self) -> None:
        self._showing = ""
        self.model.clear()
        self.empty.configure("search", NO_QUERY_TITLE, HINT + ".\nDrag on the photo to search by a region only.")
        self.stack.setCurrentIndex(0)

    def showing_empty_archive(self) -> bool:
        return self.stack.currentIndex() == 0 and self.empty.title.text() == EMPTY_ARCHIVE_TITLE

    @property
    def searching(self) -> bool:
        """A new search was started and its results are not shown yet."""
        return self._searching

    def show_searching(self) -> None:
        if self.stack.currentIndex() == 1:
            self._searching = True
            self.summary.setText("Searching…")

    def show_error(self, text: str) -> None:
        self._showing = ""
        self._searching = False
        self.model.clear()
        self.stack.setCurrentIndex(1)
        self.summary.setText(text)

    def show_hits(self, hits: Sequence[SearchHit], seconds: float) -> None:
        self._set_grouped(False)
        self._show("hits", seconds, lambda: self.model.set_hits(hits))

    def extend_hits(self, hits: Sequence[SearchHit], seconds: float) -> None:
        """More matches of the same search (scrolled to the end): the ones shown stay, selection and scroll
        position too, and the new ones follow; if the ranking changed on the way, all are shown anew."""
        shown = [item.photo.image_id for item in self.model.items()]
        if self._showing != "hits" or [h.photo.image_id for h in hits[: len(shown)]] != shown:
            self.show_hits(hits, seconds)
            return
        self._seconds, self._searching = seconds, False
        self.model.append_items(ResultItem.from_hit(hit) for hit in hits[len(shown):])
        self._update_summary()

    def show_groups(self, groups: Sequence[EquipmentHit], seconds: float) -> None:
        self._set_grouped(True)
        self._show("groups", seconds, lambda: self.model.set_groups(groups))

    def _show(self, what: str, seconds: float, fill: Callable[[], None]) -> None:
        self._showing, self._seconds, self._searching = what, seconds, False
        fill()
        self.stack.setCurrentIndex(1)
        self._update_summary()

    def set_min_score(self, value: float) -> None:
        """Hide matches less similar than ``value``; the summary counts what is still shown."""
        self.proxy.set_min_score(value)
        self._update_summary()

    def _update_summary(self) -> None:
        if self._showing and not self._searching:
            self.summary.setText(self.summary_text())

    def summary_text(self) -> str:
        """What the grid shows: matches passing the minimum similarity, and how many it hides."""
        grouped = self._showing == "groups"
        total = sum(1 for item in self.model.items() if item.group is None)
        shown_rows = self.proxy.group_rows()
        shown = len(shown_rows)
        if total == 0:
            if grouped:
                return "No matching equipment. Try fewer filters or a lower minimum similarity."
            return "No matching photos. Try fewer filters."
        minimum = self.proxy.min_score
        if shown == 0:
            found = f"{total} equipment" if grouped else plural(total, "matching photo")
            return f"None of the {found} is at least {minimum:.2f} similar. Lower the minimum similarity to see them."
        if grouped:
            photos = sum(self.proxy.index(row, 0).data(Role.MATCH_COUNT) or 0 for row in shown_rows)
            text = f"{shown} equipment with {plural(photos, 'matching photo')} ({self._seconds:.2f} s)"
        else:
            text = f"{plural(shown, 'matching photo')} ({self._seconds:.2f} s)"
        if shown < total:
            text += f" · {total - shown} less similar than {minimum:.2f} hidden"
        return text

    def _set_grouped(self, grouped: bool) -> None:
        if grouped != self.grouped:
            self.grouped = grouped
            self.delegate.show_match_count = grouped
            self.view.fit_columns()
            self.view.doItemsLayout()

    def set_thumbnail_size(self, size: int) -> None:
        self.delegate.set_thumbnail_size(size)
        self.view.fit_columns()
        self.model.set_thumbnail_pixels(self.delegate.drawn_size * self.devicePixelRatioF())
        self.view.doItemsLayout()

    def toggle_group(self, index: QModelIndex) -> bool:
        """List or hide the matching photos of the group at proxy ``index``; False if it is no group."""
        if index.data(Role.GROUP_STATE) not in (GroupState.COLLAPSED, GroupState.EXPANDED):
            return False
        row = self.proxy.mapToSource(index).row()
        self.model.set_expanded(row, not self.model.is_expanded(row))
        self._update_summary()
        return True

    # -- selection -----------------------------------------------------------------------------
    def score_of(self, image_id: int) -> float | None:
        """The similarity of a listed photo, or ``None`` if it is not among the results."""
        return next((item.score for item in self.model.items() if item.photo.image_id == image_id), None)

    def _select_first(self) -> None:
        if self.proxy.rowCount() > 0:
            self.view.setCurrentIndex(self.proxy.index(0, 0))
        else:
            self.currentChanged.emit(None, None)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.currentChanged.emit(current.data(Role.PHOTO), current.data(Role.SCORE))
        else:
            self.currentChanged.emit(None, None)
