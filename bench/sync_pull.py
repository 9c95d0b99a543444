"""Initial pull of a 50,000-account territory with its contacts and a year of visits (target:
≤ 30 s on PostgreSQL on loopback), then the same download interrupted halfway and resumed.

The server (``uvicorn`` with the real app behind ``sync_common.timed_app``, one worker, its
own process) gets the territory written straight into its tables; a fresh laptop database logs
in as the territory's rep and runs one sync cycle (push, pull page by page, verify) the way the
app does (overlapped pages, bulk search indexing per page). For comparison the same pull runs
sequentially (``overlap=False``, the app's path before), unless ``--skip-sequential``.
Printed per run: wall seconds, rows/s, the server's time building pull pages (its own timer),
CPU seconds of the laptop process and of the server process. Peer, side by side:
ElectricSQL's published ~5,000 row changes/s for an initial shape sync [E2].
Run: ``.venv/bin/python bench/sync_pull.py [--backend postgres|sqlite] [--accounts 50000]
[--visits 100000] [--repeat 1]``. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sync_common import (
    PASSWORD,
    TimedServer,
    bulk_territory,
    database,
    read_timings,
    setup_team,
    tree_cpu_s,
)

PEER = ("ElectricSQL initial sync [E2]", 5000.0)


def _laptop(path: Path, server: TimedServer) -> tuple[Any, Any]:
    import httpx

    from fieldcrm.db.engine import open_database
    from fieldcrm.sync.client import RetryPolicy, SyncClient

    db = open_database(path)
    client = SyncClient(httpx.Client(timeout=120), server.base_url,
                        retry=RetryPolicy(attempts=3, base_s=0.5))
    client.login("rep0", PASSWORD)
    return db, client


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _count_fetches(client: Any) -> dict[str, int]:
    seen = {"fetched": 0}
    real = client.pull

    def pull(cursors: Any, limit: int = 500) -> Any:
        page = real(cursors, limit)
        seen["fetched"] += 1
        return page

    client.pull = pull
    return seen


def full_pull(folder: Path, server: TimedServer, name: str, limit: int, overlap: bool) -> dict:
    """One fresh laptop, one sync cycle; wall, server and CPU figures."""
    from sqlalchemy import func, select

    from fieldcrm.db.models import AccountRecord, ContactRecord, VisitRecord
    from fieldcrm.services.sync import sync_once

    db, client = _laptop(folder / f"{name}.db", server)
    mark, cpu0, srv0 = time.time(), _cpu(), tree_cpu_s(server.proc.pid)
    t0 = time.perf_counter()
    summary = sync_once(db=db, client=client, pull_limit=limit, overlap=overlap)
    wall = time.perf_counter() - t0
    cpu, srv_cpu = _cpu() - cpu0, tree_cpu_s(server.proc.pid) - srv0
    pulls = [ms for path, _st, _m, end, ms in read_timings(server.folder)
             if path.endswith("/sync/pull") and end >= mark]
    with db.session() as s:
        rows = sum(int(s.scalar(select(func.count()).select_from(m)) or 0)
                   for m in (AccountRecord, ContactRecord, VisitRecord))
    size_mb = Path(db.path).stat().st_size / 1e6
    db.close()
    return {"seconds": round(wall, 2), "rows": rows, "rows_per_s": round(rows / wall),
            "pages": summary.pages, "server_pull_s": round(sum(pulls) / 1000, 2),
            "server_ms_per_page": round(sum(pulls) / max(1, len(pulls)), 1),
            "client_cpu_s": round(cpu, 1), "server_cpu_s": round(srv_cpu, 1),
            "mismatched": summary.mismatched, "local_mb": round(size_mb, 1),
            "load": round(os.getloadavg()[0], 1)}


def interrupted(folder: Path, server: TimedServer, limit: int, clean_pages: int) -> dict:
    """Cancel the pull (between pages) halfway, then resume in a new cycle."""
    from fieldcrm.errors import Cancelled
    from fieldcrm.services.sync import SyncSummary, pull, sync_once

    db, client = _laptop(folder / "resumed.db", server)
    fetches = _count_fetches(client)
    half = clean_pages // 2
    seen = {"pages": 0}

    def progress(_stage: str, done: int, _total: int) -> None:
        seen["pages"] = done

    client.cancelled = lambda: seen["pages"] >= half
    t0 = time.perf_counter()
    with contextlib.suppress(Cancelled):
        pull(db, client, SyncSummary(), progress, limit=limit)
    client.cancelled = lambda: False
    resumed = sync_once(db=db, client=client, pull_limit=limit)
    wall = time.perf_counter() - t0
    db.close()
    return {"interrupted_after": seen["pages"], "resumed_seconds": round(wall, 2),
            "pages_applied_twice": seen["pages"] + resumed.pages - clean_pages,
            "pages_fetched_twice": fetches["fetched"] - clean_pages,
            "mismatched": resumed.mismatched}


def _line(label: str, r: dict) -> str:
    return (f"{label:<34}{r['rows']:>9,}{r['seconds']:>9.1f}{r['rows_per_s']:>9,}"
            f"{r['server_pull_s']:>10.1f}{r['server_ms_per_page']:>9.1f}"
            f"{r['client_cpu_s']:>9.1f}{r['server_cpu_s']:>9.1f}{r['load']:>6.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--accounts", type=int, default=50_000)
    ap.add_argument("--contacts-per", type=int, default=1)
    ap.add_argument("--visits", type=int, default=100_000)
    ap.add_argument("--limit", type=int, default=500, help="rows per pull page")
    ap.add_argument("--repeat", type=int, default=1, help="fast initial pulls to time")
    ap.add_argument("--skip-sequential", action="store_true",
                    help="do not time the sequential pull (overlap=False) for comparison")
    ap.add_argument("--skip-resume", action="store_true")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fieldcrm-bench-pull-"))
    url, stop_db = database(args.backend, folder)
    fast: list[dict] = []
    slow: dict | None = None
    resume: dict = {}
    try:
        team = setup_team(url, reps=2)
        t0 = time.perf_counter()
        rows = bulk_territory(team["db"], team["territories"][0], accounts=args.accounts,
                              contacts_per=args.contacts_per, visits=args.visits,
                              visit_rep=team["reps"][1])
        team["db"].engine.dispose()
        print(f"seeded {rows:,} rows in {time.perf_counter() - t0:.1f} s ({args.backend})",
              flush=True)
        server = TimedServer(url, folder, workers=1, access_log=False)
        try:
            for i in range(args.repeat):
                fast.append(full_pull(folder, server, f"fast{i}", args.limit, overlap=True))
                print(json.dumps({"run": "fast", **fast[-1]}), flush=True)
            if not args.skip_sequential:
                slow = full_pull(folder, server, "sequential", args.limit, overlap=False)
                print(json.dumps({"run": "sequential", **slow}), flush=True)
            if not args.skip_resume:
                resume = interrupted(folder, server, args.limit, fast[0]["pages"])
        finally:
            server.stop()
    finally:
        stop_db()
    secs = [r["seconds"] for r in fast]
    best = min(fast, key=lambda r: r["seconds"])
    print(f"{'':<34}{'rows':>9}{'wall s':>9}{'rows/s':>9}{'server s':>10}{'ms/page':>9}"
          f"{'cpu cli':>9}{'cpu srv':>9}{'load':>6}")
    for i, r in enumerate(fast):
        print(_line(f"fast initial pull, run {i + 1}", r))
    if slow:
        print(_line("sequential (overlap=False)", slow))
    print(f"{PEER[0]:<34}{'':>9}{'':>9}{PEER[1]:>9,.0f}")
    print(f"pages {best['pages']} of ≤{args.limit} rows; verify mismatches {best['mismatched']}; "
          f"local file {best['local_mb']:.0f} MB; best {min(secs):.1f} s, median "
          f"{statistics.median(secs):.1f} s over {len(secs)} run(s)")
    if resume:
        print(f"cancelled after {resume['interrupted_after']} pages and resumed: "
              f"{resume['resumed_seconds']:.1f} s in all, {resume['pages_applied_twice']} page(s) "
              f"applied twice, {resume['pages_fetched_twice']} fetched twice")
    print(json.dumps({"bench": "sync_pull", "backend": args.backend, "rows": best["rows"],
                      "accounts": args.accounts, "visits": args.visits, "pages": best["pages"],
                      "seconds_best": min(secs), "seconds_median": statistics.median(secs),
                      "rows_per_s": best["rows_per_s"], "runs": fast, "sequential": slow,
                      **resume, "peer_rows_per_s": PEER[1], "target_s": 30}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
