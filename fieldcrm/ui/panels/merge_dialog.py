"""Merge two duplicate accounts: each differing field side by side, a radio per field, one write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from fieldcrm.domain.enums import Role
from fieldcrm.geo.dedupe import MergeField
from fieldcrm.services.accounts import get_account
from fieldcrm.services.dedupe import MergeResult, merge_accounts, preview_merge
from fieldcrm.services.settings import current_user
from fieldcrm.ui.errors import error_title
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.form import ERROR_COLOUR, if_alive

MERGE_CHANGES = ChangeSet(accounts=True, contacts=True, visits=True, sales=True)
_CHOICES = ("a", "b", "both")


@dataclass(frozen=True, slots=True)
class MergePlan:
    """What the dialog shows: the two names and the fields that differ (survivor first)."""

    survivor_id: str
    survivor_name: str
    other_id: str
    other_name: str
    fields: tuple[MergeField, ...]
    may_merge: bool = True


def _role(session: Session) -> Role:
    user = current_user(session=session)
    return user.role if user is not None else Role.MANAGER  # nobody signed in: the owner

def load_plan(session: Session, survivor_id: str, other_id: str) -> MergePlan:
    """Op: both accounts' names and the service's merge preview."""
    a = get_account(session=session, account_id=survivor_id)
    b = get_account(session=session, account_id=other_id)
    preview = preview_merge(session=session, survivor_id=survivor_id, other_id=other_id)
    may = _role(session) in (Role.MANAGER, Role.ADMIN)
    return MergePlan(a.id, a.name, b.id, b.name, tuple(preview), may)


def merge_as_current_user(session: Session, survivor_id: str, other_id: str,
                          choices: dict[str, Any]) -> MergeResult:
    """Op: merge as this laptop's user (a manager when nobody is signed in, as in the demo)."""
    return merge_accounts(session=session, survivor_id=survivor_id, other_id=other_id,
                          actor_role=_role(session), choices=choices)


def show_value(value: Any) -> str:
    """Return a field value as the dialog shows it (— for empty)."""
    if value is None or value == "" or value == () or value == []:
        return "—"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.5f}"
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ", timespec="minutes") if isinstance(value, datetime) \
            else value.isoformat()
    return str(value)


def field_label(name: str) -> str:
    """Return a readable label for an account field name."""
    return {"lat": "Position", "phone": "Phone", "email": "E-mail", "postcode": "Postcode",
            "geocode_source": "Position source"}.get(name, name.replace("_", " ").capitalize())


class MergeDialog(QDialog):
    """Pick, field by field, what the surviving account keeps; Merge runs one write op."""

    sig_merged = Signal(object)
    """The merge is done; carries the service's MergeResult."""

    def __init__(self, runner: TaskRunner, survivor_id: str, other_id: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.plan: MergePlan | None = None
        self.groups: dict[str, QButtonGroup] = {}
        self.setWindowTitle("Merge accounts")
        self.resize(760, 520)
        self.heading = QLabel("Loading…")
        self.heading.setWordWrap(True)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.swap_button = QPushButton("&Keep the other one")
        self.swap_button.setToolTip("Make the second account the survivor instead")
        self.merge_button = self.buttons.addButton("&Merge", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.swap_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.merge_button.setEnabled(False)
        self.buttons.rejected.connect(self.reject)
        self.merge_button.clicked.connect(self._on_merge_clicked)
        self.swap_button.clicked.connect(self._on_swap_clicked)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self._load(survivor_id, other_id)

    # -- loading -----------------------------------------------------------------------------
    def _load(self, survivor_id: str, other_id: str) -> None:
        self.merge_button.setEnabled(False)
        self.runner.query(lambda s: load_plan(s, survivor_id, other_id),
                          if_alive(self, self._on_plan_loaded), parent=self,
                          on_error=if_alive(self, self._show_error))

    def _on_plan_loaded(self, plan: MergePlan) -> None:
        self.plan = plan
        self.heading.setText(
            f"<b>{plan.survivor_name}</b> stays; <b>{plan.other_name}</b> is removed and its "
            "contacts, visits, sales and opportunities move to it. Choose what to keep where "
            "the two differ. You can undo the merge until the next sync.")
        self._fill_grid(plan)
        self.merge_button.setEnabled(plan.may_merge)
        if not plan.may_merge:
            self.message.setText("Only a manager can merge accounts (it removes one of them). "
                                 "Ask your manager, or report the pair.")

    def _fill_grid(self, plan: MergePlan) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.groups = {}
        heads = ("Field", f"{plan.survivor_name} (stays)", f"{plan.other_name} (removed)", "")
        for col, text in enumerate(heads):
            label = QLabel(f"<b>{text}</b>")
            self.grid.addWidget(label, 0, col)
        if not plan.fields:
            self.grid.addWidget(QLabel("The two accounts hold the same values."), 1, 0, 1, 4)
        for row, mf in enumerate(plan.fields, start=1):
            self.grid.addWidget(QLabel(field_label(mf.field)), row, 0)
            group = QButtonGroup(self)
            options = [("a", show_value(mf.a)), ("b", show_value(mf.b))]
            if mf.choice == "both" or mf.field in ("tags", "notes"):
                options.append(("both", "Both"))
            for col, (choice, text) in enumerate(options, start=1):
                radio = QRadioButton(text.replace("&", "&&"))
                radio.setObjectName(f"merge-{mf.field}-{choice}")
                radio.setToolTip(text)
                radio.setChecked(choice == mf.choice)
                group.addButton(radio, _CHOICES.index(choice))
                self.grid.addWidget(radio, row, col)
            self.groups[mf.field] = group
        self.grid.setColumnStretch(1, 1)
        self.grid.setColumnStretch(2, 1)

    # -- public API --------------------------------------------------------------------------
    def choices(self) -> dict[str, str]:
        """Return the chosen side ("a", "b" or "both") of every differing field."""
        return {name: _CHOICES[group.checkedId()] for name, group in self.groups.items()
                if group.checkedId() >= 0}

    def choose(self, field: str, choice: str) -> None:
        """Pick a side for one field (as a click on its radio would)."""
        self.groups[field].button(_CHOICES.index(choice)).setChecked(True)

    # -- slots -------------------------------------------------------------------------------
    @Slot()
    def _on_swap_clicked(self) -> None:
        if self.plan is not None:
            self.message.clear()
            self._load(self.plan.other_id, self.plan.survivor_id)

    @Slot()
    def _on_merge_clicked(self) -> None:
        if self.plan is None:
            return
        plan, choices = self.plan, self.choices()
        self.merge_button.setEnabled(False)
        self.swap_button.setEnabled(False)
        self.message.setText("Merging…")
        self.runner.write(lambda s: merge_as_current_user(s, plan.survivor_id, plan.other_id,
                                                          choices),
                          MERGE_CHANGES, on_done=if_alive(self, self._on_merged), parent=self,
                          on_error=if_alive(self, self._on_merge_failed))

    def _on_merged(self, result: MergeResult) -> None:
        self.sig_merged.emit(result)
        self.accept()

    def _on_merge_failed(self, exc: BaseException) -> None:
        self.merge_button.setEnabled(True)
        self.swap_button.setEnabled(True)
        self._show_error(exc)

    def _show_error(self, exc: BaseException) -> None:
        self.message.setText(f"{error_title(exc)}: {exc}")
