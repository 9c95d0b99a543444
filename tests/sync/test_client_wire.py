"""Local outbox entries → wire mutations, and pulled data → local columns (no server needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fieldcrm.db.models import OutboxRecord
from fieldcrm.services.sync_wire import local_values, to_mutation


def _rec(entity: str, op: str, fields: dict, base: int = 0, seq: int = 7) -> OutboxRecord:
    return OutboxRecord(client_seq=seq, mutation_id="01a2-mut", entity=entity, entity_id="e1",
                        op=op, base_version=base, fields_json=json.dumps(fields))


def test_account_create_by_a_rep_drops_server_only_fields_and_lists_tags() -> None:
    m = to_mutation(_rec("account", "create", {"name": "A", "territory_id": None,
                                               "owner_id": None, "tags": "vip,north"}), role="rep")
    assert m is not None and m.base_version is None
    assert m.fields == {"name": "A", "tags": ["vip", "north"]}
    boss = to_mutation(_rec("account", "create", {"name": "A", "territory_id": "t"}),
                       role="manager")
    assert boss is not None and boss.fields["territory_id"] == "t"


def test_patch_on_an_offline_create_uses_base_1_and_empty_patches_stay_local() -> None:
    m = to_mutation(_rec("account", "patch", {"city": "Umeå"}, base=0), role="rep")
    assert m is not None and m.base_version == 1
    assert to_mutation(_rec("account", "patch", {"territory_id": "t"}, base=3), role="rep") is None


def test_visits_are_append_only_on_the_wire() -> None:
    planned = to_mutation(_rec("visit", "create", {"account_id": "a", "rep_id": "u",
                                                   "status": "planned"}), role="rep")
    assert planned is not None and planned.op == "append" and "rep_id" not in planned.fields
    done = to_mutation(_rec("visit", "patch", {"status": "completed", "outcome": "order"}, 1),
                       role="rep")
    assert done is not None
    assert (done.entity, done.entity_id, done.op) == ("visit_amendment", "01a2-mut", "append")
    assert done.fields == {"visit_id": "e1", "changes": {"status": "completed",
                                                         "outcome": "order"}}
    amend = to_mutation(_rec("visit_amendment", "append", {"visit_id": "v", "author_id": "u",
                                                           "changes": {"notes": "x"}}), role="rep")
    assert amend is not None and amend.fields == {"visit_id": "v", "changes": {"notes": "x"}}


def test_pulled_data_to_local_columns_keeps_unknown_fields() -> None:
    values, extra = local_values("account", {
        "id": "a", "name": "A", "tags": ["x", "y"], "row_version": 3,
        "last_visit_at": "2026-05-01T09:30:00+02:00", "field_versions": {"name": 3},
        "created_by": "u1", "industry": "bakery"})
    assert values["tags"] == "x,y" and values["row_version"] == 3
    assert values["last_visit_at"] == datetime(2026, 5, 1, 7, 30, tzinfo=UTC)
    assert extra == {"created_by": "u1", "industry": "bakery"}
    values, _ = local_values("visit_amendment", {"id": "m", "visit_id": "v", "rep_id": "u",
                                                 "changes": {"notes": "n"}})
    assert values["author_id"] == "u" and json.loads(values["fields_json"]) == {"notes": "n"}


def test_an_unreadable_server_answer_is_a_plain_sync_error() -> None:
    import httpx
    import pytest

    from fieldcrm.errors import SyncError
    from fieldcrm.sync.client import _parse
    from fieldcrm.sync.protocol import PullResponse

    for body in (b"<html>502 Bad Gateway</html>", b'{"changes": 7}', b'{"scopes": [', b""):
        with pytest.raises(SyncError) as err:
            _parse(httpx.Response(200, content=body), PullResponse)
        assert err.value.kind == "server"
        assert str(err.value).startswith("The sync server sent an unreadable answer")
