"""Per-field 3-way merge and conflicts (G4, server part), deletes, visits and the grace window."""

from __future__ import annotations

import random

import pytest

from fieldcrm.domain.ids import new_id

FIELDS = {"name": "N", "notes": "x", "phone": "+46", "city": "Umeå", "website": "w", "street": "s"}


@pytest.fixture
def team(srv):
    srv.add_user("ann")
    srv.add_user("bob")
    srv.add_user("boss", role="manager")
    t = srv.territory("North")
    srv.assign(t, "ann")
    ann, boss = srv.login("ann"), srv.login("boss")
    acc = new_id()
    boss.push(boss.mutation("account", acc, "create", {"name": "Acme", "territory_id": t}))
    return srv, t, ann, boss, acc


def _account(srv, acc):
    from fieldcrm.sync.server.models import Account

    with srv.db.read() as s:
        return s.get(Account, acc)


def _conflicts(srv):
    from sqlalchemy import select

    from fieldcrm.sync.server.models import Conflict

    with srv.db.read() as s:
        return list(s.scalars(select(Conflict).order_by(Conflict.created_at)))


def test_different_fields_both_survive_same_field_first_wins(team):
    srv, _t, ann, boss, acc = team
    r1 = boss.push(
        boss.mutation("account", acc, "patch", {"notes": "boss", "tier": "A"}, base_version=1)
    )
    assert r1[0]["status"] == "applied"
    r2 = ann.push(
        ann.mutation("account", acc, "patch", {"notes": "ann", "city": "Luleå"}, base_version=1)
    )
    assert r2[0]["status"] == "merged"
    [c] = r2[0]["conflicts"]
    assert (c["field"], c["kept_value"], c["rejected_value"]) == ("notes", "boss", "ann")
    row = _account(srv, acc)
    assert (row.notes, row.tier, row.city) == ("boss", "A", "Luleå")
    [stored] = _conflicts(srv)
    assert (
        stored.rejected_value == "ann" and stored.user_id == ann.user_id and stored.status == "open"
    )
    # The rep sees their conflict through pull (user scope); the manager lists and applies it.
    pulled = [ch for ch in ann.pull_all() if ch["entity"] == "conflict"]
    assert pulled and pulled[0]["data"]["rejected_value"] == "ann"
    listed = srv.client.get("/v1/conflicts", headers=boss.headers).json()
    assert [x["id"] for x in listed] == [stored.id]
    assert srv.client.get("/v1/conflicts", headers=ann.headers).json()[0]["id"] == stored.id
    r = srv.client.post(
        f"/v1/conflicts/{stored.id}/resolve", json={"action": "apply"}, headers=ann.headers
    )
    assert r.status_code == 403
    r = srv.client.post(
        f"/v1/conflicts/{stored.id}/resolve", json={"action": "apply"}, headers=boss.headers
    )
    assert r.status_code == 200 and r.json()["status"] == "applied"
    assert _account(srv, acc).notes == "ann"
    assert [ch["data"]["status"] for ch in ann.pull_all() if ch["entity"] == "conflict"] == [
        "applied"
    ]


def test_natural_merges_last_visit_max_and_tag_sets(team):
    srv, _t, ann, boss, acc = team
    boss.push(boss.mutation("account", acc, "patch", {"tags": ["a", "b"]}, base_version=1))
    ann.push(
        ann.mutation(
            "account",
            acc,
            "patch",
            {"tags": {"add": ["c"], "remove": ["a"]}, "last_visit_at": "2026-05-02T10:00:00Z"},
            base_version=1,
        )
    )
    boss.push(
        boss.mutation(
            "account",
            acc,
            "patch",
            {"tags": {"add": ["d"], "remove": []}, "last_visit_at": "2026-04-01T10:00:00Z"},
            base_version=1,
        )
    )
    row = _account(srv, acc)
    assert row.tags == ["b", "c", "d"]
    assert row.last_visit_at == "2026-05-02T10:00:00.000000+00:00"
    assert _conflicts(srv) == []


@pytest.mark.parametrize("seed", range(3))
def test_property_every_submitted_value_is_current_or_in_conflict(team, seed):
    """G4: two offline reps edit random field sets; nothing is lost, replay is deterministic."""
    srv, t, ann, boss, acc = team
    rng = random.Random(seed)
    edits = []
    for who, dev in (("boss", boss), ("ann", ann)):
        names = rng.sample(sorted(FIELDS), rng.randint(1, 4))
        edits.append((dev, {n: f"{FIELDS[n]}-{who}-{seed}" for n in names}))
    for dev, fields in edits:
        dev.push(dev.mutation("account", acc, "patch", fields, base_version=1))
    row = _account(srv, acc)
    conflicts = {(c.field, c.rejected_value) for c in _conflicts(srv)}
    first, second = edits[0][1], edits[1][1]
    for name, value in first.items():
        assert getattr(row, name) == value  # committed first: always kept
    for name, value in second.items():
        if name in first:
            assert (name, value) in conflicts
        else:
            assert getattr(row, name) == value
    assert len(conflicts) == len(set(first) & set(second))


