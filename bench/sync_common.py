"""Shared pieces of the sync client benches: throwaway PostgreSQL, server process, bulk seeding."""

from __future__ import annotations

import glob
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Postgres:
    """A throwaway cluster on 127.0.0.1; ``durable`` keeps fsync and synchronous_commit on."""

    def __init__(self, *, durable: bool = False, cpus: str = "") -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise SystemExit("no PostgreSQL binaries found; use --backend sqlite")
        self.bindir = Path(found[-1]).parent
        self.tmp = Path(tempfile.mkdtemp(prefix="fieldcrm-bench-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.tmp, user="postgres", group="postgres")
        self.port = free_port()
        data = self.tmp / "data"
        subprocess.run(_as_postgres([str(self.bindir / "initdb"), "-D", str(data), "-U",
                                     "postgres", "-A", "trust", "--no-sync"]),
                       check=True, capture_output=True)
        opts = f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c max_connections=300"
        if not durable:
            opts += " -c fsync=off -c synchronous_commit=off"
        pin = ["taskset", "-c", cpus] if cpus else []
        subprocess.run(pin + _as_postgres([str(self.bindir / "pg_ctl"), "-D", str(data), "-o",
                                           opts, "-l", str(self.tmp / "log"), "-w", "start"]),
                       check=True, capture_output=True)
        self.pid = int((data / "postmaster.pid").read_text().split()[0])
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres",
                             autocommit=True) as c:
            c.execute("CREATE DATABASE fieldcrm")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/fieldcrm"

    def stop(self) -> None:
        subprocess.run(_as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.tmp / "data"),
                                     "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def database(backend: str, folder: Path, *, durable: bool = False) -> tuple[str, Any]:
    """(url, stopper) for a fresh server database."""
    if backend == "postgres":
        pg = Postgres(durable=durable)
        return pg.url, pg.stop
    return f"sqlite:///{folder / 'server.db'}", lambda: None


class Server:
    """``fieldcrm-server serve`` in its own process."""

    def __init__(self, url: str, log: Path, workers: int = 1, **env: Any) -> None:
        self.port = free_port()
        environ = {**os.environ, **{f"FIELDCRM_SERVER_{k.upper()}": str(v) for k, v in env.items()}}
        code = "import sys; from fieldcrm.sync.server.cli import main; sys.exit(main())"
        self.log = log.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, "--db", url, "serve", "--port", str(self.port),
             "--workers", str(workers)],
            stdout=self.log, stderr=subprocess.STDOUT, env=environ)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base_url + "/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit(f"server did not start; see {log}")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


SQUARE = {"type": "Polygon", "coordinates": [[[11, 55], [24, 55], [24, 69], [11, 69], [11, 55]]]}


def setup_team(url: str, reps: int) -> dict[str, Any]:
    """Migrate; add a manager and ``reps`` reps, each holding one territory."""
    from fieldcrm.sync.server import admin
    from fieldcrm.sync.server.engine import make_database, migrate

    db = make_database(url, pool_size=2)
    migrate(db.engine)
    out: dict[str, Any] = {"reps": [], "territories": []}
    with db.write() as s, s.begin():
        admin.add_user(s, username="boss", password=PASSWORD, role="manager")
        for i in range(reps):
            user = admin.add_user(s, username=f"rep{i}", password=PASSWORD, role="rep")
            x = 11 + (i % 12)
            geo = {"type": "Polygon", "coordinates": [[[x, 55], [x + 1, 55], [x + 1, 56],
                                                       [x, 56], [x, 55]]]}
            done = admin.import_territories(s, collection={"type": "FeatureCollection", "features": [
                {"type": "Feature", "geometry": geo, "properties": {"name": f"T{i}"}}]})
            admin.assign_territory(s, territory_ref=done[0].id, user_ref=f"rep{i}")
            out["reps"].append(user.id)
            out["territories"].append(done[0].id)
    out["db"] = db
    return out


