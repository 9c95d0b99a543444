"""Order search for one day: exact for a few stops, PyVRP's HGS plus repair for more."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

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


def score(p: Problem, seq: Sequence[int]) -> tuple[int, int, float]:
    """Larger is better: appointments kept, visits kept, then shorter distance."""
    appts = sum(1 for i in seq if p.stops[i].appointment is not None)
    return (appts, len(seq), -route_km(p, seq))


def exact_order(p: Problem, cand: Sequence[int]) -> list[int]:
    """Best order over every subset and permutation of ``cand`` (depth-first, pruned)."""
    best: list[list[int] | tuple] = [[], score(p, [])]
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


def polish(p: Problem, seq: list[int], deadline: float) -> list[int]:
    """2-opt reversals and Or-opt moves (1-3 stops, either way round) that keep every
    window and shorten the drive; first improvement, until none is left or the deadline.

    PyVRP has no move that reverses part of a single route, so this finds what it misses.
    """
    km = p.kms
    best = list(seq)
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        nodes = [START, *(i + 2 for i in best), END]
        n = len(best)
        for i in range(1, n + 1):  # reverse nodes[i..j]
            a, b = nodes[i - 1], nodes[i]
            for j in range(i + 1, n + 1):
                c, d = nodes[j], nodes[j + 1]
                if km[a][c] + km[b][d] < km[a][b] + km[c][d] - 1e-9:
                    cand = best[: i - 1] + best[i - 1: j][::-1] + best[j:]
                    if _shorter(p, cand, best) and is_feasible(p, cand):
                        best, improved = cand, True
                        break
            if improved or time.perf_counter() > deadline:
                break
        if improved:
            continue
        best, improved = _or_opt(p, best, deadline)
    return best


def _shorter(p: Problem, a: Sequence[int], b: Sequence[int]) -> bool:
    """Checked on the full route, so that asymmetric distance models stay correct."""
    return route_km(p, a) < route_km(p, b) - 1e-9


def _or_opt(p: Problem, seq: list[int], deadline: float) -> tuple[list[int], bool]:
    km = p.kms
    nodes = [START, *(i + 2 for i in seq), END]
    n = len(seq)
    for length in (1, 2, 3):
        for i in range(1, n - length + 2):  # segment nodes[i..i+length-1]
            j = i + length - 1
            a, s0, s1, b = nodes[i - 1], nodes[i], nodes[j], nodes[j + 1]
            gain = km[a][s0] + km[s1][b] - km[a][b]
            for k in range(0, n + 1):  # insert between nodes[k] and nodes[k+1]
                if i - 1 <= k <= j:
                    continue
                x, y = nodes[k], nodes[k + 1]
                for first, last, rev in ((s0, s1, False), (s1, s0, True)):
                    if km[x][first] + km[last][y] - km[x][y] < gain - 1e-9:
                        seg = seq[i - 1: j]
                        seg = seg[::-1] if rev else seg
                        rest = seq[: i - 1] + seq[j:]
                        pos = k if k < i else k - length
                        cand = rest[:pos] + seg + rest[pos:]
                        if _shorter(p, cand, seq) and is_feasible(p, cand):
                            return cand, True
            if time.perf_counter() > deadline:
                return seq, False
    return seq, False
