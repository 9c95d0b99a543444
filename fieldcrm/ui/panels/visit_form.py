"""The visit form: log (or complete a planned) visit in under a minute; and the plan-a-visit dialog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from functools import partial
from typing import Any

from PySide6.QtCore import QDate, Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from fieldcrm.domain.records import Account, Visit
from fieldcrm.errors import InvalidInput, NotFound
from fieldcrm.services import visits as visit_service
from fieldcrm.services.accounts import get_account
from fieldcrm.services.settings import current_user, load_settings
from fieldcrm.ui.errors import show_error
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.form import FormFields, if_alive, read_coordinates
from fieldcrm.ui.widgets.when import (
    from_wall,
    next_working_morning,
    now_wall,
    people_text,
    to_date,
    zone,
)

NO_DATE = QDate(2000, 1, 1)
"""The follow-up editor's minimum, shown as "None" (QDateEdit has no empty state)."""
QUICK_FOLLOW_UPS = (("+1 &week", 7, 0), ("+2 wee&ks", 14, 0), ("+1 &month", 0, 1), ("Non&e", None, 0))


@dataclass(frozen=True, slots=True)
class VisitFormData:
    """What the visit form needs: the account, the outcomes to offer, the rep, the planned visit."""

    account: Account
    outcomes: tuple[str, ...]
    rep_id: str | None
    planned: Visit | None
    timezone: str = ""


def load_visit_form_data(session: Session, *, account_id: str,
                         planned_visit_id: str | None) -> VisitFormData:
    """Op: everything the form shows before the rep types.

    Raises
    ------
    NotFound
        If the account or the planned visit does not exist.
    """
    account = get_account(session=session, account_id=account_id)
    planned = None
    if planned_visit_id:
        found = [v for v in visit_service.list_visits(session=session, account_id=account_id)
                 if v.id == planned_visit_id]
        if not found:
            raise NotFound("That planned visit does not exist.")
        planned = found[0]
    user = current_user(session=session)
    settings = load_settings(session=session)
    return VisitFormData(account, settings.outcomes, user.id if user else None, planned,
                         settings.timezone)


