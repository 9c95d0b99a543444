"""Account and contact editors: create, edit, inline validation, and nothing written on bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import func, select

from fieldcrm.db.models import AccountRecord, ContactRecord, OutboxRecord
from fieldcrm.services.accounts import create_account, get_account
from fieldcrm.services.contacts import list_contacts
from fieldcrm.ui.panels.account_editor import AccountEditorDialog
from fieldcrm.ui.panels.contact_editor import ContactEditorDialog
from fieldcrm.ui.tasks import TaskRunner


@pytest.fixture
def runner(db, qtbot) -> Iterator[TaskRunner]:
    runner = TaskRunner(db)
    yield runner
    runner.shutdown()


def _outbox(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(OutboxRecord))


def _account(db, **fields) -> str:
    with db.session() as s:
        return create_account(session=s, fields={"name": "Nordic Dental", "city": "Uppsala",
                                                 **fields}).id


def _open(qtbot, dialog):
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(dialog.is_ready)
    return dialog


def _save(qtbot, dialog) -> None:
    with qtbot.waitSignal(dialog.sig_saved, timeout=5000):
        dialog.form.field("name").setFocus()
        qtbot.keyClick(dialog.form.field("name"), Qt.Key.Key_Return)


def test_create_account_through_the_dialog(qtbot, db, runner):
    dialog = _open(qtbot, AccountEditorDialog(runner, None))
    assert dialog.form.field("country").text() == "SE"
    qtbot.keyClicks(dialog.form.field("name"), "Bergstrom Tandvard")
    dialog.form.field("city").setText("Västerås")  # keyClicks is ASCII-only
    qtbot.keyClicks(dialog.form.field("phone"), "021-12 34 56")
    qtbot.keyClicks(dialog.form.field("email"), "info@bergstrom.se")
    qtbot.keyClicks(dialog.form.field("tags"), "dental, key")
    qtbot.keyClicks(dialog.form.field("lat"), "59,6099")
    qtbot.keyClicks(dialog.form.field("lon"), "16.5448")
    dialog.tier.setCurrentIndex(dialog.tier.findData("A"))
    with qtbot.waitSignal(dialog.sig_saved, timeout=5000) as saved:
        qtbot.keyClick(dialog.form.field("lon"), Qt.Key.Key_Return)
        assert not dialog.form.isEnabled()  # Save stays disabled while the write runs
        assert not dialog._buttons.button(dialog._buttons.StandardButton.Save).isEnabled()
    with db.session() as s:
        account = get_account(session=s, account_id=saved.args[0])
    assert (account.name, account.city, account.tier.value) == ("Bergstrom Tandvard", "Västerås", "A")
    assert account.phone == "+4621123456" and account.email == "info@bergstrom.se"
    assert account.tags == ("dental", "key") and account.lat == pytest.approx(59.6099)
    assert _outbox(db) == 1


def test_edit_sends_only_changed_fields(qtbot, db, runner):
    account_id = _account(db, phone="08-123 456 78")
    before = _outbox(db)
    dialog = _open(qtbot, AccountEditorDialog(runner, account_id))
    name = dialog.form.field("name")
    assert name.text() == "Nordic Dental"
    name.selectAll()
    qtbot.keyClicks(name, "Nordic Dental AB")
    dialog.status.setCurrentIndex(dialog.status.findData("customer"))
    _save(qtbot, dialog)
    with db.session() as s:
        account = get_account(session=s, account_id=account_id)
        patch = s.scalars(select(OutboxRecord).order_by(OutboxRecord.client_seq.desc())).first()
    assert account.name == "Nordic Dental AB" and account.status.value == "customer"
    assert account.city == "Uppsala"
    assert _outbox(db) == before + 1
    assert set(json.loads(patch.fields_json)) == {"name", "status"}


@pytest.mark.parametrize(("field", "text", "words"), [
    ("email", "anna@@example", "Email"),
    ("phone", "12", "Phone"),
    ("country", "S3", "Country"),
])
def test_invalid_field_gets_inline_message_and_nothing_is_written(qtbot, db, runner, field, text, words):
    account_id = _account(db)
    before = _outbox(db)
    dialog = _open(qtbot, AccountEditorDialog(runner, account_id))
    edit = dialog.form.field(field)
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    dialog.form.field("name").setFocus()
    qtbot.keyClick(dialog.form.field("name"), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.form.error(field) != "", timeout=5000)
    assert words in dialog.form.error(field)
    assert dialog.isVisible() and dialog.form.isEnabled()
    assert _outbox(db) == before
    with db.session() as s:
        assert getattr(get_account(session=s, account_id=account_id), field) != text
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)  # editing the field clears its message
    assert dialog.form.error(field) == ""


def test_client_side_checks_name_and_coordinates(qtbot, db, runner):
    dialog = _open(qtbot, AccountEditorDialog(runner, None))
    qtbot.keyClicks(dialog.form.field("lat"), "north")
    qtbot.keyClicks(dialog.form.field("lon"), "200")
    dialog.form.field("city").setFocus()
    qtbot.keyClick(dialog.form.field("city"), Qt.Key.Key_Return)
    errors = dialog.form.errors()
    assert set(errors) == {"name", "lat", "lon"}
    assert "Name" in errors["name"] and "Latitude" in errors["lat"] and "Longitude" in errors["lon"]
    assert dialog.form.field("name").hasFocus() or not dialog.isActiveWindow()
    assert _outbox(db) == 0
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AccountRecord)) == 0


def test_contact_add_edit_and_bad_email(qtbot, db, runner):
    account_id = _account(db)
    dialog = _open(qtbot, ContactEditorDialog(runner, account_id))
    qtbot.keyClicks(dialog.form.field("name"), "Anna Lind")
    qtbot.keyClicks(dialog.form.field("email"), "anna@")
    qtbot.keyClick(dialog.form.field("email"), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.form.error("email") != "", timeout=5000)
    assert "Email" in dialog.form.error("email")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ContactRecord)) == 0
    qtbot.keyClicks(dialog.form.field("email"), "nordic.se")
    qtbot.keyClicks(dialog.form.field("title"), "Practice manager")
    with qtbot.waitSignal(dialog.sig_saved, timeout=5000) as saved:
        qtbot.keyClick(dialog.form.field("email"), Qt.Key.Key_Return)
    contact_id = saved.args[0]
    edit = _open(qtbot, ContactEditorDialog(runner, account_id, contact_id))
    assert edit.form.field("email").text() == "anna@nordic.se"
    edit.form.field("phone").setFocus()
    qtbot.keyClicks(edit.form.field("phone"), "070-123 45 67")
    with qtbot.waitSignal(edit.sig_saved, timeout=5000):
        qtbot.keyClick(edit.form.field("phone"), Qt.Key.Key_Return)
    with db.session() as s:
        (contact,) = list_contacts(session=s, account_id=account_id)
    assert (contact.name, contact.title, contact.phone) == ("Anna Lind", "Practice manager", "+46701234567")


def test_other_errors_go_to_the_error_dialog_and_the_form_stays(qtbot, db, runner):
    from PySide6.QtWidgets import QMessageBox

    from fieldcrm.domain.enums import Role
    from fieldcrm.services.accounts import delete_account

    account_id = _account(db)
    dialog = _open(qtbot, AccountEditorDialog(runner, account_id))
    with db.session() as s:  # deleted meanwhile (by a sync, say)
        delete_account(session=s, account_id=account_id, actor_role=Role.MANAGER)
    before = _outbox(db)
    dialog.form.field("city").setText("Enköping")
    dialog.form.field("city").setFocus()
    qtbot.keyClick(dialog.form.field("city"), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.findChild(QMessageBox) is not None, timeout=5000)
    box = dialog.findChild(QMessageBox)
    assert "does not exist" in box.text()
    assert dialog.isVisible() and dialog.form.isEnabled() and _outbox(db) == before
    box.close()
