"""Initial pull of a 50,000-account territory with its contacts and a year of visits (target:
≤ 30 s on PostgreSQL on loopback), then the same download interrupted halfway and resumed.

The server (``fieldcrm-server serve``, its own process) gets the territory written straight
into its tables; a fresh laptop database logs in as the territory's rep and runs one sync
cycle (push, pull page by page, verify). Peer, side by side: ElectricSQL's published
~5,000 row changes/s for an initial shape sync with optimised WHERE clauses [E2].
Run: ``.venv/bin/python bench/sync_pull.py [--backend postgres|sqlite] [--accounts 50000]
[--visits 100000]``. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

from sync_common import PASSWORD, Server, bulk_territory, database, setup_team

PEER = ("ElectricSQL initial sync [E2]", 5000.0)


def _laptop(folder: Path, name: str, server: Server) -> tuple[object, object]:
    import httpx

    from fieldcrm.db.engine import open_database
    from fieldcrm.sync.client import RetryPolicy, SyncClient

    db = open_database(folder / f"{name}.db")
    client = SyncClient(httpx.Client(timeout=120), server.base_url,
                        retry=RetryPolicy(attempts=3, base_s=0.5))
    client.login("rep0", PASSWORD)
    return db, client


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--accounts", type=int, default=50_000)
    ap.add_argument("--contacts-per", type=int, default=1)
    ap.add_argument("--visits", type=int, default=100_000)
    ap.add_argument("--limit", type=int, default=500, help="rows per pull page")
    ap.add_argument("--overlap", action="store_true",
                    help="fetch the next page while applying the current one")
    args = ap.parse_args()
    from sqlalchemy import func, select

    from fieldcrm.db.models import AccountRecord, ContactRecord, VisitRecord
    from fieldcrm.errors import Cancelled
    from fieldcrm.services.sync import SyncSummary, pull, sync_once

    folder = Path(tempfile.mkdtemp(prefix="fieldcrm-bench-pull-"))
    url, stop_db = database(args.backend, folder)
    try:
        team = setup_team(url, reps=2)
        t0 = time.perf_counter()
        rows = bulk_territory(team["db"], team["territories"][0], accounts=args.accounts,
                              contacts_per=args.contacts_per, visits=args.visits,
                              visit_rep=team["reps"][1])
        seeded = time.perf_counter() - t0
        team["db"].engine.dispose()
        print(f"seeded {rows:,} rows in {seeded:.1f} s ({args.backend})", flush=True)
        server = Server(url, folder / "server.log")
        try:
            db, client = _laptop(folder, "full", server)
            t0 = time.perf_counter()
            summary = sync_once(db=db, client=client, pull_limit=args.limit, overlap=args.overlap)
            full_s = time.perf_counter() - t0
            with db.session() as s:
                got = sum(int(s.scalar(select(func.count()).select_from(m)) or 0)
                          for m in (AccountRecord, ContactRecord, VisitRecord))
            size_mb = Path(db.path).stat().st_size / 1e6
            db.close()
            # interrupted halfway (cancel between pages), then resumed in a new cycle
            db2, client2 = _laptop(folder, "resumed", server)
            pages_before = summary.pages // 2
            seen = {"pages": 0}

            def progress(stage: str, done: int, _total: int) -> None:
                seen["pages"] = done

            client2.cancelled = lambda: seen["pages"] >= pages_before
            t0 = time.perf_counter()
            with contextlib.suppress(Cancelled):
                pull(db2, client2, SyncSummary(), progress, limit=args.limit,
                     overlap=args.overlap)
            client2.cancelled = lambda: False
            resumed = sync_once(db=db2, client=client2, pull_limit=args.limit, overlap=args.overlap)
            resumed_s = time.perf_counter() - t0
            refetched = seen["pages"] + resumed.pages - summary.pages
            db2.close()
        finally:
            server.stop()
    finally:
        stop_db()
    rate = got / full_s
    print(f"{'':<34}{'rows':>10}{'seconds':>10}{'rows/s':>10}")
    label = "fieldcrm initial pull" + (" (overlap)" if args.overlap else "")
    print(f"{label:<34}{got:>10,}{full_s:>10.1f}{rate:>10,.0f}")
    print(f"{PEER[0]:<34}{'':>10}{'':>10}{PEER[1]:>10,.0f}")
    print(f"pages {summary.pages} of ≤{args.limit} rows; verify mismatches {summary.mismatched}; "
          f"local file {size_mb:.0f} MB")
    print(f"interrupted after {pages_before} pages and resumed: {resumed_s:.1f} s in all, "
          f"{refetched} page(s) fetched twice")
    print(json.dumps({"bench": "sync_pull", "backend": args.backend, "overlap": args.overlap,
                      "rows": got,
                      "accounts": args.accounts, "visits": args.visits, "seconds": round(full_s, 2),
                      "rows_per_s": round(rate), "pages": summary.pages,
                      "resumed_seconds": round(resumed_s, 2), "pages_refetched": refetched,
                      "mismatched": summary.mismatched, "local_mb": round(size_mb, 1),
                      "peer_rows_per_s": PEER[1], "target_s": 30}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
