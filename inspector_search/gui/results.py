"""The ranked matches: a list model with custom roles, a sort/filter proxy, a painting delegate, a view.

The same model and delegate also show photo strips without scores (equipment history).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeyEvent, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from inspector_search.core.records import EquipmentHit, PhotoRecord, SearchHit

from .dates import human_date
from .thumbnails import ThumbnailLoader, cache_size_for

AnyIndex = QModelIndex | QPersistentModelIndex
TOOLTIP_NOTE_LINES = 6
TOOLTIP_NOTE_CHARS = 120


class Role(IntEnum):
    """Custom data roles of :class:`ResultsModel`."""

    SCORE = Qt.ItemDataRole.UserRole + 1
    PHOTO = Qt.ItemDataRole.UserRole + 2
    TAG = Qt.ItemDataRole.UserRole + 3
    SITE = Qt.ItemDataRole.UserRole + 4
    DATE = Qt.ItemDataRole.UserRole + 5
    THUMBNAIL = Qt.ItemDataRole.UserRole + 6
    MATCH_COUNT = Qt.ItemDataRole.UserRole + 7
    IMAGE_ID = Qt.ItemDataRole.UserRole + 8
    RANK = Qt.ItemDataRole.UserRole + 9
    THUMBNAIL_FAILED = Qt.ItemDataRole.UserRole + 10
    GROUP_STATE = Qt.ItemDataRole.UserRole + 11  # None, or GroupState of a group / a group's photo
    ITEM = Qt.ItemDataRole.UserRole + 12
    VERIFIED = Qt.ItemDataRole.UserRole + 13  # "this photo", "same object" or None (see verification_tag)


class GroupState(IntEnum):
    """Where a row stands in grouped results."""

    COLLAPSED = 1  # an equipment group, its photos hidden
    EXPANDED = 2  # an equipment group, its photos listed after it
    MEMBER = 3  # one photo of an expanded group


@dataclass(frozen=True)
class ResultItem:
    """One row: a photo, with its score and rank when it is a match, and when grouped its count and
    member photos (``members``), or the group it belongs to (``group``)."""

    photo: PhotoRecord
    score: float | None = None
    rank: int | None = None
    match_count: int | None = None
    members: tuple[ResultItem, ...] = ()
    group: ResultItem | None = field(default=None, compare=False, repr=False)
    inliers: int = 0  # keypoints geometric verification matched with the query
    same_object: bool = False
    is_query: bool = False

    @classmethod
    def from_hit(cls, hit: SearchHit, group: ResultItem | None = None) -> ResultItem:
        return cls(hit.photo, hit.score, hit.rank, group=group, inliers=hit.inliers, same_object=hit.same_object,
                   is_query=hit.is_query)

    @classmethod
    def from_group(cls, hit: EquipmentHit) -> ResultItem:
        item = cls(hit.best, hit.score, hit.rank, hit.match_count, same_object=hit.same_object,
                   is_query=any(h.is_query for h in hit.hits[:1]))
        members = tuple(ResultItem.from_hit(h, group=item) for h in hit.hits)
        object.__setattr__(item, "members", members)  # members point back at their group
        return item

    @property
    def is_group(self) -> bool:
        return self.match_count is not None

    @property
    def verification_tag(self) -> str | None:
        """The tag painted on the tile: the query's own photo, or a photo verified as the same object."""
        if self.is_query:
            return QUERY_TAG
        return SAME_OBJECT_TAG if self.same_object else None


QUERY_TAG = "this photo"
SAME_OBJECT_TAG = "same object"


def photo_title(photo: PhotoRecord) -> str:
    """What a photo is called in lists: its equipment tag, else its file name."""
    return photo.equipment_tag or photo.path.name


def format_date(value: date | None) -> str:
    """An inspection date as people read it (``14 May 2023``), ``undated`` for none."""
    return human_date(value)


