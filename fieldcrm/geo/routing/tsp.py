"""Closed-tour TSP over an integer matrix: fast-tsp's local search, scaled into its range."""

from __future__ import annotations

import numpy as np

FAST_TSP_MAX = 2**16 - 1
SMALL = 100
SMALL_BUDGET = 0.08  # seconds: enough for fast-tsp to reach the optimum on TSPLIB ≤ 100 cities


def solve_tsp(dist: np.ndarray, *, time_limit: float = 1.0) -> list[int]:
    """Return a short closed tour (0-based indices, starting at 0) over a symmetric matrix.

    fast-tsp accepts distances up to 65,535; larger matrices are scaled down for the search
    (the caller measures the tour on the exact matrix). Instances of at most 100 cities get
    at most 0.08 s, larger ones the whole ``time_limit``.
    """
    import fast_tsp

    d = np.asarray(dist)
    n = d.shape[0]
    if n <= 3:
        return list(range(n))
    top = float(d.max())
    if top > FAST_TSP_MAX:
        d = np.rint(d * (FAST_TSP_MAX / top))
    d = d.astype(np.int64)
    budget = min(time_limit, SMALL_BUDGET) if n <= SMALL else time_limit
    tour = list(fast_tsp.find_tour(d, max(0.005, budget)))
    k = tour.index(0)
    return tour[k:] + tour[:k]