def test_deletes_managers_only_and_edit_to_deleted_is_gone_with_payload_kept(team):
    srv, _t, ann, boss, acc = team
    r = ann.push(ann.mutation("account", acc, "delete"))
    assert r[0]["status"] == "rejected" and r[0]["code"] == "forbidden_scope"
    assert boss.push(boss.mutation("account", acc, "delete"))[0]["status"] == "applied"
    again = boss.push(boss.mutation("account", acc, "delete"))  # both delete: still fine
    assert again[0]["status"] == "applied"
    r = ann.push(ann.mutation("account", acc, "patch", {"notes": "offline edit"}, base_version=1))
    assert r[0]["status"] == "rejected" and r[0]["code"] == "gone"
    gone = [c for c in _conflicts(srv) if c.kind == "gone"]
    assert gone and gone[0].rejected_value["fields"] == {"notes": "offline edit"}
    assert _account(srv, acc).deleted is True


def test_rep_deletes_contact_concurrent_edit_gets_gone(team):
    srv, _t, ann, boss, acc = team
    contact = new_id()
    ann.push(ann.mutation("contact", contact, "create", {"account_id": acc, "name": "Eva"}))
    assert ann.push(ann.mutation("contact", contact, "delete"))[0]["status"] == "applied"
    r = boss.push(boss.mutation("contact", contact, "patch", {"title": "CEO"}, base_version=1))
    assert r[0]["code"] == "gone"


def test_territory_and_owner_only_changed_by_managers(team):
    srv, t, ann, boss, acc = team
    r = ann.push(ann.mutation("account", acc, "patch", {"owner_id": ann.user_id}, base_version=1))
    assert r[0]["code"] == "validation" and "only be changed on the server" in r[0]["message"]
    r = boss.push(boss.mutation("account", acc, "patch", {"owner_id": ann.user_id}, base_version=1))
    assert r[0]["status"] == "applied" and _account(srv, acc).owner_id == ann.user_id


def test_rep_created_account_is_placed_or_flagged(team):
    srv, t, ann, boss, acc = team
    south = srv.territory(
        "South",
        {"type": "Polygon", "coordinates": [[[12, 55], [14, 55], [14, 56], [12, 56], [12, 55]]]},
    )
    inside, elsewhere, nowhere = new_id(), new_id(), new_id()
    ann.push(
        ann.mutation("account", inside, "create", {"name": "In", "lat": 59.5, "lon": 18.0}),
        ann.mutation("account", elsewhere, "create", {"name": "South", "lat": 55.5, "lon": 13.0}),
        ann.mutation("account", nowhere, "create", {"name": "Sea", "lat": 50.0, "lon": 0.0}),
    )
    a, b, c = (_account(srv, x) for x in (inside, elsewhere, nowhere))
    assert (a.territory_id, a.needs_assignment) == (t, False)
    assert (b.territory_id, b.needs_assignment) == (south, True)
    assert (c.territory_id, c.needs_assignment) == (None, True)
    flagged = srv.client.get("/v1/accounts/flagged", headers=boss.headers).json()
    assert {f["id"] for f in flagged} == {elsewhere, nowhere}
    seen = {ch["id"] for ch in ann.pull_all()}
    assert {inside, elsewhere, nowhere} <= seen  # the creator still sees all three
    # The manager places the flagged account: it leaves the creator's user scope.
    boss.push(boss.mutation("account", elsewhere, "patch", {"territory_id": south}, base_version=1))
    follow = [ch for ch in ann.pull_all() if ch["id"] == elsewhere]
    assert [ch["op"] for ch in follow] == ["remove"]


def test_visit_grace_window_from_assignment_history(make_harness):
    srv = make_harness(visit_grace_days=30)
    srv.add_user("ann")
    srv.add_user("bob")
    t, other = srv.territory("North"), srv.territory("Far")
    srv.assign(t, "ann")
    boss_id = srv.add_user("boss", role="manager")
    boss = srv.login("boss")
    acc, far_acc = new_id(), new_id()
    boss.push(
        boss.mutation("account", acc, "create", {"name": "A", "territory_id": t}),
        boss.mutation("account", far_acc, "create", {"name": "F", "territory_id": other}),
    )
    ann = srv.login("ann")
    srv.assign(t, "bob")  # ann loses the territory: visits still count within G
    r = ann.push(
        ann.mutation("visit", new_id(), "append", {"account_id": acc, "status": "completed"}),
        ann.mutation("visit", new_id(), "append", {"account_id": far_acc}),
        ann.mutation("visit", new_id(), "append", {"account_id": "no-such-account"}),
    )
    assert [x["review"] for x in r] == ["accepted", "needs_review", "needs_review"]
    _age_assignments(srv, days=31)
    r = ann.push(ann.mutation("visit", new_id(), "append", {"account_id": acc}))
    assert r[0]["status"] == "applied" and r[0]["review"] == "needs_review"
    from sqlalchemy import func, select

    from fieldcrm.sync.server.models import Visit

    with srv.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Visit)) == 4  # never dropped
    assert boss_id


def _age_assignments(srv, *, days):
    from datetime import timedelta

    from sqlalchemy import update

    from fieldcrm.sync.server.models import TerritoryAssignment

    with srv.db.write() as s, s.begin():
        for a in s.query(TerritoryAssignment).filter(TerritoryAssignment.valid_to.is_not(None)):
            s.execute(
                update(TerritoryAssignment)
                .where(TerritoryAssignment.id == a.id)
                .values(
                    valid_from=a.valid_from - timedelta(days=days),
                    valid_to=a.valid_to - timedelta(days=days),
                )
            )