class ResultsModel(QAbstractListModel):
    """Photos (ranked matches or a history strip) with their thumbnails, loaded lazily."""

    def __init__(self, thumbnails: ThumbnailLoader, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[ResultItem] = []
        self._rows_by_id: dict[int, list[int]] = {}
        self._expanded: set[int] = set()
        self._thumbnails = thumbnails
        self._thumbnail_size = 256
        thumbnails.ready.connect(self._thumbnail_ready)

    # -- filling -------------------------------------------------------------------------------
    def set_items(self, items: Iterable[ResultItem]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self._expanded = set()  # ids of the group items whose photos are listed
        self._index_rows()
        self.endResetModel()

    def append_items(self, items: Iterable[ResultItem]) -> None:
        """Add rows after the last (more matches of the same search)."""
        new = list(items)
        if not new:
            return
        start = len(self._items)
        self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
        self._items.extend(new)
        self._index_rows()
        self.endInsertRows()

    def _index_rows(self) -> None:
        self._rows_by_id = {}
        for row, item in enumerate(self._items):
            self._rows_by_id.setdefault(item.photo.image_id, []).append(row)

    def is_expanded(self, row: int) -> bool:
        return 0 <= row < len(self._items) and id(self._items[row]) in self._expanded

    def set_expanded(self, row: int, expanded: bool) -> bool:
        """List (or hide) a group's matching photos right after it; False if ``row`` is no group."""
        if not 0 <= row < len(self._items) or not self._items[row].is_group:
            return False
        group = self._items[row]
        if expanded == (id(group) in self._expanded):
            return True
        members = list(group.members[1:])  # the first is the group's own (best) photo
        if expanded:
            self._expanded.add(id(group))
            if members:
                self.beginInsertRows(QModelIndex(), row + 1, row + len(members))
                self._items[row + 1 : row + 1] = members
                self._index_rows()
                self.endInsertRows()
        else:
            self._expanded.discard(id(group))
            if members:
                self.beginRemoveRows(QModelIndex(), row + 1, row + len(members))
                del self._items[row + 1 : row + 1 + len(members)]
                self._index_rows()
                self.endRemoveRows()
        self.dataChanged.emit(self.index(row), self.index(row), [Role.GROUP_STATE])
        return True

    def _group_state(self, item: ResultItem) -> GroupState | None:
        if item.group is not None:
            return GroupState.MEMBER
        if item.is_group:
            return GroupState.EXPANDED if id(item) in self._expanded else GroupState.COLLAPSED
        return None

    def set_hits(self, hits: Iterable[SearchHit]) -> None:
        self.set_items(ResultItem.from_hit(hit) for hit in hits)

    def set_groups(self, groups: Iterable[EquipmentHit]) -> None:
        self.set_items(ResultItem.from_group(group) for group in groups)

    def clear(self) -> None:
        self.set_items(())

    def items(self) -> list[ResultItem]:
        return list(self._items)

    def drop_pending_thumbnails(self) -> int:
        """Drop the thumbnail loads this model asked for that have not started (what it shows is stale)."""
        return self._thumbnails.drop_queued(self)

    def set_thumbnail_pixels(self, pixels: float) -> None:
        """How many device pixels a thumbnail is painted at (chooses the cache size to load)."""
        size = cache_size_for(pixels)
        if size != self._thumbnail_size:
            self._thumbnail_size = size
            if self._items:
                self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1), [Role.THUMBNAIL])

    # -- Qt model API --------------------------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        photo = item.photo
        if role == Qt.ItemDataRole.DisplayRole:
            return photo_title(photo)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(item)
        if role == Role.THUMBNAIL:
            return self._thumbnails.pixmap(photo.image_id, self._thumbnail_size, owner=self)
        if role == Role.THUMBNAIL_FAILED:
            return self._thumbnails.failed(photo.image_id, self._thumbnail_size)
        simple = {
            Role.SCORE: item.score,
            Role.PHOTO: photo,
            Role.TAG: photo.equipment_tag,
            Role.SITE: photo.site,
            Role.DATE: photo.inspected_on,
            Role.MATCH_COUNT: item.match_count,
            Role.IMAGE_ID: photo.image_id,
            Role.RANK: item.rank,
            Role.ITEM: item,
            Role.VERIFIED: item.verification_tag,
        }
        if role == Role.GROUP_STATE:
            return self._group_state(item)
        return simple.get(role)  # type: ignore[call-overload]

    def roleNames(self) -> dict[int, bytes]:
        names = super().roleNames()
        names.update({int(role): role.name.lower().encode() for role in Role})
        return names

    @staticmethod
    def _tooltip(item: ResultItem) -> str:
        """Title, place and date, inspector, similarity, the notes (first lines) and the path."""
        photo = item.photo
        lines = [photo_title(photo)]
        if photo.equipment_name:
            lines.append(photo.equipment_name)
        lines.append(" · ".join(filter(None, [photo.site, photo.area, format_date(photo.inspected_on)])))
        if photo.inspector:
            lines.append(f"Inspector: {photo.inspector}")
        if photo.labels:
            lines.append("Labels: " + ", ".join(label.value for label in photo.labels))
        if item.score is not None:
            lines.append(f"Similarity {item.score:.3f}")
        if item.is_query:
            lines.append("The query photo itself: this very photo is in the archive")
        elif item.same_object and item.inliers:
            lines.append(f"Same object: {item.inliers} keypoints match in one consistent position "
                         "(Compare shows them)")
        elif item.same_object:
            lines.append("Same object: one of this equipment's photos matches the query point by point")
        if item.is_group:
            lines.append(f"{item.match_count} matching photo{'s' if item.match_count != 1 else ''} of this "
                         "equipment — Enter or double-click lists them")
        if photo.notes:
            notes = photo.notes.strip().splitlines()
            lines.append("Notes: " + notes[0][:TOOLTIP_NOTE_CHARS])
            lines.extend(line[:TOOLTIP_NOTE_CHARS] for line in notes[1:TOOLTIP_NOTE_LINES])
            if len(notes) > TOOLTIP_NOTE_LINES:
                lines.append("…")
        lines.append(str(photo.path))
        return "\n".join(lines)

    def _thumbnail_ready(self, image_id: int) -> None:
        for row in self._rows_by_id.get(image_id, ()):
            index = self.index(row)
            self.dataChanged.emit(index, index, [Role.THUMBNAIL])


