"""A rep never reads or writes outside their scopes, whatever ids or cursors they forge."""

from __future__ import annotations

from typing import Any

from fieldcrm.domain.ids import new_id
from fieldcrm.sync.protocol import scope_of_territory, scope_of_user
from tests.sync.client_helpers import rep_with_territory

pytest_plugins = ["tests.sync.conftest_client"]
SOUTH = {"type": "Polygon", "coordinates": [[[12, 55], [14, 55], [14, 56], [12, 56], [12, 55]]]}


def test_forged_ids_and_cursors_get_nothing(srv: Any) -> None:
    north = rep_with_territory(srv, "anna")
    srv.add_user("bert")
    south = srv.territory("South", SOUTH)
    srv.assign(south, "bert")
    srv.add_user("boss", role="manager")
    boss, anna, bert = srv.login("boss"), srv.login("anna"), srv.login("bert")
    theirs, contact = new_id(), new_id()
    boss.push(boss.mutation("account", theirs, "create", {"name": "B", "territory_id": south}),
              boss.mutation("contact", contact, "create", {"account_id": theirs, "name": "E"}))
    visit = new_id()
    bert.push(bert.mutation("visit", visit, "append", {"account_id": theirs}))
    # writes with forged ids
    results = anna.push(
        anna.mutation("account", theirs, "patch", {"notes": "x"}, base_version=1),
        anna.mutation("contact", contact, "patch", {"title": "x"}, base_version=1),
        anna.mutation("contact", new_id(), "create", {"account_id": theirs, "name": "Spy"}),
        anna.mutation("account", theirs, "delete"),
        anna.mutation("visit_amendment", new_id(), "append",
                      {"visit_id": visit, "changes": {"notes": "forged"}}),
    )
    assert [r.get("code") for r in results] == ["forbidden_scope"] * 5
    # reads with forged cursors: another rep's territory and user scope
    forged = {scope_of_territory(south): {"epoch": 1, "version": 0},
              scope_of_user(bert.user_id): {"epoch": 1, "version": 0}}
    page = anna.pull_once(cursors=forged)
    assert {s["id"]: s["state"] for s in page["scopes"] if s["id"] in forged} == {
        k: "revoked" for k in forged}
    leaked = [c for c in anna.pull_all() if c["id"] in (theirs, contact, visit)]
    assert leaked == []
    r = srv.client.post("/v1/sync/verify", headers=anna.headers, json={"scopes": {
        scope_of_territory(south): {"version": 0, "count": 0, "digest": 0}}})
    assert r.json()["revoked"] == [scope_of_territory(south)]
    # a mutation id someone else used is not an oracle for their result
    used = bert.mutation("visit", new_id(), "append", {"account_id": theirs})
    bert.push(used)
    again = anna.push({**used, "client_seq": 99})
    assert again[0]["status"] == "rejected"
    territories = srv.client.get("/v1/territories", headers=anna.headers).json()
    assert [x["id"] for x in territories] == [north]
    assert srv.client.get("/v1/conflicts", headers=anna.headers).json() == []
