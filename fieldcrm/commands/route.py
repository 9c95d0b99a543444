"""`fieldcrm route`: route tools; `route solve FILE.tsp` solves a TSPLIB instance."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `route` command and its `solve` subcommand."""
    p = subparsers.add_parser("route", help="route planning tools")
    sub = p.add_subparsers(dest="route_command", metavar="ACTION", required=True)
    s = sub.add_parser("solve", help="solve a TSPLIB instance's closed tour")
    s.add_argument("file", metavar="FILE.tsp", help="TSPLIB file (EUC_2D, CEIL_2D, ATT or GEO)")
    s.add_argument("--time-limit", type=float, default=1.0, metavar="S",
                   help="seconds in total, reading the file included (default 1)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Solve and print the tour (1-based city numbers) and its TSPLIB length."""
    from fieldcrm.geo.tsplib import solve_file

    sol = solve_file(args.file, time_limit=args.time_limit)
    if args.json:
        print(json.dumps({"name": sol.name, "length": sol.length, "tour": list(sol.tour),
                          "seconds": round(sol.seconds, 4)}))
    else:
        print(f"NAME: {sol.name}")
        print(f"LENGTH: {sol.length}")
        print(f"SECONDS: {sol.seconds:.3f}")
        print("TOUR: " + " ".join(map(str, sol.tour)))
    return 0
