"""Authorisation by server-computed scopes, revocation, reassignment, GC resync, G7 concurrency."""

from __future__ import annotations

import threading
import time

import pytest

from fieldcrm.domain.ids import new_id

OTHER = {"type": "Polygon", "coordinates": [[[12, 55], [14, 55], [14, 56], [12, 56], [12, 55]]]}


@pytest.fixture
def world(srv):
    for name in ("ann", "bob"):
        srv.add_user(name)
    srv.add_user("boss", role="manager")
    t1, t2 = srv.territory("T1"), srv.territory("T2", OTHER)
    srv.assign(t1, "ann")
    srv.assign(t2, "bob")
    boss = srv.login("boss")
    a1, a2 = new_id(), new_id()
    boss.push(
        boss.mutation("account", a1, "create", {"name": "In T1", "territory_id": t1}),
        boss.mutation("account", a2, "create", {"name": "In T2", "territory_id": t2}),
    )
    return srv, t1, t2, a1, a2, boss


def _quarantined(srv) -> int:
    from sqlalchemy import func, select

    from fieldcrm.sync.server.models import Quarantine

    with srv.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Quarantine)))


def test_rep_never_reads_or_writes_outside_their_scopes(world):
    srv, t1, t2, a1, a2, _boss = world
    ann, bob = srv.login("ann"), srv.login("bob")
    forged = {
        f"territory:{t2}": {"epoch": 2, "version": 0},
        f"user:{bob.user_id}": {"epoch": 1, "version": 0},
        "territory:made-up": {"epoch": 1, "version": 0},
    }
    page = ann.pull_once(cursors=forged)
    states = {s["id"]: s["state"] for s in page["scopes"]}
    assert all(states[k] == "revoked" for k in forged)
    assert set(page["next_cursors"]) == {f"territory:{t1}", f"user:{ann.user_id}"}
    assert a2 not in {c["id"] for c in page["changes"]} and a1 in {c["id"] for c in page["changes"]}
    r = ann.push(
        ann.mutation("account", a2, "patch", {"notes": "sneaky"}, base_version=1),
        ann.mutation("contact", new_id(), "create", {"account_id": a2, "name": "X"}),
        ann.mutation("account", new_id(), "create", {"name": "Z", "territory_id": t2}),
        ann.mutation("visit", new_id(), "append", {"account_id": a2}),
    )
    assert [x.get("code") for x in r[:2]] == ["forbidden_scope", "forbidden_scope"]
    assert r[2]["code"] == "validation"
    assert r[3]["review"] == "needs_review"  # field work is kept, but flagged
    assert _quarantined(srv) == 2
    boss = srv.login("boss")
    listed = srv.client.get("/v1/quarantine", headers=boss.headers).json()
    assert {q["payload"]["entity_id"] for q in listed} >= {a2}
    assert srv.client.get("/v1/quarantine", headers=ann.headers).status_code == 403
    names = {u["username"] for u in srv.client.get("/v1/users", headers=boss.headers).json()}
    assert {"ann", "bob", "boss"} <= names
    assert srv.client.get("/v1/users", headers=ann.headers).status_code == 403
    assert [
        c["id"] for c in bob.pull_all() if c["entity"] == "visit"
    ] == []  # not shown to T2's rep
    verify = {"scopes": {f"territory:{t2}": {"version": 0, "count": 0, "digest": 0}}}
    assert srv.client.post("/v1/sync/verify", json=verify, headers=ann.headers).json()["revoked"]
    assert [t["id"] for t in srv.client.get("/v1/territories", headers=ann.headers).json()] == [t1]
    r = srv.client.post(
        f"/v1/territories/{t2}/assign", json={"user_id": ann.user_id}, headers=ann.headers
    )
    assert r.status_code == 403
    page = ann.pull_once(cursors={f"territory:{t1}": {"epoch": 2, "version": 10_000}})
    assert {s["id"]: s["state"] for s in page["scopes"]}[f"territory:{t1}"] == "resync"