class VisitFormDialog(QDialog):
    """Log a visit to ``account_id``, or complete ``planned_visit_id``. Ctrl+Enter saves."""

    sig_saved = Signal(str)
    """The visit was logged; carries the visit id."""

    def __init__(self, runner: TaskRunner, account_id: str, planned_visit_id: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._account_id = account_id
        self._planned_id = planned_visit_id
        self._data: VisitFormData | None = None
        self._tz: tzinfo | None = None
        self.setWindowTitle("Complete planned visit" if planned_visit_id else "Log visit")
        self._heading = QLabel("Loading…", self)
        self._heading.setWordWrap(True)
        self.form = FormFields(self)
        self._build_fields()
        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.save_button = self._buttons.addButton("&Log visit", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setDefault(True)  # Enter in a one-line field saves
        self._buttons.accepted.connect(self._on_save_clicked)
        self._buttons.rejected.connect(self.reject)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, self._on_save_clicked)
        hint = QLabel("Ctrl+1…9 picks an outcome · Ctrl+Enter saves", self)
        hint.setStyleSheet("color: palette(mid);")
        layout = QVBoxLayout(self)
        layout.addWidget(self._heading)
        layout.addWidget(self.form)
        layout.addWidget(hint)
        layout.addWidget(self._buttons)
        self.resize(500, 0)
        self._set_editable(False)
        runner.query(partial(load_visit_form_data, account_id=account_id,
                             planned_visit_id=planned_visit_id),
                     if_alive(self, self._on_data_loaded), parent=self,
                     on_error=if_alive(self, self._on_load_failed))

    # -- building --------------------------------------------------------------------
    def _build_fields(self) -> None:
        form = self.form
        self.outcome = form.add("outcome", "&Outcome *", QComboBox(self))
        self.outcome.setPlaceholderText("Choose an outcome…")
        self.notes = form.add("notes", "&Notes", QPlainTextEdit(self))
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(90)
        self.next_step = form.add("next_step", "Ne&xt step", QLineEdit(self))
        self.next_step.setPlaceholderText("e.g. send the spring price list")
        self.follow_up = QDateEdit(self)
        self.follow_up.setCalendarPopup(True)
        self.follow_up.setMinimumDate(NO_DATE)
        self.follow_up.setSpecialValueText("None")
        self.follow_up.setDisplayFormat("ddd d MMM yyyy")
        self.follow_up.setDate(NO_DATE)
        form.add("follow_up_on", "&Follow-up", self._follow_up_row(), focus=self.follow_up)
        self.duration = form.add("duration_min", "&Duration", QSpinBox(self))
        self.duration.setRange(1, 24 * 60)
        self.duration.setSingleStep(5)
        self.duration.setSuffix(" min")
        self.duration.setValue(30)
        self.checked_in = form.add("checked_in_at", "&Check-in", QDateTimeEdit(self))
        self.checked_in.setCalendarPopup(True)
        self.checked_in.setDisplayFormat("ddd d MMM yyyy  HH:mm")
        self.checked_in.setDateTime(now_wall(None))
        self._build_position()
        for i in range(1, 10):
            QShortcut(QKeySequence(f"Ctrl+{i}"), self, partial(self._pick_outcome, i - 1))

    def _follow_up_row(self) -> QWidget:
        row = QWidget(self)
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.follow_up, 1)
        for text, days, months in QUICK_FOLLOW_UPS:
            button = QPushButton(text, row)
            button.setAutoDefault(False)
            button.clicked.connect(partial(self.set_follow_up, days, months))
            line.addWidget(button)
        return row

    def _build_position(self) -> None:
        row = QWidget(self)
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        self.use_account = QRadioButton("&Use account position", row)
        self.use_typed = QRadioButton("T&ype coordinates", row)
        group = QButtonGroup(row)
        group.addButton(self.use_account)
        group.addButton(self.use_typed)
        line.addWidget(self.use_account)
        line.addWidget(self.use_typed)
        line.addStretch(1)
        self.form.add("position", "Position", row, focus=self.use_account)
        self.lat = self.form.add("checkin_lat", "L&atitude", QLineEdit(self))
        self.lon = self.form.add("checkin_lon", "Lon&gitude", QLineEdit(self))
        self.lat.setPlaceholderText("e.g. 59.3293 (blank: no position)")
        self.lon.setPlaceholderText("e.g. 18.0686")
        self.use_typed.toggled.connect(self._on_use_typed_toggled)

    # -- behaviour -------------------------------------------------------------------
    def is_ready(self) -> bool:
        """True once the account is loaded and the form can be saved."""
        return self._data is not None

    def set_follow_up(self, days: int | None, months: int = 0) -> None:
        """Set the follow-up relative to the check-in date (``days=None`` and no months: none)."""
        if days is None and not months:
            self.follow_up.setDate(NO_DATE)
            return
        base = self.checked_in.date()
        self.follow_up.setDate(base.addDays(days or 0).addMonths(months))

    def follow_up_date(self) -> date | None:
        value = self.follow_up.date()
        return None if value <= NO_DATE else to_date(value)

    def _pick_outcome(self, index: int) -> None:
        if index < self.outcome.count():
            self.outcome.setCurrentIndex(index)

    @Slot(bool)
    def _on_use_typed_toggled(self, typed: bool) -> None:
        self.lat.setEnabled(typed)
        self.lon.setEnabled(typed)
        if not typed:
            self.form.clear_error("checkin_lat")
            self.form.clear_error("checkin_lon")

    def _set_editable(self, editable: bool) -> None:
        self.form.setEnabled(editable)
        self.save_button.setEnabled(editable)

    def _on_data_loaded(self, data: VisitFormData) -> None:
        self._data = data
        self._tz = zone(data.timezone)
        self.checked_in.setDateTime(now_wall(self._tz))
        a = data.account
        for i, outcome in enumerate(data.outcomes):
            self.outcome.addItem(f"{outcome}", outcome)
            if i < 9:
                self.outcome.setItemData(i, f"Ctrl+{i + 1}", Qt.ItemDataRole.ToolTipRole)
        self._heading.setText(self._heading_text(data))
        if a.lat is not None and a.lon is not None:
            self.use_account.setText(f"&Use account position ({a.lat:.5f}, {a.lon:.5f})")
            self.use_account.setChecked(True)
        else:
            self.use_account.setText("Account has no position")
            self.use_account.setEnabled(False)
            self.use_typed.setChecked(True)
        self._on_use_typed_toggled(self.use_typed.isChecked())
        if data.planned is not None and data.planned.duration_min:
            self.duration.setValue(data.planned.duration_min)
        self._set_editable(True)
        self.notes.setFocus()

    def _heading_text(self, data: VisitFormData) -> str:
        a = data.account
        place = ", ".join(x for x in (a.street, a.city) if x)
        text = f"<b style='font-size:13pt'>{_escape(a.name)}</b><br>{_escape(place)}"
        if data.planned is not None and data.planned.planned_at is not None:
            text += f"<br>Completing the visit planned for {people_text(data.planned.planned_at, self._tz)}."
        return text

    def _on_load_failed(self, exc: BaseException) -> None:
        show_error(self.parentWidget(), exc)
        self.reject()

    def values(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Return (the visit fields to log, client-side errors by field)."""
        assert self._data is not None
        errors: dict[str, str] = {}
        when = from_wall(self.checked_in.dateTime(), self._tz)
        if self.use_account.isChecked():
            lat, lon = self._data.account.lat, self._data.account.lon
        else:
            lat, lon, errors = read_coordinates(self.lat.text(), self.lon.text(),
                                                "checkin_lat", "checkin_lon")
        outcome = self.outcome.currentData() if self.outcome.currentIndex() >= 0 else ""
        if not outcome:
            errors["outcome"] = "Outcome: choose one (Ctrl+1 picks the first)."
        follow = self.follow_up_date()
        if follow is not None and follow < to_date(self.checked_in.date()):
            errors["follow_up_on"] = "Follow-up date is before the visit."
        if not 1 <= self.duration.value() <= 24 * 60:
            errors["duration_min"] = "Duration must be between 1 minute and 24 hours."
        fields = {"checked_in_at": when, "checkin_lat": lat, "checkin_lon": lon,
                  "duration_min": self.duration.value(), "outcome": outcome,
                  "notes": self.notes.toPlainText(), "next_step": self.next_step.text(),
                  "follow_up_on": follow}
        return fields, errors

    @Slot()
    def _on_save_clicked(self) -> None:
        if self._data is None or not self.save_button.isEnabled():
            return  # still loading, or already saving
        fields, errors = self.values()
        if errors:
            self.form.set_errors(errors)
            return
        self.form.clear_errors()
        self._set_editable(False)
        op = partial(_log, account_id=self._account_id, rep_id=self._data.rep_id, fields=fields,
                     planned_visit_id=self._planned_id)
        self._runner.write(op, ChangeSet(visits=True, accounts=True),
                           on_done=if_alive(self, self._on_saved),
                           on_error=if_alive(self, self._on_save_failed), parent=self)

    def _on_saved(self, visit: Visit) -> None:
        self.sig_saved.emit(visit.id)
        self.accept()

    def _on_save_failed(self, exc: BaseException) -> None:
        self._set_editable(True)
        if isinstance(exc, InvalidInput):
            self.form.set_errors(exc.errors, "" if exc.errors else str(exc))
        else:
            show_error(self, exc)


def _log(session: Session, *, account_id: str, rep_id: str | None, fields: dict[str, Any],
         planned_visit_id: str | None) -> Visit:
    return visit_service.log_visit(session=session, account_id=account_id, rep_id=rep_id,
                                   fields=fields, planned_visit_id=planned_visit_id)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class PlanVisitDialog(QDialog):
    """Pick a date and time and put a planned visit to ``account_id`` in the agenda."""

    sig_saved = Signal(str)
    """The visit was planned; carries the visit id."""

    def __init__(self, runner: TaskRunner, account_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._account_id = account_id
        self._tz: tzinfo | None = None
        self.setWindowTitle("Plan visit")
        self.form = FormFields(self)
        self.when = self.form.add("planned_at", "&When", QDateTimeEdit(next_working_morning(None), self))
        self.when.setCalendarPopup(True)
        self.when.setDisplayFormat("ddd d MMM yyyy  HH:mm")
        self.duration = self.form.add("duration_min", "&Duration", QSpinBox(self))
        self.duration.setRange(5, 24 * 60)
        self.duration.setSingleStep(15)
        self.duration.setSuffix(" min")
        self.duration.setValue(30)
        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.save_button = self._buttons.addButton("&Plan visit", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setDefault(True)
        self._buttons.accepted.connect(self._on_save_clicked)
        self._buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self._buttons)
        self.setMinimumWidth(340)
        self.save_button.setEnabled(False)  # until the time zone is known
        runner.query(lambda s: load_settings(session=s).timezone,
                     if_alive(self, self._on_timezone_loaded), parent=self)

    def is_ready(self) -> bool:
        return self.save_button.isEnabled()

    def _on_timezone_loaded(self, name: str) -> None:
        self._tz = zone(name)
        self.when.setDateTime(next_working_morning(self._tz))
        self.save_button.setEnabled(True)

    @Slot()
    def _on_save_clicked(self) -> None:
        when = from_wall(self.when.dateTime(), self._tz)
        if when < datetime.now(UTC).replace(second=0, microsecond=0):
            self.form.set_errors({"planned_at": "When: that time has passed; log the visit instead."})
            return
        self.save_button.setEnabled(False)
        op = partial(_plan, account_id=self._account_id, planned_at=when,
                     duration_min=self.duration.value())
        self._runner.write(op, ChangeSet(visits=True), on_done=if_alive(self, self._on_saved),
                           on_error=if_alive(self, self._on_save_failed), parent=self)

    def _on_saved(self, visit: Visit) -> None:
        self.sig_saved.emit(visit.id)
        self.accept()

    def _on_save_failed(self, exc: BaseException) -> None:
        self.save_button.setEnabled(True)
        if isinstance(exc, InvalidInput) and exc.errors:
            self.form.set_errors(exc.errors)
        else:
            show_error(self, exc)


def _plan(session: Session, *, account_id: str, planned_at: datetime, duration_min: int) -> Visit:
    user = current_user(session=session)
    return visit_service.plan_visit(session=session, account_id=account_id, planned_at=planned_at,
                                    rep_id=user.id if user else None, duration_min=duration_min)
