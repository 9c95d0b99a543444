"""G11: 50 concurrent sync clients against one server on PostgreSQL on loopback (SYNC.md).

Every client is a real replica: its own SQLite file, the real services (``log_visit``,
``update_account``) writing its outbox, and the real ``services.sync.sync_once`` cycle (push,
pull, verify) over HTTP, logged in as its own rep. Clients run as threads, ``--procs``
processes sharing them, so the load generator costs what the clients cost, not 50 Python
interpreters. Workload per client, as SYNC.md G11: 1 visit/s, 1 account edit every 10 s, a sync
cycle every 5 s; plus, every ``--burst-every`` s, a backlog of 100 visits (back from an offline
spell), so that the next push carries exactly 100 mutations and its p95 is a real figure.
Phases: steady (``--seconds``), drain (writes stop; every outbox must empty within 30 s),
capacity (every client queues ``--capacity`` visits, then all flush at once: applied/s),
final check. Proof: 0 lost (every visit a client logged and every acked mutation is on the
server), 0 duplicated (visit ids and mutation ids unique on the server; applied_mutation rows
== distinct acked mutation ids). Latency is reported twice: as the client saw it (whole HTTP
call) and as the server spent it (``sync_common.timed_app``), with the CPU share of
generator, server workers and PostgreSQL. PostgreSQL keeps fsync and synchronous_commit on.
Run: ``.venv/bin/python bench/sync_clients.py [--clients 50] [--seconds 180]``; one JSON line
at the end. Peer, side by side: jepsen-powersync ran 5-10 clients [PS7].
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sync_common import (
    PASSWORD,
    Postgres,
    TimedServer,
    bulk_territory,
    machine_busy_s,
    read_timings,
    setup_team,
    tree_cpu_s,
)

PEER = "jepsen-powersync: 5-10 clients [PS7]"
BARRIER_S = 900.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Laptop:
    """One rep's replica: SQLite file, sync client, timers and what it saw."""

    def __init__(self, index: int, base_url: str, folder: str) -> None:
        import httpx
        from sqlalchemy import select

        from fieldcrm.db.engine import open_database
        from fieldcrm.db.models import AccountRecord
        from fieldcrm.services.sync import sync_once
        from fieldcrm.sync.client import RetryPolicy, SyncClient

        self.index = index
        self.rng = random.Random(index)
        path = Path(folder) / f"laptop{index}.db"
        shutil.copyfile(Path(folder) / "template.db", path)  # migrated once, in main
        self.db = open_database(path)
        self.client = SyncClient(httpx.Client(timeout=120), base_url, seed=index,
                                 retry=RetryPolicy(attempts=8, base_s=0.2, cap_s=5))
        self.client.login(f"rep{index}", PASSWORD)
        self.calls: list[tuple[str, str, int, float, float]] = []  # phase, kind, n, end, ms
        self.phase = "setup"
        self.errors = 0
        self._sync_once = sync_once
        for kind in ("push", "pull", "verify"):
            self._time(kind)
        self.sync()
        with self.db.session() as s:
            self.accounts = list(s.scalars(select(AccountRecord.id)))
        self.when = datetime.now(UTC) - timedelta(hours=1)

    def _time(self, kind: str) -> None:
        real = getattr(self.client, kind)

        def timed(arg: Any, *rest: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            out = real(arg, *rest, **kw)
            n = len(arg) if kind == "push" else 0
            self.calls.append((self.phase, kind, n, time.time(),
                               (time.perf_counter() - t) * 1000))
            return out

        setattr(self.client, kind, timed)

    def sync(self) -> None:
        from fieldcrm.errors import SyncError

        try:
            self._sync_once(db=self.db, client=self.client)
        except SyncError:
            self.errors += 1

    def visit(self) -> None:
        from fieldcrm.services.visits import log_visit

        with self.db.session() as s:
            log_visit(session=s, account_id=self.rng.choice(self.accounts), rep_id=None,
                      fields={"checked_in_at": self.when, "outcome": "order", "notes": "bench"})

    def edit(self, tick: int) -> None:
        from fieldcrm.services.accounts import update_account

        with self.db.session() as s:
            update_account(session=s, account_id=self.rng.choice(self.accounts),
                           changes={"notes": f"edit {tick} by rep{self.index}"})

    def left(self) -> int:
        from fieldcrm.db.models import OutboxRecord

        with self.db.session() as s:
            return (s.query(OutboxRecord)
                    .filter(OutboxRecord.state.in_(("pending", "inflight"))).count())

    def steady(self, start: float, seconds: float, burst_every: int) -> None:
        """SYNC.md G11: a visit per second, an edit per 10 s, a sync per 5 s, plus bursts."""
        self.phase = "steady"
        offset = self.rng.uniform(0, 5)  # spread the clients' timers over the 5 s cycle
        every = max(1, burst_every // 5)  # in sync cycles
        burst_at = self.rng.randrange(every)
        tick = 0
        time.sleep(max(0.0, start + offset - time.time()))
        while tick < seconds:
            tick += 1
            self.visit()
            if tick % 10 == 0:
                self.edit(tick)
            if tick % 5 == 0:
                self.sync()
                if burst_every and (tick // 5) % every == burst_at:
                    for _ in range(100):  # the next push carries exactly these 100
                        self.visit()
            time.sleep(max(0.0, start + offset + tick - time.time()))

    def drain(self, stop: float) -> float:
        """Sync until the outbox is empty; seconds from ``stop`` until it was."""
        self.phase = "drain"
        while time.time() - stop < 120:
            self.sync()
            if self.left() == 0:
                break
        return time.time() - stop

    def queue(self, n: int) -> None:
        for _ in range(n):
            self.visit()

    def flush(self) -> float:
        """Push the whole outbox (the capacity phase: pushes only; the pull comes after)."""
        from fieldcrm.errors import SyncError
        from fieldcrm.services.sync import SyncSummary, push

        self.phase = "capacity"
        while self.left():
            try:
                push(self.db, self.client, SyncSummary(), None)
            except SyncError:
                self.errors += 1
        return time.time()

    def report(self) -> dict[str, Any]:
        from sqlalchemy import select

        from fieldcrm.db.models import OutboxRecord, VisitRecord

        with self.db.session() as s:
            visits = list(s.scalars(select(VisitRecord.id)))
            acked = list(s.scalars(select(OutboxRecord.mutation_id)
                                   .where(OutboxRecord.state == "acked")))
            states = {st: s.query(OutboxRecord).filter(OutboxRecord.state == st).count()
                      for st in ("pending", "inflight", "acked", "rejected", "quarantined")}
        self.db.close()
        return {"index": self.index, "visits": visits, "acked": acked, "states": states,
                "calls": self.calls, "errors": self.errors}


def _each(laptops: list[Laptop], work: Any) -> list[Any]:
    """Run ``work(laptop)`` on a thread per laptop; results in order."""
    out: list[Any] = [None] * len(laptops)

    def run(k: int) -> None:
        out[k] = work(laptops[k])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(laptops))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def proc_main(indexes: list[int], base_url: str, folder: str, cfg: dict[str, Any],
              barrier: Any, clock: Any, out: Any) -> None:
    """One generator process: a thread per client, phases in step with the others."""
    try:
        _proc_phases(indexes, base_url, folder, cfg, barrier, clock, out)
    except BaseException:
        barrier.abort()  # the others (and main) stop waiting instead of hanging
        raise


def _proc_phases(indexes: list[int], base_url: str, folder: str, cfg: dict[str, Any],
                 barrier: Any, clock: Any, out: Any) -> None:
    if cfg["cpus"]:
        os.sched_setaffinity(0, {int(c) for c in cfg["cpus"].split(",")})
    if cfg["nice"]:
        os.nice(cfg["nice"])
    laptops: list[Laptop] = []
    lock = threading.Lock()

    def make(i: int) -> None:
        laptop = Laptop(i, base_url, folder)
        with lock:
            laptops.append(laptop)

    threads = [threading.Thread(target=make, args=(i,)) for i in indexes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(laptops) != len(indexes):
        raise SystemExit("a client failed to start")
    laptops.sort(key=lambda lap: lap.index)
    barrier.wait(BARRIER_S)  # 1: everyone logged in and synced once
    barrier.wait(BARRIER_S)  # 2: clock.value = steady start
    start = clock.value
    _each(laptops, lambda lap: lap.steady(start, cfg["seconds"], cfg["burst_every"]))
    stop = time.time()
    drains = _each(laptops, lambda lap: lap.drain(stop))
    barrier.wait(BARRIER_S)  # 3: all drained
    caps: list[Any] = [None] * len(laptops)
    if cfg["capacity"]:
        _each(laptops, lambda lap: lap.queue(cfg["capacity"]))
        barrier.wait(BARRIER_S)  # 4: queued; clock.value = capacity start
        caps = _each(laptops, Laptop.flush)
        barrier.wait(BARRIER_S)  # 5: all flushed
    for lap in laptops:
        lap.phase = "final"
    _each(laptops, Laptop.sync)  # final cycle: pull everything back, verify
    for lap, drain, cap in zip(laptops, drains, caps, strict=True):
        out.put({**lap.report(), "drain_s": drain, "capacity_end": cap})


class Cpu:
    """CPU seconds of the generator, the server workers and PostgreSQL between two marks."""

    def __init__(self, gen: list[int], server: int, pg: int) -> None:
        self.pids = {"generator": gen, "server": [server], "postgres": [pg]}
        self.mark()

    def _now(self) -> dict[str, float]:
        got = {k: sum(tree_cpu_s(p) for p in pids) for k, pids in self.pids.items()}
        busy, total = machine_busy_s()
        return {**got, "machine": busy, "capacity": total, "wall": time.time()}

    def mark(self) -> None:
        self.start = self._now()

    def shares(self) -> dict[str, float]:
        end = self._now()
        d = {k: end[k] - self.start[k] for k in end}
        cap = d["capacity"]
        ours = d["generator"] + d["server"] + d["postgres"]
        return {"wall_s": round(d["wall"], 1),
                **{f"{k}_cores": round(d[k] / d["wall"], 2) for k in
                   ("generator", "server", "postgres")},
                **{f"{k}_share": round(d[k] / cap, 3) for k in
                   ("generator", "server", "postgres")},
                "other_share": round(max(0.0, d["machine"] - ours) / cap, 3),
                "idle_share": round(max(0.0, cap - d["machine"]) / cap, 3)}


def summarise(rows: list[tuple[str, str, int, float, float]], phase: str) -> dict[str, Any]:
    push100 = [ms for ph, k, n, _e, ms in rows if ph == phase and k == "push" and n >= 100]
    pushes = [ms for ph, k, n, _e, ms in rows if ph == phase and k == "push" and n < 100]
    pulls = [ms for ph, k, _n, _e, ms in rows if ph == phase and k == "pull"]
    verifies = [ms for ph, k, _n, _e, ms in rows if ph == phase and k == "verify"]
    return {"push100_n": len(push100), "push100_p50": pct(push100, .5),
            "push100_p95": pct(push100, .95), "push_small_p95": pct(pushes, .95),
            "pull_n": len(pulls), "pull_p50": pct(pulls, .5), "pull_p95": pct(pulls, .95),
            "verify_p95": pct(verifies, .95)}


def server_side(timings: list[tuple[str, int, int, float, float]], t0: float, t1: float
                ) -> dict[str, Any]:
    inside = [t for t in timings if t0 <= t[3] <= t1]
    push100 = [ms for p, _s, n, _e, ms in inside if p.endswith("/push") and n >= 100]
    pulls = [ms for p, _s, _n, _e, ms in inside if p.endswith("/pull")]
    verifies = [ms for p, _s, _n, _e, ms in inside if p.endswith("/verify")]
    errors = sum(1 for t in inside if t[1] >= 500)
    return {"push100_n": len(push100), "push100_p50": pct(push100, .5),
            "push100_p95": pct(push100, .95), "pull_p50": pct(pulls, .5),
            "pull_p95": pct(pulls, .95), "verify_p95": pct(verifies, .95),
            "requests": len(inside), "http_5xx": errors}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--procs", type=int, default=5, help="generator processes (clients split)")
    ap.add_argument("--seconds", type=int, default=180, help="steady phase")
    ap.add_argument("--burst-every", type=int, default=30,
                    help="seconds between a client's 100-visit backlogs (0: none)")
    ap.add_argument("--capacity", type=int, default=300,
                    help="visits each client queues for the capacity phase (0: skip)")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    ap.add_argument("--gen-cpus", default="", help="pin the generator, e.g. '1'")
    ap.add_argument("--gen-nice", type=int, default=19,
                    help="nice value of the generator (19: it only takes CPU the server leaves)")
    ap.add_argument("--server-cpus", default="", help="pin server + PostgreSQL, e.g. '0'")
    ap.add_argument("--no-access-log", action="store_true")
    args = ap.parse_args()
    from sqlalchemy import func, select

    folder = Path(tempfile.mkdtemp(prefix="fieldcrm-bench-clients-"))
    pg = Postgres(durable=True, cpus=args.server_cpus)
    results: list[dict[str, Any]] = []
    try:
        team = setup_team(pg.url, reps=args.clients)
        for i, territory in enumerate(team["territories"]):
            bulk_territory(team["db"], territory, accounts=20, contacts_per=1, visits=0,
                           visit_rep=team["reps"][i], seed=i)
        server = TimedServer(pg.url, folder, workers=args.workers, cpus=args.server_cpus,
                             access_log=not args.no_access_log,
                             db_pool_size=max(5, args.clients // args.workers + 2))
        try:
            from fieldcrm.db.engine import open_database
            from fieldcrm.services import sync, visits  # noqa: F401  (imported once, then forked)

            open_database(folder / "template.db").close()  # Alembic once, not per client
            ctx = mp.get_context("fork")
            out = ctx.Queue()
            barrier = ctx.Barrier(args.procs + 1)
            clock = ctx.Value("d", 0.0)
            cfg = {"seconds": args.seconds, "burst_every": args.burst_every,
                   "capacity": args.capacity, "cpus": args.gen_cpus, "nice": args.gen_nice}
            groups = [list(range(p, args.clients, args.procs)) for p in range(args.procs)]
            procs = [ctx.Process(target=proc_main, args=(g, server.base_url, str(folder), cfg,
                                                         barrier, clock, out))
                     for g in groups if g]
            for p in procs:
                p.start()
            barrier.wait(BARRIER_S)
            cpu = Cpu([p.pid for p in procs], server.proc.pid, pg.pid)
            clock.value = time.time() + 1.0
            steady0 = clock.value
            barrier.wait(BARRIER_S)
            time.sleep(max(0.0, steady0 - time.time()))
            cpu.mark()
            time.sleep(max(0.0, steady0 + args.seconds - time.time()))
            steady_cpu = cpu.shares()
            steady1 = time.time()
            barrier.wait(BARRIER_S)
            cap: dict[str, Any] = {}
            if args.capacity:
                clock.value = time.time()
                cap0 = clock.value
                cpu.mark()
                barrier.wait(BARRIER_S)
                barrier.wait(BARRIER_S)
                cap = {"cpu": cpu.shares(), "start": cap0}
            for _ in range(args.clients):
                results.append(out.get(timeout=BARRIER_S))
            for p in procs:
                p.join(60)
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
            server.stop()
        from fieldcrm.sync.server.models import AppliedMutation, Visit

        with team["db"].read() as s:
            server_visits = list(s.scalars(select(Visit.id)))
            applied_ids = list(s.scalars(select(AppliedMutation.mutation_id)))
            applied_in_cap = 0
            if cap:
                applied_in_cap = int(s.scalar(
                    select(func.count()).select_from(AppliedMutation)
                    .where(AppliedMutation.applied_at >= datetime.fromtimestamp(cap["start"], UTC))
                ) or 0)
        team["db"].engine.dispose()
    finally:
        pg.stop()
    timings = read_timings(folder)
    shutil.rmtree(folder, ignore_errors=True)
    return report(args, results, server_visits, applied_ids, timings, steady0, steady1,
                  steady_cpu, cap, applied_in_cap)


def report(args: Any, results: list[dict[str, Any]], server_visits: list[str],
           applied_ids: list[str], timings: list[Any], steady0: float, steady1: float,
           steady_cpu: dict[str, float], cap: dict[str, Any], applied_in_cap: int) -> int:
    logged = [v for r in results for v in r["visits"]]
    acked = [m for r in results for m in r["acked"]]
    lost = len(set(logged) - set(server_visits)) + len(set(acked) - set(applied_ids))
    duplicated = (len(server_visits) - len(set(server_visits))) + (len(logged) - len(set(logged)))
    unexplained = len(set(applied_ids) - set(acked))  # applied, but no client holds it as acked
    not_drained = sum(r["states"]["pending"] + r["states"]["inflight"] for r in results)
    drain = max(r["drain_s"] for r in results)
    calls = [c for r in results for c in r["calls"]]
    steady = summarise(calls, "steady")
    srv = server_side(timings, steady0, steady1)
    pushed_steady = sum(n for ph, k, n, _e, _ms in calls if ph == "steady" and k == "push")
    print(f"{args.clients} clients in {args.procs} generator processes, {args.seconds} s steady "
          f"on PostgreSQL (fsync + synchronous_commit on), {args.workers} uvicorn workers, "
          f"{os.cpu_count()} cores"
          + (f"; generator pinned to CPU {args.gen_cpus}" if args.gen_cpus else "")
          + (f"; generator at nice {args.gen_nice}" if args.gen_nice else "")
          + (f"; server+PostgreSQL pinned to CPU {args.server_cpus}" if args.server_cpus else ""))
    print(f"visits logged {len(logged):,}; on the server {len(server_visits):,}; lost {lost}; "
          f"duplicated {duplicated}; applied_mutation rows {len(applied_ids):,} == acked "
          f"{len(set(acked)):,} (unexplained {unexplained})")
    print(f"{'steady phase':30}{'client p50':>12}{'client p95':>12}{'server p50':>12}"
          f"{'server p95':>12}{'n':>7}")
    print(f"{'push of 100 mutations (ms)':30}{steady['push100_p50']:12.0f}"
          f"{steady['push100_p95']:12.0f}{srv['push100_p50']:12.0f}{srv['push100_p95']:12.0f}"
          f"{steady['push100_n']:7d}")
    print(f"{'pull (ms)':30}{steady['pull_p50']:12.0f}{steady['pull_p95']:12.0f}"
          f"{srv['pull_p50']:12.0f}{srv['pull_p95']:12.0f}{steady['pull_n']:7d}")
    print(f"small pushes p95 {steady['push_small_p95']:.0f} ms; verify p95 client "
          f"{steady['verify_p95']:.0f} / server {srv['verify_p95']:.0f} ms; "
          f"server 5xx {srv['http_5xx']}")
    print(f"offered in steady phase: {pushed_steady / args.seconds:.0f} mutations/s; CPU: "
          f"generator {steady_cpu['generator_cores']:.2f} cores "
          f"({steady_cpu['generator_share']:.0%} of the machine), server workers "
          f"{steady_cpu['server_cores']:.2f}, PostgreSQL {steady_cpu['postgres_cores']:.2f}, "
          f"other jobs {steady_cpu['other_share']:.0%}, idle {steady_cpu['idle_share']:.0%}")
    print(f"drain: every outbox empty {drain:.1f} s after writes stopped (target ≤ 30); "
          f"left {not_drained}; sync errors {sum(r['errors'] for r in results)}")
    capacity: dict[str, Any] = {}
    if cap:
        end = max(r["capacity_end"] for r in results)
        secs = end - cap["start"]
        cap_calls = summarise(calls, "capacity")
        cap_srv = server_side(timings, cap["start"], end)
        capacity = {"applied": applied_in_cap, "seconds": round(secs, 1),
                    "applied_per_s": round(applied_in_cap / secs),
                    "push100_p95_client": round(cap_calls["push100_p95"]),
                    "push100_p95_server": round(cap_srv["push100_p95"]), "cpu": cap["cpu"]}
        print(f"capacity: {args.clients} clients push {args.capacity} queued visits each, all "
              f"at once (services.sync.push): {applied_in_cap:,} applied in {secs:.1f} s = "
              f"{capacity['applied_per_s']:,} mutations/s (bounded by the 50 replicas' own "
              f"CPU on these cores; the server's rate is bench/sync_push.py); push of 100 p95 "
              f"client {cap_calls['push100_p95']:.0f} / server {cap_srv['push100_p95']:.0f} ms; "
              f"generator {cap['cpu']['generator_cores']:.2f} cores")
    print(f"peer: {PEER}")
    rnd = {k: (round(v) if isinstance(v, float) and v == v else v) for k, v in steady.items()}
    print(json.dumps({
        "bench": "sync_clients", "clients": args.clients, "procs": args.procs,
        "seconds": args.seconds, "workers": args.workers, "gen_cpus": args.gen_cpus,
        "server_cpus": args.server_cpus, "gen_nice": args.gen_nice, "visits": len(logged), "lost": lost,
        "duplicated": duplicated, "applied": len(applied_ids), "unexplained": unexplained,
        "client": rnd, "server": {k: (round(v) if isinstance(v, float) and v == v else v)
                                  for k, v in srv.items()},
        "offered_per_s": round(pushed_steady / args.seconds), "cpu": steady_cpu,
        "drain_s": round(drain, 1), "not_drained": not_drained, "capacity": capacity,
        "median_push100_ms": rnd["push100_p50"],
    }))
    ok = lost == 0 and duplicated == 0 and not_drained == 0 and unexplained == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