def test_revocation_then_regrant_gets_a_new_epoch(world):
    srv, t1, _t2, a1, _a2, boss = world
    ann = srv.login("ann")
    ann.pull_all()
    scope = f"territory:{t1}"
    old = dict(ann.cursors[scope])
    r = srv.client.post(
        f"/v1/territories/{t1}/assign", json={"user_id": None}, headers=boss.headers
    )
    assert r.status_code == 200 and r.json()["rep_id"] is None
    page = ann.pull_once()
    assert {s["id"]: s["state"] for s in page["scopes"]}[scope] == "revoked"
    assert page["changes"] == [] and scope not in page["next_cursors"]
    r = ann.push(
        ann.mutation("account", a1, "patch", {"notes": "pending"}, base_version=1),
        ann.mutation("visit", new_id(), "append", {"account_id": a1}),
    )
    assert r[0]["code"] == "forbidden_scope" and _quarantined(srv) == 1
    assert r[1]["review"] == "accepted"  # held within the grace window G
    srv.assign(t1, "ann")
    page = ann.pull_once(cursors={scope: old})
    info = {s["id"]: s for s in page["scopes"]}[scope]
    assert info["state"] == "resync" and info["epoch"] == old["epoch"] + 1


def test_reassigned_account_moves_with_children_in_one_pull(world):
    srv, t1, t2, a1, _a2, boss = world
    ann, bob = srv.login("ann"), srv.login("bob")
    contact, visit = new_id(), new_id()
    ann.push(
        ann.mutation("contact", contact, "create", {"account_id": a1, "name": "Eva"}),
        ann.mutation("visit", visit, "append", {"account_id": a1, "status": "completed"}),
    )
    ann.pull_all()
    bob.pull_all()
    boss.push(boss.mutation("account", a1, "patch", {"territory_id": t2}, base_version=1))
    left = {
        (c["entity"], c["id"], c["op"]) for c in ann.pull_all() if c["scope"] == f"territory:{t1}"
    }
    assert left == {
        ("account", a1, "remove"),
        ("contact", contact, "remove"),
        ("visit", visit, "remove"),
    }
    came = {(c["entity"], c["id"], c["op"]) for c in bob.pull_all()}
    assert {
        ("account", a1, "upsert"),
        ("contact", contact, "upsert"),
        ("visit", visit, "upsert"),
    } <= came


def test_tombstone_gc_sends_stale_cursors_to_resync(make_harness):
    from datetime import timedelta

    from fieldcrm.sync.server.models import utcnow
    from fieldcrm.sync.server.store import gc

    srv = make_harness(tombstone_retention_days=1 / 86400)
    srv.add_user("boss", role="manager")
    srv.add_user("ann")
    t = srv.territory("T")
    srv.assign(t, "ann")
    boss, ann = srv.login("boss"), srv.login("ann")
    keep, drop = new_id(), new_id()
    boss.push(
        boss.mutation("account", keep, "create", {"name": "Keep", "territory_id": t}),
        boss.mutation("account", drop, "create", {"name": "Drop", "territory_id": t}),
    )
    ann.pull_all()
    stale = dict(ann.cursors)
    boss.push(boss.mutation("account", drop, "delete"))
    done = gc(
        srv.db,
        retention_days=srv.settings.tombstone_retention_days,
        now=utcnow() + timedelta(seconds=5),
    )
    assert done["tombstones"] == 1
    page = ann.pull_once(cursors=stale)
    assert {s["id"]: s["state"] for s in page["scopes"]}[f"territory:{t}"] == "resync"
    ann.cursors = page["next_cursors"]
    ids = {c["id"] for c in ann.pull_all()}
    assert keep in ids and drop not in ids  # the deleted row does not come back


