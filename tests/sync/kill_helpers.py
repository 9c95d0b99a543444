"""G1 scenario: a rep syncs while the server process is SIGKILLed at chosen or random moments."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from tests.sync.client_helpers import (
    Laptop,
    add_contact,
    assert_converged,
    log_visit,
    outbox_mutation_ids,
    sync_until_ok,
)

# Exact kill points armed inside the server child (tests/sync/zygote.py), plus "random": a
# SIGKILL sent from this process after a random delay within the usual sync duration.
KILL_POINTS = ("before_commit", "after_commit", "mid_pull", "mid_batch", "random")


def _arm(rng: random.Random, point: str) -> dict[str, Any] | None:
    if point == "random":
        return None
    if point == "mid_pull":
        return {"point": point, "nth": rng.randint(1, 3)}
    if point == "mid_batch":
        return {"point": point, "nth": 1, "step": rng.randint(1, 12)}
    return {"point": point, "nth": 1}


def _write_offline(laptop: Laptop, rng: random.Random, i: int, book: dict[str, Any]) -> None:
    """One iteration's local work: maybe an account, 1-6 visits, an edit, maybe a contact."""
    if not book["accounts"] or rng.random() < 0.4:
        book["accounts"].append(laptop.create_account(f"K{i}"))
    acc = rng.choice(book["accounts"])
    for _ in range(rng.randint(1, 6)):
        book["visits"].add(log_visit(laptop, acc))
    laptop.update_account(acc, notes=f"iteration {i}")
    if rng.random() < 0.3:
        add_contact(laptop, acc, f"C{i}")
        book["contacts"] += 1


def _one_sync(laptop: Laptop, pull_limit: int) -> tuple[bool, float]:
    from fieldcrm.errors import SyncError

    started = time.monotonic()
    try:
        laptop.sync(pull_limit=pull_limit)
    except SyncError as exc:
        assert exc.kind in ("offline", "busy"), exc
        return False, time.monotonic() - started
    return True, time.monotonic() - started


def kill_scenario(h: Any, server: Any, laptop: Laptop, *, iterations: int, seed: int,
                  pull_limit: int = 5) -> dict[str, Any]:
    """Write offline, sync while the server is SIGKILLed, restart it, retry; check the result.

    Each iteration forks a fresh server armed with one kill point (chosen by ``seed``), syncs,
    and makes sure the server is dead afterwards (a point the sync never reached becomes a
    kill at idle), so every iteration is a kill and a cold restart. Returns figures; raises
    AssertionError on any lost or duplicated write or any outbox entry left unacknowledged.
    """
    rng = random.Random(seed)
    book: dict[str, Any] = {"accounts": [], "visits": set(), "contacts": 0}
    armed: Counter[str] = Counter()
    landed: Counter[str] = Counter()
    failures = 0
    typical = 0.2  # running estimate of a sync's duration, for the random kills
    sync_until_ok(laptop, pull_limit=pull_limit)
    for i in range(iterations):
        _write_offline(laptop, rng, i, book)
        point = rng.choice(KILL_POINTS)
        armed[point] += 1
        server.kill()
        server.start(kill=_arm(rng, point), wait=False)
        killer = None
        if point == "random":
            killer = threading.Timer(rng.uniform(0, 1.5 * typical), server.kill)
            killer.start()
        ok, took = _one_sync(laptop, pull_limit)
        if killer is not None:
            killer.join()
        if ok:
            typical = 0.8 * typical + 0.2 * took
        else:
            failures += 1
        if server.alive():
            landed["idle"] += 1  # the armed point was not reached: kill it between syncs
            server.kill()
        else:
            landed[server.zygote.kill_point(server.pid) or "random"] += 1
    server.start()
    for _ in range(2):
        sync_until_ok(laptop, pull_limit=pull_limit)
    _check(h, laptop, book)
    return {"iterations": iterations, "kills": sum(landed.values()), "failed_syncs": failures,
            "armed": dict(armed), "landed": dict(landed), "visits": len(book["visits"]),
            "accounts": len(book["accounts"]), "contacts": book["contacts"],
            "mutations": len(outbox_mutation_ids(laptop)), "seed": seed}


def _check(h: Any, laptop: Laptop, book: dict[str, Any]) -> None:
    """0 lost, 0 duplicated, every outbox entry acked, replica equal to the oracle."""
    from fieldcrm.db.models import OutboxRecord
    from fieldcrm.sync.server.models import Account, AppliedMutation, Contact, Visit

    states = laptop.states()
    assert set(states) <= {"acked"}, f"outbox entries not acked: {states}"
    with laptop.db.session() as s:
        local_visits = set(s.scalars(select(OutboxRecord.entity_id).where(
            OutboxRecord.entity == "visit")))
    assert local_visits == book["visits"], "the client's outbox lost visits"
    with h.db.read() as s:
        server_visits = list(s.scalars(select(Visit.id)))
        applied = list(s.scalars(select(AppliedMutation.mutation_id)))
        accounts = s.scalar(select(func.count()).select_from(Account))
        contacts = s.scalar(select(func.count()).select_from(Contact))
    assert len(server_visits) == len(set(server_visits)), "duplicated visits"
    lost = book["visits"] - set(server_visits)
    extra = set(server_visits) - book["visits"]
    assert not lost and not extra, f"{len(lost)} visits lost, {len(extra)} unknown"
    assert accounts == len(book["accounts"]) and contacts == book["contacts"]
    assert len(applied) == len(set(applied)), "a mutation was applied twice"
    assert set(applied) == outbox_mutation_ids(laptop), "applied mutations differ from acked"
    assert_converged(h, laptop)
