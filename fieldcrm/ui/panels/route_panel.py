"""The route planner: order a set of accounts into a timed day, then save or export it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, QTime, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.geo.routing.export import nav_links, to_gpx, to_ics
from fieldcrm.geo.routing.model import Place, Plan, PlanSettings, hhmm
from fieldcrm.geo.routing.solver import plan_route
from fieldcrm.services.routes import save_plan, stops_for_accounts
from fieldcrm.ui.tasks import ChangeSet, TaskRunner, TaskState

HEADERS = ("#", "Account", "Arrive", "Start", "Leave", "Wait (min)", "Drive (km)")


def _minutes(t: QTime) -> float:
    return t.hour() * 60.0 + t.minute()


class RoutePanel(QWidget):
    """Plans the chosen accounts for one day (cancellable, with progress)."""

    sig_planned = Signal(object)
    """A plan is shown; carries the Plan."""
    sig_saved = Signal(int)
    """The plan's visits were stored in the agenda; carries how many."""

    def __init__(self, runner: TaskRunner, *, home: Place | None = None,
                 tz: str = "Europe/Stockholm", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.home = home or Place("Home", 59.33, 18.06)
        self.tz = tz
        self.account_ids: list[str] = []
        self.plan: Plan | None = None
        self._state: TaskState | None = None
        self._build()
        runner.sig_progress.connect(self._on_runner_progress)

    def _build(self) -> None:
        self.date_edit = QDateEdit(QDate.currentDate())
        self.date_edit.setCalendarPopup(True)
        self.start_edit = QTimeEdit(QTime(8, 0))
        self.end_edit = QTimeEdit(QTime(17, 0))
        self.plan_button = QPushButton("Plan route")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.summary = QLabel("Choose accounts, then plan the route.")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.unscheduled = QListWidget()
        self.save_button = QPushButton("Save to agenda")
        self.links_button = QPushButton("Copy navigation links")
        for b in (self.save_button, self.links_button):
            b.setEnabled(False)
        top = QHBoxLayout()
        for w in (QLabel("Day"), self.date_edit, QLabel("Start"), self.start_edit,
                  QLabel("Back by"), self.end_edit, self.plan_button, self.cancel_button):
            top.addWidget(w)
        bottom = QHBoxLayout()
        bottom.addWidget(self.save_button)
        bottom.addWidget(self.links_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.progress)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 3)
        lay.addWidget(QLabel("Not planned"))
        lay.addWidget(self.unscheduled, 1)
        lay.addLayout(bottom)
        self.plan_button.clicked.connect(self._on_plan_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.links_button.clicked.connect(self._on_links_clicked)

    def set_accounts(self, account_ids: Sequence[str]) -> None:
        """The accounts to plan (e.g. the selection of the accounts list)."""
        self.account_ids = list(account_ids)
        self.summary.setText(f"{len(self.account_ids)} accounts chosen.")

    def settings(self) -> PlanSettings:
        d = self.date_edit.date()
        return PlanSettings(day=date(d.year(), d.month(), d.day()), start=self.home,
                            end=self.home, start_time=_minutes(self.start_edit.time()),
                            latest_return=_minutes(self.end_edit.time()), tz=self.tz)

    @Slot()
    def _on_plan_clicked(self) -> None:
        settings = self.settings()
        ids = list(self.account_ids)
        tz = ZoneInfo(self.tz)

        def op(session: Any, state: TaskState) -> Plan:
            stops = stops_for_accounts(session=session, account_ids=ids, day=settings.day, tz=tz)
            return plan_route(stops, None, None, settings,
                              progress=lambda f, text: state.set_progress(int(100 * f), 100,
                                                                          text),
                              should_cancel=state.is_cancelled)

        self.plan_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self._state = self.runner.query(op, self._on_planned, parent=self, with_state=True,
                                        key="route-plan", on_error=self._on_plan_failed)

    @Slot()
    def _on_cancel_clicked(self) -> None:
        if self._state is not None:
            self._state.cancel()
        self._idle()
        self.summary.setText("Planning cancelled.")

    def _idle(self) -> None:
        self.plan_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    @Slot(object, int, int, str)
    def _on_runner_progress(self, state: object, done: int, total: int, label: str) -> None:
        if state is self._state:
            self.progress.setValue(int(100 * done / max(total, 1)))

    def _on_plan_failed(self, exc: BaseException) -> None:
        from fieldcrm.ui.errors import show_error

        self._idle()
        show_error(self, exc)

    def _on_planned(self, plan: Plan) -> None:
        self._idle()
        self.plan = plan
        self.progress.setValue(100)
        self.table.setRowCount(len(plan.stops))
        for row, (v, leg) in enumerate(zip(plan.stops, plan.legs, strict=False)):
            cells = (str(row + 1), v.stop.name, hhmm(v.arrival), hhmm(v.start),
                     hhmm(v.departure), f"{v.wait:.0f}", f"{leg.km:.1f}")
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.unscheduled.clear()
        for u in plan.unscheduled:
            self.unscheduled.addItem(u.message)
        text = (f"{len(plan.stops)} visits, {plan.total_km:.0f} km, "
                f"{plan.total_drive_minutes:.0f} min driving, back at {hhmm(plan.end_time)}.")
        self.summary.setText(" ".join([text, *plan.warnings]))
        self.save_button.setEnabled(bool(plan.stops))
        self.links_button.setEnabled(bool(plan.stops))
        self.sig_planned.emit(plan)

    @Slot()
    def _on_save_clicked(self) -> None:
        plan = self.plan
        if plan is None:
            return
        self.save_button.setEnabled(False)
        self.runner.write(lambda s: save_plan(session=s, plan=plan, rep_id=None),
                          ChangeSet(visits=True), parent=self,
                          on_done=lambda saved: self.sig_saved.emit(len(saved)))

    @Slot()
    def _on_links_clicked(self) -> None:
        if self.plan is not None:
            QGuiApplication.clipboard().setText("\n".join(nav_links(self.plan)))

    def export_gpx(self, path: Path) -> None:
        """Write the shown plan as GPX."""
        if self.plan is not None:
            Path(path).write_text(to_gpx(self.plan), encoding="utf-8")

    def export_ics(self, path: Path) -> None:
        """Write the shown plan as an iCalendar file (one event per visit)."""
        if self.plan is not None:
            Path(path).write_bytes(to_ics(self.plan))
