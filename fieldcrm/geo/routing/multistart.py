"""PyVRP-based search for one day: diverse short runs for the most visits, then polishing.

Measured on seeded Solomon-style 100-stop days (see docs/routing.md): one long PyVRP run
stalls in a seed-dependent local optimum, so the budget goes to two differently started runs
(distance only; distance plus a little time), each followed by a run from its result that
charges time heavily (so the search trades drive for room and adds a visit), a fast-tsp
reordering of the best visit set, and a last run from the best so far for distance.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from fieldcrm.errors import Cancelled
from fieldcrm.geo.routing.schedule import END, START, Problem, is_feasible, route_km
from fieldcrm.geo.routing.search import Progress, ShouldCancel


class _Stop:
    """PyVRP stopping criterion: a time limit, a cancel flag and progress reports."""

    def __init__(self, seconds: float, cancel: ShouldCancel | None, progress: Progress | None,
                 span: tuple[float, float] = (0.1, 0.8)):
        self.deadline = time.perf_counter() + seconds
        self.seconds = seconds
        self.cancel = cancel
        self.progress = progress
        self.span = span
        self.cancelled = False
        self._last = 0.0

    def __call__(self, best_cost: float) -> bool:
        now = time.perf_counter()
        if self.cancel is not None and self.cancel():
            self.cancelled = True
            return True
        if self.progress is not None and now - self._last > 0.1:
            self._last = now
            done = 1.0 - max(0.0, self.deadline - now) / max(self.seconds, 1e-9)
            lo, hi = self.span
            self.progress(lo + (hi - lo) * done, "Searching for a shorter route")
        return now >= self.deadline


def build_data(p: Problem, cand: Sequence[int], prize_factor: float = 4.0,
               duration_cost: int = 0):
    # -> tuple[pyvrp.ProblemData, list[int]]
    """PyVRP data in metres and whole seconds, every stop optional with a dominant prize.

    ``duration_cost`` (per second, in metres) also charges time spent, so that the search
    prefers visit sets that leave room for one more visit; the prize grows with it.

    Drive and visit times are rounded up so PyVRP is never tighter than the schedule; a stop
    with several windows becomes a mutually exclusive group; breaks shorten the day (the
    caller repairs with the exact schedule). Returns the data and each client's stop index.
    """
    import pyvrp

    s = p.settings
    nodes = [START, END, *(i + 2 for i in cand)]
    sub = np.ix_(nodes, nodes)
    km, mins = p.km[sub], p.minutes[sub]
    far = 10.0 * max(1.0, float(km[np.isfinite(km)].max()), float(mins[np.isfinite(mins)].max()))
    dist = np.rint(np.where(np.isfinite(km), km, far) * 1000.0).astype(np.int64)
    dur = np.ceil(np.where(np.isfinite(mins), mins, far) * 60.0 - 1e-9).astype(np.int64)
    np.fill_diagonal(dist, 0)
    np.fill_diagonal(dur, 0)
    visit = math.ceil(max((p.duration[i] for i in cand), default=0.0) * 60)
    prize = int((dist.max() + duration_cost * (dur.max() + visit)) * prize_factor) + 1000
    pause = sum(b.duration for b in p.breaks)
    day_start = math.ceil(p.start_time * 60)
    day_end = max(day_start, math.floor((s.latest_return - pause) * 60))
    clients: list[pyvrp.Client] = []
    groups: list[pyvrp.ClientGroup] = []
    client_stop: list[int] = []
    for loc, i in enumerate(cand, start=2):
        wins = [(math.ceil(max(w.start * 60, day_start)),
                 math.floor(min((w.end - p.duration[i]) * 60, day_end))) for w in p.windows[i]]
        wins = [(a, b) for a, b in wins if b >= a] or [(day_start, day_start)]
        bonus = 10 if p.stops[i].appointment is not None else 1
        group = None
        if len(wins) > 1:
            group = len(groups)
            groups.append(pyvrp.ClientGroup(
                list(range(len(clients), len(clients) + len(wins))), required=False))
        for a, b in wins:
            clients.append(pyvrp.Client(
                location=loc, service_duration=math.ceil(p.duration[i] * 60), tw_early=a,
                tw_late=b, prize=prize * bonus, required=False, group=group))
            client_stop.append(i)
    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(0, 0) for _ in nodes], clients=clients,
        depots=[pyvrp.Depot(0), pyvrp.Depot(1)],
        vehicle_types=[pyvrp.VehicleType(1, start_depot=0, end_depot=1, tw_early=day_start,
                                         tw_late=day_end, start_late=day_start,
                                         unit_duration_cost=duration_cost)],
        distance_matrices=[dist], duration_matrices=[dur], groups=groups,
    )
    return data, client_stop


def _params(kind: str):
    from pyvrp.IteratedLocalSearch import IteratedLocalSearchParams
    from pyvrp.search._search import PerturbationParams
    from pyvrp.solve import SolveParams

    if kind == "short-history":
        return SolveParams(ils=IteratedLocalSearchParams(history_length=50))
    if kind == "perturb-more":
        return SolveParams(perturbation=PerturbationParams(5, 50))
    return SolveParams()


def _tsp_reorder(p: Problem, seq: list[int]) -> list[int]:
    """The same visits in fast-tsp's shortest start → … → end order (windows ignored)."""
    from fieldcrm.geo.routing.tsp import solve_tsp

    if len(seq) < 4:
        return seq
    nodes = [START, *(i + 2 for i in seq), END]
    d = np.rint(p.km[np.ix_(nodes, nodes)] * 100.0)
    big = float(d.max()) * 4 + 1
    n = len(nodes)
    full = np.full((n + 1, n + 1), big)
    full[:n, :n] = d
    full[n, 0] = full[0, n] = full[n, n - 1] = full[n - 1, n] = 0.0
    full[n, n] = 0.0
    np.fill_diagonal(full, 0.0)
    tour = solve_tsp(full, time_limit=0.03)
    k = tour.index(n)
    path = tour[k + 1:] + tour[:k]
    if path[0] != 0:
        path.reverse()
    return [nodes[j] - 2 for j in path[1:-1]]


