"""Bench: TSPLIB closed tours, gap to the proven optimum and time, beside OR-Tools GLS.

Usage: python bench/tsplib.py [--data DIR] [--time-limit 1.0] [--no-peer]
DIR defaults to ../shared/bench/tsplib relative to the repo root. Times include reading the
file. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fieldcrm.geo import tsplib  # noqa: E402


def ortools_tour(dist, seconds: float) -> list[int] | None:
    """OR-Tools routing solver, one vehicle, GUIDED_LOCAL_SEARCH, ``seconds`` wall time."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = len(dist)
    manager = pywrapcp.RoutingIndexManager(n, 1, 0)
    routing = pywrapcp.RoutingModel(manager)
    rows = dist.tolist()

    def cost(i: int, j: int) -> int:
        return rows[manager.IndexToNode(i)][manager.IndexToNode(j)]

    cb = routing.RegisterTransitCallback(cost)
    routing.SetArcCostEvaluatorOfAllVehicles(cb)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    sol = routing.SolveWithParameters(params)
    if sol is None:
        return None
    idx, tour = routing.Start(0), []
    while not routing.IsEnd(idx):
        tour.append(manager.IndexToNode(idx))
        idx = sol.Value(routing.NextVar(idx))
    return tour


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench" / "tsplib")
    ap.add_argument("--time-limit", type=float, default=1.0)
    ap.add_argument("--no-peer", action="store_true", help="skip OR-Tools")
    args = ap.parse_args()
    optima = json.loads((args.data / "optima.json").read_text())
    rows = []
    print(f"{'instance':10s} {'n':>4s} {'optimum':>8s} {'ours':>8s} {'gap%':>7s} {'s':>6s}"
          f"   {'OR-Tools':>8s} {'gap%':>7s} {'s':>6s}")
    for path in sorted(args.data.glob("*.tsp")):
        name = path.stem
        sol = tsplib.solve_file(path, time_limit=args.time_limit)
        opt = optima[name]
        row = {"instance": name, "n": len(sol.tour), "optimum": opt, "length": sol.length,
               "gap_pct": round(100.0 * (sol.length - opt) / opt, 4),
               "seconds": round(sol.seconds, 4)}
        line = (f"{name:10s} {row['n']:4d} {opt:8d} {sol.length:8d} {row['gap_pct']:7.3f}"
                f" {sol.seconds:6.3f}")
        if not args.no_peer:
            t0 = time.perf_counter()
            dist = tsplib.distance_matrix(tsplib.read(path))
            tour = ortools_tour(dist, args.time_limit)
            secs = time.perf_counter() - t0
            if tour is not None:
                length = tsplib.tour_length(dist, tour)
                row.update(peer_length=length, peer_seconds=round(secs, 4),
                           peer_gap_pct=round(100.0 * (length - opt) / opt, 4))
                line += f"   {length:8d} {row['peer_gap_pct']:7.3f} {secs:6.3f}"
        rows.append(row)
        print(line, flush=True)
    gaps = [r["gap_pct"] for r in rows]
    summary = {
        "bench": "tsplib", "time_limit_s": args.time_limit, "instances": len(rows),
        "mean_gap_pct": round(statistics.mean(gaps), 4), "max_gap_pct": max(gaps),
        "max_seconds": max(r["seconds"] for r in rows),
        "max_seconds_n_le_100": max(r["seconds"] for r in rows if r["n"] <= 100),
        "max_gap_pct_n_le_100": max(r["gap_pct"] for r in rows if r["n"] <= 100),
    }
    peer = [r["peer_gap_pct"] for r in rows if "peer_gap_pct" in r]
    if peer:
        summary.update(peer="ortools-gls", peer_mean_gap_pct=round(statistics.mean(peer), 4),
                       peer_max_gap_pct=max(peer))
    summary["rows"] = rows
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
