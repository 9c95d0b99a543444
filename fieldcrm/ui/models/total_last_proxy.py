"""Sort proxy that keeps a source model's total row at the bottom whatever the sort order."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

Index = QModelIndex | QPersistentModelIndex


class TotalLastProxy(QSortFilterProxyModel):
    """Sorts by ``sort_role``; the source's ``is_total(row)`` rows always come last."""

    def __init__(self, parent: Any = None, *, sort_role: int = Qt.ItemDataRole.DisplayRole) -> None:
        super().__init__(parent)
        self.setSortRole(sort_role)

    def lessThan(self, left: Index, right: Index) -> bool:  # noqa: N802 (Qt)
        src = self.sourceModel()
        lt, rt = src.is_total(left.row()), src.is_total(right.row())  # type: ignore[attr-defined]
        if lt or rt:
            # Whatever the order, the total must compare as the "last" element.
            descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
            return (rt and not lt) != descending
        a, b = left.data(self.sortRole()), right.data(self.sortRole())
        if isinstance(a, str) and isinstance(b, str):
            return a.casefold() < b.casefold()
        return super().lessThan(left, right)
