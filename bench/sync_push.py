"""Push throughput and latency of the sync server: uvicorn + PostgreSQL on loopback (G11).

Starts a throwaway PostgreSQL cluster (fsync and synchronous_commit on; or SQLite with
``--backend sqlite``), serves the real app with ``--workers`` uvicorn workers behind the
``sync_common.timed_app`` timer, and runs one phase per client count (``--clients 1,4,10,50``):
that many threads push batches of 100 mutations (80 % visit appends, 20 % account patches)
back to back for ``--seconds``. Per phase: applied mutations/s, p50/p95 of a 100-mutation push
as the client saw it and as the server spent it. Targets (SYNC.md G11): ≥ 1,000 mutations/s,
p95 < 500 ms. Prints a peer's published figure alongside and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fieldcrm.domain.ids import new_id  # noqa: E402

PASSWORD = "bench-password-1"
PEER = ("ElectricSQL, optimised WHERE clauses [E2]", 5000)


def seed(url: str, reps: int, accounts: int) -> dict[str, list[str]]:
    """One territory and ``accounts`` accounts per rep; returns account ids per rep."""
    from fieldcrm.sync.protocol import ChangeOp
    from fieldcrm.sync.server import admin
    from fieldcrm.sync.server.auth import configure_hasher
    from fieldcrm.sync.server.demo import town_polygon
    from fieldcrm.sync.server.engine import make_database, migrate
    from fieldcrm.sync.server.models import Account, utcnow
    from fieldcrm.sync.server.scopes import IndexWrites

    configure_hasher(time_cost=1, memory_cost_kib=1024)
    db = make_database(url)
    migrate(db.engine)
    out: dict[str, list[str]] = {}
    with db.write() as s, s.begin():
        for n in range(reps):
            name = f"rep{n}"
            admin.add_user(s, username=name, password=PASSWORD, role="rep")
            feature = {
                "type": "Feature",
                "geometry": town_polygon(50 + n % 30, 10.0 + n // 30),
                "properties": {"name": f"T{n}", "id": f"T{n}"},
            }
            admin.import_territories(
                s, collection={"type": "FeatureCollection", "features": [feature]}
            )
            admin.assign_territory(s, territory_ref=f"T{n}", user_ref=name)
            index = IndexWrites(session=s, now=utcnow())
            ids = [new_id() for _ in range(accounts)]
            for i in ids:
                s.add(
                    Account(
                        id=i,
                        name=f"A {i[-6:]}",
                        territory_id=f"T{n}",
                        row_version=1,
                        field_versions={},
                        created_by=None,
                        needs_assignment=False,
                        tags=[],
                    )
                )
                index.stage({f"territory:T{n}"}, "account", i, ChangeOp.UPSERT, 1)
            s.flush()
            index.flush()
            out[name] = ids
    db.engine.dispose()
    return out


def client(
    base: str,
    rep: str,
    accounts: list[str],
    batch: int,
    until: float,
    seed_: int,
    stats: dict[str, list[float]],
    lock: threading.Lock,
) -> None:
    rng = random.Random(seed_)
    http = httpx.Client(base_url=base, timeout=30)
    tok = http.post("/v1/auth/token", json={"username": rep, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {tok['access_token']}", "X-Sync-Protocol": "1"}
    versions = dict.fromkeys(accounts, 1)
    seq, applied, latencies = 0, 0, []
    while time.time() < until:
        muts = []
        for _ in range(batch):
            seq += 1
            acc = rng.choice(accounts)
            if rng.random() < 0.8:
                muts.append(
                    {
                        "mutation_id": new_id(),
                        "client_seq": seq,
                        "entity": "visit",
                        "entity_id": new_id(),
                        "op": "append",
                        "fields": {
                            "account_id": acc,
                            "status": "completed",
                            "outcome": "Order taken",
                            "checked_in_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        },
                    }
                )
            else:
                muts.append(
                    {
                        "mutation_id": new_id(),
                        "client_seq": seq,
                        "entity": "account",
                        "entity_id": acc,
                        "op": "patch",
                        "base_version": versions[acc],
                        "fields": {"notes": f"note {seq}"},
                    }
                )
        t0 = time.perf_counter()
        r = http.post(
            "/v1/sync/push",
            json={"device_id": tok["device_id"], "mutations": muts},
            headers=headers,
        )
        latencies.append(time.perf_counter() - t0)
        r.raise_for_status()
        for m, out in zip(muts, r.json()["results"], strict=True):
            res = out["result"]
            if res["status"] in ("applied", "merged"):
                applied += 1
                if m["entity"] == "account" and res.get("row_version"):
                    versions[m["entity_id"]] = res["row_version"]
    with lock:
        stats["applied"].append(applied)
        stats["latency"].extend(latencies)
    http.close()


def run_phase(
    base: str, reps: dict[str, list[str]], clients: int, seconds: float, batch: int
) -> dict[str, float]:
    """``clients`` threads push batches for ``seconds``; figures as the clients saw them."""
    stats: dict[str, list[float]] = {"applied": [], "latency": []}
    lock = threading.Lock()
    start = time.time()
    until = start + seconds
    names = list(reps)[:clients]
    threads = [
        threading.Thread(
            target=client, args=(base, rep, reps[rep], batch, until, n, stats, lock)
        )
        for n, rep in enumerate(names)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.time() - start
    lat = sorted(stats["latency"])
    return {
        "clients": clients,
        "t0": start,
        "t1": start + elapsed,
        "mutations_per_s": sum(stats["applied"]) / elapsed,
        "pushes": len(lat),
        "p50": statistics.median(lat) * 1000 if lat else 0.0,
        "p95": lat[int(0.95 * (len(lat) - 1))] * 1000 if lat else 0.0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--seconds", type=float, default=15, help="per client count")
    ap.add_argument("--clients", default="1,4,10,50", help="client counts, one phase each")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--fast-commit", action="store_true", help="PostgreSQL synchronous_commit=off")
    ap.add_argument("--server-cpus", default="", help="pin server (and PostgreSQL), e.g. '0'")
    ap.add_argument("--gen-nice", type=int, default=0, help="nice value of the pushing threads")
    args = ap.parse_args()
    from sync_common import Postgres, TimedServer, read_timings

    counts = [int(c) for c in args.clients.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="fieldcrm-bench-"))
    pg = None
    if args.backend == "postgres":
        pg = Postgres(durable=not args.fast_commit, cpus=args.server_cpus)
        url = pg.url
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    try:
        reps = seed(url, max(counts), args.accounts)
        server = TimedServer(url, tmp, workers=args.workers, cpus=args.server_cpus,
                             db_pool_size=max(5, max(counts) // args.workers + 2))
    except BaseException:
        if pg:
            pg.stop()
        raise
    if args.gen_nice:
        os.nice(args.gen_nice)
    rows = []
    try:
        for n in counts:
            rows.append(run_phase(server.base_url, reps, n, args.seconds, args.batch))
    finally:
        server.stop()
        log_text = (tmp / "server.log").read_text(errors="replace")
        retries = log_text.count("transient database error") + log_text.count("raced a duplicate")
        if retries or "Traceback" in log_text:
            print(f"server log: {retries} retried batches; last lines:")
            print("\n".join(log_text.splitlines()[-8:]))
        timings = read_timings(tmp)
        if pg:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    for row in rows:
        mine = sorted(ms for path, _st, m, end, ms in timings
                      if path.endswith("/push") and m >= args.batch and row["t0"] <= end <= row["t1"])
        row["server_p50"] = statistics.median(mine) if mine else 0.0
        row["server_p95"] = mine[int(0.95 * (len(mine) - 1))] if mine else 0.0
    print(
        f"backend {args.backend} (synchronous_commit {'off' if args.fast_commit else 'on'}), "
        f"{args.workers} uvicorn workers, batches of {args.batch} (80 % visits, 20 % patches), "
        f"{os.cpu_count()} cores" + (f", server pinned to CPU {args.server_cpus}"
                                     if args.server_cpus else "")
    )
    print(f"{'clients':>8}{'mutations/s':>13}{'client p50':>12}{'client p95':>12}"
          f"{'server p50':>12}{'server p95':>12}")
    for r in rows:
        print(f"{r['clients']:8d}{r['mutations_per_s']:13.0f}{r['p50']:12.0f}{r['p95']:12.0f}"
              f"{r['server_p50']:12.0f}{r['server_p95']:12.0f}")
    print(f"{'target (SYNC.md G11)':20}{1000:13d}{'':>12}{500:12d}")
    print(f"{PEER[0]:20}{PEER[1]:13d}   (row changes/s, their hardware and workload)")
    print(
        json.dumps(
            {
                "bench": "sync_push",
                "backend": args.backend,
                "workers": args.workers,
                "batch": args.batch,
                "seconds_each": args.seconds,
                "synchronous_commit": "off" if args.fast_commit else "on",
                "rows": [{k: round(v, 1) for k, v in r.items() if k not in ("t0", "t1")}
                         for r in rows],
                "peer_electric_rows_per_s": PEER[1],
                "target_per_s": 1000,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
