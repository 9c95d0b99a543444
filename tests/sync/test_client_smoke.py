"""Smoke: a rep's laptop logs in, pushes an offline account and pulls the territory back."""

from __future__ import annotations

from typing import Any

from fieldcrm.db.models import AccountRecord, RowScopeRecord

pytest_plugins = ["tests.sync.conftest_client"]


def test_round_trip(srv: Any, laptops: Any) -> None:
    srv.add_user("anna")
    t = srv.territory("North")
    srv.assign(t, "anna")
    a = laptops("anna", srv.client)
    acc = a.create_account("Bageri Ek")
    summary = a.sync()
    assert summary.acked == 1, summary
    assert a.states() == {"acked": 1}
    row = a.account(acc)
    assert row.territory_id == t and row.row_version == 1
    assert a.count(RowScopeRecord, RowScopeRecord.entity_id == acc) == 1
    assert not summary.mismatched
    b = laptops("anna", srv.client)
    b.sync()
    assert b.count(AccountRecord) == 1
