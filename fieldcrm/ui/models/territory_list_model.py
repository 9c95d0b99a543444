"""Table model of the territory list: name with its colour, rep, number of accounts."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap

from fieldcrm.services.balance import TerritorySummary

HEADERS = ("Territory", "Rep", "Accounts")
Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


def swatch(color: str, size: int = 14) -> QIcon:
    """A small square of ``color`` for lists and combo boxes."""
    pix = QPixmap(size, size)
    pix.fill(QColor(color))
    return QIcon(pix)


class TerritoryListModel(QAbstractTableModel):
    """Wraps a list of `TerritorySummary`; the id is at ``Qt.UserRole``."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[TerritorySummary] = []
        self._icons: dict[str, QIcon] = {}

    def set_rows(self, rows: list[TerritorySummary]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[TerritorySummary]:
        return list(self._rows)

    def row_of(self, territory_id: str) -> int:
        return next((i for i, t in enumerate(self._rows) if t.id == territory_id), -1)

    def rowCount(self, parent: Index = _ROOT) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 (Qt)
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        t, col = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (t.name, t.rep_name or "(no rep)", f"{t.accounts:,}")[col]
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            if t.color not in self._icons:
                self._icons[t.color] = swatch(t.color)
            return self._icons[t.color]
        if role == Qt.ItemDataRole.ForegroundRole and col == 1 and not t.rep_name:
            return QColor("#8a6d3b")
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return t.id
        return None
