"""Manager queue of visits under review: list, accept into the territory, dismiss; reps refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from fieldcrm.domain.ids import new_id
from fieldcrm.sync.protocol import scope_digest

CHECKED_IN = "2026-11-20T09:30:00.000000+00:00"


def _age_closed_assignments(srv, *, days: int) -> None:
    """Move every closed assignment ``days`` into the past (out of the grace window)."""
    from fieldcrm.sync.server.models import TerritoryAssignment

    with srv.db.write() as s, s.begin():
        for a in s.scalars(
            select(TerritoryAssignment).where(TerritoryAssignment.valid_to.is_not(None))
        ):
            s.execute(
                update(TerritoryAssignment)
                .where(TerritoryAssignment.id == a.id)
                .values(
                    valid_from=a.valid_from - timedelta(days=days),
                    valid_to=a.valid_to - timedelta(days=days),
                )
            )


def _counters(srv) -> dict[str, int]:
    from fieldcrm.sync.server.models import ScopeCounter

    with srv.db.read() as s:
        return {c.scope_id: c.last_version for c in s.scalars(select(ScopeCounter))}


@pytest.fixture
def lost(srv):
    """ann held T1, lost it to bob 40 days ago, then logs a visit (and an amendment) there."""
    srv.add_user("ann")
    srv.add_user("bob")
    srv.add_user("boss", role="manager")
    t1 = srv.territory("T1")
    srv.assign(t1, "ann")
    boss = srv.login("boss")
    acc = new_id()
    boss.push(boss.mutation("account", acc, "create", {"name": "Kafé Norr", "territory_id": t1}))
    srv.assign(t1, "bob")
    _age_closed_assignments(srv, days=40)
    ann, bob = srv.login("ann"), srv.login("bob")
    bob.pull_all()
    visit, amend = new_id(), new_id()
    fields = {"account_id": acc, "status": "completed", "checked_in_at": CHECKED_IN,
              "outcome": "Ordered 3 cases", "notes": "met the owner"}
    r = ann.push(
        ann.mutation("visit", visit, "append", fields),
        ann.mutation("visit_amendment", amend, "append",
                     {"visit_id": visit, "changes": {"next_step": "call in May"}, "reason": "typo"}),
    )
    assert [x["review"] for x in r] == ["needs_review", "needs_review"]
    return srv, t1, acc, visit, amend, ann, bob, boss


def test_manager_lists_accepts_and_the_territory_rep_pulls_it(lost):
    srv, t1, acc, visit, amend, ann, bob, boss = lost
    assert [c for c in bob.pull_all() if c["entity"] == "visit"] == []  # not in T1 yet
    r = srv.client.get("/v1/visits/review", headers=boss.headers)
    assert r.status_code == 200, r.text
    [item] = r.json()
    assert item["id"] == visit and item["rep_id"] == ann.user_id and item["rep_name"] == "ann"
    assert (item["account_name"], item["territory_id"], item["territory_name"]) == (
        "Kafé Norr", t1, "T1")
    assert item["review"] == "needs_review" and "grace window" in item["review_reason"]
    assert item["outcome"] == "Ordered 3 cases" and item["received_at_server"]

    r = srv.client.post(f"/v1/visits/{visit}/review", json={"action": "accept"},
                        headers=boss.headers)
    assert r.status_code == 200, r.text
    ruled = r.json()
    assert ruled["review"] == "accepted" and "grace window" in ruled["review_reason"]  # kept
    assert (ruled["reviewed_by"], ruled["reviewed_by_name"], ruled["review_note"]) == (
        boss.user_id, "boss", None)
    assert ruled["reviewed_at"] >= item["received_at_server"]

    got = {(c["entity"], c["id"]): c for c in bob.pull_all()}
    assert got[("visit", visit)]["scope"] == f"territory:{t1}"
    assert got[("visit", visit)]["data"]["review"] == "accepted"
    assert got[("visit", visit)]["data"]["notes"] == "met the owner"
    assert got[("visit_amendment", amend)]["data"]["review"] == "accepted"
    assert got[("account", acc)]["data"]["last_visit_at"] == CHECKED_IN  # raised by the visit
    mine = {c["id"]: c for c in ann.pull_all() if c["entity"] == "visit"}
    assert mine[visit]["data"]["review"] == "accepted"  # the rep sees the ruling too
    assert mine[visit]["data"]["reviewed_by"] == boss.user_id and mine[visit]["data"]["reviewed_at"]

    # a fresh copy of T1 verifies: the index writes were the normal ones
    scope = f"territory:{t1}"
    bob.cursors = {}
    live = [(c["entity"], c["id"], c["data"].get("row_version", 1)) for c in bob.pull_all()
            if c["scope"] == scope and c["op"] == "upsert"]
    count, digest = scope_digest(live)
    body = {"scopes": {scope: {"version": bob.cursors[scope]["version"], "count": count,
                               "digest": digest}}}
    v = srv.client.post("/v1/sync/verify", json=body, headers=bob.headers).json()
    assert v["mismatched"] == [] and v["behind"] == []

    assert srv.client.get("/v1/visits/review", headers=boss.headers).json() == []


def test_accept_is_idempotent_and_writes_nothing_twice(lost):
    srv, _t1, _acc, visit, _amend, _ann, _bob, boss = lost
    url = f"/v1/visits/{visit}/review"
    first = srv.client.post(url, json={"action": "accept", "note": "ok"}, headers=boss.headers)
    before = _counters(srv)
    again = srv.client.post(url, json={"action": "accept"}, headers=boss.headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert _counters(srv) == before  # no new versions anywhere
    r = srv.client.post(url, json={"action": "dismiss"}, headers=boss.headers)
    assert r.status_code == 400 and "already accepted" in r.json()["detail"]


def test_reps_cannot_list_or_rule_and_unknown_ids_are_404(lost):
    srv, _t1, _acc, visit, _amend, ann, bob, boss = lost
    for dev in (ann, bob):
        assert srv.client.get("/v1/visits/review", headers=dev.headers).status_code == 403
        r = srv.client.post(f"/v1/visits/{visit}/review", json={"action": "accept"},
                            headers=dev.headers)
        assert r.status_code == 403
    assert srv.client.get("/v1/visits/review").status_code == 401
    r = srv.client.post("/v1/visits/no-such-visit/review", json={"action": "accept"},
                        headers=boss.headers)
    assert r.status_code == 404 and "no-such-visit" in r.json()["detail"]
    r = srv.client.post(f"/v1/visits/{visit}/review", json={"action": "delete"},
                        headers=boss.headers)
    assert r.status_code == 422
    [item] = srv.client.get("/v1/visits/review", headers=boss.headers).json()
    assert item["review"] == "needs_review"  # nothing changed


def test_dismiss_keeps_the_visit_aside_with_a_note(lost):
    srv, _t1, _acc, _visit, _amend, ann, _bob, boss = lost
    ghost = new_id()
    [r] = ann.push(ann.mutation("visit", ghost, "append", {"account_id": "never-synced"}))
    assert r["review"] == "needs_review"
    [newest, _older] = srv.client.get("/v1/visits/review", headers=boss.headers).json()
    assert newest["id"] == ghost and newest["account_name"] is None  # newest first
    url = f"/v1/visits/{ghost}/review"
    r = srv.client.post(url, json={"action": "accept"}, headers=boss.headers)
    assert r.status_code == 400 and "not on the server" in r.json()["detail"]
    r = srv.client.post(url, json={"action": "dismiss", "note": "test visit"},
                        headers=boss.headers)
    assert r.status_code == 200 and r.json()["review"] == "dismissed"
    assert r.json()["review_reason"] == "unknown account"  # why it was flagged, kept
    assert (r.json()["reviewed_by_name"], r.json()["review_note"]) == ("boss", "test visit")
    queue = srv.client.get("/v1/visits/review", headers=boss.headers).json()
    assert ghost not in {v["id"] for v in queue}
    aside = srv.client.get("/v1/visits/review?status=dismissed", headers=boss.headers).json()
    assert [v["id"] for v in aside] == [ghost]
    assert (aside[0]["reviewed_by"], aside[0]["review_note"]) == (boss.user_id, "test visit")
    assert aside[0]["reviewed_at"] == r.json()["reviewed_at"]
    mine = {c["id"]: c for c in ann.pull_all() if c["entity"] == "visit"}
    assert mine[ghost]["data"]["review"] == "dismissed"  # kept, never deleted


def test_server_cli_lists_and_rules_on_visits(lost, db_url, capsys):
    from fieldcrm.sync.server.cli import main

    srv, t1, _acc, visit, _amend, _ann, bob, _boss = lost
    assert main(["--db", db_url, "visit", "list"]) == 0
    out = capsys.readouterr().out
    assert visit in out and "Kafé Norr" in out and "T1" in out
    assert main(["--db", db_url, "visit", "dismiss", visit, "--note", "x" * 201]) == 2
    assert "at most 200" in capsys.readouterr().err
    assert main(["--db", db_url, "visit", "accept", visit, "--note", "checked by phone"]) == 0
    assert capsys.readouterr().out.strip() == f"visit {visit} of ann is accepted"
    assert main(["--db", db_url, "visit", "accept", "nope"]) == 2
    assert "no visit 'nope'" in capsys.readouterr().err
    got = {c["id"]: c for c in bob.pull_all() if c["entity"] == "visit"}
    assert got[visit]["scope"] == f"territory:{t1}"
    assert "grace window" in got[visit]["data"]["review_reason"]
    from fieldcrm.sync.server.models import Visit

    with srv.db.read() as s:
        v = s.get(Visit, visit)
        assert (v.reviewed_by, v.review_note) == ("server admin", "checked by phone")
        assert v.reviewed_at is not None


def test_server_cli_lists_dismissed_visits_with_the_decision(lost, db_url, capsys):
    from fieldcrm.sync.server.cli import main

    _srv, _t1, _acc, visit, _amend, _ann, _bob, _boss = lost
    assert main(["--db", db_url, "visit", "dismiss", visit, "--note", "duplicate"]) == 0
    capsys.readouterr()
    assert main(["--db", db_url, "visit", "list", "--dismissed"]) == 0
    out = capsys.readouterr().out
    assert visit in out and "grace window" in out
    assert "dismissed by server admin on 20" in out and out.rstrip().endswith(": duplicate")


def test_migration_0002_adds_the_audit_columns_to_existing_visits(db_url):
    """A database at 0001 holding a decided visit upgrades in place (SQLite batch, PostgreSQL)."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect, text

    from fieldcrm.sync.server.engine import ALEMBIC_DIR, make_database, migrate
    from fieldcrm.sync.server.models import Visit

    db = make_database(db_url, pool_size=1)
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    try:
        with db.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
            conn.commit()
            assert "reviewed_by" not in {c["name"] for c in inspect(conn).get_columns("visit")}
            conn.execute(text(
                "INSERT INTO visit (id, account_id, rep_id, data, received_at_server, review, "
                "review_reason) VALUES ('v1', 'a1', 'u1', '{}', :now, 'dismissed', "
                "'dismissed by boss: old text')"), {"now": "2026-11-22 10:00:00"})
            conn.commit()
        migrate(db.engine)
        with db.write() as s:
            v = s.get(Visit, "v1")
            assert (v.review, v.review_reason) == ("dismissed", "dismissed by boss: old text")
            assert (v.reviewed_by, v.reviewed_at, v.review_note) == (None, None, None)
    finally:
        db.engine.dispose()


def test_moving_the_account_keeps_a_visit_under_review_out_of_the_new_territory(lost):
    srv, _t1, acc, visit, amend, ann, _bob, boss = lost
    srv.add_user("cid")
    t2 = srv.territory("T2")
    srv.assign(t2, "cid")
    cid = srv.login("cid")
    cid.pull_all()
    base = {c["id"]: c for c in boss.pull_all()}[acc]["data"]["row_version"]
    r = boss.push(boss.mutation("account", acc, "patch", {"territory_id": t2}, base_version=base))
    assert r[0]["status"] == "applied", r
    got = {(c["entity"], c["id"]) for c in cid.pull_all() if c["op"] == "upsert"}
    assert ("account", acc) in got  # the account moved to cid's territory ...
    assert ("visit", visit) not in got and ("visit_amendment", amend) not in got  # ... not the visit
    mine = {c["id"] for c in ann.pull_all() if c["entity"] == "visit"}
    assert visit in mine  # still the rep's own
