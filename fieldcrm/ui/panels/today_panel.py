"""The "Today" view: the day's planned visits and the follow-ups that are due."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.domain.records import Visit
from fieldcrm.services.overview import DayPlan, day_plan
from fieldcrm.services.visits import cancel_visit
from fieldcrm.ui.tasks import ChangeSet, TaskRunner

FOLLOW_UP_CAP = 500  # services.visits.agenda returns at most this many follow-ups


def _table(headers: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.setAlternatingRowColors(True)
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.15)
    label.setFont(font)
    return label


class TodayPanel(QWidget):
    """Planned visits of a day (log or cancel them) and follow-ups due by that day."""

    sig_account_selected = Signal(str)
    """The user wants to see an account: its id."""
    sig_loaded = Signal()
    """The agenda of the shown day arrived."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._plan: DayPlan | None = None
        self._build()
        self._connect()

    # -- building -----------------------------------------------------------------------------
    def _build(self) -> None:
        self.date_edit = QDateEdit(QDate.currentDate())
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("ddd d MMM yyyy")
        self.prev_button = QPushButton("◀")
        self.prev_button.setToolTip("Previous day")
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("Next day")
        self.today_button = QPushButton("Today")
        for button in (self.prev_button, self.next_button):
            button.setFixedWidth(36)
        self.planned_title = _heading("Planned visits")
        self.planned = _table(("Time", "Account", "Duration"))
        self.log_planned_button = QPushButton("Log visit…")
        self.cancel_button = QPushButton("Cancel visit…")
        self.open_planned_button = QPushButton("Open account")
        self.follow_title = _heading("Follow-ups due")
        self.follow_ups = _table(("Due", "Account", "Next step", "Last outcome"))
        self.log_follow_button = QPushButton("Log visit…")
        self.open_follow_button = QPushButton("Open account")
        self.empty_hint = QLabel("")
        self.empty_hint.setStyleSheet("color: #666;")
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        for widget in (self.prev_button, self.date_edit, self.next_button, self.today_button):
            top.addWidget(widget)
        top.addStretch(1)
        layout.addLayout(top)
        layout.addWidget(self.planned_title)
        layout.addWidget(self.planned, 3)
        layout.addLayout(self._buttons(self.log_planned_button, self.cancel_button,
                                       self.open_planned_button))
        layout.addWidget(self.follow_title)
        layout.addWidget(self.follow_ups, 2)
        layout.addLayout(self._buttons(self.log_follow_button, self.open_follow_button))
        layout.addWidget(self.empty_hint)
        self._update_buttons()

    @staticmethod
    def _buttons(*buttons: QPushButton) -> QHBoxLayout:
        row = QHBoxLayout()
        for button in buttons:
            row.addWidget(button)
        row.addStretch(1)
        return row

    def _connect(self) -> None:
        self.date_edit.dateChanged.connect(self._on_date_changed)
        self.prev_button.clicked.connect(lambda: self._shift(-1))
        self.next_button.clicked.connect(lambda: self._shift(1))
        self.today_button.clicked.connect(lambda: self.date_edit.setDate(QDate.currentDate()))
        self.planned.itemSelectionChanged.connect(self._update_buttons)
        self.follow_ups.itemSelectionChanged.connect(self._update_buttons)
        self.planned.doubleClicked.connect(lambda _i: self._open_account(self._selected_planned()))
        self.follow_ups.doubleClicked.connect(lambda _i: self._open_account(self._selected_follow()))
        self.log_planned_button.clicked.connect(self._on_log_planned_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.open_planned_button.clicked.connect(lambda: self._open_account(self._selected_planned()))
        self.log_follow_button.clicked.connect(self._on_log_follow_clicked)
        self.open_follow_button.clicked.connect(lambda: self._open_account(self._selected_follow()))
        self._runner.sig_changes_applied.connect(self._on_runner_changes_applied)

    # -- public API ---------------------------------------------------------------------------
    @property
    def plan(self) -> DayPlan | None:
        """The agenda shown now (None until it has loaded)."""
        return self._plan

    def shown_day(self) -> date:
        return self.date_edit.date().toPython()

    def refresh(self) -> None:
        """Load the agenda of the shown day."""
        day = self.shown_day()
        if self._plan is None or self._plan.day != day:
            self.empty_hint.setText("Loading the agenda…")
        self._runner.query(lambda s: day_plan(session=s, day=day), self._on_plan_loaded,
                           parent=self, key=f"today:{id(self)}")

    # -- slots --------------------------------------------------------------------------------
    @Slot(QDate)
    def _on_date_changed(self, _day: QDate) -> None:
        self.refresh()

    def _shift(self, days: int) -> None:
        self.date_edit.setDate(self.date_edit.date().addDays(days))

    @Slot(object)
    def _on_runner_changes_applied(self, changes: ChangeSet) -> None:
        if changes.visits or changes.accounts or changes.settings or changes.sync:
            self.refresh()

    def _on_plan_loaded(self, plan: DayPlan) -> None:
        self._plan = plan
        tz = ZoneInfo(plan.timezone)
        self._fill(self.planned, [self._planned_cells(v, tz) for v in plan.agenda.planned])
        self._fill(self.follow_ups, [self._follow_cells(v) for v in plan.agenda.follow_ups])
        is_today = plan.day == date.today()
        when = "today" if is_today else plan.day.strftime("%A %d %B")
        self.planned_title.setText(f"Planned visits {when} ({len(plan.agenda.planned)})")
        due = len(plan.agenda.follow_ups)
        self.follow_title.setText(f"Follow-ups due ({due}+, oldest first)" if due >= FOLLOW_UP_CAP
                                  else f"Follow-ups due ({due})")
        self.empty_hint.setText("" if plan.agenda.planned or plan.agenda.follow_ups else
                                f"Nothing planned {when} and no follow-ups due. Plan visits from "
                                "an account, or pick another day above.")
        self._update_buttons()
        self.sig_loaded.emit()

    @staticmethod
    def _planned_cells(visit: Visit, tz: ZoneInfo) -> tuple[list[str], Visit]:
        at = visit.planned_at.astimezone(tz).strftime("%H:%M") if visit.planned_at else ""
        minutes = f"{visit.duration_min} min" if visit.duration_min else ""
        return [at, visit.account_name, minutes], visit

    @staticmethod
    def _follow_cells(visit: Visit) -> tuple[list[str], Visit]:
        due = visit.follow_up_on.isoformat() if visit.follow_up_on else ""
        return [due, visit.account_name, visit.next_step, visit.outcome], visit

    @staticmethod
    def _fill(table: QTableWidget, rows: list[tuple[list[str], Visit]]) -> None:
        table.setRowCount(len(rows))
        for r, (cells, visit) in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, visit)
                item.setToolTip(text)
                table.setItem(r, c, item)

    @staticmethod
    def _selected(table: QTableWidget) -> Visit | None:
        rows = table.selectionModel().selectedRows()
        if not rows:
            return None
        item = table.item(rows[0].row(), 0)
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _selected_planned(self) -> Visit | None:
        return self._selected(self.planned)

    def _selected_follow(self) -> Visit | None:
        return self._selected(self.follow_ups)

    @Slot()
    def _update_buttons(self) -> None:
        has_planned = self._selected_planned() is not None
        has_follow = self._selected_follow() is not None
        for button in (self.log_planned_button, self.cancel_button, self.open_planned_button):
            button.setEnabled(has_planned)
        for button in (self.log_follow_button, self.open_follow_button):
            button.setEnabled(has_follow)

    def _open_account(self, visit: Visit | None) -> None:
        if visit is not None:
            self.sig_account_selected.emit(visit.account_id)

    @Slot()
    def _on_log_planned_clicked(self) -> None:
        visit = self._selected_planned()
        if visit is not None:
            self.open_visit_form(visit.account_id, visit.id)

    @Slot()
    def _on_log_follow_clicked(self) -> None:
        visit = self._selected_follow()
        if visit is not None:
            self.open_visit_form(visit.account_id, None)

    def open_visit_form(self, account_id: str, planned_visit_id: str | None) -> Any:
        """Open the visit form for an account (completing a planned visit if given)."""
        from fieldcrm.ui.panels.visit_form import VisitFormDialog

        dialog = VisitFormDialog(self._runner, account_id, planned_visit_id, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    @Slot()
    def _on_cancel_clicked(self) -> None:
        visit = self._selected_planned()
        if visit is None:
            return
        reason, ok = QInputDialog.getText(
            self, "Cancel visit", f"Cancel the visit to {visit.account_name}?\nReason (optional):")
        if not ok:
            return
        visit_id = visit.id
        self._runner.write(lambda s: cancel_visit(session=s, visit_id=visit_id, reason=reason),
                           ChangeSet(visits=True), parent=self)