def change_filter(proxy: QSortFilterProxyModel, apply: Callable[[], None]) -> None:
    """Change what a proxy's ``filterAcceptsRow`` accepts, with the API this Qt has (6.10+ or older)."""
    if hasattr(proxy, "endFilterChange"):
        proxy.beginFilterChange()
        apply()
        proxy.endFilterChange(QSortFilterProxyModel.Direction.Rows)
    else:
        apply()
        proxy.invalidateFilter()


class ResultsProxy(QSortFilterProxyModel):
    """Hides matches below the minimum similarity and sorts by rank (best match first) or by date
    (newest first). Rank, not similarity: query expansion orders the matches (core.query_expansion),
    while each shows its own similarity to the query."""

    SORT_KEYS = ("rank", "date")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._min_score = -1.0
        self._sort_key = "rank"
        self.setDynamicSortFilter(True)
        self.sort(0, Qt.SortOrder.DescendingOrder)

    @property
    def min_score(self) -> float:
        return self._min_score

    def set_min_score(self, value: float) -> None:
        if value != self._min_score:
            change_filter(self, lambda: setattr(self, "_min_score", value))

    @property
    def sort_key(self) -> str:
        return self._sort_key

    def set_sort_key(self, key: str) -> None:
        if key not in self.SORT_KEYS:
            raise ValueError(key)
        self._sort_key = key
        self.invalidate()
        self.sort(0, Qt.SortOrder.DescendingOrder)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        score = self.sourceModel().index(source_row, 0, source_parent).data(Role.SCORE)
        return score is None or score >= self._min_score

    def group_rows(self) -> list[int]:
        """Proxy rows that are groups or plain matches (not the listed photos of a group)."""
        return [row for row in range(self.rowCount())
                if self.index(row, 0).data(Role.GROUP_STATE) != GroupState.MEMBER]

    def lessThan(self, left: AnyIndex, right: AnyIndex) -> bool:
        return self._key(left) < self._key(right)

    def _key(self, index: AnyIndex) -> tuple:
        item: ResultItem | None = index.data(Role.ITEM)
        if item is not None and item.group is not None:  # a group's photo: right after its group, by rank
            return (*self._item_key(item.group), 0, -(item.rank or 0))
        if item is None:
            return (0,)
        return (*self._item_key(item), 1, 0)

    def _item_key(self, item: ResultItem) -> tuple:
        best_first = -(item.rank or 0)  # a lower rank sorts "greater" in descending order
        if self._sort_key == "date":
            return (item.photo.inspected_on or date.min, best_first)
        return (best_first,)


