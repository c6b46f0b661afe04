"""The list of files the archive could not index, with the reason for each."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from inspector_search.core.records import SkippedFile

AnyIndex = QModelIndex | QPersistentModelIndex


class SkippedModel(QAbstractTableModel):
    """Columns: file, reason, when it was seen."""

    HEADERS = ("File", "Reason", "Seen")

    def __init__(self, skipped: Iterable[SkippedFile] = (), parent: Any = None) -> None:
        super().__init__(parent)
        self._rows = list(skipped)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (str(row.path), row.reason, row.seen_at)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{row.path}\n{row.reason}"
        return None


class SkippedDialog(QDialog):
    """Shows the archive's skipped files; opened from the status bar."""

    def __init__(self, skipped: list[SkippedFile], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Skipped files")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(820, 420)
        layout = QVBoxLayout(self)
        count = len(skipped)
        layout.addWidget(
            QLabel(f"{count} file{'s' if count != 1 else ''} could not be added to the archive. "
                   "Fix or replace them, then add their folder again.")
        )
        self.model = SkippedModel(skipped, self)
        table = QTableView()
        table.setModel(self.model)
        table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        table.verticalHeader().hide()
        layout.addWidget(table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
