"""`plan_route`: the one entry point that turns stops and day settings into a feasible Plan."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from fieldcrm.errors import Cancelled
from fieldcrm.geo.distance import DistanceModel
from fieldcrm.geo.routing.model import (
    REASON_NO_TIME,
    Place,
    Plan,
    PlanSettings,
    Stop,
    Unscheduled,
    hhmm,
)
from fieldcrm.geo.routing.multistart import best_order
from fieldcrm.geo.routing.schedule import (
    Problem,
    build_plan,
    build_problem,
    is_feasible,
    no_time_reason,
)
from fieldcrm.geo.routing.search import (
    EXACT_MAX,
    Progress,
    ShouldCancel,
    exact_order,
    insert_greedy,
    polish,
    repair,
    score,
)


def plan_route(
    stops: Sequence[Stop],
    start: Place | None,
    end: Place | None,
    constraints: PlanSettings,
    *,
    distance: DistanceModel | None = None,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> Plan:
    """Plan one day: the most visits that fit, then the shortest drive.

    ``start``/``end`` override the settings' places when given. Never raises for bad input:
    stops that cannot be planned are listed in ``Plan.unscheduled`` with a reason, and
    problems with the day itself in ``Plan.warnings``.

    Raises
    ------
    Cancelled
        ``should_cancel`` returned True.
    """
    t0 = time.perf_counter()
    settings = dataclasses.replace(
        constraints, start=start or constraints.start, end=end or constraints.end
    )
    budget = max(0.05, settings.time_limit)
    _report(progress, 0.0, "Preparing distances")
    p, unscheduled, warnings = build_problem(stops, settings, distance)
    if not stops:
        warnings.append("There are no stops to plan.")
    if not is_feasible(p, []):
        return _no_day(p, unscheduled, warnings)
    cand: list[int] = []
    for i in range(p.n):
        if is_feasible(p, [i]):
            cand.append(i)
        else:
            unscheduled.append(no_time_reason(p, i, alone=True))
    _check_cancel(should_cancel)
    seq = _solve(p, cand, t0 + 0.92 * budget, progress, should_cancel)
    chosen = set(seq)
    for i in cand:
        if i not in chosen:
            unscheduled.append(no_time_reason(p, i, alone=False))
    if not is_feasible(p, seq):  # cannot happen: every path above ends in a feasible order
        seq = []
        warnings.append("No feasible order was found; nothing is scheduled.")
    _report(progress, 1.0, "Done")
    return build_plan(p, seq, unscheduled, warnings)


def _solve(
    p: Problem, cand: list[int], deadline: float, progress: Progress | None,
    cancel: ShouldCancel | None,
) -> list[int]:
    if len(cand) <= EXACT_MAX:
        _report(progress, 0.1, "Trying every order")
        return exact_order(p, cand)
    # a quick baseline the result must beat (bounded for very large inputs)
    now = time.perf_counter()
    greedy, _ = insert_greedy(p, [], cand, now + 0.1 * max(0.0, deadline - now))
    remaining = deadline - time.perf_counter()
    seq = best_order(p, cand, max(0.02, remaining * 0.85), cancel=cancel, progress=progress)
    _report(progress, 0.85, "Checking opening hours and breaks")
    seq, _ = repair(p, seq)
    _check_cancel(cancel)
    pool = [i for i in cand if i not in set(seq)]
    seq, _ = insert_greedy(p, seq, pool, max(deadline, time.perf_counter() + 0.05))
    if score(p, greedy) > score(p, seq):
        seq = greedy
    return polish(p, seq, deadline)


def _no_day(p: Problem, unscheduled: list[Unscheduled], warnings: list[str]) -> Plan:
    """The day itself is impossible: nothing is scheduled and every stop says why."""
    s = p.settings
    if not warnings:
        warnings.append(f"Starting at {hhmm(s.start_time)}, {s.end.name} cannot be reached by "
                        f"the latest return {hhmm(s.latest_return)}: there is no time for visits.")
    for stop in p.stops:
        unscheduled.append(Unscheduled(stop, REASON_NO_TIME,
                                       f"No time left for {stop.name}: the working day is empty"))
    return Plan(settings=s, stops=(), legs=(), unscheduled=tuple(unscheduled),
                warnings=tuple(warnings), end_time=s.start_time)


def _report(progress: Progress | None, fraction: float, text: str) -> None:
    if progress is not None:
        progress(fraction, text)


def _check_cancel(cancel: ShouldCancel | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("route planning was cancelled")


__all__ = ["plan_route", "Unscheduled"]
