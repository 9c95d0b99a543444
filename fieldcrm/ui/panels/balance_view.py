"""The territory balance view: workload per territory against the mean, and moves to even it out."""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.geo.balance import BalanceParams
from fieldcrm.services.balance import BalanceView as BalanceData
from fieldcrm.services.balance import SuggestedMove, apply_moves, territory_balance
from fieldcrm.ui.errors import show_error
from fieldcrm.ui.models.balance_table_model import COLUMNS, SORT_ROLE, BalanceTableModel
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.form import if_alive

PERIODS = (("Sales over the last 3 months", 91), ("Sales over the last 12 months", 365),
           ("Sales this year so far", 0))  # fmt: skip
MOVE_HEADERS = ("Move", "Account", "From", "To", "Distance", "From: workload after",
                "To: workload after")  # fmt: skip


def period_for(days: int, today: date) -> tuple[date, date]:
    """``(start, end)`` with ``end`` = tomorrow; ``days`` 0 means since 1 January."""
    end = today + timedelta(days=1)
    return (date(today.year, 1, 1) if days == 0 else end - timedelta(days=days)), end


def explain(params: BalanceParams) -> str:
    """How workload is estimated, in one sentence a manager can check."""
    return (f"Workload per month = visits needed (from each tier's visit cadence) × "
            f"{params.visit_minutes:.0f} min + estimated driving: {params.stops_per_day:.0f} "
            f"visits a day on a tour through the territory's accounts, roads {params.detour:g}× "
            f"the straight line, {params.speed_kmh:.0f} km/h. Red: more than "
            f"{params.limit:.0%} above the average territory (too much work), blue: more than "
            f"{params.limit:.0%} below. Sort by any column.")  # fmt: skip


class BalanceView(QWidget):
    """Balance table, a summary and the suggested boundary moves with one-click apply."""

    sig_loaded = Signal()
    """New balance figures are on screen."""
    sig_show_accounts = Signal(list)
    """The user wants to see the ticked moves' accounts on the map: their ids."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._params = BalanceParams()
        self._data: BalanceData | None = None
        self.period = QComboBox()
        for label, days in PERIODS:
            self.period.addItem(label, days)
        self.summary = QLabel("Loading…")
        self.summary.setWordWrap(True)
        self.model = BalanceTableModel(self)
        proxy = QSortFilterProxyModel(self)
        proxy.setSourceModel(self.model)
        proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(len(COLUMNS) - 1, Qt.SortOrder.DescendingOrder)  # heaviest first
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.note = QLabel(explain(self._params))
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #555;")
        self.moves_label = QLabel("Suggested moves")
        self.moves = QTableWidget(0, len(MOVE_HEADERS))
        self.moves.setHorizontalHeaderLabels(MOVE_HEADERS)
        self.moves.verticalHeader().hide()
        self.moves.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.moves.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.apply = QPushButton("Apply ticked moves")
        self.apply.setEnabled(False)
        self.show_moves = QPushButton("Show on map")
        self.show_moves.setToolTip("Mark the ticked moves' accounts on the map")
        self.show_moves.setEnabled(False)
        self._layout()
        self.period.currentIndexChanged.connect(self._on_period_changed)
        self.apply.clicked.connect(self._on_apply_clicked)
        self.show_moves.clicked.connect(
            lambda: self.sig_show_accounts.emit([a for a, _ in self.ticked_moves()]))
        runner.sig_changes_applied.connect(self._on_runner_changes_applied)

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.period)
        top.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.moves_label, 1)
        bottom.addWidget(self.show_moves)
        bottom.addWidget(self.apply)
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.addLayout(top)
        box.addWidget(self.summary)
        box.addWidget(self.table, 3)
        box.addWidget(self.note)
        box.addLayout(bottom)
        box.addWidget(self.moves, 2)

    # -- loading ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Recompute the balance off the GUI thread."""
        start, end = period_for(self.period.currentData(), date.today())
        params = self._params
        self.summary.setText("Computing the balance…")
        self._runner.query(
            lambda s: territory_balance(session=s, start=start, end=end, params=params),
            if_alive(self, self._on_loaded), parent=self, key=f"balance-{id(self)}")

    def _on_loaded(self, data: BalanceData) -> None:
        self._data = data
        self.model.set_rows(list(data.rows), data.currency, data.limit)
        self.summary.setText(self._summary(data))
        self._fill_moves(data.moves)
        self.sig_loaded.emit()

    @staticmethod
    def _summary(data: BalanceData) -> str:
        if not data.rows:
            return "No territories yet: draw or import some first."
        worst = max(data.rows, key=lambda r: abs(r.pct["workload_hours"]))
        pct = worst.pct["workload_hours"]
        if not worst.flags["workload_hours"]:
            return (f"Workload is balanced: every territory is within {data.limit:.0%} "
                    "of the average.")  # fmt: skip
        text = (f"Workload is uneven: {worst.name} is {abs(pct):.0%} "
                f"{'above' if pct > 0 else 'below'} the average territory.")
        if data.moves:
            text += (f" The {len(data.moves)} moves below bring the largest difference from "
                     f"{data.spread_before:.0%} to {data.spread_after:.0%}.")
        else:
            text += " No move of a boundary account to a neighbour would help."
        return text

    def _fill_moves(self, moves: tuple[SuggestedMove, ...]) -> None:
        self.moves.setRowCount(0)
        self.moves.setRowCount(len(moves))
        for r, m in enumerate(moves):
            tick = QTableWidgetItem()
            tick.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            tick.setCheckState(Qt.CheckState.Checked)
            tick.setData(Qt.ItemDataRole.UserRole, (m.account_id, m.target_id))
            self.moves.setItem(r, 0, tick)
            texts = (m.account_name, m.source_name, m.target_name, f"{m.distance_km:.1f} km",
                     f"{m.source_hours_after:,.0f} h", f"{m.target_hours_after:,.0f} h")
            for c, text in enumerate(texts, start=1):
                self.moves.setItem(r, c, QTableWidgetItem(text))
        self.moves_label.setText(
            f"Suggested moves of boundary accounts to a lighter neighbour: {len(moves)}"
            if moves else "No suggested moves.")  # fmt: skip
        self.apply.setEnabled(bool(moves))
        self.show_moves.setEnabled(bool(moves))

    def ticked_moves(self) -> list[tuple[str, str]]:
        """``(account_id, territory_id)`` of the ticked suggestions."""
        out = []
        for r in range(self.moves.rowCount()):
            item = self.moves.item(r, 0)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(tuple(item.data(Qt.ItemDataRole.UserRole)))
        return out  # type: ignore[return-value]

    # -- slots ------------------------------------------------------------------------------
    @Slot(int)
    def _on_period_changed(self, _index: int) -> None:
        self.refresh()

    @Slot()
    def _on_apply_clicked(self) -> None:
        moves = self.ticked_moves()
        if not moves:
            return
        self.apply.setEnabled(False)
        self.summary.setText(f"Moving {len(moves)} accounts…")
        self._runner.write(lambda s: apply_moves(session=s, moves=moves),
                           ChangeSet(accounts=True, territories=True), parent=self,
                           on_error=if_alive(self, self._on_apply_failed))  # fmt: skip

    def _on_apply_failed(self, exc: BaseException) -> None:
        show_error(self, exc)
        self.refresh()  # some moves may have been applied (one commit per target territory)

    @Slot(object)
    def _on_runner_changes_applied(self, changes: ChangeSet) -> None:
        if changes.accounts or changes.territories or changes.sales or changes.settings:
            self.refresh()
