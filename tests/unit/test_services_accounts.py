"""Account and contact services: validation, normalisation, outbox, search, filters, overdue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from fieldcrm.db.models import AccountRecord, OutboxRecord
from fieldcrm.domain.enums import AccountStatus, Role, Tier
from fieldcrm.domain.records import AccountFilter
from fieldcrm.errors import InvalidInput, NotFound
from fieldcrm.services import accounts as A
from fieldcrm.services import contacts as C
from fieldcrm.services import visits as V


def outbox(session) -> list[tuple[str, str, dict]]:
    rows = session.scalars(select(OutboxRecord).order_by(OutboxRecord.client_seq))
    return [(r.entity, r.op, json.loads(r.fields_json)) for r in rows]


def test_create_normalises_phone_and_email_and_fills_outbox(db) -> None:
    with db.session() as s:
        acc = A.create_account(session=s, fields={"name": "  Luleå Plåt AB ", "phone": "0920-123 456",
                                                  "email": "Info@LuleaPlat.se", "tier": "A"})
        assert acc.name == "Luleå Plåt AB"
        assert acc.phone == "+46920123456" and acc.phone_raw == "0920-123 456" and acc.phone_valid
        assert acc.email.lower() == "info@luleaplat.se"
        assert acc.tier is Tier.A and acc.status is AccountStatus.LEAD
        [(entity, op, fields)] = outbox(s)
        assert (entity, op, fields["name"], fields["phone"]) == ("account", "create", "Luleå Plåt AB", "+46920123456")
        assert len(acc.id) == 36 and acc.id[14] == "7"  # a UUIDv7


def test_invalid_fields_are_named_and_nothing_is_written(db) -> None:
    with db.session() as s:
        with pytest.raises(InvalidInput) as info:
            A.create_account(session=s, fields={"name": "", "email": "not-an-email", "lat": 95.0, "lon": 10.0,
                                                "tier": "Z"})
        assert set(info.value.errors) == {"name", "email", "lat", "tier"}
        assert "Latitude 95.0" in info.value.errors["lat"]
        assert s.scalar(select(AccountRecord.id)) is None and outbox(s) == []


def test_lenient_create_keeps_a_bad_phone_raw_with_a_flag(db) -> None:
    with db.session() as s:
        acc = A.create_account(session=s, fields={"name": "X", "phone": "call reception"}, strict=False)
        assert acc.phone == "call reception" and not acc.phone_valid


def test_update_sends_only_changed_fields_with_base_version(db) -> None:
    with db.session() as s:
        acc = A.create_account(session=s, fields={"name": "Kiruna Bygg AB", "city": "Kiruna"})
        s.get(AccountRecord, acc.id).row_version = 7  # as if the server had acknowledged version 7
        s.commit()
        A.update_account(session=s, account_id=acc.id, changes={"city": "Kiruna", "notes": "Big yard"})
        entity, op, fields = outbox(s)[-1]
        assert (entity, op, fields) == ("account", "patch", {"notes": "Big yard"})
        assert s.scalar(select(OutboxRecord.base_version).order_by(OutboxRecord.client_seq.desc())) == 7
        A.update_account(session=s, account_id=acc.id, changes={"notes": "Big yard"})
        assert len(outbox(s)) == 2  # no change, no mutation


def test_only_managers_delete_and_deleted_accounts_disappear(db) -> None:
    with db.session() as s:
        acc = A.create_account(session=s, fields={"name": "Gone AB"})
        with pytest.raises(InvalidInput, match="Only a manager"):
            A.delete_account(session=s, account_id=acc.id, actor_role=Role.REP)
        A.delete_account(session=s, account_id=acc.id, actor_role=Role.MANAGER)
        with pytest.raises(NotFound):
            A.get_account(session=s, account_id=acc.id)
        assert A.query_accounts(session=s, flt=AccountFilter(text="gone")).total == 0
        assert outbox(s)[-1][:2] == ("account", "delete")


def test_search_covers_accounts_contacts_and_visit_notes_with_prefixes(db) -> None:
    with db.session() as s:
        a = A.create_account(session=s, fields={"name": "Östersund Trävaror AB", "city": "Östersund"})
        b = A.create_account(session=s, fields={"name": "Mora Järn AB", "city": "Mora"})
        C.create_contact(session=s, account_id=b.id, fields={"name": "Ingrid Sjöberg"})
        V.log_visit(session=s, account_id=a.id, rep_id=None,
                    fields={"checked_in_at": datetime.now(UTC), "outcome": "Interested",
                            "notes": "wants pallet racking"})

        def names(q: str) -> list[str]:
            return [r.name for r in A.query_accounts(session=s, flt=AccountFilter(text=q)).rows]

        assert names("oster") == ["Östersund Trävaror AB"]  # diacritics folded, prefix match
        assert names("sjöb") == ["Mora Järn AB"]  # via a contact
        assert names("racking") == ["Östersund Trävaror AB"]  # via visit notes
        assert names("mora jär") == ["Mora Järn AB"]  # every word must match
        assert names('"; DROP TABLE account; --') == []  # punctuation is not syntax


def test_filters_sorting_paging_and_overdue(db) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        ids = {}
        for i, (tier, status, days_ago) in enumerate(
            [("A", "customer", 20), ("A", "customer", 5), ("B", "prospect", 40), ("C", "lead", None)]
        ):
            acc = A.create_account(session=s, fields={"name": f"Acc {i}", "tier": tier, "status": status})
            ids[i] = acc.id
            if days_ago is not None:
                s.get(AccountRecord, acc.id).last_visit_at = now - timedelta(days=days_ago)
        s.commit()
        overdue = A.query_accounts(session=s, flt=AccountFilter(overdue_only=True), now=now)
        # A every 14 days: 20 days ago is overdue, 5 is not; B every 30: 40 is; never visited is.
        assert {r.name for r in overdue.rows} == {"Acc 0", "Acc 2", "Acc 3"}
        assert {r.name: r.days_overdue for r in overdue.rows} == {"Acc 0": 6, "Acc 2": 10, "Acc 3": None}
        flt = AccountFilter(tiers=frozenset({Tier.A}), statuses=frozenset({AccountStatus.CUSTOMER}))
        assert A.query_accounts(session=s, flt=flt).total == 2
        page = A.query_accounts(session=s, flt=AccountFilter(), sort="name", descending=True, offset=1, limit=2)
        assert page.total == 4 and [r.name for r in page.rows] == ["Acc 2", "Acc 1"]
        assert set(A.matching_ids(session=s, flt=AccountFilter(overdue_only=True), now=now)) == {
            ids[0], ids[2], ids[3]}


def test_contacts_validate_and_soft_delete(db) -> None:
    with db.session() as s:
        acc = A.create_account(session=s, fields={"name": "Visby Bil AB"})
        with pytest.raises(InvalidInput) as info:
            C.create_contact(session=s, account_id=acc.id, fields={"name": "Per", "phone": "12"})
        assert set(info.value.errors) == {"phone"}
        c = C.create_contact(session=s, account_id=acc.id, fields={"name": "Per Holm", "phone": "070-123 45 67"})
        assert c.phone == "+46701234567"
        C.update_contact(session=s, contact_id=c.id, changes={"title": "VD"})
        C.delete_contact(session=s, contact_id=c.id)
        assert C.list_contacts(session=s, account_id=acc.id) == []
        assert [op for e, op, _ in outbox(s) if e == "contact"] == ["create", "patch", "delete"]