# (PyVRP settings, share of the time, seed, start from: nothing (False) / the best so far
#  (True) / the previous run's result ("last"), prize factor, duration cost per second)
PLAN: list[tuple[str, float, int, bool | str, float, int]] = [
    ("perturb-more", 0.25, 1, False, 4.0, 0), ("default", 0.17, 2, "last", 4.0, 100),
    ("perturb-more", 0.25, 1, False, 4.0, 5), ("default", 0.17, 2, "last", 4.0, 100),
    ("reorder", 0.0, 0, True, 4.0, 0), ("short-history", 0.16, 4, True, 4.0, 0),
]


def best_order(
    p: Problem, cand: Sequence[int], seconds: float, *,
    cancel: ShouldCancel | None = None, progress: Progress | None = None,
) -> list[int]:
    """Most visits, then the shortest drive, found within ``seconds``; stop indices in order.

    Raises
    ------
    Cancelled
        ``cancel`` returned True.
    """
    import pyvrp

    data, client_stop = build_data(p, cand)
    first_client = {}
    for c, i in enumerate(client_stop):
        first_client.setdefault(i, c)
    best: tuple[tuple[int, int, float], list[int]] = ((-1, -1, 0.0), [])

    def consider(clients: list[int]) -> None:
        nonlocal best
        seq = [client_stop[c] for c in clients]
        if is_feasible(p, seq):
            appts = sum(1 for i in seq if p.stops[i].appointment is not None)
            key = (appts, len(seq), -route_km(p, seq))
            if key > best[0]:
                best = (key, clients)

    spent = 0.0
    last: list[int] = []  # the previous run's result
    end = time.perf_counter() + seconds
    datas = {(4.0, 0): data}
    for kind, share, seed, from_best, factor, dcost in PLAN:
        if kind == "reorder":
            seq = _tsp_reorder(p, [client_stop[c] for c in best[1]])
            consider([first_client[i] for i in seq])
            continue
        key = (factor, dcost)
        if key not in datas:
            datas[key] = build_data(p, cand, factor, dcost)[0]
        init = None
        start = last if from_best == "last" else best[1]
        if from_best and start:
            init = pyvrp.Solution(datas[key], [start])
        # each run gets its share, but never past the overall end (set-up costs add up)
        run = min(seconds * share, max(0.0, end - time.perf_counter()))
        stop = _Stop(run, cancel, progress, (0.1 + 0.7 * spent, 0.1 + 0.7 * (spent + share)))
        res = pyvrp.solve(datas[key], stop, seed=seed, collect_stats=False, display=False,
                          params=_params(kind), initial_solution=init)
        spent += share
        if stop.cancelled:
            raise Cancelled("route planning was cancelled")
        routes = res.best.routes()
        last = [a.idx for a in routes[0] if a.is_client()] if routes else []
        consider(last)
    return [client_stop[c] for c in best[1]]
