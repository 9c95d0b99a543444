"""Push throughput of the sync server: uvicorn workers + PostgreSQL on loopback (target ≥ 1,000/s).

Starts a throwaway PostgreSQL cluster (or uses SQLite with ``--backend sqlite``), runs
``fieldcrm-server serve --workers N`` as a subprocess, and lets several client threads push
batches of 100 mutations (80 % visit appends, 20 % account patches) for a fixed time.
Prints the figures next to a peer's published one and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fieldcrm.domain.ids import new_id  # noqa: E402

PASSWORD = "bench-password-1"
PEER = ("ElectricSQL, optimised WHERE clauses [E2]", 5000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def start_postgres(fast: bool) -> tuple[str, Path, Path]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise SystemExit("no PostgreSQL binaries found; run with --backend sqlite")
    bindir = Path(found[-1]).parent
    tmp = Path(tempfile.mkdtemp(prefix="fieldcrm-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(tmp, user="postgres", group="postgres")
    port = free_port()
    subprocess.run(
        as_postgres(
            [
                str(bindir / "initdb"),
                "-D",
                str(tmp / "data"),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if fast:
        opts += " -c synchronous_commit=off"
    subprocess.run(
        as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(tmp / "data"),
                "-o",
                opts,
                "-l",
                str(tmp / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as c:
        c.execute("CREATE DATABASE bench")
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/bench", bindir, tmp


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
                "geometry": town_polygon(59 + n, 15.0),
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


def start_server(url: str, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FIELDCRM_SERVER_DB": url, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "fieldcrm.sync.server.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start; see {log}")


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--fast-commit", action="store_true", help="PostgreSQL synchronous_commit=off")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fieldcrm-bench-"))
    pg = None
    if args.backend == "postgres":
        url, bindir, pgdir = start_postgres(args.fast_commit)
        pg = (bindir, pgdir)
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    reps = seed(url, args.clients, args.accounts)
    port = free_port()
    server = start_server(url, port, args.workers, tmp / "server.log")
    stats: dict[str, list[float]] = {"applied": [], "latency": []}
    lock = threading.Lock()
    try:
        start = time.time()
        until = start + args.seconds
        threads = [
            threading.Thread(
                target=client,
                args=(f"http://127.0.0.1:{port}", rep, ids, args.batch, until, n, stats, lock),
            )
            for n, (rep, ids) in enumerate(reps.items())
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.time() - start
    finally:
        server.terminate()
        server.wait(10)
        log_text = (tmp / "server.log").read_text(errors="replace")
        retries = log_text.count("transient database error") + log_text.count("raced a duplicate")
        if retries or "Traceback" in log_text:
            print(f"server log: {retries} retried batches; last lines:")
            print("\n".join(log_text.splitlines()[-8:]))
        if pg:
            subprocess.run(
                as_postgres(
                    [str(pg[0] / "pg_ctl"), "-D", str(pg[1] / "data"), "-m", "fast", "stop"]
                ),
                capture_output=True,
            )
            shutil.rmtree(pg[1], ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    total = int(sum(stats["applied"]))
    lat = sorted(stats["latency"])
    rate = total / elapsed
    p50 = statistics.median(lat) * 1000 if lat else 0.0
    p95 = lat[int(0.95 * (len(lat) - 1))] * 1000 if lat else 0.0
    print(
        f"backend {args.backend} (synchronous_commit {'off' if args.fast_commit else 'on'}), "
        f"{args.workers} uvicorn workers, {args.clients} clients, batches of {args.batch}, "
        f"{os.cpu_count()} cores"
    )
    print(f"{'':38}{'mutations/s':>12}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"{'fieldcrm-server':38}{rate:12.0f}{p50:10.1f}{p95:10.1f}")
    print(f"{'target (SYNC.md G11)':38}{1000:12d}{'':>10}{500:10d}")
    print(f"{PEER[0]:38}{PEER[1]:12d}   (row changes/s, their hardware and workload)")
    print(
        json.dumps(
            {
                "bench": "sync_push",
                "backend": args.backend,
                "workers": args.workers,
                "clients": args.clients,
                "batch": args.batch,
                "seconds": round(elapsed, 1),
                "mutations": total,
                "mutations_per_s": round(rate, 1),
                "push_p50_ms": round(p50, 1),
                "push_p95_ms": round(p95, 1),
                "synchronous_commit": "off" if args.fast_commit else "on",
                "peer_electric_rows_per_s": PEER[1],
                "target_per_s": 1000,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
