"""Benchmark: re-placing accounts on the sync server when a territory boundary moves.

100,000 accounts (each with one contact, plus 100,000 visits) in 50 territories: a 10 x 5
grid over Sweden's bounding box, edges cut to <= 0.05 degrees (about 80-170 vertices each).
One shared edge moves (two territories change in one GeoJSON import, as
``fieldcrm-server territory import`` does); then the same file is imported again (nothing
may change). Peers, side by side:
  * the per-account loop of the rep-create placement (``merge.containing_territory``: shape
    and test every territory per account), timed on a sample and extrapolated to all accounts;
  * shapely ``contains_xy`` of every account against every territory (no bounding-box
    prefilter, no database), the floor of a "re-place everything" approach.
Run: ``python bench/server_replace.py [--backend sqlite|postgres] [--accounts N]``.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import box, mapping

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync_common import database  # noqa: E402

BBOX = (11.0, 55.0, 24.0, 69.0)
COLS, ROWS = 10, 5
SHIFT = 0.3  # of a cell's width: how far the moved edge goes


def cell(col: int, row: int, x0: float | None = None, x1: float | None = None) -> dict[str, Any]:
    """Grid cell (col, row), optionally with its left or right edge at ``x0`` / ``x1``."""
    w, h = (BBOX[2] - BBOX[0]) / COLS, (BBOX[3] - BBOX[1]) / ROWS
    left, bottom = BBOX[0] + col * w, BBOX[1] + row * h
    shape = box(left if x0 is None else x0, bottom, left + w if x1 is None else x1, bottom + h)
    return dict(mapping(shapely.segmentize(shape, 0.05)))


def collection(moved: float | None = None) -> dict[str, Any]:
    """The 50 cells; with ``moved``, the edge between cells (4, 2) and (5, 2) sits there."""
    features = []
    for row in range(ROWS):
        for col in range(COLS):
            geom = cell(col, row)
            if moved is not None and (row, col) == (2, 4):
                geom = cell(col, row, x1=moved)
            if moved is not None and (row, col) == (2, 5):
                geom = cell(col, row, x0=moved)
            features.append({"type": "Feature", "geometry": geom,
                             "properties": {"name": f"T{row}{col}"}})
    return {"type": "FeatureCollection", "features": features}


def seed(db: Any, n: int) -> tuple[np.ndarray, np.ndarray, list[tuple[str, Any]]]:
    """Territories, then ``n`` accounts placed by the map, one contact each, ``n`` visits."""
    from datetime import UTC, datetime

    from shapely.geometry import shape
    from sqlalchemy import insert, select

    from fieldcrm.domain.ids import new_id
    from fieldcrm.sync.server import admin
    from fieldcrm.sync.server.models import Account, Contact, SyncIndex, Territory, Visit
    from fieldcrm.sync.server.placement import _Map

    with db.write() as s, s.begin():
        admin.add_user(s, username="rep", password="bench-password", role="rep")
        admin.import_territories(s, collection=collection())
    with db.read() as s:
        terr = [(t, shape(g)) for t, g in s.execute(select(Territory.id, Territory.geojson))]
    rng = np.random.default_rng(3)
    x = rng.uniform(BBOX[0], BBOX[2], n)
    y = rng.uniform(BBOX[1], BBOX[3], n)
    where = _Map(terr).assign(x, y)
    now = datetime.now(UTC)
    pick = random.Random(5)
    ids = [new_id() for _ in range(n)]
    for start in range(0, n, 10_000):
        part = range(start, min(n, start + 10_000))
        accounts = [{"id": ids[k], "name": f"Account {k}", "territory_id": where[k],
                     "lat": float(y[k]), "lon": float(x[k]), "tags": [], "row_version": 1,
                     "field_versions": {"name": 1, "lat": 1, "lon": 1}, "deleted": False,
                     "needs_assignment": False, "created_at": now, "updated_at": now}
                    for k in part]
        contacts = [{"id": new_id(), "account_id": ids[k], "name": "Owner", "row_version": 1,
                     "field_versions": {"name": 1}, "deleted": False, "created_at": now,
                     "updated_at": now} for k in part]
        visits = []
        for _ in part:
            acc = ids[pick.randrange(n)]
            visits.append({"id": new_id(), "account_id": acc, "rep_id": "rep", "data": {},
                           "received_at_server": now, "review": "accepted", "review_reason": ""})
        index = [{"scope_id": f"territory:{where[k]}", "entity": "account", "entity_id": ids[k],
                  "version": 1, "op": "upsert", "row_version": 1, "changed_at": now}
                 for k in part]
        with db.write() as s, s.begin():
            s.execute(insert(Account), accounts)
            s.execute(insert(Contact), contacts)
            s.execute(insert(Visit), visits)
            s.execute(insert(SyncIndex), index)
    return x, y, terr


def reimport(db: Any, doc: dict[str, Any]) -> tuple[float, float, Any]:
    """(total seconds incl. commit, seconds in replace_accounts, Replacement)."""
    from fieldcrm.sync.server import admin, placement

    spent = [0.0]

    def timed(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return placement.replace_accounts(*a, **k)
        finally:
            spent[0] += time.perf_counter() - t

    admin.replace_accounts = timed  # type: ignore[assignment]
    t0 = time.perf_counter()
    with db.write() as s, s.begin():
        done = admin.import_territories_report(s, collection=doc)
    return time.perf_counter() - t0, spent[0], done.placement


def peer_loop(db: Any, x: np.ndarray, y: np.ndarray, sample: int = 300) -> float:
    """merge.containing_territory per account on a sample, extrapolated to every account."""
    from fieldcrm.sync.server.merge import containing_territory

    with db.read() as s:
        t0 = time.perf_counter()
        for k in range(sample):
            containing_territory(s, float(x[k]), float(y[k]))
        return (time.perf_counter() - t0) / sample * len(x)


def peer_all(x: np.ndarray, y: np.ndarray, terr: list[tuple[str, Any]]) -> float:
    t0 = time.perf_counter()
    for _t, g in terr:
        shapely.prepare(g)
        shapely.contains_xy(g, x, y)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--accounts", type=int, default=100_000)
    args = ap.parse_args()
    from fieldcrm.sync.server.auth import configure_hasher
    from fieldcrm.sync.server.engine import make_database, migrate

    configure_hasher(time_cost=1, memory_cost_kib=1024)
    folder = Path(tempfile.mkdtemp(prefix="fieldcrm-bench-replace-"))
    url, stop = database(args.backend, folder)
    try:
        db = make_database(url)
        migrate(db.engine)
        t0 = time.perf_counter()
        x, y, terr = seed(db, args.accounts)
        print(f"seeded {args.accounts:,} accounts (+ contacts, visits), {len(terr)} territories "
              f"on {args.backend} in {time.perf_counter() - t0:.1f} s")
        w = (BBOX[2] - BBOX[0]) / COLS
        moved_edge = BBOX[0] + 5 * w + SHIFT * w
        total, replace, placed = reimport(db, collection(moved_edge))
        expect = int(((x >= BBOX[0] + 5 * w) & (x < moved_edge) & (y > BBOX[1] + 2 * 2.8)
                      & (y < BBOX[1] + 3 * 2.8)).sum())
        print(f"one edge moved {SHIFT * w:.2f} deg: {total:.2f} s for the import transaction "
              f"({replace:.2f} s re-placing), {placed.examined:,} accounts examined, "
              f"{len(placed.moved):,} moved (about {expect:,} expected)")
        same, same_replace, again = reimport(db, collection(moved_edge))
        print(f"same file again: {same:.2f} s, {len(again.moved)} moved")
        loop = peer_loop(db, x, y)
        everything = peer_all(x, y, terr)
        print(f"peer, per-account containing_territory loop (extrapolated): {loop:.1f} s")
        print(f"peer, contains_xy of every account x every territory (no DB): {everything:.2f} s")
        db.engine.dispose()
    finally:
        stop()
    print(json.dumps({
        "bench": "server_replace", "backend": args.backend, "accounts": args.accounts,
        "territories": len(terr), "moved_edge_seconds": round(total, 3),
        "replace_seconds": round(replace, 3), "examined": placed.examined,
        "moved": len(placed.moved), "same_file_seconds": round(same, 3),
        "same_file_moved": len(again.moved),
        "peer_loop_seconds_extrapolated": round(loop, 1),
        "peer_all_contains_xy_seconds": round(everything, 3),
    }))


if __name__ == "__main__":
    main()
