"""Independent feasibility checker: recomputes a Plan's timeline from the raw stops."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fieldcrm.geo.distance import DistanceModel, HaversineModel
from fieldcrm.geo.routing.model import Plan, Stop

TOL = 1e-4


def _allowed(stop: Stop, plan: Plan, dur: float) -> list[tuple[float, float]]:
    s = plan.settings
    if stop.appointment is not None:
        return [(stop.appointment, stop.appointment + dur)]
    if stop.hours is None:
        return [(-1e18, 1e18)]
    return [(w.start, w.end) for w in stop.hours.on(s.day.weekday())]


def check_plan(
    plan: Plan, stops: Sequence[Stop], *, distance: DistanceModel | None = None
) -> list[str]:
    """Return every constraint the plan breaks (an empty list means feasible)."""
    s = plan.settings
    dm = distance or HaversineModel()
    bad: list[str] = []
    ids = [v.stop.id for v in plan.stops]
    if len(set(ids)) != len(ids):
        bad.append("a stop is visited twice")
    accounted = ids + [u.stop.id for u in plan.unscheduled]
    for st in stops:
        if st.id not in accounted:
            bad.append(f"{st.id} is neither scheduled nor explained")
    todo = [v for v in plan.stops if not v.done]  # done visits are history, not re-checked
    pts = [(s.start.lat, s.start.lon)] + [(v.stop.lat, v.stop.lon) for v in todo]
    pts.append((s.end.lat, s.end.lon))
    if any(a is None or b is None for a, b in pts):
        return [*bad, "a scheduled stop has no coordinates"]
    _, minutes = dm.matrices(np.asarray(pts, dtype=np.float64))
    breaks = sorted(plan.breaks_taken)
    t = s.start_time
    for k, v in enumerate(todo):
        dur = s.visit_duration(v.stop)
        gap_breaks = [b for b in breaks if b[0] >= t - TOL and b[1] <= v.arrival + TOL]
        need = minutes[k, k + 1] + sum(b[1] - b[0] for b in gap_breaks)
        if v.arrival + TOL < t + need:
            bad.append(f"{v.stop.id}: arrival {v.arrival:.2f} is earlier than possible")
        if v.start + TOL < v.arrival:
            bad.append(f"{v.stop.id}: starts before arriving")
        if abs(v.departure - v.start - dur) > TOL:
            bad.append(f"{v.stop.id}: visit does not last {dur} minutes")
        if not any(a - TOL <= v.start and v.start + dur <= b + TOL
                   for a, b in _allowed(v.stop, plan, dur)):
            bad.append(f"{v.stop.id}: visit {v.start:.1f}-{v.start + dur:.1f} is outside its hours")
        if any(b[0] < v.departure - TOL and b[1] > v.start + TOL for b in breaks):
            bad.append(f"{v.stop.id}: a break overlaps the visit")
        t = v.departure
    gap_breaks = [b for b in breaks if b[0] >= t - TOL]
    home = t + minutes[len(pts) - 2, len(pts) - 1] + sum(b[1] - b[0] for b in gap_breaks)
    if todo and home > s.latest_return + TOL:
        bad.append(f"back at {home:.1f}, after the latest return {s.latest_return}")
    if plan.legs and plan.end_time + TOL < home:
        bad.append("the plan's end time is earlier than possible")
    for b in s.breaks:
        if todo and b.earliest < plan.end_time - TOL and not any(
            b.earliest - TOL <= x[0] <= b.latest + TOL and x[1] - x[0] >= b.duration - TOL
            for x in breaks
        ):
            bad.append(f"break {b} is not taken")
    return bad
