"""`fieldcrm demo`: build a reproducible demo database."""

from __future__ import annotations

import argparse
from datetime import date


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="build a reproducible demo database")
    p.add_argument("--db", required=True, help="the new database file")
    p.add_argument("--accounts", type=int, default=2000, help="number of accounts (1–100,000; default 2,000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same demo)")
    p.add_argument("--country", default="SE", help="ISO country code of the towns (default SE)")
    p.add_argument("--today", type=date.fromisoformat, default=None, help="the demo's 'today' (YYYY-MM-DD)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from fieldcrm.db.engine import open_database
    from fieldcrm.errors import InvalidInput
    from fieldcrm.services.demo import build_demo

    path = Path(args.db)
    if path.exists() and path.stat().st_size > 0:
        raise InvalidInput(f"{path} already exists; choose a new file for the demo.")
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    db = open_database(path)
    try:
        with db.session() as session:
            s = build_demo(session=session, accounts=args.accounts, seed=args.seed,
                           country=args.country, today=args.today,
                           progress=lambda d, t, label: print(f"  {label}…", flush=True))
    except BaseException:
        db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)  # never leave half a demo behind
        raise
    db.close()
    print(f"Demo written to {path} in {time.perf_counter() - started:.1f} s: {s.accounts:,} accounts, "
          f"{s.contacts:,} contacts, {s.visits:,} visits, {s.sales:,} sales, {s.territories} territories, "
          f"{s.users} users (you are {s.current_user}).")
    return 0
