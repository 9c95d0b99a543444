"""Benchmark: assign 1,000,000 accounts to 50 territories over Sweden (target <= 0.3 s).

Territories are Voronoi cells of 50 seeds clipped to Sweden's bounding box, their edges cut
to <= 0.05° (about 80-250 vertices each), five with a lake-like hole, and one MultiPolygon
(an enclave inside another cell, which has the matching hole). Accounts: 70 % around 20
towns, 30 % uniform. Peers, side by side:
  * a plain Python loop over ``Polygon.contains`` (timed on a subsample, extrapolated);
  * shapely's ``contains_xy`` over all points per territory, no prefilter.
Ends with one JSON line.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np
import shapely
from shapely.geometry import Point, box

from fieldcrm.geo.territory import TerritoryIndex, assign_points

BBOX = (10.9, 55.3, 24.2, 69.1)
N_POINTS = 1_000_000
N_TERRITORIES = 50
LOOP_SAMPLE = 2_000


def make_territories(seed: int = 42) -> list[tuple[str, shapely.Geometry]]:
    rng = np.random.default_rng(seed)
    frame = box(*BBOX)
    seeds = np.column_stack(
        [rng.uniform(BBOX[0], BBOX[2], N_TERRITORIES), rng.uniform(BBOX[1], BBOX[3], N_TERRITORIES)]
    )
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame))
    cells = [c.intersection(frame) for c in cells]
    for k in (3, 11, 19, 27, 35):  # lakes: holes that nobody covers
        cells[k] = cells[k].difference(cells[k].centroid.buffer(0.15, quad_segs=8))
    island = cells[7].centroid.buffer(0.2, quad_segs=8)
    cells[7] = cells[7].difference(island)  # the enclave's hole ...
    cells[0] = shapely.MultiPolygon([cells[0], island])  # ... filled by territory 0
    cells = [shapely.segmentize(c, 0.05) for c in cells]
    return [(f"t{i:02d}", c) for i, c in enumerate(cells)]


def make_points(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    towns = np.column_stack([rng.uniform(BBOX[0], BBOX[2], 20), rng.uniform(BBOX[1], BBOX[3], 20)])
    n_town = int(n * 0.7)
    which = rng.integers(0, len(towns), n_town)
    near = towns[which] + rng.normal(0, 0.3, (n_town, 2))
    far = np.column_stack(
        [rng.uniform(BBOX[0], BBOX[2], n - n_town), rng.uniform(BBOX[1], BBOX[3], n - n_town)]
    )
    pts = np.vstack([near, far])
    out = (
        (pts[:, 0] < BBOX[0])
        | (pts[:, 0] > BBOX[2])
        | (pts[:, 1] < BBOX[1])
        | (pts[:, 1] > BBOX[3])
    )
    # Town spill-over beyond the box is redrawn uniformly inside it (not clipped onto its edge).
    pts[out, 0] = rng.uniform(BBOX[0], BBOX[2], out.sum())
    pts[out, 1] = rng.uniform(BBOX[1], BBOX[3], out.sum())
    return pts[:, 0].copy(), pts[:, 1].copy()


def on_boundaries(x: np.ndarray, y: np.ndarray, territories) -> int:
    """How many of these points lie exactly on some territory's boundary."""
    hit = np.zeros(len(x), dtype=bool)
    for _, geom in territories:
        hit |= shapely.intersects_xy(geom.boundary, x, y)
    return int(hit.sum())


def python_loop(x: np.ndarray, y: np.ndarray, territories) -> np.ndarray:
    out = np.full(len(x), -1, dtype=np.int64)
    for k in range(len(x)):
        p = Point(x[k], y[k])
        for i, (_, geom) in enumerate(territories):
            if geom.contains(p):
                out[k] = i
                break
    return out


def naive_vectorised(x: np.ndarray, y: np.ndarray, territories) -> np.ndarray:
    out = np.full(len(x), -1, dtype=np.int64)
    for i, (_, geom) in enumerate(territories):
        out[(out < 0) & shapely.contains_xy(geom, x, y)] = i
    return out


