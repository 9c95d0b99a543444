"""The accounts list panel: search over FTS, filters, the paged table and a count."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QItemSelection, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.domain.enums import AccountStatus, Tier
from fieldcrm.domain.records import AccountFilter
from fieldcrm.services.accounts import query_accounts
from fieldcrm.services.overview import FilterOptions, filter_options
from fieldcrm.ui.models.account_table_model import AccountTableModel
from fieldcrm.ui.tasks import ChangeSet, TaskRunner

SEARCH_DEBOUNCE_MS = 150
MIN_SEARCH_CHARS = 2  # one letter matches nearly everything and costs seconds on 100k accounts
_COLUMN_WIDTHS = (190, 72, 38, 96, 96, 100, 120, 86, 96)


def _toggle(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(True)
    button.setAutoRaise(False)
    return button


class AccountsPanel(QWidget):
    """Search box, filters and the accounts table; tells the shell what is selected."""

    sig_account_selected = Signal(str)
    """The user selected an account in the list: its id."""
    sig_filter_changed = Signal(object)
    """The list's filter changed: the new AccountFilter (the map shows the same accounts)."""
    sig_new_account_requested = Signal()
    """The user asked for a new account."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._all_total: int | None = None
        self.model = AccountTableModel(runner, self)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._build()
        self._connect()

    # -- building -----------------------------------------------------------------------------
    def _build(self) -> None:
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search accounts, contacts and visit notes  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.status_buttons = {s: _toggle(s.value.capitalize(), f"Show {s.value}s")
                               for s in AccountStatus}
        self.tier_buttons = {t: _toggle(t.value, f"Show tier {t.value}") for t in Tier}
        self.overdue = QCheckBox("Overdue only")
        self.overdue.setToolTip("Accounts whose last visit is older than their tier's cadence")
        self.territory = QComboBox()
        self.owner = QComboBox()
        for combo, label in ((self.territory, "All territories"), (self.owner, "All owners")):
            combo.addItem(label, None)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.setMinimumContentsLength(12)
        self.table = QTableView()
        self._setup_table()
        self.count_label = QLabel("Loading accounts…")
        self.clear_button = QPushButton("Clear filters")
        self.clear_button.setEnabled(False)
        self.new_button = QPushButton("New account…")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.search)
        layout.addLayout(self._filter_rows())
        layout.addWidget(self.table, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.count_label, 1)
        bottom.addWidget(self.clear_button)
        bottom.addWidget(self.new_button)
        layout.addLayout(bottom)

    def _filter_rows(self) -> QVBoxLayout:
        rows = QVBoxLayout()
        first = QHBoxLayout()
        first.addWidget(QLabel("Status"))
        for button in self.status_buttons.values():
            first.addWidget(button)
        first.addSpacing(12)
        first.addWidget(QLabel("Tier"))
        for button in self.tier_buttons.values():
            first.addWidget(button)
        first.addStretch(1)
        second = QHBoxLayout()
        second.addWidget(self.territory)
        second.addWidget(self.owner)
        second.addWidget(self.overdue)
        second.addStretch(1)
        rows.addLayout(first)
        rows.addLayout(second)
        return rows

    def _setup_table(self) -> None:
        table = self.table
        table.setModel(self.model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(24)
        header = table.horizontalHeader()
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate(_COLUMN_WIDTHS):
            table.setColumnWidth(column, width)

    def _connect(self) -> None:
        self.search.textChanged.connect(self._on_search_text_changed)
        self.search.returnPressed.connect(self._on_search_return_pressed)
        self.search.installEventFilter(self)
        self._debounce.timeout.connect(self._apply_filter)
        for button in (*self.status_buttons.values(), *self.tier_buttons.values()):
            button.toggled.connect(self._apply_filter)
        self.overdue.toggled.connect(self._apply_filter)
        self.territory.currentIndexChanged.connect(self._apply_filter)
        self.owner.currentIndexChanged.connect(self._apply_filter)
        self.clear_button.clicked.connect(self.clear_filters)
        self.new_button.clicked.connect(self.sig_new_account_requested)
        self.table.horizontalHeader().sortIndicatorChanged.connect(self.model.sort)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.model.sig_loaded.connect(self._on_model_loaded)
        self.model.rowsInserted.connect(self._update_count)
        self._runner.sig_changes_applied.connect(self._on_runner_changes_applied)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        """Down in the search box moves into the list (keyboard-only search and pick)."""
        if (watched is self.search and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Down):
            self.table.setFocus(Qt.FocusReason.OtherFocusReason)
            if self.selected_account_id() is None:
                self.select_row(0)
            return True
        return super().eventFilter(watched, event)

    # -- public API ---------------------------------------------------------------------------
    def start(self) -> None:
        """Load the first page (unfiltered, so it gives the overall count) and the filter choices."""
        self.model.reload()
        self._load_options()

    def current_filter(self) -> AccountFilter:
        """Return the filter the widgets describe now."""
        text = self.search.text().strip()
        return AccountFilter(
            text=text if len(text) >= MIN_SEARCH_CHARS else "",
            statuses=frozenset(s for s, b in self.status_buttons.items() if b.isChecked()),
            tiers=frozenset(t for t, b in self.tier_buttons.items() if b.isChecked()),
            territory_id=self.territory.currentData(),
            owner_id=self.owner.currentData(),
            overdue_only=self.overdue.isChecked(),
        )

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def selected_account_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.account_id(rows[0].row()) if rows else None

    def select_row(self, row: int) -> bool:
        """Select a loaded row (emits ``sig_account_selected``); False if there is no such row."""
        if self.model.account_id(row) is None:
            return False
        self.table.selectRow(row)
        self.table.setCurrentIndex(self.model.index(row, 0))
        return True

    def select_account(self, account_id: str) -> None:
        """Select an account if it is in the loaded part of the list (quietly)."""
        row = self.model.row_of(account_id)
        if row >= 0 and self.selected_account_id() != account_id:
            self.table.blockSignals(True)
            self.table.selectionModel().blockSignals(True)
            self.table.selectRow(row)
            self.table.selectionModel().blockSignals(False)
            self.table.blockSignals(False)
            self.table.scrollTo(self.model.index(row, 0))

    @Slot()
    def clear_filters(self) -> None:
        widgets = (self.search, *self.status_buttons.values(), *self.tier_buttons.values(),
                   self.overdue, self.territory, self.owner)
        for widget in widgets:
            widget.blockSignals(True)
        self.search.clear()
        for button in (*self.status_buttons.values(), *self.tier_buttons.values()):
            button.setChecked(False)
        self.overdue.setChecked(False)
        self.territory.setCurrentIndex(0)
        self.owner.setCurrentIndex(0)
        for widget in widgets:
            widget.blockSignals(False)
        self._apply_filter()

    # -- slots --------------------------------------------------------------------------------
    @Slot(str)
    def _on_search_text_changed(self, _text: str) -> None:
        self._debounce.start()

    @Slot()
    def _on_search_return_pressed(self) -> None:
        self._debounce.stop()
        self._apply_filter()

    @Slot()
    def _apply_filter(self, *_args: Any) -> None:
        self._debounce.stop()
        flt = self.current_filter()
        self.clear_button.setEnabled(flt != AccountFilter() or bool(self.search.text()))
        if flt == self.model.current_filter and self.model.is_loaded:
            self._update_count()
            return
        self.count_label.setText("Searching…")
        self.model.set_filter(flt)
        self.sig_filter_changed.emit(flt)

    @Slot(QItemSelection, QItemSelection)
    def _on_table_selection_changed(self, _selected: QItemSelection, _old: QItemSelection) -> None:
        account_id = self.selected_account_id()
        if account_id:
            self.sig_account_selected.emit(account_id)

    @Slot(int)
    def _on_model_loaded(self, _total: int) -> None:
        if self.model.current_filter == AccountFilter():
            self._all_total = self.model.total
        self._update_count()

    @Slot()
    def _update_count(self, *_args: Any) -> None:
        shown = self.model.total
        noun = "account" if shown == 1 else "accounts"
        if self._all_total is None or self._all_total == shown:
            text = f"{shown:,} {noun}"
        else:
            text = f"{shown:,} of {self._all_total:,} accounts"
        if 0 < len(self.search.text().strip()) < MIN_SEARCH_CHARS:
            text += " · type another letter to search"
        self.count_label.setText(text)

    @Slot(object)
    def _on_runner_changes_applied(self, changes: ChangeSet) -> None:
        if changes.accounts or changes.visits or changes.settings or changes.sync:
            selected = self.selected_account_id()
            self.model.reload()
            if self.model.current_filter != AccountFilter():
                self._load_all_total()  # else the reload itself gives the overall count
            if selected:
                self.model.sig_loaded.connect(self._reselect(selected), Qt.ConnectionType.SingleShotConnection)
        if changes.territories or changes.sync or changes.accounts:
            self._load_options()

    def _reselect(self, account_id: str) -> Any:
        def again(_total: int) -> None:
            self.select_account(account_id)
        return again

    # -- loading ------------------------------------------------------------------------------
    def _load_options(self) -> None:
        self._runner.query(lambda s: filter_options(session=s), self._on_options_loaded,
                           parent=self, key=f"account-filter-options:{id(self)}")

    def _load_all_total(self) -> None:
        def op(session: Any) -> int:
            return query_accounts(session=session, flt=AccountFilter(), limit=1).total

        self._runner.query(op, self._on_all_total_loaded, parent=self, key=f"accounts-all:{id(self)}")

    def _on_all_total_loaded(self, total: int) -> None:
        self._all_total = total
        if self.model.is_loaded:
            self._update_count()

    def _on_options_loaded(self, options: FilterOptions) -> None:
        for combo, items in ((self.territory, options.territories), (self.owner, options.owners)):
            current = combo.currentData()
            combo.blockSignals(True)
            while combo.count() > 1:
                combo.removeItem(1)
            for item_id, name in items:
                combo.addItem(name, item_id)
            found = combo.findData(current) if current is not None else 0
            combo.setCurrentIndex(max(found, 0))
            combo.blockSignals(False)
            if current is not None and found < 0:
                self._apply_filter()