def bulk_territory(db: Any, territory: str, *, accounts: int, contacts_per: int, visits: int,
                   visit_rep: str, seed: int = 1) -> int:
    """Write a big territory straight into the server tables (as pushes would have): rows,
    field versions and one sync-index entry per row. Returns the number of rows."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert, update

    from fieldcrm.domain.ids import new_id
    from fieldcrm.sync.protocol import scope_of_territory
    from fieldcrm.sync.server.models import Account, Contact, ScopeCounter, SyncIndex, Visit
    from fieldcrm.sync.server.scopes import take_version

    rng = random.Random(seed)
    scope = scope_of_territory(territory)
    now = datetime.now(UTC)
    with db.write() as s, s.begin():
        start = take_version(s, scope_id=scope)
    version = start
    total = 0
    acc_ids = [new_id() for _ in range(accounts)]
    fields = {"name": 1, "city": 1, "street": 1, "lat": 1, "lon": 1, "tier": 1, "status": 1}

    def index_rows(entity: str, ids: list[str]) -> list[dict[str, Any]]:
        nonlocal version
        rows = []
        for i in ids:
            version += 1
            rows.append({"scope_id": scope, "entity": entity, "entity_id": i, "version": version,
                         "op": "upsert", "row_version": 1, "changed_at": now})
        return rows

    for chunk_start in range(0, accounts, 5000):
        ids = acc_ids[chunk_start : chunk_start + 5000]
        with db.write() as s, s.begin():
            s.execute(insert(Account), [{
                "id": a, "name": f"Account {chunk_start + k}", "territory_id": territory,
                "city": rng.choice(["Umeå", "Luleå", "Kiruna", "Skellefteå"]),
                "street": f"Storgatan {k % 90 + 1}", "lat": 55 + rng.random(),
                "lon": 11 + rng.random(), "tier": rng.choice("ABC"), "status": "customer",
                "tags": [], "row_version": 1, "field_versions": fields, "deleted": False,
                "needs_assignment": False, "created_at": now, "updated_at": now,
            } for k, a in enumerate(ids)])
            contact_ids = []
            contact_rows = []
            for a in ids:
                for j in range(contacts_per):
                    cid = new_id()
                    contact_ids.append(cid)
                    contact_rows.append({"id": cid, "account_id": a, "name": f"Person {j}",
                                         "title": "Owner", "row_version": 1,
                                         "field_versions": {"name": 1}, "deleted": False,
                                         "created_at": now, "updated_at": now})
            if contact_rows:
                s.execute(insert(Contact), contact_rows)
            s.execute(insert(SyncIndex), index_rows("account", ids) + index_rows("contact",
                                                                                contact_ids))
            total += len(ids) + len(contact_ids)
    for chunk_start in range(0, visits, 10000):
        n = min(10000, visits - chunk_start)
        ids = [new_id() for _ in range(n)]
        with db.write() as s, s.begin():
            rows = []
            for v in ids:
                when = (now - timedelta(days=rng.uniform(0, 365))).isoformat()
                acc = rng.choice(acc_ids)
                rows.append({"id": v, "account_id": acc, "rep_id": visit_rep, "device_id": None,
                             "data": {"account_id": acc, "status": "completed",
                                      "checked_in_at": when, "outcome": "order", "notes": "ok"},
                             "occurred_at_client": when, "received_at_server": now,
                             "review": "accepted", "review_reason": ""})
            s.execute(insert(Visit), rows)
            s.execute(insert(SyncIndex), index_rows("visit", ids))
            total += n
    with db.write() as s, s.begin():
        s.execute(update(ScopeCounter).where(ScopeCounter.scope_id == scope)
                  .values(last_version=version))
    return total


# --- server-side timing and CPU accounting (G11) --------------------------------------------

TIMING_ENV = "FIELDCRM_BENCH_TIMING"


def timed_app() -> Any:
    """uvicorn factory: the real app (``app_from_env``) behind a pure-ASGI timer.

    Each request appends ``path, status, mutations in the body, end (epoch s), server ms``
    to ``$FIELDCRM_BENCH_TIMING/timing-<pid>.tsv`` and answers with a ``Server-Timing:
    app;dur=`` header. Server ms runs from the moment the whole request body has arrived
    (headers only: from the call) until the response is complete: parsing, auth, database,
    serialisation. It leaves out the time the request waited in the socket backlog or for
    the worker's event loop, and the time a slow client took to send its body.
    """
    from fieldcrm.sync.server.app import app_from_env

    app = app_from_env()
    out = (Path(os.environ[TIMING_ENV]) / f"timing-{os.getpid()}.tsv").open("a", buffering=1)

    async def timed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        seen: dict[str, Any] = {"status": 0, "mutations": 0, "t0": time.perf_counter()}
        body = bytearray()  # whole, so that no key is missed where two chunks meet

        async def counting_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    seen["t0"] = time.perf_counter()  # the body is complete
                    seen["mutations"] = body.count(b'"mutation_id"')
            return message

        async def timing_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                dur = (time.perf_counter() - seen["t0"]) * 1000
                message["headers"] = [*message.get("headers", []),
                                      (b"server-timing", f"app;dur={dur:.1f}".encode())]
            await send(message)

        await app(scope, counting_receive, timing_send)
        ms = (time.perf_counter() - seen["t0"]) * 1000
        out.write(f"{scope['path']}\t{seen['status']}\t{seen['mutations']}\t{time.time():.3f}"
                  f"\t{ms:.2f}\n")

    return timed


def read_timings(folder: Path) -> list[tuple[str, int, int, float, float]]:
    """Every ``(path, status, mutations, end, ms)`` the timed workers wrote."""
    rows = []
    for f in sorted(folder.glob("timing-*.tsv")):
        for line in f.read_text().splitlines():
            path, status, muts, end, ms = line.split("\t")
            rows.append((path, int(status), int(muts), float(end), float(ms)))
    return rows


class TimedServer:
    """uvicorn with ``workers`` processes serving :func:`timed_app` (optionally pinned)."""

    def __init__(self, url: str, folder: Path, *, workers: int = 2, cpus: str = "",
                 access_log: bool = True, **env: Any) -> None:
        self.port = free_port()
        self.folder = folder
        environ = {**os.environ, "FIELDCRM_SERVER_DB": url, TIMING_ENV: str(folder),
                   "FIELDCRM_SERVER_MIGRATE_ON_START": "false",
                   "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), str(ROOT)]),
                   **{f"FIELDCRM_SERVER_{k.upper()}": str(v) for k, v in env.items()}}
        cmd = [sys.executable, "-m", "uvicorn", "sync_common:timed_app", "--factory",
               "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
               "--proxy-headers"]
        if not access_log:
            cmd.append("--no-access-log")
        if cpus:
            cmd = ["taskset", "-c", cpus, *cmd]
        self.log = (folder / "server.log").open("a")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=environ)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base_url + "/v1/health", timeout=1).status_code == 200:
                    time.sleep(1.0)  # let the other workers finish starting too
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise SystemExit(f"server did not start; see {folder / 'server.log'}")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


_TICK = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid``, its live descendants and its reaped children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # after the ")": state ppid ... utime(11) stime(12) cutime(13) cstime(14)
    own = sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICK
    return own + sum(tree_cpu_s(c) for c in children(pid))


def machine_busy_s() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, wall seconds × cores) since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / _TICK, sum(values[:8]) / _TICK