VERY_ALIKE, ALIKE = 0.88, 0.70
"""Score bands of the badge colours, calibrated on the benchmark (docs/quality.md, "Badge colours"):
re-shots of the same insulator scene score 0.84-0.97 (88 % reach 0.88), look-alike insulators of
other towers 0.63-0.91 (0.7 % reach 0.88, 99 % reach 0.70), photos of the same steel defect class a
median 0.82, photos of unrelated subjects 0.35-0.71 (0.002 % reach 0.70)."""
GREEN, ORANGE, GREY = QColor(46, 125, 50), QColor(239, 108, 0), QColor(96, 108, 118)
VERIFIED_COLOUR = QColor(21, 101, 192)
SCORE_LEGEND = (
    f"<span style='color:{GREEN.name()}'>&#9679;</span> {VERY_ALIKE:.2f}+ very alike (most re-shots of the "
    f"same scene) &nbsp; <span style='color:{ORANGE.name()}'>&#9679;</span> {ALIKE:.2f}+ the same kind of "
    f"equipment or defect &nbsp; <span style='color:{GREY.name()}'>&#9679;</span> less alike &nbsp; "
    f"<span style='color:{VERIFIED_COLOUR.name()}'>&#9632;</span>&nbsp;<b>same&nbsp;object</b>: keypoints match "
    "in one consistent position. Order: the query photo itself, the same object, then by what the query "
    "shares with its best matches (so a score may be higher than the one before it)")
"""What the tile colours and tags mean, shown above the results."""


def score_colour(score: float) -> QColor:
    """Badge colour: green for very alike (re-shot), orange for the same kind, grey for weak matches
    (bands: :data:`VERY_ALIKE`, :data:`ALIKE`)."""
    if score >= VERY_ALIKE:
        return GREEN
    if score >= ALIKE:
        return ORANGE
    return GREY


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints a photo cell: thumbnail (placeholder while loading), score badge, tag, site and date."""

    PADDING = 8
    GAP = 6

    def __init__(self, thumbnail_size: int = 160, parent: Any = None) -> None:
        super().__init__(parent)
        self._thumbnail_size = thumbnail_size
        self._drawn_size = thumbnail_size  # what the grid gives a thumbnail (PhotoGridView.fit_columns)
        self.show_match_count = False

    @property
    def thumbnail_size(self) -> int:
        """The preferred thumbnail side (the View menu's size)."""
        return self._thumbnail_size

    @property
    def drawn_size(self) -> int:
        """The thumbnail side actually painted: the preferred one stretched or shrunk to fill the row."""
        return self._drawn_size

    def set_thumbnail_size(self, size: int) -> None:
        self._thumbnail_size = size
        self._drawn_size = size

    def set_drawn_size(self, size: int) -> None:
        self._drawn_size = size

    def _text_lines(self) -> int:
        return 4 if self.show_match_count else 3

    def cell_size(self, font: QFont, side: int | None = None) -> QSize:
        """The cell for a thumbnail of ``side`` pixels (the drawn size by default) and its text lines."""
        side = (self._drawn_size if side is None else side) + 2 * self.PADDING
        return QSize(side, side + self.GAP + self._text_lines() * QFontMetrics(font).lineSpacing())

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        return self.cell_size(option.font)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        style = option.widget.style() if option.widget is not None else None
        if index.data(Role.GROUP_STATE) == GroupState.MEMBER:  # a group's photo: set off from the groups
            tint = QColor(option.palette.color(QPalette.ColorRole.Highlight))
            tint.setAlpha(28)
            painter.fillRect(option.rect.adjusted(1, 1, -1, -1), tint)
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget)
        rect = option.rect.adjusted(self.PADDING, self.PADDING, -self.PADDING, -self.PADDING)
        thumb_rect = QRect(rect.left(), rect.top(), rect.width(), min(self._drawn_size, rect.width()))
        self._paint_thumbnail(painter, option, index, thumb_rect)
        score = index.data(Role.SCORE)
        if score is not None:
            self._paint_badge(painter, option, thumb_rect, f"{score:.2f}", score_colour(score))
        tag = index.data(Role.VERIFIED)
        if tag:
            self._paint_badge(painter, option, thumb_rect, tag, VERIFIED_COLOUR, right=True)
        text_rect = QRect(rect.left(), thumb_rect.bottom() + self.GAP, rect.width(), 0)
        self._paint_text(painter, option, index, text_rect)
        painter.restore()

    def _paint_thumbnail(
        self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex, rect: QRect
    ) -> None:
        palette = option.palette
        painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))
        pixmap = index.data(Role.THUMBNAIL)
        if pixmap is None or pixmap.isNull():
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            failed = bool(index.data(Role.THUMBNAIL_FAILED))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "No preview" if failed else "Loading…")
            return
        scaled = QSize(pixmap.width(), pixmap.height()).scaled(rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, scaled.width(), scaled.height())
        target.moveCenter(rect.center())
        painter.drawPixmap(target, pixmap)

    @staticmethod
    def _paint_badge(
        painter: QPainter, option: QStyleOptionViewItem, rect: QRect, text: str, colour: QColor,
        right: bool = False,
    ) -> None:
        font = QFont(option.font)
        font.setBold(True)
        metrics = QFontMetrics(font)
        badge = QRect(0, 0, metrics.horizontalAdvance(text) + 10, metrics.height() + 2)
        if right:
            badge.moveTopRight(rect.topRight() + QPoint(-4, 4))
        else:
            badge.moveTopLeft(rect.topLeft() + QPoint(4, 4))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(badge, 4, 4)
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_text(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex, rect: QRect) -> None:
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        muted_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
        photo: PhotoRecord = index.data(Role.PHOTO)
        lines = [
            (photo_title(photo), True, text_role),
            (" · ".join(filter(None, [photo.site, photo.area])) or "no site", False, muted_role),
            (format_date(photo.inspected_on), False, muted_role),
        ]
        count = index.data(Role.MATCH_COUNT)
        state = index.data(Role.GROUP_STATE)
        if self.show_match_count and count is not None:
            arrow = "▾ " if state == GroupState.EXPANDED else ("▸ " if count > 1 else "")
            lines.append((f"{arrow}{count} matching photo{'s' if count != 1 else ''}", False, text_role))
        elif self.show_match_count and state == GroupState.MEMBER:
            lines.append((f"↳ rank {index.data(Role.RANK)}", False, muted_role))
        top = rect.top()
        for text, bold, role in lines:
            font = QFont(option.font)
            font.setBold(bold)
            metrics = QFontMetrics(font)
            painter.setFont(font)
            painter.setPen(palette.color(role))
            line = QRect(rect.left(), top, rect.width(), metrics.lineSpacing())
            elided = metrics.elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
            painter.drawText(line, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, elided)
            top += QFontMetrics(option.font).lineSpacing()


