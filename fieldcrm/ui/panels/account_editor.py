"""Dialog to create or edit an account, with an inline message under each invalid field."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from fieldcrm.domain.enums import AccountStatus, Tier
from fieldcrm.domain.records import Account
from fieldcrm.errors import InvalidInput
from fieldcrm.services import accounts as account_service
from fieldcrm.services.mapping import list_territories
from fieldcrm.services.settings import list_users, load_settings
from fieldcrm.ui.errors import show_error
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.form import FormFields, if_alive, read_coordinates

_TEXT_FIELDS = (
    ("name", "&Name *", "e.g. Nordic Dental AB"),
    ("tags", "T&ags", "comma-separated, e.g. dental, key account"),
    ("street", "&Street", ""),
    ("postcode", "&Postcode", ""),
    ("city", "&City", ""),
    ("region", "Regi&on", ""),
    ("country", "Countr&y", "two letters, e.g. SE"),
    ("phone", "P&hone", "e.g. +46 8 123 45 67"),
    ("email", "E&mail", "name@example.com"),
    ("website", "&Website", "https://…"),
)


@dataclass(frozen=True, slots=True)
class EditorData:
    """What the editor needs before it can show the form."""

    account: Account | None
    default_country: str
    owner_name: str
    territory_name: str


def load_editor_data(session: Session, account_id: str | None) -> EditorData:
    """Op: the account (if editing), the default country, and owner/territory names."""
    settings = load_settings(session=session)
    if account_id is None:
        return EditorData(None, settings.default_country, "", "")
    account = account_service.get_account(session=session, account_id=account_id)
    owner = next((u.name for u in list_users(session=session) if u.id == account.owner_id), "")
    territory = next((t.name for t in list_territories(session=session)
                      if t.id == account.territory_id), "")
    return EditorData(account, settings.default_country, owner, territory)


def _coordinate_text(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}".rstrip("0").rstrip(".")


class AccountEditorDialog(QDialog):
    """Create (``account_id=None``) or edit an account; saves through the runner's write lane."""

    sig_saved = Signal(str)
    """The account was saved; carries its id."""

    def __init__(self, runner: TaskRunner, account_id: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._account_id = account_id
        self._initial: dict[str, str] = {}
        self._ready = False
        self.setWindowTitle("New account" if account_id is None else "Edit account")
        self.form = FormFields(self)
        self._inputs: dict[str, QLineEdit] = {}
        self._build_fields()
        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                         | QDialogButtonBox.StandardButton.Cancel, self)
        self._buttons.accepted.connect(self._on_save_clicked)
        self._buttons.rejected.connect(self.reject)
        self._layout_dialog()
        self._set_editable(False)
        runner.query(partial(load_editor_data, account_id=account_id),
                     if_alive(self, self._on_data_loaded), parent=self,
                     on_error=if_alive(self, self._on_load_failed))

    # -- building --------------------------------------------------------------------
    def _build_fields(self) -> None:
        form = self.form
        for key, label, hint in _TEXT_FIELDS[:2]:
            self._inputs[key] = form.add(key, label, self._line(hint))
        self.status = form.add("status", "Stat&us", self._combo([s.value for s in AccountStatus]))
        self.tier = form.add("tier", "Tie&r", self._combo([t.value for t in Tier]))
        for key, label, hint in _TEXT_FIELDS[2:]:
            self._inputs[key] = form.add(key, label, self._line(hint))
        self._inputs["country"].setMaxLength(2)
        self._inputs["lat"] = self._line("latitude, e.g. 59.3293")
        self._inputs["lon"] = self._line("longitude, e.g. 18.0686")
        form.add("lat", "Lat&itude", self._inputs["lat"])
        form.add("lon", "Lon&gitude", self._inputs["lon"])
        self.notes = QPlainTextEdit(self)
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(70)
        form.add("notes", "No&tes", self.notes)
        self._owner = form.add_row("Owner", QLabel("—", self))
        self._territory = form.add_row("Territory", QLabel("—", self))
        hint = QLabel("Owner and territory are changed by managers.", self)
        hint.setStyleSheet("color: palette(mid);")
        form.add_row("", hint)

    def _line(self, placeholder: str) -> QLineEdit:
        edit = QLineEdit(self)
        edit.setPlaceholderText(placeholder)
        return edit

    def _combo(self, values: list[str]) -> QComboBox:
        combo = QComboBox(self)
        for value in values:
            combo.addItem(value.capitalize() if len(value) > 1 else f"Tier {value}", value)
        return combo

    def _layout_dialog(self) -> None:
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.form)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        layout.addWidget(self._buttons)
        self.resize(480, 640)

    # -- values ----------------------------------------------------------------------
    def _raw_values(self) -> dict[str, str]:
        values = {key: edit.text().strip() for key, edit in self._inputs.items()}
        values["status"] = str(self.status.currentData())
        values["tier"] = str(self.tier.currentData())
        values["notes"] = self.notes.toPlainText().strip()
        return values

    def _populate(self, data: EditorData) -> None:
        a = data.account
        if a is None:
            self._inputs["country"].setText(data.default_country)
            self.status.setCurrentIndex(self.status.findData(AccountStatus.LEAD.value))
            self.tier.setCurrentIndex(self.tier.findData(Tier.C.value))
            return
        texts = {"name": a.name, "tags": ", ".join(a.tags), "street": a.street,
                 "postcode": a.postcode, "city": a.city, "region": a.region, "country": a.country,
                 "phone": a.phone, "email": a.email, "website": a.website,
                 "lat": _coordinate_text(a.lat), "lon": _coordinate_text(a.lon)}
        for key, text in texts.items():
            self._inputs[key].setText(text)
        self.status.setCurrentIndex(self.status.findData(a.status.value))
        self.tier.setCurrentIndex(self.tier.findData(a.tier.value))
        self.notes.setPlainText(a.notes)
        self._owner.setText(data.owner_name or "Nobody yet")
        self._territory.setText(data.territory_name or "None")

    def changes(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Return (the fields to send, client-side errors by field)."""
        raw = self._raw_values()
        changed = {k: v for k, v in raw.items() if v != self._initial.get(k, "")}
        errors: dict[str, str] = {}
        if not raw["name"]:
            errors["name"] = "Name is required."
        out: dict[str, Any] = {k: v for k, v in changed.items() if k not in ("lat", "lon")}
        lat, lon, coord_errors = read_coordinates(raw["lat"], raw["lon"])
        errors.update(coord_errors)
        if "lat" in changed or "lon" in changed:
            out.update(lat=lat, lon=lon)
        if self._account_id is None:
            out["name"] = raw["name"]
        return out, errors

    def is_ready(self) -> bool:
        """True once the form is filled and editable (the load finished)."""
        return self._ready

    def _set_editable(self, editable: bool) -> None:
        self.form.setEnabled(editable)
        self._buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(editable)

    # -- slots -----------------------------------------------------------------------
    def _on_data_loaded(self, data: EditorData) -> None:
        self._populate(data)
        self._initial = {} if data.account is None else self._raw_values()
        if data.account is None:
            self._initial = {"country": data.default_country, "status": "lead", "tier": "C"}
        self._set_editable(True)
        self._ready = True
        self._inputs["name"].setFocus()

    def _on_load_failed(self, exc: BaseException) -> None:
        show_error(self.parentWidget(), exc)
        self.reject()

    @Slot()
    def _on_save_clicked(self) -> None:
        if not self._ready:
            return  # still loading: saving now would compare against nothing
        self.form.clear_errors()
        fields, errors = self.changes()
        if errors:
            self.form.set_errors(errors)
            return
        if self._account_id is not None and not fields:
            self.sig_saved.emit(self._account_id)
            self.accept()
            return
        self._set_editable(False)
        if self._account_id is None:
            op = partial(_create, fields=fields)
        else:
            op = partial(_update, account_id=self._account_id, changes=fields)
        self._runner.write(op, ChangeSet(accounts=True), on_done=if_alive(self, self._on_saved),
                           on_error=if_alive(self, self._on_save_failed), parent=self)

    def _on_saved(self, account: Account) -> None:
        self._account_id = account.id
        self.sig_saved.emit(account.id)
        self.accept()

    def _on_save_failed(self, exc: BaseException) -> None:
        self._set_editable(True)
        if isinstance(exc, InvalidInput):
            self.form.set_errors(exc.errors, "" if exc.errors else str(exc))
        else:
            show_error(self, exc)


def _create(session: Session, *, fields: dict[str, Any]) -> Account:
    country = load_settings(session=session).default_country
    return account_service.create_account(session=session, fields=fields, default_country=country)


def _update(session: Session, *, account_id: str, changes: dict[str, Any]) -> Account:
    return account_service.update_account(session=session, account_id=account_id, changes=changes)
