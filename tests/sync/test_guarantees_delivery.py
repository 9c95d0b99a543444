"""G2: exactly-once effect under duplicated, lost-after-commit and reordered pushes."""

from __future__ import annotations

import random
from typing import Any

from fieldcrm.sync.server.models import Account, AppliedMutation, Contact, Visit
from tests.sync.client_helpers import (
    add_contact,
    assert_converged,
    fault_client,
    log_visit,
    outbox_mutation_ids,
    rep_with_territory,
    server_count,
    sync_until_ok,
)

pytest_plugins = ["tests.sync.conftest_client"]


def test_duplicates_drops_and_reordering_apply_once(srv: Any, laptops: Any) -> None:
    seed = 20261122
    print(f"G2 seed {seed}")
    rng = random.Random(seed)
    rep_with_territory(srv, "anna")
    https = [fault_client(srv, seed=seed + i, dup=3, drop=0.3, replay=0.3) for i in range(3)]
    laps = [laptops("anna", https[0]), laptops("anna", https[1]), laptops("anna", https[2])]
    expected: dict[str, dict[str, Any]] = {}
    visits: set[str] = set()
    for lap in laps:
        sync_until_ok(lap)
    for rnd in range(4):
        for i, lap in enumerate(laps):
            acc = lap.create_account(f"Shop {rnd}-{i}")
            expected[acc] = {"name": f"Shop {rnd}-{i}"}
            if rng.random() < 0.7:
                lap.update_account(acc, city=f"City {rnd}", notes=f"n{i}")
                expected[acc].update(city=f"City {rnd}", notes=f"n{i}")
            add_contact(lap, acc, f"Eva {rnd}")
            visits.add(log_visit(lap, acc))
        order = rng.sample(laps, len(laps))
        for lap in order:
            sync_until_ok(lap)
            if rng.random() < 0.5:
                https[rng.randrange(3)]._transport.release()  # a late copy of an old batch
    for http in https:
        http._transport.release()
    for _ in range(2):
        for lap in laps:
            sync_until_ok(lap)
    stats = [h._transport.stats for h in https]
    assert sum(s["dups"] for s in stats) > 5 and sum(s["drops"] for s in stats) > 2
    assert server_count(srv, Visit) == len(visits)
    assert server_count(srv, Contact) == len(expected)
    assert server_count(srv, Account) == len(expected)
    sent = set().union(*(outbox_mutation_ids(lap) for lap in laps))
    assert server_count(srv, AppliedMutation) == len(sent)
    with srv.db.read() as s:
        for acc, fields in expected.items():
            row = s.get(Account, acc)
            assert {k: getattr(row, k) for k in fields} == fields
            # create, the patch (once, if any), the visit raising last_visit_at (once)
            assert row.row_version == 2 + (len(fields) > 1)
    for lap in laps:
        assert set(lap.states()) == {"acked"}
        assert_converged(srv, lap)
