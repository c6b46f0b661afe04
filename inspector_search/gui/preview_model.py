"""Table model of an import preview: one row per photo, one column per metadata field."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from inspector_search.core.records import ImportPreview, PreviewRow

AnyIndex = QModelIndex | QPersistentModelIndex
#: Well-known fields come first, in this order; any others follow alphabetically.
KNOWN_FIELDS = ("site", "area", "equipment", "equipment_tag", "equipment_name", "equipment_type", "date",
                "inspected_on", "inspector", "notes")


def preview_columns(rows: tuple[PreviewRow, ...]) -> list[str]:
    keys = {key for row in rows for key, value in row.metadata.items() if value}
    known = [key for key in KNOWN_FIELDS if key in keys]
    return known + sorted(keys - set(known))


class PreviewTableModel(QAbstractTableModel):
    """What an add would import: file name, then the metadata each photo would get."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: tuple[PreviewRow, ...] = ()
        self._columns: list[str] = []

    def set_preview(self, preview: ImportPreview | None) -> None:
        self.beginResetModel()
        self._rows = preview.rows if preview is not None else ()
        self._columns = preview_columns(self._rows)
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 1 + len(self._columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Vertical:
            return section + 1
        return "File" if section == 0 else self._columns[section - 1].replace("_", " ").capitalize()

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 0:
            return str(row.path)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if index.column() == 0:
            return row.path.name
        return row.metadata.get(self._columns[index.column() - 1]) or ""
