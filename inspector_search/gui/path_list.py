"""A small list model of file or folder paths (query queue, folders to add)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

PATH_ROLE = Qt.ItemDataRole.UserRole + 1


class PathListModel(QAbstractListModel):
    """Paths shown by name (or in full), the full path as tooltip and under :data:`PATH_ROLE`."""

    def __init__(self, full_paths: bool = False, parent: Any = None) -> None:
        super().__init__(parent)
        self._paths: list[Path] = []
        self._full = full_paths

    def paths(self) -> list[Path]:
        return list(self._paths)

    def set_paths(self, paths: Iterable[Path]) -> None:
        self.beginResetModel()
        self._paths = list(paths)
        self.endResetModel()

    def append(self, path: Path) -> bool:
        """Add a path unless it is already listed; True if added."""
        if path in self._paths:
            return False
        row = len(self._paths)
        self.beginInsertRows(QModelIndex(), row, row)
        self._paths.append(path)
        self.endInsertRows()
        return True

    def remove_rows(self, rows: Iterable[int]) -> None:
        for row in sorted(set(rows), reverse=True):
            if 0 <= row < len(self._paths):
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._paths[row]
                self.endRemoveRows()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._paths)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._paths):
            return None
        path = self._paths[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return str(path) if self._full else path.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(path)
        if role == PATH_ROLE:
            return path
        return None
