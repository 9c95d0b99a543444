"""Bench: a 500-stop distance/time matrix with the NumPy haversine model, beside per-pair geopy.

Usage: python bench/distance_matrix.py [--n 500] [--repeat 20]
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fieldcrm.geo.distance import HaversineModel  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    pts = np.column_stack([rng.uniform(55.3, 69.0, args.n), rng.uniform(11.0, 24.0, args.n)])
    model = HaversineModel(detour_factor=1.3, speed_kmh=60.0)
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        km, minutes = model.matrices(pts)
        times.append(time.perf_counter() - t0)
    ours_ms = 1000 * statistics.median(times)
    best_ms = 1000 * min(times)

    from geopy.distance import great_circle

    t0 = time.perf_counter()
    ref = np.zeros((args.n, args.n))
    plist = [tuple(p) for p in pts]
    for i, a in enumerate(plist):
        for j, b in enumerate(plist):
            if i != j:
                ref[i, j] = great_circle(a, b).km
    geopy_ms = 1000 * (time.perf_counter() - t0)
    err = float(np.max(np.abs(km / 1.3 - ref)))
    print(f"numpy haversine {args.n}x{args.n}: {ours_ms:.2f} ms median, {best_ms:.2f} ms best"
          f" of {args.repeat} (km + minutes)")
    print(f"geopy great_circle per pair: {geopy_ms:.0f} ms; max difference {err:.2e} km")
    print(json.dumps({"bench": "distance_matrix", "n": args.n, "numpy_ms": round(ours_ms, 3),
                      "numpy_best_ms": round(best_ms, 3),
                      "geopy_per_pair_ms": round(geopy_ms, 1), "max_abs_diff_km": err}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
