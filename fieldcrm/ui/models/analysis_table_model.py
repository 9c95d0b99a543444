"""Table model of the regional analysis: each group's figures against the previous period."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from fieldcrm.services.analytics import AnalyticsReport, GroupStats
from fieldcrm.ui.models.figures import change, money, points, share, signed_pct

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
UP, DOWN = QColor("#1b7f3b"), QColor("#b3261e")
Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
Cell = Callable[[GroupStats, str], tuple[str, float | None]]


def _money_pair(now: str, before: str) -> tuple[Cell, Cell]:
    return (lambda g, c: (money(getattr(g, now)), float(getattr(g, now))),
            lambda g, c: (signed_pct(change(getattr(g, now), getattr(g, before))),
                          change(getattr(g, now), getattr(g, before))))  # fmt: skip


_SALES, _SALES_CHG = _money_pair("sales_minor", "sales_prev_minor")
_NEW, _NEW_CHG = _money_pair("pipeline_new_minor", "pipeline_new_prev_minor")
# (header, tooltip, cell -> (text, sort value))
COLUMNS: tuple[tuple[str, str, Cell], ...] = (
    ("Accounts", "Live accounts at the end of the period",
     lambda g, c: (f"{g.accounts:,}", float(g.accounts))),
    ("Sales", "Sales in the period", _SALES),
    ("vs prev.", "Sales against the previous period of the same length", _SALES_CHG),
    ("Visits", "Completed visits in the period", lambda g, c: (f"{g.visits:,}", float(g.visits))),
    ("vs prev.", "Visits against the previous period",
     lambda g, c: (signed_pct(change(g.visits, g.visits_prev)), change(g.visits, g.visits_prev))),
    ("Coverage", "Share of accounts visited within their cadence at the period's end",
     lambda g, c: (share(g.coverage), g.coverage)),
    ("vs prev.", "Coverage against the previous period, in percentage points",
     lambda g, c: (points(g.coverage, g.coverage_prev),
                   None if g.coverage is None or g.coverage_prev is None
                   else g.coverage - g.coverage_prev)),
    ("Open pipeline", "Open opportunities now (won and lost left out)",
     lambda g, c: (money(g.pipeline_open_minor), float(g.pipeline_open_minor))),
    ("New pipeline", "Opportunities created in the period", _NEW),
    ("vs prev.", "New pipeline against the previous period", _NEW_CHG),
)
MONEY_COLUMNS = frozenset({"Sales", "Open pipeline", "New pipeline"})
CHANGE_COLUMNS = frozenset({3, 5, 7, 10})  # model columns (group name is column 0)


class AnalysisTableModel(QAbstractTableModel):
    """One row per group plus a bold total row at the bottom."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[GroupStats] = []
        self._report: AnalyticsReport | None = None
        self._group_title = "Territory"

    def set_report(self, report: AnalyticsReport | None, group_title: str) -> None:
        self.beginResetModel()
        self._report = report
        self._rows = [] if report is None else [*report.rows, report.total]
        self._group_title = group_title
        self.endResetModel()

    def report(self) -> AnalyticsReport | None:
        return self._report

    def rowCount(self, parent: Index = _ROOT) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(COLUMNS) + 1

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 (Qt)
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if section == 0:
                return self._group_title
            title = COLUMNS[section - 1][0]
            money_column = title in MONEY_COLUMNS and self._report is not None
            return f"{title} ({self._report.currency})" if money_column else title  # type: ignore[union-attr]
        if role == Qt.ItemDataRole.ToolTipRole and section > 0:
            return COLUMNS[section - 1][1]
        return None

    def is_total(self, row: int) -> bool:
        return row == len(self._rows) - 1

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self._report is None:
            return None
        g, col = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.FontRole and self.is_total(index.row()):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.UserRole:
            return g.key
        if col == 0:
            return g.label if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE) else None
        text, value = COLUMNS[col - 1][2](g, self._report.currency)
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == SORT_ROLE:
            return value if value is not None else float("-inf")
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and col in CHANGE_COLUMNS and value:
            return UP if value > 0 else DOWN
        return None

    def export_rows(self) -> tuple[list[str], list[list[Any]]]:
        """Headers and raw values (amounts in whole currency units) for CSV/XLSX."""
        r = self._report
        if r is None:
            return [], []
        cur = r.currency
        headers = [self._group_title, "Accounts", f"Sales ({cur})", f"Sales previous ({cur})",
                   "Sales change %", "Visits", "Visits previous", "Visits change %",
                   "Coverage %", "Coverage previous %", f"Open pipeline ({cur})",
                   f"New pipeline ({cur})", f"New pipeline previous ({cur})"]  # fmt: skip

        def pct(v: float | None) -> float | None:
            return None if v is None else round(v * 100, 1)

        rows = [[g.label, g.accounts, g.sales_minor / 100, g.sales_prev_minor / 100,
                 pct(change(g.sales_minor, g.sales_prev_minor)), g.visits, g.visits_prev,
                 pct(change(g.visits, g.visits_prev)), pct(g.coverage), pct(g.coverage_prev),
                 g.pipeline_open_minor / 100, g.pipeline_new_minor / 100,
                 g.pipeline_new_prev_minor / 100] for g in self._rows]  # fmt: skip
        return headers, rows