def _timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> int:
    territories = make_territories()
    x, y = make_points(N_POINTS)
    vertices = sum(int(shapely.get_num_coordinates(g)) for _, g in territories)
    print(f"{N_TERRITORIES} territories, {vertices} vertices, {N_POINTS:,} accounts")

    c0 = time.process_time()
    t_fast, got = _timed(lambda: assign_points(x, y, territories), 5)
    cpu_fast = (time.process_time() - c0) / 5  # mean CPU: the work, whatever the load
    index = TerritoryIndex(territories)
    index.assign(x, y)  # builds the raster once
    t_warm, _ = _timed(lambda: index.assign(x, y), 5)
    t_exact, exact = _timed(lambda: TerritoryIndex(territories).assign_exact(x, y), 3)
    t_naive, naive = _timed(lambda: naive_vectorised(x, y, territories), 1)
    rng = np.random.default_rng(1)
    sample = rng.choice(N_POINTS, LOOP_SAMPLE, replace=False)
    t_loop_sample, loop = _timed(lambda: python_loop(x[sample], y[sample], territories), 1)
    t_loop = t_loop_sample * N_POINTS / LOOP_SAMPLE

    agree_exact = int((got == exact).sum())
    agree_naive = int((got == naive).sum())
    agree_loop = int((got[sample] == loop).sum())
    outside = int((got < 0).sum())
    diff_naive = np.flatnonzero(got != naive)
    diff_loop = sample[got[sample] != loop]
    explained = on_boundaries(x[diff_naive], y[diff_naive], territories) + on_boundaries(
        x[diff_loop], y[diff_loop], territories
    )
    unexplained = len(diff_naive) + len(diff_loop) - explained
    print(
        f"assign_points (raster + exact, cold) : {t_fast * 1000:8.1f} ms   median of 5 "
        f"(CPU {cpu_fast * 1000:.1f} ms a run; load average {os.getloadavg()[0]:.1f})"
    )
    print(f"TerritoryIndex.assign (raster built)  : {t_warm * 1000:8.1f} ms   median of 5")
    print(f"bbox prefilter + intersects_xy only   : {t_exact * 1000:8.1f} ms   median of 3")
    print(f"contains_xy per territory, no filter  : {t_naive * 1000:8.1f} ms   one run")
    print(
        f"plain Python loop, Polygon.contains   : {t_loop:8.1f} s    "
        f"({LOOP_SAMPLE:,}-point subsample took {t_loop_sample:.2f} s, x{N_POINTS // LOOP_SAMPLE})"
    )
    print(f"speed-up vs Python loop: x{t_loop / t_fast:,.0f}; accounts outside: {outside:,}")
    print(
        f"agreement: exact path {agree_exact:,}/{N_POINTS:,}, contains_xy {agree_naive:,}/"
        f"{N_POINTS:,}, loop {agree_loop}/{LOOP_SAMPLE}; differences not on a boundary: "
        f"{unexplained} (boundary points are covered, not contained)"
    )
    print(
        json.dumps(
            {
                "bench": "territory_assign",
                "points": N_POINTS,
                "territories": N_TERRITORIES,
                "vertices": vertices,
                "assign_s": round(t_fast, 4),
                "assign_cpu_s": round(cpu_fast, 4),
                "load_average": round(os.getloadavg()[0], 2),
                "assign_prebuilt_s": round(t_warm, 4),
                "bbox_intersects_xy_s": round(t_exact, 4),
                "contains_xy_naive_s": round(t_naive, 4),
                "python_loop_s_extrapolated": round(t_loop, 1),
                "python_loop_sample": LOOP_SAMPLE,
                "target_s": 0.3,
                "agree_exact": agree_exact,
                "agree_loop_sample": agree_loop,
                "outside": outside,
                "unexplained_differences": unexplained,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
