"""Contact use cases: add, edit, remove the people of an account."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldcrm.db.models import AccountRecord, ContactRecord
from fieldcrm.db.outbox import enqueue
from fieldcrm.db.types import utcnow
from fieldcrm.domain.ids import new_id
from fieldcrm.domain.records import Contact
from fieldcrm.errors import InvalidInput, NotFound
from fieldcrm.services.validation import normalise_email, normalise_phone

EDITABLE = ("name", "title", "phone", "email", "notes")


def to_contact(rec: ContactRecord) -> Contact:
    """Return the DTO of a contact row."""
    return Contact(rec.id, rec.account_id, rec.name, rec.title, rec.phone, rec.phone_raw,
                   rec.phone_valid, rec.email, rec.email_valid, rec.notes, rec.row_version)


def _clean(changes: dict[str, Any], country: str) -> dict[str, Any]:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"Unknown contact field(s): {', '.join(sorted(unknown))}.")
    out = {k: str(v or "").strip() for k, v in changes.items()}
    errors: dict[str, str] = {}
    if "name" in out and not out["name"]:
        errors["name"] = "Name is required."
    if "phone" in out:
        phone = normalise_phone(out["phone"], country)
        if not phone.valid:
            errors["phone"] = f"Phone “{phone.raw}” is not a valid number for {country}."
        out.update(phone=phone.value, phone_raw=phone.raw, phone_valid=phone.valid)
    if "email" in out:
        email = normalise_email(out["email"])
        if not email.valid:
            errors["email"] = f"Email “{email.raw}” is not a valid address."
        out.update(email=email.value, email_valid=email.valid)
    if errors:
        raise InvalidInput(next(iter(errors.values())), errors)
    return out


def list_contacts(*, session: Session, account_id: str) -> list[Contact]:
    """Return the live contacts of an account, by name."""
    stmt = (select(ContactRecord)
            .where(ContactRecord.account_id == account_id, ContactRecord.deleted.is_(False))
            .order_by(ContactRecord.name))
    return [to_contact(r) for r in session.scalars(stmt)]


def create_contact(*, session: Session, account_id: str, fields: dict[str, Any]) -> Contact:
    """Add a contact to an account; commits.

    Raises
    ------
    NotFound
        If the account does not exist.
    InvalidInput
        If a field is invalid.
    """
    account = session.get(AccountRecord, account_id)
    if account is None or account.deleted:
        raise NotFound("That account does not exist or was deleted.")
    clean = _clean({"name": "", **fields}, account.country)
    rec = ContactRecord(id=new_id(), account_id=account_id, **clean)
    session.add(rec)
    session.flush()
    enqueue(session, entity="contact", entity_id=rec.id, op="create",
            fields={"account_id": account_id, **clean})
    session.commit()
    return to_contact(rec)


def update_contact(*, session: Session, contact_id: str, changes: dict[str, Any]) -> Contact:
    """Edit a contact; only changed fields reach the outbox.

    Raises
    ------
    NotFound
        If the contact does not exist.
    InvalidInput
        If a field is invalid.
    """
    rec = session.get(ContactRecord, contact_id)
    if rec is None or rec.deleted:
        raise NotFound("That contact does not exist or was deleted.")
    account = session.get(AccountRecord, rec.account_id)
    clean = _clean(changes, account.country if account else "SE")
    changed = {k: v for k, v in clean.items() if getattr(rec, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(rec, key, value)
        rec.updated_at = utcnow()
        enqueue(session, entity="contact", entity_id=rec.id, op="patch", fields=changed,
                base_version=rec.row_version)
        session.commit()
    return to_contact(rec)


def delete_contact(*, session: Session, contact_id: str) -> None:
    """Soft-delete a contact (a tombstone that syncs); commits."""
    rec = session.get(ContactRecord, contact_id)
    if rec is None or rec.deleted:
        raise NotFound("That contact does not exist or was deleted.")
    rec.deleted = True
    rec.updated_at = utcnow()
    enqueue(session, entity="contact", entity_id=rec.id, op="delete", fields={},
            base_version=rec.row_version)
    session.commit()
