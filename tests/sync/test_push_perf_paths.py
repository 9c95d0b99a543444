"""The fast paths of push and auth keep their meaning: one-statement auth, batched records."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update

from fieldcrm.domain.ids import new_id


def _statements(harness: Any) -> list[str]:
    seen: list[str] = []

    @event.listens_for(harness.db.engine, "before_cursor_execute")
    def _note(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    return seen


def _scopes(dev: Any) -> set[str]:
    return {s["id"] for s in dev.pull_once()["scopes"] if s["state"] == "active"}


def test_auth_reads_device_user_and_territories_in_one_statement(srv):
    srv.add_user("ann")
    t1, t2, old = srv.territory("North"), srv.territory("South"), srv.territory("Old")
    for t in (t1, t2, old):
        srv.assign(t, "ann")
    srv.assign(old, None)  # ended assignment: no longer a scope
    dev = srv.login("ann")
    seen = _statements(srv)
    assert _scopes(dev) == {f"territory:{t1}", f"territory:{t2}", f"user:{dev.user_id}"}
    auth = [s for s in seen if "FROM device" in s]
    assert len(auth) == 1, auth


def test_manager_holds_every_live_territory(srv):
    srv.add_user("boss", role="manager")
    ts = {srv.territory(n) for n in ("A", "B", "C")}
    dev = srv.login("boss")
    assert _scopes(dev) == {f"territory:{t}" for t in ts} | {f"user:{dev.user_id}"}


def test_revoked_device_disabled_user_and_foreign_device_get_401(srv):
    from fieldcrm.sync.server.auth import make_access_token
    from fieldcrm.sync.server.models import Device, User

    srv.add_user("ann")
    srv.add_user("bob")
    ann, bob = srv.login("ann"), srv.login("bob")
    body = {"cursors": {}}
    # a token naming bob's device for ann (signed with the real key) is refused
    forged = make_access_token(
        secret=srv.app.state.fieldcrm.secret,
        user_id=ann.user_id,
        device_id=bob.tokens["device_id"],
        ttl_s=60,
    )
    r = srv.client.post(
        "/v1/sync/pull",
        json=body,
        headers={"Authorization": f"Bearer {forged}", "X-Sync-Protocol": "1"},
    )
    assert r.status_code == 401 and r.json()["code"] == "unknown_device"
    with srv.session() as s, s.begin():
        s.execute(update(Device).where(Device.id == ann.tokens["device_id"]).values(
            revoked_at=func.now()))
        s.execute(update(User).where(User.id == bob.user_id).values(disabled=True))
    r = srv.client.post("/v1/sync/pull", json=body, headers=ann.headers)
    assert r.status_code == 401 and r.json()["code"] == "device_revoked"
    r = srv.client.post("/v1/sync/pull", json=body, headers=bob.headers)
    assert r.status_code == 401 and r.json()["code"] == "user_disabled"


def _rep_with_account(srv: Any) -> tuple[Any, str]:
    srv.add_user("ann")
    t = srv.territory("North")
    srv.assign(t, "ann")
    dev = srv.login("ann")
    account = new_id()
    [res] = dev.push(dev.mutation("account", account, "create", {"name": "Acme", "lat": 60.0,
                                                                 "lon": 15.0}))
    assert res["status"] == "applied"
    return dev, account


def test_hundred_mutations_recorded_once_and_resend_is_duplicate(srv):
    from fieldcrm.sync.server.models import AppliedMutation, Visit

    dev, account = _rep_with_account(srv)
    muts = [dev.mutation("visit", new_id(), "append", {"account_id": account,
                                                       "status": "completed"})
            for _ in range(99)]
    muts.append(dev.mutation("account", account, "patch", {"notes": "hello"}, base_version=1))
    first = dev.push(*muts)
    assert [r["status"] for r in first] == ["applied"] * 100
    again = dev.push(*muts)
    assert all(r["status"] == "duplicate" for r in again)
    assert [r["original_result"] for r in again] == first
    with srv.session() as s:
        ids = [m["mutation_id"] for m in muts]
        stored = s.scalar(select(func.count()).select_from(AppliedMutation)
                          .where(AppliedMutation.mutation_id.in_(ids)))
        assert stored == 100
        assert s.scalar(select(func.count()).select_from(Visit)) == 99


def test_conflicts_and_same_visit_twice_inside_one_batch(srv):
    from fieldcrm.sync.server.models import Conflict, Visit

    dev, account = _rep_with_account(srv)
    visit = new_id()
    results = dev.push(
        dev.mutation("account", account, "patch", {"notes": "first"}, base_version=1),
        dev.mutation("account", account, "patch", {"notes": "second"}, base_version=1),
        dev.mutation("account", account, "patch", {"notes": "third"}, base_version=1),
        dev.mutation("visit", visit, "append", {"account_id": account, "status": "completed"}),
        dev.mutation("visit", visit, "append", {"account_id": account, "status": "completed"}),
    )
    assert [r["status"] for r in results] == ["applied", "merged", "merged", "applied", "applied"]
    assert [c["rejected_value"] for r in results[1:3] for c in r["conflicts"]] == [
        "second", "third"]
    assert results[1]["row_version"] == results[2]["row_version"] == 2
    assert results[3]["review"] == results[4]["review"] == "accepted"
    with srv.session() as s:
        assert s.scalar(select(func.count()).select_from(Conflict)) == 2
        assert s.scalar(select(func.count()).select_from(Visit).where(Visit.id == visit)) == 1


@pytest.mark.postgres
def test_idle_pooled_connection_that_died_is_replaced(db_url, monkeypatch):
    if not db_url.startswith("postgresql"):
        pytest.skip("the idle ping is for PostgreSQL pools")
    from fieldcrm.sync.server import engine as server_engine

    monkeypatch.setattr(server_engine, "PING_AFTER_IDLE_S", 0.0)
    db = server_engine.make_database(db_url, pool_size=1)
    try:
        with db.statements() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        killer = server_engine.make_database(db_url, pool_size=1)
        with killer.statements() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        killer.engine.dispose()
        with db.statements() as conn:  # the dead one is pinged, dropped and replaced
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        with db.read() as s, s.begin():
            assert s.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        db.engine.dispose()
