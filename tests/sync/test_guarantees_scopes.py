"""G8 losing a territory at every stage, G9 reassignment, G10 long offline + GC, G15 verify."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import delete, update

from fieldcrm.db.models import (
    AccountRecord,
    ContactRecord,
    RowScopeRecord,
    SyncQuarantineRecord,
    VisitRecord,
)
from fieldcrm.domain.enums import Role
from fieldcrm.services.accounts import delete_account
from fieldcrm.sync.protocol import scope_of_territory
from fieldcrm.sync.server.models import Visit
from tests.sync.client_helpers import (
    add_contact,
    assert_converged,
    log_visit,
    rep_with_territory,
    server_count,
)

pytest_plugins = ["tests.sync.conftest_client"]
SOUTH = {"type": "Polygon", "coordinates": [[[12, 55], [14, 55], [14, 56], [12, 56], [12, 55]]]}


def _stocked(h: Any, laptops: Any, accounts: int = 6) -> tuple[str, Any, Any, list[str]]:
    """anna holds North with ``accounts`` accounts (each with a contact), made by the boss."""
    t = rep_with_territory(h, "anna")
    h.add_user("bert")
    h.add_user("boss", role="manager")
    boss = laptops("boss", h.client)
    boss.sync()
    ids = [boss.create_account(f"N{i}", territory_id=t) for i in range(accounts)]
    for acc in ids:
        add_contact(boss, acc, "Eva")
    boss.sync()
    return t, laptops("anna", h.client), boss, ids


def _territory_rows(lap: Any) -> int:
    return lap.count(AccountRecord) + lap.count(ContactRecord)


def test_revoked_during_initial_download(srv: Any, laptops: Any) -> None:
    t, rep, _boss, _ids = _stocked(srv, laptops, accounts=12)
    pages: list[int] = []

    def hook(stage: str, done: int, _total: int) -> None:
        if stage == "pull" and done == 1:
            pages.append(_territory_rows(rep))
            srv.assign(t, "bert")

    summary = rep.sync(progress=hook, pull_limit=5)
    assert pages and pages[0] > 0  # the first page had landed
    assert scope_of_territory(t) in summary.revoked
    assert _territory_rows(rep) == 0
    assert_converged(srv, rep)


def test_revoked_between_push_and_pull_and_while_offline(srv: Any, laptops: Any) -> None:
    t, rep, _boss, ids = _stocked(srv, laptops)
    rep.sync()
    assert _territory_rows(rep) == 12
    # offline work: 2 edits, a new contact, 2 visits -- then the territory goes to bert
    rep.update_account(ids[0], notes="offline 1")
    rep.update_account(ids[1], city="Kiruna")
    add_contact(rep, ids[2], "New person")
    for acc in ids[:2]:
        log_visit(rep, acc)
    srv.assign(t, "bert")
    summary = rep.sync()
    assert summary.quarantined == 3 and rep.count(SyncQuarantineRecord) == 3
    assert _territory_rows(rep) == 0  # 0 non-dirty rows reachable only through T
    assert server_count(srv, Visit) == 2  # field work is never dropped
    assert rep.count(VisitRecord) == 2  # still mine (user scope)
    assert_converged(srv, rep)
    # re-granted: a new epoch, a fresh snapshot; then lost between push and pull
    srv.assign(t, "anna")
    rep.sync()
    assert _territory_rows(rep) == 12
    rep.update_account(ids[3], notes="pushed in time")

    def hook(stage: str, _done: int, _total: int) -> None:
        if stage == "push":
            srv.assign(t, "bert")

    summary = rep.sync(progress=hook)
    assert summary.acked == 1 and summary.quarantined == 0
    assert _territory_rows(rep) == 0
    assert_converged(srv, rep)


def test_revoked_twice_in_quick_succession(srv: Any, laptops: Any) -> None:
    t, rep, _boss, _ids = _stocked(srv, laptops, accounts=3)
    rep.sync()
    srv.assign(t, "bert")
    srv.assign(t, "anna")
    rep.sync()
    assert _territory_rows(rep) == 6
    srv.assign(t, "bert")
    srv.assign(t, "anna")
    srv.assign(t, "bert")
    rep.sync()
    assert _territory_rows(rep) == 0
    assert_converged(srv, rep)


def test_forged_cursor_and_new_writes_to_a_lost_territory(srv: Any, laptops: Any) -> None:
    from fieldcrm.sync.protocol import Cursor, ScopeDigest

    t, rep, _boss, ids = _stocked(srv, laptops, accounts=2)
    rep.sync()
    srv.assign(t, "bert")
    scope = scope_of_territory(t)
    page = rep.client.pull({scope: Cursor(epoch=1, version=0)})
    assert [s.state for s in page.scopes if s.id == scope] == ["revoked"]
    assert not [c for c in page.changes if c.scope == scope]
    assert rep.client.verify({scope: ScopeDigest(version=0, count=0, digest=0)}).revoked == [scope]
    rep.update_account(ids[0], notes="too late")
    assert rep.sync().quarantined == 1  # the server's 403-equivalent: forbidden_scope


def test_reassignment_moves_data_within_one_sync(srv: Any, laptops: Any) -> None:
    t, rep, boss, ids = _stocked(srv, laptops, accounts=3)
    south = srv.territory("South", SOUTH)
    srv.assign(south, "bert")
    bert = laptops("bert", srv.client)
    rep.sync()
    bert.sync()
    visit = log_visit(rep, ids[0])
    rep.sync()
    boss.sync()
    boss.update_account(ids[0], territory_id=south)
    boss.sync()
    rep.sync()
    bert.sync()
    assert rep.account(ids[0]) is None and rep.count(ContactRecord, ContactRecord.account_id == ids[0]) == 0
    assert bert.account(ids[0]) is not None
    assert bert.count(ContactRecord, ContactRecord.account_id == ids[0]) == 1
    assert bert.count(VisitRecord, VisitRecord.id == visit) == 1  # with its history
    assert rep.count(VisitRecord, VisitRecord.id == visit) == 1  # anna's own visit stays hers
    for lap in (rep, bert, boss):
        assert_converged(srv, lap)


def test_long_offline_resyncs_without_resurrection(make_harness: Any, laptops: Any) -> None:
    from fieldcrm.sync.server.store import gc

    h = make_harness(tombstone_retention_days=1 / 86_400)  # R = 1 s
    t, rep, boss, ids = _stocked(h, laptops, accounts=4)
    rep.sync()
    for acc in ids[:2]:
        with boss.session() as s:
            delete_account(session=s, account_id=acc, actor_role=Role.MANAGER)
    boss.sync()
    rep.update_account(ids[3], notes="written offline")
    log_visit(rep, ids[2])
    time.sleep(1.2)
    assert gc(h.db, retention_days=1 / 86_400)["tombstones"] > 0
    summary = rep.sync()
    assert scope_of_territory(t) in summary.resynced
    assert rep.account(ids[0]) is None and rep.account(ids[1]) is None  # 0 resurrected
    assert rep.account(ids[3]).notes == "written offline"
    assert set(rep.states()) == {"acked"}
    assert_converged(h, rep)


@pytest.mark.parametrize("corruption", ["delete_row", "bad_version", "lost_scope_entry"])
def test_verify_detects_corruption_and_resyncs_only_that_scope(
    srv: Any, laptops: Any, corruption: str
) -> None:
    t, rep, boss, ids = _stocked(srv, laptops, accounts=3)
    south = srv.territory("South", SOUTH)
    srv.assign(south, "anna")
    boss.sync()
    other = boss.create_account("S1", territory_id=south)
    boss.sync()
    rep.sync()
    with rep.session() as s:
        if corruption == "delete_row":
            s.execute(delete(ContactRecord).where(ContactRecord.account_id == ids[0]))
        elif corruption == "bad_version":
            s.execute(update(AccountRecord).where(AccountRecord.id == ids[1]).values(row_version=99))
        else:
            s.execute(delete(RowScopeRecord).where(RowScopeRecord.entity_id == ids[2]))
        s.commit()
    summary = rep.sync(allow_mismatch=True)
    assert summary.mismatched == [scope_of_territory(t)]  # 100% detected, only that scope
    assert rep.account(other) is not None
    again = rep.sync()
    assert not again.mismatched and not again.resynced
    assert_converged(srv, rep)
