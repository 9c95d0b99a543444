"""Bench: one-day plans with time windows on seeded Solomon-style 100-stop instances vs PyVRP 30 s.

Usage: python bench/vrptw.py [--seeds 3] [--peer-seconds 30] [--limit 1.0]
Prints per instance: visits and km of fieldcrm's plan_route (≤ --limit s) and of PyVRP's hybrid
genetic search given --peer-seconds on the same model, plus the feasibility verdict of the
independent checker; ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fieldcrm.geo.distance import HaversineModel  # noqa: E402
from fieldcrm.geo.routing.check import check_plan  # noqa: E402
from fieldcrm.geo.routing.model import (  # noqa: E402
    OpeningHours,
    Place,
    PlanSettings,
    Stop,
    TimeWindow,
)
from fieldcrm.geo.routing.multistart import build_data  # noqa: E402
from fieldcrm.geo.routing.schedule import (  # noqa: E402
    build_plan,
    build_problem,
    is_feasible,
    route_km,
)
from fieldcrm.geo.routing.search import repair  # noqa: E402
from fieldcrm.geo.routing.solver import plan_route  # noqa: E402

DAY = date(2026, 11, 23)  # a Monday
LAT0, LON0 = 59.0, 17.0
KM_LAT, KM_LON = 111.2, 57.3  # km per degree near 59°N


def instance(seed: int, kind: str, n: int = 100) -> tuple[list[Stop], PlanSettings]:
    """Solomon-style: 100 stops in a 60 km square (half clustered), one rep 08:00-18:00."""
    rng = random.Random(seed * 7919 + (0 if kind == "tight" else 1))
    centres = [(rng.uniform(-25, 25), rng.uniform(-25, 25)) for _ in range(5)]
    stops = []
    for k in range(n):
        if k % 2:
            cx, cy = rng.choice(centres)
            x, y = cx + rng.gauss(0, 4), cy + rng.gauss(0, 4)
        else:
            x, y = rng.uniform(-30, 30), rng.uniform(-30, 30)
        width = rng.uniform(30, 60) if kind == "tight" else rng.uniform(120, 300)
        mid = rng.uniform(8 * 60 + width / 2, 18 * 60 - width / 2)
        win = TimeWindow(round(mid - width / 2), round(mid + width / 2))
        stops.append(Stop(
            id=f"s{k}", name=f"Stop {k}", lat=LAT0 + y / KM_LAT, lon=LON0 + x / KM_LON,
            duration=float(rng.choice((10, 15, 20))), hours=OpeningHours.weekdays(win),
        ))
    home = Place("Office", LAT0, LON0, kind="office")
    settings = PlanSettings(day=DAY, start=home, end=home, start_time=480.0,
                            latest_return=1080.0, time_limit=1.0)
    return stops, settings


def peer(stops, settings, model, seconds: float):
    """PyVRP HGS on the same prize-collecting model for `seconds`, then checked by ours."""
    p, rejected, warnings = build_problem(stops, settings, model)
    cand = [i for i in range(p.n) if is_feasible(p, [i])]
    import pyvrp
    from pyvrp.stop import MaxRuntime

    data, client_stop = build_data(p, cand)
    res = pyvrp.solve(data, MaxRuntime(seconds), seed=1, collect_stats=False, display=False)
    routes = res.best.routes()
    seq = [client_stop[a.idx] for a in routes[0] if a.is_client()] if routes else []
    ok = is_feasible(p, seq)
    fixed, _ = repair(p, seq)
    return len(seq), route_km(p, seq), ok, build_plan(p, fixed, [], [])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--peer-seconds", type=float, default=30.0)
    ap.add_argument("--limit", type=float, default=1.0)
    args = ap.parse_args()
    model = HaversineModel(detour_factor=1.3, speed_kmh=50.0)
    rows = []
    print(f"{'instance':14s} {'ours':>14s} {'time':>6s} {'feasible':>8s}   "
          f"{f'PyVRP {args.peer_seconds:g}s':>14s} {'km gap':>7s}")
    for kind in ("tight", "wide"):
        for seed in range(1, args.seeds + 1):
            stops, settings = instance(seed, kind)
            t0 = time.perf_counter()
            plan = plan_route(stops, None, None, _with_limit(settings, args.limit),
                              distance=model)
            secs = time.perf_counter() - t0
            problems = check_plan(plan, stops, distance=model)
            pv, pkm, pok, _ = peer(stops, settings, model, args.peer_seconds)
            ours_v, ours_km = len(plan.stops), plan.total_km
            gap = 100.0 * (ours_km - pkm) / pkm if pkm else 0.0
            rows.append(dict(instance=f"{kind}-{seed}", visits=ours_v, km=round(ours_km, 2),
                             seconds=round(secs, 3), feasible=not problems,
                             peer_visits=pv, peer_km=round(pkm, 2), peer_feasible=pok,
                             km_gap_pct=round(gap, 3)))
            print(f"{kind + '-' + str(seed):14s} {ours_v:3d} v {ours_km:7.1f} km {secs:6.3f} "
                  f"{'yes' if not problems else 'NO':>8s}   {pv:3d} v {pkm:7.1f} km {gap:6.2f}%"
                  + ("" if pok else "  (peer infeasible)"))
    summary = dict(
        bench="vrptw", limit_s=args.limit, peer="pyvrp", peer_seconds=args.peer_seconds,
        instances=rows,
        all_feasible=all(r["feasible"] for r in rows),
        never_fewer_visits=all(r["visits"] >= r["peer_visits"] for r in rows),
        max_seconds=max(r["seconds"] for r in rows),
        mean_km_gap_pct=round(statistics.mean(r["km_gap_pct"] for r in rows), 3),
        max_km_gap_pct=max(r["km_gap_pct"] for r in rows),
    )
    print(json.dumps(summary))
    return 0


def _with_limit(settings: PlanSettings, limit: float) -> PlanSettings:
    import dataclasses

    return dataclasses.replace(settings, time_limit=limit)


if __name__ == "__main__":
    raise SystemExit(main())