def _race_once(db, actor, scope: str, account_id: str) -> tuple[set[str], set[str]]:
    """Writer A takes a version, sleeps, commits; B commits meanwhile; a puller runs throughout."""
    from fieldcrm.sync.protocol import ChangeOp, Mutation, PullRequest
    from fieldcrm.sync.server.models import utcnow
    from fieldcrm.sync.server.scopes import IndexWrites
    from fieldcrm.sync.server.store import apply_mutation, pull

    a_id, b_id = new_id(), new_id()
    took, stop = threading.Event(), threading.Event()
    seen: set[str] = set()

    def writer_a() -> None:
        with db.write() as s, s.begin():
            index = IndexWrites(session=s, now=utcnow())
            index.stage({scope}, "visit", a_id, ChangeOp.UPSERT, 1)
            index.flush()
            took.set()
            time.sleep(0.15)

    def writer_b() -> None:
        took.wait(5)
        m = Mutation(
            mutation_id=new_id(),
            client_seq=1,
            entity="visit",
            entity_id=b_id,
            op="append",
            fields={"account_id": account_id},
        )
        apply_mutation(db, actor=actor, mutation=m, grace_days=30)

    def puller() -> None:
        cursor = pull(db, actor=actor, request=PullRequest(cursors={})).next_cursors[scope]
        while True:
            last_round = stop.is_set()  # set before this pull began: both writers committed
            page = pull(db, actor=actor, request=PullRequest(cursors={scope: cursor}))
            seen.update(c.id for c in page.changes if c.scope == scope)
            cursor = page.next_cursors[scope]
            if last_round and not page.has_more:
                return
            time.sleep(0.005)

    reader = threading.Thread(target=puller)
    writers = [threading.Thread(target=writer_a), threading.Thread(target=writer_b)]
    reader.start()
    for th in writers:
        th.start()
    for th in writers:
        th.join(30)
    stop.set()
    reader.join(30)
    return {a_id, b_id}, seen


def test_g7_slow_writer_is_never_skipped_by_a_concurrent_puller(world):
    """G7 on SQLite and PostgreSQL: the puller receives both changes, every time."""
    from fieldcrm.sync.server.scopes import Actor, compute_scopes

    srv, t1, _t2, a1, _a2, _boss = world
    ann_id = srv.users["ann"]
    with srv.db.read() as s:
        actor = Actor(
            user_id=ann_id,
            role="rep",
            device_id="d",
            scopes=compute_scopes(s, user_id=ann_id, role="rep"),
        )
    for _ in range(4):
        written, seen = _race_once(srv.db, actor, f"territory:{t1}", a1)
        assert written <= seen


def test_concurrent_pushes_to_one_account_all_land_with_distinct_versions(world):
    """Four writers push visits and patches on the same account at once (lock order, retries)."""
    from fieldcrm.sync.protocol import Mutation, PullRequest
    from fieldcrm.sync.server.scopes import Actor, compute_scopes
    from fieldcrm.sync.server.store import apply_push, pull

    srv, t1, _t2, a1, _a2, _boss = world
    boss_id = srv.add_user("boss2", role="manager")
    with srv.db.read() as s:
        actor = Actor(
            user_id=boss_id,
            role="manager",
            device_id="d",
            scopes=compute_scopes(s, user_id=boss_id, role="manager"),
        )
    visits: list[str] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for k in range(3):
                batch = []
                for j in range(10):
                    vid = new_id()
                    visits.append(vid)
                    batch.append(
                        Mutation(
                            mutation_id=new_id(),
                            client_seq=j,
                            entity="visit",
                            entity_id=vid,
                            op="append",
                            fields={
                                "account_id": a1,
                                "status": "completed",
                                "checked_in_at": f"2026-05-0{n + 1}T1{k}:00:0{j}Z",
                            },
                        )
                    )
                batch.append(
                    Mutation(
                        mutation_id=new_id(),
                        client_seq=99,
                        entity="account",
                        entity_id=a1,
                        op="patch",
                        base_version=1,
                        fields={"tags": {"add": [f"w{n}"], "remove": []}},
                    )
                )
                results = apply_push(srv.db, actor=actor, mutations=batch, grace_days=30)
                assert all(o.result.status in ("applied", "merged") for o in results)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    scope = f"territory:{t1}"
    page = pull(srv.db, actor=actor, request=PullRequest(cursors={}))
    got = {c.id for c in page.changes if c.scope == scope and c.entity == "visit"}
    assert got == set(visits) and len(visits) == 120
    versions = [c.version for c in page.changes if c.scope == scope and c.entity == "visit"]
    assert len(set(versions)) == 120  # one version per mutation, none shared across writers
    acc = next(c for c in page.changes if c.scope == scope and c.id == a1)
    assert acc.data["tags"] == ["w0", "w1", "w2", "w3"]
    assert acc.data["last_visit_at"] == "2026-05-04T12:00:09.000000+00:00"
