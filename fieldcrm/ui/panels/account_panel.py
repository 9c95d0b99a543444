"""Account detail: header, contact details, cadence state, contacts, timeline and nearby accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from fieldcrm.domain.records import Account, Contact, TimelineEntry
from fieldcrm.errors import NotFound
from fieldcrm.services import contacts as contact_service
from fieldcrm.services.accounts import days_overdue, get_account
from fieldcrm.services.mapping import Nearby, accounts_within, list_territories
from fieldcrm.services.settings import list_users, load_settings
from fieldcrm.services.visits import cancel_visit, timeline
from fieldcrm.ui.panels.account_editor import AccountEditorDialog
from fieldcrm.ui.panels.contact_editor import ContactEditorDialog
from fieldcrm.ui.panels.visit_form import PlanVisitDialog, VisitFormDialog
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.chips import STATUS_COLOURS, TAG_COLOUR, TIER_COLOURS, ChipRow
from fieldcrm.ui.widgets.contacts_box import ContactsBox
from fieldcrm.ui.widgets.correction import VisitCorrectionDialog
from fieldcrm.ui.widgets.details_box import DetailsBox
from fieldcrm.ui.widgets.form import if_alive
from fieldcrm.ui.widgets.nearby import NearbyBox
from fieldcrm.ui.widgets.timeline import KIND_ROLE, TimelineList
from fieldcrm.ui.widgets.when import zone


@dataclass(frozen=True, slots=True)
class AccountDetail:
    """Everything the panel shows about one account, loaded in one op."""

    account: Account
    contacts: tuple[Contact, ...]
    timeline: tuple[TimelineEntry, ...]
    owner_name: str
    territory_name: str
    cadence_days: int
    days_overdue: int | None
    timezone: str
    units: str


def load_account_detail(session: Session, *, account_id: str) -> AccountDetail:
    """Op: the account, its contacts and timeline, names and cadence state.

    Raises
    ------
    NotFound
        If the account does not exist (any more).
    """
    account = get_account(session=session, account_id=account_id)
    settings = load_settings(session=session)
    owner = next((u.name for u in list_users(session=session) if u.id == account.owner_id), "")
    territory = next((t.name for t in list_territories(session=session)
                      if t.id == account.territory_id), "")
    now = datetime.now(account.created_at.tzinfo if account.created_at else None)
    return AccountDetail(
        account, tuple(contact_service.list_contacts(session=session, account_id=account_id)),
        tuple(timeline(session=session, account_id=account_id)), owner, territory,
        settings.cadence.get(account.tier.value, 30),
        days_overdue(account.last_visit_at, account.tier.value, settings.cadence, now),
        settings.timezone, settings.units)


def load_nearby(session: Session, *, account_id: str, km: float) -> list[Nearby] | None:
    """Op: accounts within ``km`` of the account, nearest first; None if it has no position."""
    try:
        return accounts_within(session=session, account_id=account_id, km=km)
    except NotFound:
        return None


class AccountPanel(QWidget):
    """Shows one account and is where a rep edits it, logs and plans visits and adds contacts."""

    sig_show_on_map = Signal(str)
    """The user asked to see this account on the map; carries its id."""
    sig_correct_position = Signal(str, str)
    """The user wants to drag this account's pin to its right place: id and name."""
    sig_plan_route = Signal(list)
    """The user asked for a route through this account and the nearby ones; carries their ids."""
    sig_account_changed = Signal(str)
    """Another account is shown (opened from the nearby list) or this one was edited; its id."""
    sig_loaded = Signal(str)
    """The panel finished showing an account (first load or refresh); carries its id."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._account_id: str | None = None
        self._detail: AccountDetail | None = None
        self.confirm = self._ask  # replaceable (tests); returns True to go ahead
        self.ask_reason = self._ask_reason  # replaceable (tests); None = the user said no
        self._stack = QStackedWidget(self)
        self._placeholder = QLabel("Choose an account in the list, on the map or in Today "
                                   "to see its details here.", self)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setWordWrap(True)
        self._stack.addWidget(self._placeholder)
        self._stack.addWidget(self._build_content())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)
        runner.sig_changes_applied.connect(self._on_runner_changes_applied)

    # -- building --------------------------------------------------------------------
    def _build_content(self) -> QWidget:
        content = QWidget(self)
        layout = QVBoxLayout(content)
        self.name_label = QLabel(content)
        self.name_label.setStyleSheet("font-size: 17pt; font-weight: 600;")
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chips = ChipRow(content)
        self.meta_label = QLabel(content)
        self.meta_label.setStyleSheet("color: #555;")
        layout.addWidget(self.name_label)
        layout.addWidget(self.chips)
        layout.addWidget(self.meta_label)
        layout.addLayout(self._build_actions(content))
        splitter = QSplitter(Qt.Orientation.Horizontal, content)
        splitter.addWidget(self._build_left(splitter))
        timeline_box = QGroupBox("Timeline", splitter)
        self.timeline = TimelineList(timeline_box)
        self.timeline.itemDoubleClicked.connect(self._on_timeline_double_clicked)
        self.timeline.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.timeline.customContextMenuRequested.connect(self._on_timeline_context_menu)
        QVBoxLayout(timeline_box).addWidget(self.timeline)
        splitter.addWidget(timeline_box)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout.addWidget(splitter, 1)
        return content

    def _build_actions(self, parent: QWidget) -> QHBoxLayout:
        row = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for key, text, slot in (("edit", "&Edit…", self.edit_account),
                                ("log", "&Log visit…", self.log_visit),
                                ("plan", "&Plan visit…", self.plan_visit),
                                ("map", "Show on &map", self._on_map_clicked),
                                ("pin", "Correct p&osition…", self._on_pin_clicked),
                                ("contact", "Add &contact…", self.add_contact)):
            button = QPushButton(text, parent)
            button.clicked.connect(lambda _=False, s=slot: s())
            row.addWidget(button)
            self.buttons[key] = button
        self.buttons["log"].setDefault(True)
        row.addStretch(1)
        return row

    def _build_left(self, parent: QWidget) -> QWidget:
        scroll = QScrollArea(parent)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        inner = QWidget(scroll)
        column = QVBoxLayout(inner)
        column.setContentsMargins(0, 0, 6, 0)
        self.details = DetailsBox(inner)
        self.fields = self.details.fields
        column.addWidget(self.details)
        self.contacts = ContactsBox(inner)
        self.contacts.sig_edit_requested.connect(self.edit_contact)
        self.contacts.sig_delete_requested.connect(self.delete_contact)
        self.nearby = NearbyBox(inner)
        self.nearby.sig_radius_changed.connect(self._load_nearby)
        self.nearby.sig_account_activated.connect(self.show_account)
        self.nearby.sig_route_requested.connect(self._on_nearby_route_requested)
        column.addWidget(self.contacts)
        column.addWidget(self.nearby)
        column.addStretch(1)
        scroll.setWidget(inner)
        return scroll

    # -- public API ------------------------------------------------------------------
    def show_account(self, account_id: str) -> None:
        """Show ``account_id`` (loads in the background)."""
        changed = account_id != self._account_id
        self._account_id = account_id
        if changed:
            self.sig_account_changed.emit(account_id)
        self.refresh()

    def current_account_id(self) -> str | None:
        return self._account_id

    def refresh(self) -> None:
        """Reload what is shown from the database."""
        if self._account_id is None:
            self._stack.setCurrentIndex(0)
            return
        key = f"account-panel-{id(self)}"
        self._runner.query(partial(load_account_detail, account_id=self._account_id),
                           if_alive(self, self._on_detail_loaded), parent=self, key=key,
                           on_error=if_alive(self, self._on_detail_failed))
        self._load_nearby()

    def edit_account(self) -> AccountEditorDialog | None:
        if self._account_id is None:
            return None
        dialog = AccountEditorDialog(self._runner, self._account_id, parent=self)
        dialog.sig_saved.connect(self.sig_account_changed)
        return self._open(dialog)

    def log_visit(self, planned_visit_id: str | None = None) -> VisitFormDialog | None:
        if self._account_id is None:
            return None
        return self._open(VisitFormDialog(self._runner, self._account_id, planned_visit_id, self))

    def plan_visit(self) -> PlanVisitDialog | None:
        if self._account_id is None:
            return None
        return self._open(PlanVisitDialog(self._runner, self._account_id, self))

    def add_contact(self) -> ContactEditorDialog | None:
        if self._account_id is None:
            return None
        return self._open(ContactEditorDialog(self._runner, self._account_id, None, self))

    def edit_contact(self, contact_id: str | None) -> ContactEditorDialog | None:
        if self._account_id is None or not contact_id:
            return None
        return self._open(ContactEditorDialog(self._runner, self._account_id, contact_id, self))

    def delete_contact(self, contact_id: str | None) -> None:
        """Delete a contact after the user confirms."""
        contact = next((c for c in self._detail.contacts if c.id == contact_id), None) \
            if self._detail else None
        if contact is None or not self.confirm(f"Delete the contact {contact.name}?"):
            return
        self._runner.write(lambda s: contact_service.delete_contact(session=s, contact_id=contact.id),
                           ChangeSet(contacts=True), parent=self)

    # -- showing ---------------------------------------------------------------------
    def _on_detail_loaded(self, d: AccountDetail) -> None:
        if d.account.id != self._account_id:
            return
        self._detail = d
        a, tz = d.account, zone(d.timezone)
        self.name_label.setText(a.name)
        chips = [(a.status.value.capitalize(), STATUS_COLOURS.get(a.status.value, "#607d8b"), "white"),
                 (f"Tier {a.tier.value}", TIER_COLOURS.get(a.tier.value, "#607d8b"), "white")]
        chips += [(tag, TAG_COLOUR, "#263238") for tag in a.tags]
        self.chips.set_chips(chips)
        self.meta_label.setText(f"Owner: {d.owner_name or 'nobody yet'}   ·   "
                                f"Territory: {d.territory_name or 'none'}")
        self.details.show_account(a, d.cadence_days, d.days_overdue, tz)
        self.contacts.set_contacts(d.contacts)
        self.timeline.set_entries(list(d.timeline), tz)
        self.buttons["map"].setEnabled(a.lat is not None)
        self.buttons["pin"].setText("Correct p&osition…" if a.lat is not None
                                    else "Place on the m&ap…")
        if self.nearby.set_units(d.units):
            self._load_nearby()
        self._stack.setCurrentIndex(1)
        self.sig_loaded.emit(a.id)

    def _on_detail_failed(self, exc: BaseException) -> None:
        self._detail = None
        self._placeholder.setText(str(exc) if isinstance(exc, NotFound)
                                  else f"The account could not be loaded: {exc}")
        self._stack.setCurrentIndex(0)

    def _load_nearby(self) -> None:
        if self._account_id is None:
            return
        self._runner.query(partial(load_nearby, account_id=self._account_id, km=self.nearby.radius_km()),
                           if_alive(self, partial(self._on_nearby_loaded, self._account_id)),
                           parent=self, key=f"account-nearby-{id(self)}")

    def _on_nearby_loaded(self, account_id: str, nearby: list[Nearby] | None) -> None:
        if account_id == self._account_id:
            self.nearby.set_nearby(nearby)

    # -- slots -----------------------------------------------------------------------
    @Slot(object)
    def _on_runner_changes_applied(self, changes: ChangeSet) -> None:
        if self._account_id is None:
            return
        if (changes.accounts or changes.contacts or changes.visits or changes.sales
                or changes.settings or changes.sync):
            self.refresh()

    def correct_visit(self, visit_id: str | None) -> VisitCorrectionDialog | None:
        """Open the correction dialog of a logged visit (an append-only amendment)."""
        if self._account_id is None or not visit_id:
            return None
        return self._open(VisitCorrectionDialog(self._runner, self._account_id, visit_id, self))

    def cancel_planned(self, visit_id: str | None) -> None:
        """Cancel a planned visit after asking for an optional reason."""
        reason = self.ask_reason("Cancel this planned visit? Reason (optional):") if visit_id else None
        if visit_id and reason is not None:
            self._runner.write(lambda s: cancel_visit(session=s, visit_id=visit_id, reason=reason),
                               ChangeSet(visits=True), parent=self)

    @Slot(QListWidgetItem)
    def _on_timeline_double_clicked(self, item: QListWidgetItem) -> None:
        kind = item.data(KIND_ROLE)
        if kind == "planned":
            self.log_visit(self._id_of(item))  # completing a planned visit
        elif kind == "visit":
            self.correct_visit(self._id_of(item))

    @Slot(QPoint)
    def _on_timeline_context_menu(self, pos: QPoint) -> None:
        item = self.timeline.itemAt(pos)
        kind, ref = (item.data(KIND_ROLE), self._id_of(item)) if item else (None, None)
        menu = QMenu(self)
        if kind == "planned":
            menu.addAction("Complete visit…", lambda: self.log_visit(ref))
            menu.addAction("Cancel visit…", lambda: self.cancel_planned(ref))
        elif kind == "visit":
            menu.addAction("Correct visit…", lambda: self.correct_visit(ref))
        if not menu.isEmpty():
            menu.popup(self.timeline.viewport().mapToGlobal(pos))

    @Slot()
    def _on_map_clicked(self) -> None:
        if self._account_id is not None:
            self.sig_show_on_map.emit(self._account_id)

    @Slot()
    def _on_pin_clicked(self) -> None:
        if self._account_id is not None and self._detail is not None:
            self.sig_correct_position.emit(self._account_id, self._detail.account.name)

    @Slot(list)
    def _on_nearby_route_requested(self, ids: list) -> None:
        if self._account_id is not None:
            self.sig_plan_route.emit([self._account_id, *ids])

    # -- helpers ---------------------------------------------------------------------
    def _open(self, dialog: QDialog):  # type: ignore[no-untyped-def]
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    @staticmethod
    def _id_of(item: QListWidgetItem | None) -> str | None:
        value = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return str(value) if value else None

    def _ask_reason(self, question: str) -> str | None:
        text, ok = QInputDialog.getText(self, "Cancel visit", question)
        return text if ok else None

    def _ask(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Please confirm", question)
        return answer == QMessageBox.StandardButton.Yes
