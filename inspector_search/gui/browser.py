"""The archive browser: sites and their equipment with photo counts, filtered as you type."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtWidgets import QHeaderView, QLabel, QLineEdit, QMenu, QTreeView, QVBoxLayout, QWidget

from inspector_search.core.records import EquipmentRecord

from .icons import icon
from .results import change_filter

AnyIndex = QModelIndex | QPersistentModelIndex
TAG_ROLE = Qt.ItemDataRole.UserRole + 1
SITE_ROLE = Qt.ItemDataRole.UserRole + 2
SEARCH_TEXT_ROLE = Qt.ItemDataRole.UserRole + 3
NO_SITE = "(no site)"
_TOP = 0  # internal id of site rows; equipment rows carry their site's row + 1


class EquipmentTreeModel(QAbstractItemModel):
    """Two levels: sites, then each site's equipment; column 1 holds photo counts."""

    HEADERS = ("Site / equipment", "Photos")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._sites: list[tuple[str | None, list[EquipmentRecord]]] = []

    def set_equipment(self, records: Iterable[EquipmentRecord]) -> None:
        by_site: dict[str | None, list[EquipmentRecord]] = {}
        for record in records:
            by_site.setdefault(record.site, []).append(record)
        self.beginResetModel()
        self._sites = [
            (site, sorted(items, key=lambda r: r.tag.lower()))
            for site, items in sorted(by_site.items(), key=lambda kv: (kv[0] is None, (kv[0] or "").lower()))
        ]
        self.endResetModel()

    def site_count(self) -> int:
        return len(self._sites)

    def equipment_count(self) -> int:
        return sum(len(items) for _site, items in self._sites)

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, _TOP)
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, index: AnyIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid() or index.internalId() == _TOP:
            return QModelIndex()
        return self.createIndex(index.internalId() - 1, 0, _TOP)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._sites)
        if parent.internalId() == _TOP and parent.column() == 0:
            return len(self._sites[parent.row()][1])
        return 0

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.internalId() == _TOP:
            site, items = self._sites[index.row()]
            return self._site_data(site, items, index.column(), role)
        site, items = self._sites[index.internalId() - 1]
        return self._equipment_data(items[index.row()], index.column(), role)

    @staticmethod
    def _site_data(site: str | None, items: list[EquipmentRecord], column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return (site or NO_SITE) if column == 0 else sum(r.photo_count for r in items)
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return icon("folder")
        if role == SITE_ROLE:
            return site
        if role == SEARCH_TEXT_ROLE:
            return (site or NO_SITE).lower()
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _equipment_data(record: EquipmentRecord, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 1:
                return record.photo_count
            return f"{record.tag} — {record.name}" if record.name else record.tag
        if role == Qt.ItemDataRole.ToolTipRole:
            details = [record.tag, record.name, record.type, record.area]
            return "\n".join(filter(None, details)) + f"\n{record.photo_count} photos — double-click for history"
        if role == TAG_ROLE:
            return record.tag
        if role == SITE_ROLE:
            return record.site
        if role == SEARCH_TEXT_ROLE:
            return " ".join(filter(None, [record.tag, record.name, record.type, record.area])).lower()
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class BrowserFilter(QSortFilterProxyModel):
    """Keeps rows whose text holds every typed word; a matching site keeps all its equipment."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._words: list[str] = []
        self.setRecursiveFilteringEnabled(True)
        self.setAutoAcceptChildRows(True)

    def set_text(self, text: str) -> None:
        words = text.lower().split()
        change_filter(self, lambda: setattr(self, "_words", words))

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        if not self._words:
            return True
        text = self.sourceModel().index(source_row, 0, source_parent).data(SEARCH_TEXT_ROLE) or ""
        return all(word in text for word in self._words)


class ArchiveBrowser(QWidget):
    """Sites → equipment tree; double-click an equipment for its history, a site to search only there."""

    historyRequested = Signal(str)
    siteRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter sites and equipment…")
        self.filter_edit.setClearButtonEnabled(True)
        self.model = EquipmentTreeModel(self)
        self.proxy = BrowserFilter(self)
        self.proxy.setSourceModel(self.model)
        self.tree = QTreeView()
        self.tree.setModel(self.proxy)
        self.tree.setUniformRowHeights(True)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.summary = QLabel()
        self.summary.setEnabled(False)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.summary)
        self.filter_edit.textChanged.connect(self._filter)
        self.tree.activated.connect(self._activated)  # Enter, and the style's click (double on most): once
        self.tree.customContextMenuRequested.connect(self._context_menu)

    def set_equipment(self, records: list[EquipmentRecord]) -> None:
        self.model.set_equipment(records)
        self.summary.setText(f"{self.model.site_count()} sites, {self.model.equipment_count()} equipment")
        self._filter(self.filter_edit.text())

    def _filter(self, text: str) -> None:
        self.proxy.set_text(text)
        if text:
            self.tree.expandAll()

    def _activated(self, index: QModelIndex) -> None:
        tag = index.siblingAtColumn(0).data(TAG_ROLE)
        if tag:
            self.historyRequested.emit(tag)

    def _context_menu(self, pos: QPoint) -> None:
        index = self.tree.indexAt(pos).siblingAtColumn(0)
        if not index.isValid():
            return
        menu = QMenu(self)
        tag = index.data(TAG_ROLE)
        if tag:
            menu.addAction(icon("history"), "Show history", lambda: self.historyRequested.emit(tag))
        else:
            site = index.data(SITE_ROLE)
            if site:
                menu.addAction(icon("filter"), "Search only this site", lambda: self.siteRequested.emit(site))
        if not menu.isEmpty():
            menu.exec(self.tree.viewport().mapToGlobal(pos))
