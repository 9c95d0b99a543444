"""Table model of the balance view: per territory each figure with its deviation from the mean."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from fieldcrm.services.balance import BalanceRow
from fieldcrm.ui.models.figures import money, signed_pct
from fieldcrm.ui.models.territory_list_model import swatch

# (header, metric or None, tooltip)
COLUMNS: tuple[tuple[str, str | None, str], ...] = (
    ("Territory", None, "Territory"),
    ("Rep", None, "Rep the territory is assigned to"),
    ("Accounts", "accounts", "Accounts in the territory (with a position)"),
    ("Sales", "sales_minor", "Sales in the chosen period"),
    ("Open pipeline", "pipeline_minor", "Open opportunities (not won or lost)"),
    ("Visits / month", "visits_per_month", "Visits needed per month from the tier cadences"),
    ("Drive / month", "drive_hours", "Estimated hours of driving per month"),
    ("Workload / month", "workload_hours", "Visit time plus drive time, hours per month"),
)
HEAVY = QColor("#f6d5d2")
LIGHT = QColor("#d7e8f7")
HEAVY_TEXT = QColor("#a4262c")
LIGHT_TEXT = QColor("#1f5f99")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


def figure_text(row: BalanceRow, metric: str, currency: str) -> str:
    """A figure as shown, without its deviation."""
    v = getattr(row.figures, metric)
    if metric in ("sales_minor", "pipeline_minor"):
        return money(v, currency)
    if metric in ("drive_hours", "workload_hours"):
        return f"{v:,.0f} h"
    if metric == "visits_per_month":
        return f"{v:,.1f}"
    return f"{v:,}"


class BalanceTableModel(QAbstractTableModel):
    """Wraps `BalanceRow`s; figures far above the mean are red, far below blue."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[BalanceRow] = []
        self._currency = ""
        self._limit = 0.25

    def set_rows(self, rows: list[BalanceRow], currency: str, limit: float) -> None:
        self.beginResetModel()
        self._rows, self._currency, self._limit = list(rows), currency, limit
        self.endResetModel()

    def row_at(self, row: int) -> BalanceRow:
        return self._rows[row]

    def rowCount(self, parent: Index = _ROOT) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 (Qt)
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][2] + " (in brackets: difference from the average territory)"
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, (_, metric, _) = self._rows[index.row()], COLUMNS[index.column()]
        if metric is None:
            return self._name_data(row, index.column(), role)
        flag, pct = row.flags[metric], row.pct[metric]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{figure_text(row, metric, self._currency)}  ({signed_pct(pct)})"
        if role == SORT_ROLE:
            return float(getattr(row.figures, metric))
        # Workload is what balancing evens out: its outliers get a fill, the others a text colour.
        if role == Qt.ItemDataRole.BackgroundRole and flag and metric == "workload_hours":
            return HEAVY if flag == "heavy" else LIGHT
        if role == Qt.ItemDataRole.ForegroundRole and flag and metric != "workload_hours":
            return HEAVY_TEXT if flag == "heavy" else LIGHT_TEXT
        if role == Qt.ItemDataRole.FontRole and flag and metric == "workload_hours":
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            where = "above" if pct > 0 else "below"
            note = f" — more than {self._limit:.0%} off: {flag}" if flag else ""
            return f"{abs(pct):.0%} {where} the average territory{note}"
        return None

    def _name_data(self, row: BalanceRow, column: int, role: int) -> Any:
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            return row.name if column == 0 else (row.rep_name or "(no rep)")
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return swatch(row.color)
        if role == Qt.ItemDataRole.UserRole:
            return row.territory_id
        return None
