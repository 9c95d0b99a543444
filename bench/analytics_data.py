"""Synthetic local database for the analytics benchmark and tests (raw sqlite3, fast)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from fieldcrm.db.engine import open_database

TS = "%Y-%m-%dT%H:%M:%S.%fZ"


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:08d}" for i in range(n)]


def build(path: Path, *, accounts: int, sales: int, visits: int, opportunities: int,
          today: date, seed: int = 1) -> None:  # fmt: skip
    """Create a migrated database at ``path`` filled with random but plausible rows."""
    open_database(path).close()
    rng = np.random.default_rng(seed)
    now = datetime(today.year, today.month, today.day, tzinfo=UTC).strftime(TS)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")  # a throwaway benchmark file: no need to fsync
    reps, terrs = _ids("u", 20), _ids("t", 50)
    con.executemany(
        "INSERT INTO user (id, name, email, role, active, row_version, deleted, created_at,"
        " updated_at, extra_json) VALUES (?, ?, '', 'rep', 1, 0, 0, ?, ?, '{}')",
        [(r, f"Rep {i}", now, now) for i, r in enumerate(reps)],
    )
    con.executemany(
        "INSERT INTO territory (id, name, color, geojson, rep_id, region, row_version, deleted,"
        " created_at, updated_at, extra_json)"
        " VALUES (?, ?, '#3388ff', '{}', ?, '', 0, 0, ?, ?, '{}')",
        [(t, f"Territory {i}", reps[i % 20], now, now) for i, t in enumerate(terrs)],
    )
    acc = _ids("a", accounts)
    terr_of = rng.integers(0, 50, accounts)
    tiers = rng.choice(np.array(["A", "B", "C"]), accounts, p=[0.15, 0.35, 0.5])
    con.executemany(
        "INSERT INTO account (id, name, status, tier, owner_id, territory_id, tags, street,"
        " postcode, city, region, country, geocode_source, phone, phone_raw, phone_valid, email,"
        " email_valid, website, notes, row_version, deleted, created_at, updated_at, extra_json)"
        " VALUES (?, ?, 'customer', ?, ?, ?, '', '', '', '', ?, 'SE', 'none', '', '', 1, '', 1,"
        " '', '', 0, 0, '2020-01-01T00:00:00.000000Z', ?, '{}')",
        (
            (a, f"Account {i}", str(tiers[i]), reps[terr_of[i] % 20], terrs[terr_of[i]],
             f"Region {terr_of[i] % 21}", now)
            for i, a in enumerate(acc)
        ),
    )  # fmt: skip
    start = today - timedelta(days=730)
    days = rng.integers(0, 730, sales)
    who = rng.integers(0, accounts, sales)
    amount = rng.integers(1_000, 500_000, sales)
    con.executemany(
        "INSERT INTO sale (id, account_id, rep_id, sold_on, amount_minor, currency, row_version,"
        " deleted, created_at, updated_at, extra_json) VALUES (?, ?, NULL, ?, ?, 'SEK', 0, 0, ?,"
        " ?, '{}')",
        (
            (f"s{k:09d}", acc[who[k]], (start + timedelta(days=int(days[k]))).isoformat(),
             int(amount[k]), now, now)
            for k in range(sales)
        ),
    )  # fmt: skip
    vdays = rng.uniform(0, 730, visits)
    vwho = rng.integers(0, accounts, visits)
    base = datetime(start.year, start.month, start.day, tzinfo=UTC)
    con.executemany(
        "INSERT INTO visit (id, account_id, rep_id, status, checked_in_at, outcome, notes,"
        " next_step, row_version, deleted, created_at, updated_at, extra_json)"
        " VALUES (?, ?, NULL, 'completed', ?, '', '', '', 0, 0, ?, ?, '{}')",
        (
            (f"v{k:09d}", acc[vwho[k]], (base + timedelta(days=float(vdays[k]))).strftime(TS),
             now, now)
            for k in range(visits)
        ),
    )  # fmt: skip
    stages = rng.choice(np.array(["qualify", "proposal", "negotiation", "won", "lost"]),
                        opportunities)  # fmt: skip
    owho = rng.integers(0, accounts, opportunities)
    con.executemany(
        "INSERT INTO opportunity (id, account_id, owner_id, name, stage, amount_minor, currency,"
        " expected_close, row_version, deleted, created_at, updated_at, extra_json)"
        " VALUES (?, ?, NULL, 'Deal', ?, ?, 'SEK', NULL, 0, 0, ?, ?, '{}')",
        (
            (f"o{k:08d}", acc[owho[k]], str(stages[k]), int(rng.integers(10_000, 5_000_000)),
             (base + timedelta(days=float(rng.uniform(0, 730)))).strftime(TS), now)
            for k in range(opportunities)
        ),
    )  # fmt: skip
    con.commit()
    con.execute("ANALYZE")
    con.close()
