"""Dialog to add or edit a contact of an account, with inline messages under invalid fields."""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from fieldcrm.domain.records import Contact
from fieldcrm.errors import InvalidInput, NotFound
from fieldcrm.services import contacts as contact_service
from fieldcrm.ui.errors import show_error
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.form import FormFields, if_alive

_FIELDS = (
    ("name", "&Name *", "e.g. Anna Lind"),
    ("title", "&Title", "e.g. Practice manager"),
    ("phone", "&Phone", "e.g. 070 123 45 67"),
    ("email", "&Email", "name@example.com"),
)


def load_contact(session: Session, *, account_id: str, contact_id: str) -> Contact:
    """Op: one contact of an account.

    Raises
    ------
    NotFound
        If the contact is gone (deleted meanwhile, or by a sync).
    """
    for contact in contact_service.list_contacts(session=session, account_id=account_id):
        if contact.id == contact_id:
            return contact
    raise NotFound("That contact does not exist or was deleted.")


class ContactEditorDialog(QDialog):
    """Add (``contact_id=None``) or edit a contact of ``account_id``."""

    sig_saved = Signal(str)
    """The contact was saved; carries its id."""

    def __init__(self, runner: TaskRunner, account_id: str, contact_id: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._account_id = account_id
        self._contact_id = contact_id
        self._initial: dict[str, str] = {}
        self._ready = contact_id is None
        self.setWindowTitle("New contact" if contact_id is None else "Edit contact")
        self.form = FormFields(self)
        self._inputs: dict[str, QLineEdit] = {}
        for key, label, hint in _FIELDS:
            edit = QLineEdit(self)
            edit.setPlaceholderText(hint)
            self._inputs[key] = self.form.add(key, label, edit)
        self.notes = QPlainTextEdit(self)
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(80)
        self.form.add("notes", "N&otes", self.notes)
        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                         | QDialogButtonBox.StandardButton.Cancel, self)
        self._buttons.accepted.connect(self._on_save_clicked)
        self._buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self._buttons)
        self.resize(440, self.sizeHint().height())
        if contact_id is not None:
            self._set_editable(False)
            runner.query(partial(load_contact, account_id=account_id, contact_id=contact_id),
                         if_alive(self, self._on_contact_loaded), parent=self,
                         on_error=if_alive(self, self._on_load_failed))
        self._inputs["name"].setFocus()

    def is_ready(self) -> bool:
        """True once the form is filled and editable."""
        return self._ready

    def set_values(self, values: dict[str, str]) -> None:
        """Fill fields by key (name, title, phone, email, notes)."""
        for key, text in values.items():
            if key == "notes":
                self.notes.setPlainText(text)
            else:
                self._inputs[key].setText(text)

    def _raw_values(self) -> dict[str, str]:
        values = {key: edit.text().strip() for key, edit in self._inputs.items()}
        values["notes"] = self.notes.toPlainText().strip()
        return values

    def _set_editable(self, editable: bool) -> None:
        self.form.setEnabled(editable)
        self._buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(editable)

    def _on_contact_loaded(self, contact: Contact) -> None:
        self.set_values({"name": contact.name, "title": contact.title, "phone": contact.phone,
                         "email": contact.email, "notes": contact.notes})
        self._initial = self._raw_values()
        self._set_editable(True)
        self._ready = True
        self._inputs["name"].setFocus()

    def _on_load_failed(self, exc: BaseException) -> None:
        show_error(self.parentWidget(), exc)
        self.reject()

    @Slot()
    def _on_save_clicked(self) -> None:
        if not self._ready:
            return
        raw = self._raw_values()
        if not raw["name"]:
            self.form.set_errors({"name": "Name is required."})
            return
        self.form.clear_errors()
        fields = {k: v for k, v in raw.items() if v != self._initial.get(k, "")}
        if self._contact_id is None:
            op = partial(_create, account_id=self._account_id, fields=fields)
        elif fields:
            op = partial(_update, contact_id=self._contact_id, changes=fields)
        else:
            self.sig_saved.emit(self._contact_id)
            self.accept()
            return
        self._set_editable(False)
        self._runner.write(op, ChangeSet(contacts=True), on_done=if_alive(self, self._on_saved),
                           on_error=if_alive(self, self._on_save_failed), parent=self)

    def _on_saved(self, contact: Contact) -> None:
        self._contact_id = contact.id
        self.sig_saved.emit(contact.id)
        self.accept()

    def _on_save_failed(self, exc: BaseException) -> None:
        self._set_editable(True)
        if isinstance(exc, InvalidInput):
            self.form.set_errors(exc.errors, "" if exc.errors else str(exc))
        else:
            show_error(self, exc)


def _create(session: Session, *, account_id: str, fields: dict[str, Any]) -> Contact:
    return contact_service.create_contact(session=session, account_id=account_id, fields=fields)


def _update(session: Session, *, contact_id: str, changes: dict[str, Any]) -> Contact:
    return contact_service.update_contact(session=session, contact_id=contact_id, changes=changes)