class PhotoGridView(QListView):
    """A grid of photo cells; Enter (or a double click) asks to open the current item.

    With :meth:`make_responsive` the cells fill the width: as many columns as fit at about the
    preferred thumbnail size (at least ``MIN_COLUMNS`` while a cell keeps ``MIN_SIDE`` pixels), each
    stretched so that no strip of the width stays empty (a justified grid)."""

    openRequested = Signal(QModelIndex)  # Enter: show it in the details
    viewRequested = Signal(QModelIndex)  # double click or Space: open it in the viewer
    drawnSizeChanged = Signal(int)
    MIN_COLUMNS = 2
    MIN_SIDE = 88

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._responsive = False
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSpacing(4)
        self.setWrapping(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.doubleClicked.connect(self.viewRequested)

    def make_responsive(self) -> None:
        """Fit the columns to the width from now on (the results grid; history strips keep their size)."""
        self._responsive = True
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)  # no width jump when it appears
        self.fit_columns()

    def columns_for(self, width: int, preferred: int) -> tuple[int, int]:
        """(columns, thumbnail side) filling ``width`` with cells of about ``preferred`` pixels."""
        delegate = self.itemDelegate()
        padding = 2 * getattr(delegate, "PADDING", 0)
        cell = preferred + padding
        columns = max(1, round(width / cell))
        if columns < self.MIN_COLUMNS and width // self.MIN_COLUMNS - padding >= self.MIN_SIDE:
            columns = self.MIN_COLUMNS
        return columns, max(width // columns - padding, 16)

    def fit_columns(self) -> None:
        delegate = self.itemDelegate()
        if not self._responsive or not isinstance(delegate, ThumbnailDelegate):
            return
        width = self.viewport().width() - 1  # QListView wraps a row that reaches the viewport's last pixel
        columns, side = self.columns_for(width, delegate.thumbnail_size)
        cell = delegate.cell_size(self.font(), side)
        cell.setWidth(width // columns)
        if side != delegate.drawn_size or self.gridSize() != cell:
            delegate.set_drawn_size(side)
            self.setGridSize(cell)
            self.drawnSizeChanged.emit(side)

    def columns(self) -> int:
        """How many cells a row holds now."""
        grid = self.gridSize().width()
        return max(1, (self.viewport().width() - 1) // grid) if grid > 0 else 1

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.openRequested.emit(self.currentIndex())
            event.accept()
            return
        if event.key() == Qt.Key.Key_Space and self.currentIndex().isValid():
            self.viewRequested.emit(self.currentIndex())
            event.accept()
            return
        super().keyPressEvent(event)

