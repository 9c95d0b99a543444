"""Benchmark: the analytics report over 100,000 accounts and 1,000,000 sales (target <= 1 s).

Builds a synthetic local database (2 years of sales, 400,000 visits, 60,000 opportunities),
then times `sales_report` grouped by territory, rep and region for the last 12 months vs
the 12 before (every sale in range: the worst case) and for a quarter vs the one before.
Peer, side by side: plain Python, fetching the sales rows and summing them in dicts. Then
the same with the two covering indexes of the proposed migration
(`ix_sale_account_date_amount`, `ix_visit_account_time_status`). Ends with one JSON line.
``--db PATH`` reuses a database built by an earlier run.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics_data import build  # noqa: E402

from fieldcrm.db.engine import open_database  # noqa: E402
from fieldcrm.services.analytics import Period, sales_report  # noqa: E402

TODAY = date(2026, 11, 1)
YEAR = Period(date(2025, 11, 1), TODAY)
QUARTER = Period(date(2026, 8, 1), TODAY)
COVERING = (
    "CREATE INDEX IF NOT EXISTS ix_sale_account_date_amount "
    "ON sale (account_id, sold_on, currency, amount_minor, deleted)",
    "CREATE INDEX IF NOT EXISTS ix_visit_account_time_status "
    "ON visit (account_id, checked_in_at, status, deleted)",
)


def _time(fn, repeat: int = 3) -> float:
    return _time2(fn, repeat)[0]


def _time2(fn, repeat: int = 3) -> tuple[float, float]:
    """Median wall and CPU (user + system of this process) seconds.

    SQLite runs in this process, so CPU time is the work done, whatever else the machine
    is busy with; on a quiet machine wall time is about the same.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def python_peer(path: Path, period: Period) -> dict:
    """Fetch the period's sales and each account's territory, sum in Python dicts."""
    con = sqlite3.connect(path)
    terr = dict(con.execute("SELECT id, territory_id FROM account WHERE deleted = 0"))
    prev = period.previous()
    out: dict = {}
    rows = con.execute(
        "SELECT account_id, sold_on, amount_minor FROM sale WHERE deleted = 0 "
        "AND currency = 'SEK' AND sold_on >= ? AND sold_on < ?",
        (prev.start.isoformat(), period.end.isoformat()),
    )
    start = period.start.isoformat()
    for account_id, sold_on, amount in rows:
        if account_id in terr:
            slot = out.setdefault(terr[account_id], [0, 0])
            slot[0 if sold_on >= start else 1] += amount
    con.close()
    return out


def measure(path: Path) -> dict[str, float]:
    db = open_database(path)
    figures = {}
    try:
        for name, period in (("year", YEAR), ("quarter", QUARTER)):
            for group in ("territory", "rep", "region"):
                with db.session() as s:
                    wall, cpu = _time2(
                        lambda s=s, g=group, p=period: sales_report(session=s, group_by=g, period=p)
                    )
                figures[f"{group}_{name}_s"] = wall
                figures[f"{group}_{name}_cpu_s"] = cpu
    finally:
        db.close()
    return figures


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path, help="reuse (or create) the benchmark database here")
    args = ap.parse_args()
    path = args.db or Path(tempfile.mkdtemp()) / "analytics.db"
    if not path.exists():
        t0 = time.perf_counter()
        build(path, accounts=100_000, sales=1_000_000, visits=400_000, opportunities=60_000,
              today=TODAY)  # fmt: skip
        print(f"built {path} in {time.perf_counter() - t0:.1f} s")
    with sqlite3.connect(path) as con:
        con.execute("DROP INDEX IF EXISTS ix_sale_account_date_amount")
        con.execute("DROP INDEX IF EXISTS ix_visit_account_time_status")
    plain = measure(path)
    peer = _time(lambda: python_peer(path, YEAR), 1)
    with sqlite3.connect(path) as con:
        for sql in COVERING:
            con.execute(sql)
        con.execute("ANALYZE")
    covered = measure(path)
    print("sales_report, median of 3 (s)     schema as is     + covering indexes")
    print("                                   wall     cpu      wall     cpu")
    for key in (k for k in plain if not k.endswith("_cpu_s")):
        cpu = key.replace("_s", "_cpu_s")
        print(f"  {key:28s} {plain[key]:7.3f} {plain[cpu]:7.3f}   {covered[key]:7.3f} "
              f"{covered[cpu]:7.3f}")  # fmt: skip
    print(f"python peer (sales by territory, year, rows summed in dicts): {peer:.3f} s")
    load = os.getloadavg()[0]
    worst_plain, worst_cov = (max(v for k, v in f.items() if not k.endswith("_cpu_s"))
                              for f in (plain, covered))  # fmt: skip
    worst_cpu = max(v for k, v in covered.items() if k.endswith("_cpu_s"))
    print(
        f"worst wall: {worst_plain:.3f} s as is, {worst_cov:.3f} s with the indexes "
        f"(CPU {worst_cpu:.3f} s); target 1 s; load average {load:.1f} on {os.cpu_count()} cores"
    )
    print(json.dumps({
        "bench": "analytics", "accounts": 100_000, "sales": 1_000_000, "visits": 400_000,
        "as_is_s": {k: round(v, 3) for k, v in plain.items()},
        "with_covering_indexes_s": {k: round(v, 3) for k, v in covered.items()},
        "python_peer_year_s": round(peer, 3), "worst_as_is_s": round(worst_plain, 3),
        "worst_with_index_s": round(worst_cov, 3), "worst_with_index_cpu_s": round(worst_cpu, 3),
        "target_s": 1.0, "load_average": round(load, 2),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
