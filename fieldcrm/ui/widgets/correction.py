"""Dialog to correct a logged visit: logged visits are append-only, so this adds an amendment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

from PySide6.QtCore import QDate, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from fieldcrm.domain.records import Visit
from fieldcrm.errors import InvalidInput, NotFound
from fieldcrm.services import visits as visit_service
from fieldcrm.services.settings import current_user, load_settings
from fieldcrm.ui.errors import show_error
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.form import FormFields, if_alive
from fieldcrm.ui.widgets.when import people_text, to_date, zone

NO_DATE = QDate(2000, 1, 1)


@dataclass(frozen=True, slots=True)
class CorrectionData:
    visit: Visit
    outcomes: tuple[str, ...]
    author_id: str | None
    timezone: str


def load_correction_data(session: Session, *, account_id: str, visit_id: str) -> CorrectionData:
    """Op: the logged visit, the outcomes to offer and who is correcting.

    Raises
    ------
    NotFound
        If the visit does not exist or was never logged.
    """
    found = [v for v in visit_service.list_visits(session=session, account_id=account_id)
             if v.id == visit_id and v.checked_in_at is not None]
    if not found:
        raise NotFound("That visit does not exist or was not logged yet.")
    user = current_user(session=session)
    settings = load_settings(session=session)
    return CorrectionData(found[0], settings.outcomes, user.id if user else None, settings.timezone)


class VisitCorrectionDialog(QDialog):
    """Correct outcome, notes, next step, follow-up or duration of a logged visit."""

    sig_saved = Signal(str)
    """The correction was stored; carries the visit id."""

    def __init__(self, runner: TaskRunner, account_id: str, visit_id: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._visit_id = visit_id
        self._data: CorrectionData | None = None
        self._initial: dict[str, Any] = {}
        self.setWindowTitle("Correct visit")
        self._heading = QLabel("Loading…", self)
        self.form = FormFields(self)
        self.outcome = self.form.add("outcome", "&Outcome", QComboBox(self))
        self.notes = self.form.add("notes", "&Notes", QPlainTextEdit(self))
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(90)
        self.next_step = self.form.add("next_step", "Ne&xt step", QLineEdit(self))
        self.follow_up = self.form.add("follow_up_on", "&Follow-up", QDateEdit(self))
        self.follow_up.setCalendarPopup(True)
        self.follow_up.setMinimumDate(NO_DATE)
        self.follow_up.setSpecialValueText("None")
        self.follow_up.setDisplayFormat("ddd d MMM yyyy")
        self.duration = self.form.add("duration_min", "&Duration", QSpinBox(self))
        self.duration.setRange(1, 24 * 60)
        self.duration.setSuffix(" min")
        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                         | QDialogButtonBox.StandardButton.Cancel, self)
        self._buttons.accepted.connect(self._on_save_clicked)
        self._buttons.rejected.connect(self.reject)
        note = QLabel("The original stays in the history; the correction is added to it.", self)
        note.setStyleSheet("color: palette(mid);")
        layout = QVBoxLayout(self)
        for widget in (self._heading, self.form, note, self._buttons):
            layout.addWidget(widget)
        self.setMinimumWidth(440)
        self.form.setEnabled(False)
        self._buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)
        runner.query(partial(load_correction_data, account_id=account_id, visit_id=visit_id),
                     if_alive(self, self._on_data_loaded), parent=self,
                     on_error=if_alive(self, self._on_load_failed))

    def is_ready(self) -> bool:
        return self._data is not None

    def _values(self) -> dict[str, Any]:
        follow = self.follow_up.date()
        return {"outcome": self.outcome.currentText(), "notes": self.notes.toPlainText().strip(),
                "next_step": self.next_step.text().strip(),
                "follow_up_on": None if follow <= NO_DATE else to_date(follow),
                "duration_min": self.duration.value()}

    def _on_data_loaded(self, data: CorrectionData) -> None:
        v = data.visit
        self._data = data
        outcomes = list(data.outcomes) + ([v.outcome] if v.outcome not in data.outcomes else [])
        self.outcome.addItems(outcomes)
        self.outcome.setCurrentText(v.outcome)
        self.notes.setPlainText(v.notes)
        self.next_step.setText(v.next_step)
        if v.follow_up_on:
            self.follow_up.setDate(QDate(v.follow_up_on.year, v.follow_up_on.month, v.follow_up_on.day))
        else:
            self.follow_up.setDate(NO_DATE)
        self.duration.setValue(v.duration_min or 30)
        assert v.checked_in_at is not None
        self._heading.setText(f"Visit of {people_text(v.checked_in_at, zone(data.timezone))}")
        self._initial = self._values()
        self.form.setEnabled(True)
        self._buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(True)
        self.notes.setFocus()

    def _on_load_failed(self, exc: BaseException) -> None:
        show_error(self.parentWidget(), exc)
        self.reject()

    @Slot()
    def _on_save_clicked(self) -> None:
        if self._data is None:
            return
        values = self._values()
        changes = {k: v for k, v in values.items() if v != self._initial.get(k)}
        visit_day = self._data.visit.checked_in_at.date() if self._data.visit.checked_in_at else None
        follow = changes.get("follow_up_on")
        if follow is not None and visit_day is not None and follow < visit_day:
            self.form.set_errors({"follow_up_on": "Follow-up date is before the visit."})
            return
        if not changes:
            self.reject()
            return
        if isinstance(follow, date):
            changes["follow_up_on"] = follow.isoformat()  # the outbox stores JSON (see report)
        self._buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)
        op = partial(_amend, visit_id=self._visit_id, author_id=self._data.author_id, changes=changes)
        self._runner.write(op, ChangeSet(visits=True), on_done=if_alive(self, self._on_saved),
                           on_error=if_alive(self, self._on_save_failed), parent=self)

    def _on_saved(self, _visit: Visit) -> None:
        self.sig_saved.emit(self._visit_id)
        self.accept()

    def _on_save_failed(self, exc: BaseException) -> None:
        self._buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(True)
        if isinstance(exc, InvalidInput):
            self.form.set_errors(exc.errors, "" if exc.errors else str(exc))
        else:
            show_error(self, exc)


def _amend(session: Session, *, visit_id: str, author_id: str | None, changes: dict[str, Any]) -> Visit:
    return visit_service.amend_visit(session=session, visit_id=visit_id, author_id=author_id,
                                     changes=changes)
