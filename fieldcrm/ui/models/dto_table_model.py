"""A read-only table model over a list of frozen DTOs, described by a tuple of columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

T = TypeVar("T")
Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


@dataclass(frozen=True)
class Column(Generic[T]):
    """A column: its header, the text of a row, and optionally a tooltip of the cell."""

    title: str
    text: Callable[[T], str]
    tip: Callable[[T], str] | None = None


class DtoTableModel(QAbstractTableModel, Generic[T]):
    """Rows are DTOs; ``row_colour`` may tint a whole row (e.g. refused changes)."""

    def __init__(self, columns: Sequence[Column[T]], parent: Any = None,
                 row_colour: Callable[[T], QColor | None] | None = None) -> None:
        super().__init__(parent)
        self.columns = tuple(columns)
        self._rows: list[T] = []
        self._row_colour = row_colour

    def set_rows(self, rows: Sequence[T]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[T]:
        return list(self._rows)

    def row_at(self, row: int) -> T:
        return self._rows[row]

    def csv_header(self) -> list[str]:
        return [c.title for c in self.columns]

    def csv_rows(self) -> list[list[str]]:
        """The table as shown, for export."""
        return [[c.text(r) for c in self.columns] for r in self._rows]

    # -- Qt overrides ----------------------------------------------------------------------
    def rowCount(self, parent: Index = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row, col = self._rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.text(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return col.tip(row) if col.tip else col.text(row)
        if role == Qt.ItemDataRole.BackgroundRole and self._row_colour is not None:
            return self._row_colour(row)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section].title
        return None
