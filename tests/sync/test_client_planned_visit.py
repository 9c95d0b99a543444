"""A visit planned on one laptop and completed later raises last_visit_at on the server too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fieldcrm.services import visits as V

pytest_plugins = ["tests.sync.conftest_client"]


def test_completing_a_planned_visit_moves_last_visit_everywhere(srv: Any, laptops: Any) -> None:
    srv.add_user("anna")
    t = srv.territory("North")
    srv.assign(t, "anna")
    a = laptops("anna", srv.client)
    acc = a.create_account("Kiruna Järn AB")
    a.sync()
    with a.session() as s:
        planned = V.plan_visit(session=s, account_id=acc, rep_id=None,
                               planned_at=datetime.now(UTC) + timedelta(hours=1))
    a.sync()
    done_at = datetime.now(UTC).replace(microsecond=0)
    with a.session() as s:
        V.log_visit(session=s, account_id=acc, rep_id=None, planned_visit_id=planned.id,
                    fields={"checked_in_at": done_at, "outcome": "Order taken"})
    a.sync()
    a.sync()  # pull back what the server now holds for the account
    assert a.account(acc).last_visit_at == done_at
    b = laptops("anna", srv.client)  # a second laptop sees it from the server alone
    b.sync()
    assert b.account(acc).last_visit_at == done_at
