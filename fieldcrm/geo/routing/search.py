"""Order search for one day: exact for a few stops, PyVRP's HGS plus repair for more."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from fieldcrm.errors import Cancelled
from fieldcrm.geo.routing.schedule import (
    END,
    START,
    Problem,
    State,
    break_slot,
    finish,
    first_violation,
    initial_state,
    is_feasible,
    route_km,
    step,
)

EXACT_MAX = 8
Progress = Callable[[float, str], None]
ShouldCancel = Callable[[], bool]


def _score(p: Problem, seq: Sequence[int]) -> tuple[int, int, float]:
    """Larger is better: appointments kept, visits kept, then shorter distance."""
    appts = sum(1 for i in seq if p.stops[i].appointment is not None)
    return (appts, len(seq), -route_km(p, seq))


def exact_order(p: Problem, cand: Sequence[int]) -> list[int]:
    """Best order over every subset and permutation of ``cand`` (depth-first, pruned)."""
    best: list[list[int] | tuple] = [[], _score(p, [])]
    km = p.kms
    is_appt = [p.stops[i].appointment is not None for i in range(p.n)]
    n_appt_total = sum(1 for i in cand if is_appt[i])

    def dfs(st: State, seq: list[int], rest: list[int], dist: float, appts: int) -> None:
        if finish(p, st) is not None:
            score = (appts, len(seq), -(dist + km[st.pos][END]))
            if score > best[1]:
                best[0], best[1] = list(seq), score
        b_appt, b_len, b_negkm = best[1]
        if (n_appt_total, len(seq) + len(rest)) < (b_appt, b_len):
            return
        if (n_appt_total, len(seq) + len(rest)) == (b_appt, b_len) and dist >= -b_negkm:
            return
        choices = (True, False) if p.breaks and st.next_break == 0 else (None,)
        for k, i in enumerate(rest):
            for take in choices:
                r = step(p, st, i, take)
                if r is None:
                    continue
                seq.append(i)
                dfs(r[0], seq, rest[:k] + rest[k + 1:], dist + km[st.pos][i + 2],
                    appts + is_appt[i])
                seq.pop()

    dfs(initial_state(p), [], list(cand), 0.0, 0)
    return list(best[0])


class _Stop:
    """PyVRP stopping criterion: a time limit, a cancel flag and progress reports."""

    def __init__(self, seconds: float, cancel: ShouldCancel | None, progress: Progress | None):
        self.deadline = time.perf_counter() + seconds
        self.seconds = seconds
        self.cancel = cancel
        self.progress = progress
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
            self.progress(0.1 + 0.7 * done, "Searching for a shorter route")
        return now >= self.deadline


def pyvrp_order(
    p: Problem, cand: Sequence[int], seconds: float, *,
    cancel: ShouldCancel | None = None, progress: Progress | None = None, seed: int = 1,
) -> list[int]:
    """Prize-collecting TSP with time windows solved by PyVRP; returns stop indices in order."""
    from pyvrp import Model

    s = p.settings
    model = Model()
    locs = [model.add_location(0, 0) for _ in range(p.km.shape[0])]
    d_start = model.add_depot(locs[START])
    d_end = model.add_depot(locs[END])
    nodes = [START, END, *(i + 2 for i in cand)]
    max_edge_m = int(1000 * float(p.km[np.ix_(nodes, nodes)].max())) + 1
    pause = sum(b.duration for b in p.breaks)
    day_start = math.ceil(p.start_time * 60)
    day_end = math.floor((s.latest_return - pause) * 60)
    client_stop: list[int] = []
    for i in cand:
        dur = p.duration[i]
        wins = [(max(w.start * 60, day_start), (w.end - dur) * 60) for w in p.windows[i]]
        wins = [(math.ceil(a), math.floor(b)) for a, b in wins if b >= a]
        prize = max_edge_m * (40 if p.stops[i].appointment is not None else 4) + 1000
        group = model.add_client_group(required=False) if len(wins) > 1 else None
        for a, b in wins or [(day_start, day_start)]:
            model.add_client(locs[i + 2], service_duration=math.ceil(dur * 60), tw_early=a,
                             tw_late=max(a, min(b, day_end)), prize=prize, required=False,
                             group=group)
            client_stop.append(i)
    model.add_vehicle_type(1, start_depot=d_start, end_depot=d_end, tw_early=day_start,
                           tw_late=max(day_start, day_end), start_late=day_start)
    for a in nodes:
        for b in nodes:
            if a != b:
                model.add_edge(locs[a], locs[b], int(round(1000 * p.kms[a][b])),
                               math.ceil(60 * p.mins[a][b]))
    stop = _Stop(seconds, cancel, progress)
    res = model.solve(stop, seed=seed, collect_stats=False, display=False)
    if stop.cancelled:
        raise Cancelled("route planning was cancelled")
    routes = res.best.routes()
    if not routes:
        return []
    return [client_stop[a.idx] for a in routes[0] if a.is_client()]


def repair(p: Problem, seq: list[int]) -> tuple[list[int], list[int]]:
    """Drop stops until the order is feasible; returns (feasible order, dropped)."""
    seq = list(seq)
    dropped: list[int] = []
    while True:
        k = first_violation(p, seq)
        if k is None:
            return seq, dropped
        window = seq[: min(k + 1, len(seq))]
        if not window:  # the empty day itself is infeasible (e.g. start after return)
            return [], dropped + seq
        loose = [j for j in window if p.stops[j].appointment is None] or window
        victim = max(loose, key=lambda j: _saving(p, seq, seq.index(j)))
        seq.remove(victim)
        dropped.append(victim)


def _saving(p: Problem, seq: Sequence[int], k: int) -> float:
    prev = START if k == 0 else seq[k - 1] + 2
    nxt = END if k == len(seq) - 1 else seq[k + 1] + 2
    node = seq[k] + 2
    return float(p.mins[prev][node] + p.mins[node][nxt] - p.mins[prev][nxt])


def _states(p: Problem, seq: Sequence[int]) -> list[State]:
    slot = break_slot(p, seq)
    states = [initial_state(p)]
    for m, i in enumerate(seq):
        st = states[-1]
        take = None if slot is None or st.next_break > 0 else m == slot
        r = step(p, st, i, take)
        assert r is not None
        states.append(r[0])
    return states


def _fits_at(p: Problem, seq: Sequence[int], states: list[State], k: int, i: int) -> bool:
    r = step(p, states[k], i)
    if r is None:
        return False
    st = r[0]
    for m in range(k, len(seq)):
        old = states[m]
        if abs(st.t - old.t) < 1e-9 and st.next_break == old.next_break:
            return True  # same time and break state as before: the rest is unchanged
        r = step(p, st, seq[m])
        if r is None:
            return False
        st = r[0]
    return finish(p, st) is not None


def insert_greedy(
    p: Problem, seq: list[int], pool: Sequence[int], deadline: float
) -> tuple[list[int], list[int]]:
    """Cheapest feasible insertion of pool stops (appointments first); returns (order, left)."""
    seq = list(seq)
    left: list[int] = []
    order = sorted(pool, key=lambda i: p.stops[i].appointment is None)
    for i in order:
        if time.perf_counter() > deadline:
            left.append(i)
            continue
        states = _states(p, seq)
        nodes = [START, *(j + 2 for j in seq), END]
        node = i + 2
        costs = sorted(
            (p.kms[nodes[k]][node] + p.kms[node][nodes[k + 1]] - p.kms[nodes[k]][nodes[k + 1]], k)
            for k in range(len(nodes) - 1)
        )
        for _, k in costs:
            if _fits_at(p, seq, states, k, i) and is_feasible(p, [*seq[:k], i, *seq[k:]]):
                seq.insert(k, i)
                break
        else:
            left.append(i)
    return seq, left


def two_opt_feasible(p: Problem, seq: list[int], deadline: float) -> list[int]:
    """Or-opt style moves (relocate one stop) that keep feasibility and shorten the route."""
    best = list(seq)
    best_km = route_km(p, best)
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for a in range(len(best)):
            for b in range(len(best)):
                if a == b:
                    continue
                cand = best[:a] + best[a + 1:]
                cand.insert(b, best[a])
                km = route_km(p, cand)
                if km < best_km - 1e-9 and is_feasible(p, cand):
                    best, best_km, improved = cand, km, True
                    break
            if improved or time.perf_counter() > deadline:
                break
    return best
