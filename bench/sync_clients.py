"""G11: 50 concurrent client processes against one server on PostgreSQL on loopback.

Each client (its own process and SQLite file, logged in as its own rep) logs 1 visit/s, edits
an account every 10 s, syncs every 5 s and, every 30 s, logs 100 visits at once and syncs them
(one push of 100 mutations). At the end writes stop and every outbox must drain within 30 s.
Checks: 0 lost, 0 duplicated (server visits == visits logged; applied mutations == acked).
Figures: p95 push latency of 100 mutations (target < 500 ms), p95 pull, applied mutations/s,
drain time. Peer, side by side: jepsen-powersync ran 5-10 clients [PS7].
Run: ``.venv/bin/python bench/sync_clients.py [--clients 50] [--seconds 120] [--backend ...]``.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sync_common import PASSWORD, Server, bulk_territory, database, setup_team

PEER = "jepsen-powersync: 5-10 clients [PS7]"


def _p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(0.95 * len(values)))]


def client_main(index: int, base_url: str, folder: str, seconds: float, out: Any) -> None:
    """One laptop: write, sync on a timer, then drain; put figures on ``out``."""
    from datetime import UTC, datetime, timedelta

    import httpx
    from sqlalchemy import select

    from fieldcrm.db.engine import open_database
    from fieldcrm.db.models import AccountRecord, OutboxRecord, VisitRecord
    from fieldcrm.errors import SyncError
    from fieldcrm.services.accounts import update_account
    from fieldcrm.services.sync import sync_once
    from fieldcrm.services.visits import log_visit
    from fieldcrm.sync.client import RetryPolicy, SyncClient

    rng = random.Random(index)
    db = open_database(Path(folder) / f"laptop{index}.db")
    client = SyncClient(httpx.Client(timeout=60), base_url, seed=index,
                        retry=RetryPolicy(attempts=5, base_s=0.2))
    client.login(f"rep{index}", PASSWORD)
    push_ms: list[tuple[int, float]] = []
    pull_ms: list[float] = []
    real_push, real_pull = client.push, client.pull

    def push(muts: list[Any]) -> Any:
        t = time.perf_counter()
        r = real_push(muts)
        push_ms.append((len(muts), (time.perf_counter() - t) * 1000))
        return r

    def pull(cursors: Any, limit: int = 500) -> Any:
        t = time.perf_counter()
        r = real_pull(cursors, limit)
        pull_ms.append((time.perf_counter() - t) * 1000)
        return r

    client.push, client.pull = push, pull  # type: ignore[method-assign]
    errors = 0

    def cycle() -> None:
        nonlocal errors
        try:
            sync_once(db=db, client=client)
        except SyncError:
            errors += 1

    cycle()
    with db.session() as s:
        accounts = list(s.scalars(select(AccountRecord.id)))
    start = time.monotonic()
    tick = 0
    when = datetime.now(UTC) - timedelta(hours=1)

    def visit() -> None:
        with db.session() as s:
            log_visit(session=s, account_id=rng.choice(accounts), rep_id=None,
                      fields={"checked_in_at": when, "outcome": "order", "notes": "bench"})

    time.sleep(rng.uniform(0, 5))  # spread the clients' timers
    while time.monotonic() - start < seconds:
        tick += 1
        visit()
        if tick % 10 == 0:
            with db.session() as s:
                update_account(session=s, account_id=rng.choice(accounts),
                               changes={"notes": f"edit {tick} by rep{index}"})
        if tick % 30 == 0:
            for _ in range(100):
                visit()
        if tick % 5 == 0:
            cycle()
        time.sleep(max(0.0, start + tick - time.monotonic()))
    stop = time.monotonic()
    while time.monotonic() - stop < 60:
        cycle()
        with db.session() as s:
            left = s.query(OutboxRecord).filter(OutboxRecord.state.in_(("pending", "inflight"))).count()
        if left == 0:
            break
    drain = time.monotonic() - stop
    with db.session() as s:
        visits = list(s.scalars(select(VisitRecord.id)))
        acked = list(s.scalars(select(OutboxRecord.mutation_id).where(OutboxRecord.state == "acked")))
        states = {st: s.query(OutboxRecord).filter(OutboxRecord.state == st).count()
                  for st in ("pending", "inflight", "acked", "rejected", "quarantined")}
    out.put({"index": index, "visits": visits, "acked": acked, "states": states,
             "push_ms": push_ms, "pull_ms": pull_ms, "drain_s": drain, "errors": errors})
    db.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    args = ap.parse_args()
    from sqlalchemy import func, select

    folder = Path(tempfile.mkdtemp(prefix="fieldcrm-bench-clients-"))
    url, stop_db = database(args.backend, folder)
    results: list[dict[str, Any]] = []
    try:
        team = setup_team(url, reps=args.clients)
        for i, territory in enumerate(team["territories"]):
            bulk_territory(team["db"], territory, accounts=20, contacts_per=1, visits=0,
                           visit_rep=team["reps"][i], seed=i)
        server = Server(url, folder / "server.log", workers=args.workers,
                        db_pool_size=max(5, args.clients // args.workers + 2))
        try:
            ctx = mp.get_context("fork")
            out = ctx.Queue()
            procs = [ctx.Process(target=client_main, args=(i, server.base_url, str(folder),
                                                           args.seconds, out))
                     for i in range(args.clients)]
            t0 = time.monotonic()
            for p in procs:
                p.start()
            for _ in procs:
                results.append(out.get(timeout=args.seconds + 600))
            for p in procs:
                p.join(30)
            elapsed = time.monotonic() - t0
        finally:
            server.stop()
        from fieldcrm.sync.server.models import AppliedMutation, Visit

        with team["db"].read() as s:
            server_visits = set(s.scalars(select(Visit.id)))
            applied = int(s.scalar(select(func.count()).select_from(AppliedMutation)) or 0)
        team["db"].engine.dispose()
    finally:
        stop_db()
    logged = [v for r in results for v in r["visits"]]
    acked = [m for r in results for m in r["acked"]]
    lost = len(set(logged) - server_visits)
    duplicated = len(logged) - len(set(logged))
    pushes100 = [ms for r in results for n, ms in r["push_ms"] if n >= 100]
    pulls = [ms for r in results for ms in r["pull_ms"]]
    not_drained = sum(r["states"]["pending"] + r["states"]["inflight"] for r in results)
    drain = max(r["drain_s"] for r in results)
    rate = applied / args.seconds
    print(f"{args.clients} clients for {args.seconds:.0f} s on {args.backend} "
          f"({args.workers} server workers), wall {elapsed:.0f} s")
    print(f"visits logged {len(logged):,}; on the server {len(server_visits):,}; lost {lost}; "
          f"duplicated {duplicated}; applied mutations {applied:,} (acked {len(acked):,})")
    print(f"p95 push of 100 mutations {_p95(pushes100):.0f} ms (n={len(pushes100)}; "
          f"median {statistics.median(pushes100) if pushes100 else float('nan'):.0f} ms; "
          f"target < 500)")
    print(f"p95 pull {_p95(pulls):.0f} ms (n={len(pulls)}; target < 500)")
    print(f"applied mutations/s {rate:.0f} (offered load, not a ceiling); outboxes drained "
          f"in {drain:.1f} s (target ≤ 30), left {not_drained}; sync errors "
          f"{sum(r['errors'] for r in results)}")
    print(f"peer: {PEER}")
    print(json.dumps({"bench": "sync_clients", "backend": args.backend, "clients": args.clients,
                      "seconds": args.seconds, "visits": len(logged), "lost": lost,
                      "duplicated": duplicated, "applied": applied, "acked": len(acked),
                      "p95_push100_ms": round(_p95(pushes100)), "p95_pull_ms": round(_p95(pulls)),
                      "applied_per_s": round(rate), "drain_s": round(drain, 1),
                      "not_drained": not_drained}))
    return 0 if lost == 0 and duplicated == 0 and not_drained == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
