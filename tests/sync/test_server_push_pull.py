"""Push, pull and verify round trips; idempotent duplicates; bad requests never half-write."""

from __future__ import annotations

import json

from fieldcrm.domain.ids import new_id
from fieldcrm.sync.protocol import scope_digest


def _setup(srv):
    srv.add_user("ann")
    t = srv.territory("North")
    srv.assign(t, "ann")
    return t, srv.login("ann")


def _count(srv, table: str) -> int:
    from sqlalchemy import text

    with srv.db.read() as s:
        return int(s.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_round_trip_create_patch_visit_and_verify(srv):
    t, ann = _setup(srv)
    acc, contact, visit = new_id(), new_id(), new_id()
    results = ann.push(
        ann.mutation(
            "account", acc, "create", {"name": "Acme", "lat": 59.5, "lon": 18.0, "tier": "A"}
        ),
        ann.mutation("contact", contact, "create", {"account_id": acc, "name": "Eva"}),
        ann.mutation(
            "visit",
            visit,
            "append",
            {
                "account_id": acc,
                "status": "completed",
                "checked_in_at": "2026-05-04T10:00:00+02:00",
            },
        ),
        ann.mutation("account", acc, "patch", {"notes": "likes coffee"}, base_version=1),
    )
    assert [r["status"] for r in results] == ["applied"] * 4
    assert results[2]["review"] == "accepted"
    versions = [r["version"] for r in results]
    assert versions == sorted(versions)
    changes = ann.pull_all()
    scope = f"territory:{t}"
    mine = {(c["entity"], c["id"]): c for c in changes if c["scope"] == scope}
    account = mine[("account", acc)]["data"]
    assert account["name"] == "Acme" and account["notes"] == "likes coffee"
    assert account["territory_id"] == t and account["needs_assignment"] is False
    assert account["last_visit_at"] == "2026-05-04T08:00:00.000000+00:00"
    assert mine[("contact", contact)]["data"]["account_id"] == acc
    assert mine[("visit", visit)]["data"]["review"] == "accepted"
    assert any(c["scope"] == f"user:{ann.user_id}" and c["id"] == visit for c in changes)
    # Verify: the digest over (entity, id, row_version) of what we hold matches.
    for s in (scope, f"user:{ann.user_id}"):
        rows = {
            (c["entity"], c["id"]): c["data"]["row_version"]
            for c in changes
            if c["scope"] == s and c["op"] == "upsert"
        }
        count, digest = scope_digest([(e, i, v) for (e, i), v in rows.items()])
        body = {
            "scopes": {s: {"version": ann.cursors[s]["version"], "count": count, "digest": digest}}
        }
        r = srv.client.post("/v1/sync/verify", json=body, headers=ann.headers).json()
        assert r == {"mismatched": [], "behind": [], "revoked": []}
    bad = {"scopes": {scope: {"version": ann.cursors[scope]["version"], "count": 1, "digest": 5}}}
    r = srv.client.post("/v1/sync/verify", json=bad, headers=ann.headers).json()
    assert r["mismatched"] == [scope]
    stale = {"scopes": {scope: {"version": 1, "count": 0, "digest": 0}}}
    assert srv.client.post("/v1/sync/verify", json=stale, headers=ann.headers).json()["behind"] == [
        scope
    ]


def test_duplicate_pushes_apply_once(srv):
    _t, ann = _setup(srv)
    acc = new_id()
    batch = [
        ann.mutation("account", acc, "create", {"name": "Acme"}),
        ann.mutation(
            "visit",
            new_id(),
            "append",
            {"account_id": acc, "status": "completed", "checked_in_at": "2026-05-04T10:00:00Z"},
        ),
        ann.mutation(
            "account", acc, "patch", {"tags": {"add": ["vip"], "remove": []}}, base_version=1
        ),
    ]
    first = ann.push(*batch)
    for _ in range(3):
        again = ann.push(*batch)
        assert [r["status"] for r in again] == ["duplicate"] * 3
        assert [r["original_result"] for r in again] == first
    assert _count(srv, "visit") == 1 and _count(srv, "applied_mutation") == 3
    # Same visit id under a new mutation id (a client bug) still gives one visit.
    ann.push(
        ann.mutation(
            "visit", batch[1]["entity_id"], "append", {"account_id": acc, "status": "completed"}
        )
    )
    assert _count(srv, "visit") == 1


def test_pull_pages_end_on_version_boundaries(srv):
    """Pages hold ≤ limit rows but never split one version (one mutation's writes)."""
    srv.add_user("boss", role="manager")
    t, ann = _setup(srv)
    other = srv.territory("Other")
    boss = srv.login("boss")
    accounts = [new_id() for _ in range(5)]
    boss.push(
        *[
            boss.mutation("account", a, "create", {"name": f"A{n}", "territory_id": t})
            for n, a in enumerate(accounts)
        ]
    )
    mover = new_id()
    contacts = [new_id() for _ in range(4)]
    boss.push(
        boss.mutation("account", mover, "create", {"name": "Mover", "territory_id": other}),
        *[
            boss.mutation("contact", c, "create", {"account_id": mover, "name": "C"})
            for c in contacts
        ],
    )
    # One mutation moves the account and its 4 contacts into t: 5 rows at one version.
    boss.push(boss.mutation("account", mover, "patch", {"territory_id": t}, base_version=1))
    seen, pages = [], []
    while True:
        page = ann.pull_once(limit=3)
        versions = [c["version"] for c in page["changes"] if c["scope"] == f"territory:{t}"]
        assert versions == sorted(versions)
        pages.append({c["id"] for c in page["changes"]})
        seen += [c["id"] for c in page["changes"]]
        ann.cursors = page["next_cursors"]
        if not page["has_more"]:
            break
    assert set(accounts) | {mover} | set(contacts) <= set(seen)
    assert all(len(p) <= 3 for p in pages if mover not in p)
    assert any({mover, *contacts} <= p for p in pages)  # the 5-row version came whole
    assert ann.pull_once()["changes"] == []


def test_tombstones_skipped_from_zero_but_sent_to_followers(srv):
    srv.add_user("boss", role="manager")
    t, ann = _setup(srv)
    boss = srv.login("boss")
    acc = new_id()
    ann.push(ann.mutation("account", acc, "create", {"name": "Gone soon"}))
    ann.pull_all()
    assert boss.push(boss.mutation("account", acc, "delete"))[0]["status"] == "applied"
    follow = ann.pull_all()
    assert [(c["op"], c["id"]) for c in follow] == [("delete", acc)]
    fresh = srv.login("ann").pull_all()
    assert all(c["id"] != acc for c in fresh)


def test_malformed_and_oversized_push_is_4xx_without_writes(srv):
    _t, ann = _setup(srv)
    good = ann.mutation("account", new_id(), "create", {"name": "Fine"})
    bad_entity = {
        **ann.mutation("account", new_id(), "create", {"name": "x"}),
        "entity": "spaceship",
    }
    r = ann.push_raw([good, bad_entity])
    assert r.status_code == 422 and "mutations.1.entity" in r.json()["detail"]
    too_many = [ann.mutation("visit", new_id(), "append", {"account_id": "a"}) for _ in range(101)]
    r = ann.push_raw(too_many)
    assert r.status_code == 422 and "mutations" in r.json()["detail"]
    huge = ann.mutation("account", new_id(), "create", {"name": "x", "notes": "n" * 1_100_000})
    r = ann.push_raw([good, huge])
    assert r.status_code == 413 and "1000000" in r.json()["detail"]
    r = srv.client.post("/v1/sync/push", content=b"{not json", headers=ann.headers)
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    r = srv.client.post("/v1/sync/pull", json={"cursors": {}, "limit": 501}, headers=ann.headers)
    assert r.status_code == 422 and "limit" in r.json()["detail"]
    assert _count(srv, "account") == 0 and _count(srv, "applied_mutation") == 0


def test_bad_fields_are_rejected_per_mutation_with_a_message(srv):
    _t, ann = _setup(srv)
    acc = new_id()
    results = ann.push(
        ann.mutation("account", acc, "create", {"name": "Acme", "tier": "Z", "colour": "red"}),
        ann.mutation("account", new_id(), "create", {"name": "Fine"}),
        ann.mutation("visit", new_id(), "create", {"account_id": acc}),
        ann.mutation("account", new_id(), "create", {"name": "Mine", "territory_id": "T9"}),
    )
    assert results[0]["status"] == "rejected" and results[0]["code"] == "validation"
    assert (
        "tier must be one of" in results[0]["message"] and "colour unknown" in results[0]["message"]
    )
    assert results[1]["status"] == "applied"
    assert results[2]["code"] == "validation" and "append" in results[2]["message"]
    assert "territory_id can only be set on the server" in results[3]["message"]
    assert _count(srv, "account") == 1


def test_device_id_must_match_token(srv):
    _t, ann = _setup(srv)
    body = {"device_id": "someone-elses", "mutations": []}
    r = srv.client.post("/v1/sync/push", json=body, headers=ann.headers)
    assert r.status_code == 403


def test_nul_characters_and_odd_values_never_give_a_500(srv):
    srv.add_user("boss", role="manager")
    t, ann = _setup(srv)
    boss = srv.login("boss")
    foreign = srv.territory("Foreign")
    acc = new_id()
    boss.push(boss.mutation("account", acc, "create", {"name": "F", "territory_id": foreign}))
    r = ann.push(
        ann.mutation("account", new_id(), "create", {"name": "bad\x00name"}),
        ann.mutation("account", acc, "patch", {"notes": "x\x00y", "bogus\x00": 1}, base_version=1),
    )
    assert r[0]["code"] == "validation" and "NUL" in r[0]["message"]
    assert r[1]["code"] in ("validation", "forbidden_scope")
    bad_id = ann.mutation("account", "id\x00", "create", {"name": "x"})
    assert ann.push_raw([bad_id]).status_code == 422
    r = srv.client.post("/v1/auth/token", json={"username": "a\x00b", "password": "whatever-1"})
    assert r.status_code == 422
    r = srv.client.post(
        "/v1/territories/x%00y/assign", json={"user_id": None}, headers=boss.headers
    )
    assert 400 <= r.status_code < 500
    r = srv.client.get("/v1/conflicts", params={"status": "x\x00"}, headers=boss.headers)
    assert r.status_code == 422
    assert srv.client.get("/v1/health").status_code == 200


def test_busy_database_is_503_with_retry_after(srv, monkeypatch):
    from fieldcrm.sync.server import routes
    from fieldcrm.sync.server.push import Busy

    _t, ann = _setup(srv)

    def busy(*_a, **_k):
        raise Busy("the database is busy; retry later")

    monkeypatch.setattr(routes.store, "apply_push", busy)
    r = ann.push_raw([ann.mutation("account", new_id(), "create", {"name": "x"})])
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert "retry later" in r.json()["detail"]


def test_pull_pages_stay_near_one_megabyte(srv):
    _t, ann = _setup(srv)
    ids = [new_id() for _ in range(80)]
    for start in (0, 40):  # 40 x 20 kB notes per push stays under the 1 MB push cap
        ann.push(
            *[
                ann.mutation("account", a, "create", {"name": "Big", "notes": "n" * 20_000})
                for a in ids[start : start + 40]
            ]
        )
    seen, sizes = set(), []
    while True:
        page = ann.pull_once()
        sizes.append(len(json.dumps(page)))
        seen |= {c["id"] for c in page["changes"]}
        ann.cursors = page["next_cursors"]
        if not page["has_more"]:
            break
    assert set(ids) <= seen and len(sizes) >= 2
    assert max(sizes) < 1_100_000


def test_a_mutation_the_server_cannot_apply_is_isolated_not_wedging(srv, monkeypatch, caplog):
    from fieldcrm.sync.server import merge

    _t, ann = _setup(srv)
    poison = new_id()
    real = merge.HANDLERS[merge.Op.CREATE]

    def flaky(tx):
        if tx.mutation.entity_id == poison:
            raise RuntimeError("simulated server bug")
        return real(tx)

    monkeypatch.setitem(merge.HANDLERS, merge.Op.CREATE, flaky)
    good1, good2 = new_id(), new_id()
    batch = [
        ann.mutation("account", good1, "create", {"name": "A"}),
        ann.mutation("account", poison, "create", {"name": "P"}),
        ann.mutation("account", good2, "create", {"name": "B"}),
    ]
    r = ann.push(*batch)
    assert [x["status"] for x in r] == ["applied", "rejected", "applied"]
    assert "internal error" in r[1]["message"]
    assert _count(srv, "account") == 2 and _count(srv, "quarantine") == 1
    assert [x["status"] for x in ann.push(*batch)] == ["duplicate"] * 3
    assert "simulated server bug" in caplog.text
