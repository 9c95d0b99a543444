"""Table model over pages of AccountRow, sorted and filtered by the service, fetched on demand."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor

from fieldcrm.domain.records import AccountFilter, AccountRow
from fieldcrm.errors import FieldCrmError
from fieldcrm.services.accounts import AccountPage, query_accounts
from fieldcrm.ui.tasks import TaskRunner

log = logging.getLogger(__name__)

PAGE_SIZE = 200
# (header, sort key for the service or None, tooltip)
COLUMNS: tuple[tuple[str, str | None, str], ...] = (
    ("Name", "name", "Account name"),
    ("Status", "status", "Lead, prospect, customer or former"),
    ("Tier", "tier", "A, B or C: sets how often the account should be visited"),
    ("City", "city", "City"),
    ("Region", "region", "Region"),
    ("Territory", "territory", "Sales territory"),
    ("Owner", "owner", "Rep who owns the account"),
    ("Last visit", "last_visit", "Date of the last logged visit"),
    ("Overdue", "last_visit", "Days past the tier's visit cadence (sorted by last visit)"),
)
OVERDUE_COLUMN = 8
_OVERDUE_COLOR = QColor("#c62828")
_ERROR_COLOR = QColor("#8a6d3b")
Index = QModelIndex | QPersistentModelIndex


def _date(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d") if value is not None else ""


def _overdue(days: int | None) -> str:
    if days is None:
        return "never visited"
    return f"{days} d" if days > 0 else ""


def cell_text(row: AccountRow, column: int) -> str:
    """Return the text shown for ``row`` in ``column``."""
    values = (row.name, row.status.value.capitalize(), row.tier.value, row.city, row.region,
              row.territory_name, row.owner_name, _date(row.last_visit_at),
              _overdue(row.days_overdue))
    return values[column]


class AccountTableModel(QAbstractTableModel):
    """The accounts list: the service sorts and filters; pages of 200 arrive through the runner.

    ``set_filter`` and ``sort`` start a fresh query; only the newest result lands (a runner
    query key plus a generation number, so a page fetched for an old filter is dropped too).
    A failed fetch becomes one disabled row that carries the message instead of raising.
    """

    sig_loaded = Signal(int)
    """A fresh first page arrived: the total number of matching accounts."""
    sig_failed = Signal(str)
    """A fetch failed: the message shown in the error row."""

    def __init__(self, runner: TaskRunner, parent: QObject | None = None, *,
                 key: str = "accounts", page_size: int = PAGE_SIZE) -> None:
        super().__init__(parent)
        self._runner = runner
        self._key = key
        self._page_size = page_size
        self._rows: list[AccountRow] = []
        self._total = 0
        self._error = ""
        self._filter = AccountFilter()
        self._sort_column = 0
        self._descending = False
        self._generation = 0
        self._fetching = False
        self._loaded_once = False

    # -- state ----------------------------------------------------------------------------
    @property
    def total(self) -> int:
        """How many accounts match the filter (all pages)."""
        return self._total

    @property
    def loaded_rows(self) -> int:
        return len(self._rows)

    @property
    def current_filter(self) -> AccountFilter:
        return self._filter

    @property
    def is_loaded(self) -> bool:
        """True once the first page of the current query has landed."""
        return self._loaded_once and not self._fetching

    def row_at(self, row: int) -> AccountRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def account_id(self, row: int) -> str | None:
        item = self.row_at(row)
        return item.id if item is not None else None

    def row_of(self, account_id: str) -> int:
        """Return the row of a loaded account, or -1."""
        return next((i for i, r in enumerate(self._rows) if r.id == account_id), -1)

    # -- Qt model API -----------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        if parent.isValid():
            return 0
        return len(self._rows) + (1 if self._error else 0)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][2]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if index.row() >= len(self._rows):  # the error row
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.row() >= len(self._rows):
            return self._error_data(index.column(), role)
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return cell_text(row, index.column())
        if role == Qt.ItemDataRole.UserRole:
            return row.id
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == OVERDUE_COLUMN:
            return _OVERDUE_COLOR if (row.days_overdue or 0) > 0 else None
        return None

    def _error_data(self, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._error if column == 0 else ""
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._error
        if role == Qt.ItemDataRole.ForegroundRole:
            return _ERROR_COLOR
        return None

    @staticmethod
    def _tooltip(row: AccountRow) -> str:
        place = ", ".join(x for x in (row.city, row.region) if x)
        lines = [row.name, f"{row.status.value.capitalize()} · tier {row.tier.value}"]
        if place:
            lines.append(place)
        if row.days_overdue is None:
            lines.append("Never visited")
        elif row.days_overdue > 0:
            lines.append(f"Visit overdue by {row.days_overdue} days")
        if row.lat is None:
            lines.append("No position on the map yet")
        return "\n".join(lines)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS) or COLUMNS[column][1] is None:
            return
        self._sort_column = column
        self._descending = order == Qt.SortOrder.DescendingOrder
        self.reload()

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008, N802
        if parent.isValid() or self._fetching or self._error:
            return False
        return self._loaded_once and len(self._rows) < self._total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008, N802
        if not self.canFetchMore(parent):
            return
        self._fetching = True
        self._query(len(self._rows), self._on_page, key=f"{self._key}:more")

    # -- loading ----------------------------------------------------------------------------
    def set_filter(self, flt: AccountFilter) -> None:
        """Show the accounts matching ``flt`` (a fresh query from the first page)."""
        self._filter = flt
        self.reload()

    def reload(self) -> None:
        """Query the first page again with the current filter and sort."""
        self._generation += 1
        self._fetching = True
        self._query(0, self._on_first_page, key=self._key)

    def _sort_args(self) -> tuple[str, bool]:
        key = COLUMNS[self._sort_column][1] or "name"
        descending = self._descending
        if self._sort_column == OVERDUE_COLUMN:
            descending = not descending  # most overdue = oldest last visit
        return key, descending

    def _query(self, offset: int, done: Any, *, key: str) -> None:
        flt, limit = self._filter, self._page_size
        sort, descending = self._sort_args()
        gen = self._generation

        def op(session: Any) -> AccountPage:
            return query_accounts(session=session, flt=flt, sort=sort, descending=descending,
                                  offset=offset, limit=limit)

        on_error = partial(self._on_error, offset == 0, gen)
        self._runner.query(op, partial(done, gen), on_error=on_error, key=key)

    def _on_first_page(self, gen: int, page: AccountPage) -> None:
        if gen != self._generation:
            return
        self.beginResetModel()
        self._rows = list(page.rows)
        self._total = page.total
        self._error = ""
        self._fetching = False
        self._loaded_once = True
        self.endResetModel()
        self.sig_loaded.emit(self._total)

    def _on_page(self, gen: int, page: AccountPage) -> None:
        if gen != self._generation:
            return
        self._fetching = False
        known = {r.id for r in self._rows[-self._page_size:]}
        new = [r for r in page.rows if r.id not in known]
        self._total = page.total
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self._rows.extend(new)
            self.endInsertRows()

    def _on_error(self, first_page: bool, gen: int, exc: BaseException) -> None:
        if gen != self._generation:
            return
        if isinstance(exc, FieldCrmError):
            message = f"Could not load accounts: {exc}"
        else:
            log.error("Loading accounts failed", exc_info=exc)
            message = "Could not load accounts (details are in the log)."
        self._fetching = False
        self._loaded_once = True
        if first_page:
            self.beginResetModel()
            self._rows, self._total, self._error = [], 0, message
            self.endResetModel()
        elif self._error:
            self._error = message
            row = len(self._rows)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        else:
            row = len(self._rows)
            self.beginInsertRows(QModelIndex(), row, row)
            self._error = message
            self.endInsertRows()
        self.sig_failed.emit(message)
