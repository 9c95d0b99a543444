"""Duplicate accounts in the database: find, merge through the outbox, undo before sync."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from fieldcrm.db.models import AccountRecord, ContactRecord, OutboxRecord, SaleRecord, VisitRecord
from fieldcrm.domain.enums import Role
from fieldcrm.domain.ids import new_id
from fieldcrm.errors import InvalidInput
from fieldcrm.services.dedupe import (
    find_account_duplicates,
    forget_merges_after_sync,
    merge_accounts,
    preview_merge,
    undo_merge,
)


def _setup(session) -> tuple[str, str]:
    a = AccountRecord(id=new_id(), name="Åkes Bageri AB", city="Umeå", phone="+4690123456",
                      lat=63.8258, lon=20.263, tags="vip", notes="Likes bread",
                      last_visit_at=datetime(2024, 1, 5, tzinfo=UTC))
    b = AccountRecord(id=new_id(), name="Akes Bageri", city="Umeå", phone="+4690123456",
                      email="ake@bageri.se", tags="north", notes="Closed Mondays",
                      last_visit_at=datetime(2024, 3, 1, tzinfo=UTC))
    c = AccountRecord(id=new_id(), name="Something Else", city="Lund")
    session.add_all([a, b, c])
    session.flush()
    session.add_all([
        ContactRecord(id=new_id(), account_id=b.id, name="Eva Ek"),
        SaleRecord(id=new_id(), account_id=b.id, sold_on=date(2024, 3, 1), amount_minor=100,
                   currency="SEK"),
        VisitRecord(id=new_id(), account_id=b.id, status="completed",
                    checked_in_at=datetime(2024, 3, 1, tzinfo=UTC)),
        VisitRecord(id=new_id(), account_id=b.id, status="planned",
                    planned_at=datetime(2030, 1, 1, tzinfo=UTC)),
    ])
    session.commit()
    return a.id, b.id


def _live_children(session, model, account_id) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(
        model.account_id == account_id, model.deleted.is_(False))))


def test_find_merge_and_undo(db) -> None:
    with db.session() as session:
        a, b = _setup(session)
        found = find_account_duplicates(session=session)
        assert [(d.a_name, d.b_name) for d in found] in ([("Åkes Bageri AB", "Akes Bageri")],
                                                          [("Akes Bageri", "Åkes Bageri AB")])
        assert "same phone" in found[0].reasons
        preview = {m.field: m.choice for m in preview_merge(session=session, survivor_id=a, other_id=b)}
        assert preview["email"] == "b" and preview["notes"] == "both" and preview["name"] == "a"
        with pytest.raises(InvalidInput, match="unknown merge choice"):
            merge_accounts(session=session, survivor_id=a, other_id=b, actor_role=Role.MANAGER,
                           choices={"name": "c"})
        with pytest.raises(InvalidInput, match="Only a manager"):
            merge_accounts(session=session, survivor_id=a, other_id=b, actor_role=Role.REP)
        result = merge_accounts(session=session, survivor_id=a, other_id=b, actor_role=Role.MANAGER)
        assert result.moved == {"contact": 1, "sale": 1, "opportunity": 0, "visit": 2}
        survivor = session.get(AccountRecord, a)
        assert survivor.email == "ake@bageri.se" and survivor.tags == "vip,north"
        assert survivor.notes == "Likes bread\n\nClosed Mondays"
        assert survivor.last_visit_at == datetime(2024, 3, 1, tzinfo=UTC)
        assert session.get(AccountRecord, b).deleted
        for model, n in ((ContactRecord, 1), (SaleRecord, 1), (VisitRecord, 2)):
            assert _live_children(session, model, a) == n and _live_children(session, model, b) == 0
        ops = sorted((o.entity, o.op) for o in session.scalars(select(OutboxRecord)))
        assert ops == sorted([("account", "patch"), ("account", "delete"), ("contact", "create"),
                              ("contact", "delete"), ("sale", "create"), ("sale", "delete"),
                              ("visit", "append"), ("visit", "create"), ("visit", "delete")])
        patch = next(o for o in session.scalars(select(OutboxRecord)) if o.op == "patch")
        assert json.loads(patch.fields_json)["email"] == "ake@bageri.se"

        undo_merge(session=session, merge_id=result.merge_id)
        assert session.scalar(select(func.count()).select_from(OutboxRecord)) == 0
        survivor = session.get(AccountRecord, a)
        assert (survivor.email, survivor.tags, survivor.notes) == ("", "vip", "Likes bread")
        assert survivor.last_visit_at == datetime(2024, 1, 5, tzinfo=UTC)
        assert not session.get(AccountRecord, b).deleted
        for model, n in ((ContactRecord, 1), (SaleRecord, 1), (VisitRecord, 2)):
            assert _live_children(session, model, b) == n and _live_children(session, model, a) == 0
        with pytest.raises(InvalidInput, match="cannot be undone"):
            undo_merge(session=session, merge_id=result.merge_id)


def test_no_undo_after_sync(db) -> None:
    with db.session() as session:
        a, b = _setup(session)
        result = merge_accounts(session=session, survivor_id=a, other_id=b, actor_role=Role.ADMIN,
                                choices={"name": "b"})
        assert session.get(AccountRecord, a).name == "Akes Bageri"
        for mutation in session.scalars(select(OutboxRecord)):
            mutation.state = "inflight"
        session.commit()
        with pytest.raises(InvalidInput, match="already synced"):
            undo_merge(session=session, merge_id=result.merge_id)
        for mutation in session.scalars(select(OutboxRecord)).all():
            session.delete(mutation)  # acknowledged by the server
        session.commit()
        assert forget_merges_after_sync(session) == 1
        with pytest.raises(InvalidInput, match="cannot be undone"):
            undo_merge(session=session, merge_id=result.merge_id)
