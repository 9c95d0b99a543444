"""Week plan: spread accounts over working days (sweep by bearing, then repair), each optimised."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from fieldcrm.geo.distance import DistanceModel
from fieldcrm.geo.routing.model import (
    REASON_APPOINTMENT,
    REASON_CLOSED,
    REASON_NO_TIME,
    WEEKDAYS,
    Plan,
    PlanSettings,
    Stop,
    Unscheduled,
)
from fieldcrm.geo.routing.schedule import stop_windows
from fieldcrm.geo.routing.search import Progress, ShouldCancel
from fieldcrm.geo.routing.solver import plan_route

DRIVE_GUESS_MIN = 20.0  # minutes of driving budgeted per visit when sharing stops out


@dataclass(frozen=True, slots=True)
class WeekPlan:
    days: tuple[Plan, ...]
    unscheduled: tuple[Unscheduled, ...]
    warnings: tuple[str, ...] = ()

    @property
    def visit_count(self) -> int:
        return sum(len(d.stops) for d in self.days)


def working_days(first: date, count: int = 5) -> list[date]:
    """The first ``count`` Monday-to-Friday dates from ``first`` on."""
    out, d = [], first
    while len(out) < count:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def _open_days(stop: Stop, days: list[PlanSettings]) -> list[int]:
    out = []
    for k, s in enumerate(days):
        if stop.appointment is not None and stop.appointment_day not in (None, s.day):
            continue
        dur = s.visit_duration(stop)
        if any(w.end - w.start >= dur for w in stop_windows(stop, s, dur)):
            out.append(k)
    if stop.appointment is not None and stop.appointment_day is None:
        return out[:1]
    return out


def _sweep(stops: list[Stop], days: list[PlanSettings]) -> list[list[Stop]]:
    """Cut the stops, ordered by bearing from the start, into day-sized sectors."""
    home = days[0].start
    bearing = {s.id: math.atan2(s.lat - home.lat, (s.lon - home.lon) *
                                math.cos(math.radians(home.lat))) for s in stops}
    order = sorted(stops, key=lambda s: bearing[s.id])
    if len(order) > 2:  # start the sweep at the widest empty angle
        angles = [bearing[s.id] for s in order]
        gaps = [(angles[(k + 1) % len(angles)] - angles[k]) % (2 * math.pi)
                for k in range(len(angles))]
        cut = gaps.index(max(gaps)) + 1
        order = order[cut:] + order[:cut]
    load = [days[0].visit_duration(s) + DRIVE_GUESS_MIN for s in order]
    per_day = sum(load) / len(days)
    buckets: list[list[Stop]] = [[] for _ in days]
    acc = 0.0
    for s, w in zip(order, load, strict=True):
        k = min(len(days) - 1, int(acc / per_day)) if per_day > 0 else 0
        buckets[k].append(s)
        acc += w
    return buckets


def plan_week(
    stops: Sequence[Stop],
    settings: PlanSettings,
    *,
    days: int = 5,
    distance: DistanceModel | None = None,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> WeekPlan:
    """Spread ``stops`` over ``days`` working days from ``settings.day``; plan each day.

    Appointments go to their day; stops closed on their sector's day move to the nearest
    open day; what a day cannot fit is offered to the other days before being reported.
    """
    day_settings = [dataclasses.replace(settings, day=d)
                    for d in working_days(settings.day, days)]
    unscheduled: list[Unscheduled] = []
    assign: list[list[Stop]] = [[] for _ in day_settings]
    seen: set[str] = set()
    movable: list[Stop] = []
    for s in stops:
        if s.id in seen:
            continue
        seen.add(s.id)
        if not s.has_coords:
            assign[0].append(s)  # the day planner explains it
            continue
        open_days = _open_days(s, day_settings)
        if not open_days:
            reason = REASON_APPOINTMENT if s.appointment is not None else REASON_CLOSED
            unscheduled.append(Unscheduled(s, reason, f"{s.name} cannot be visited on any day "
                                           f"of this week (closed or appointment elsewhere)"))
        elif s.appointment is not None:
            assign[open_days[0]].append(s)
        else:
            movable.append(s)
    for k, bucket in enumerate(_sweep(movable, day_settings)):
        for s in bucket:
            ok = _open_days(s, day_settings)
            target = k if k in ok else min(ok, key=lambda d: abs(d - k))
            assign[target].append(s)
    plans = _plan_days(assign, day_settings, distance, progress, should_cancel, 0.0)
    first = [u for p in plans for u in p.unscheduled]
    unscheduled += [u for u in first if u.reason != REASON_NO_TIME]
    plans = _offer_leftovers(plans, day_settings, distance, progress, should_cancel)
    later = [u for p in plans for u in p.unscheduled if u.reason == REASON_NO_TIME]
    late = [u for u in first if u.reason == REASON_NO_TIME] + later
    unscheduled += _dedupe_leftovers(late, plans, day_settings)
    days_out = tuple(dataclasses.replace(p, unscheduled=()) for p in plans)
    warnings = tuple(w for p in plans for w in p.warnings)
    return WeekPlan(days=days_out, unscheduled=tuple(unscheduled), warnings=warnings)


def _planned(plans: list[Plan], stop_id: str) -> bool:
    return any(stop_id in p.visit_ids for p in plans)


def _plan_days(assign, day_settings, distance, progress, cancel, base: float) -> list[Plan]:
    plans = []
    for k, (bucket, s) in enumerate(zip(assign, day_settings, strict=True)):
        if progress is not None:
            progress(base + 0.5 * k / len(day_settings), f"Planning {WEEKDAYS[s.day.weekday()]}")
        plans.append(plan_route(bucket, None, None, s, distance=distance, should_cancel=cancel))
    return plans


def _offer_leftovers(plans, day_settings, distance, progress, cancel) -> list[Plan]:
    """Give stops a day could not fit to the other days open for them, one re-plan per day."""
    plans = list(plans)
    for k, s in enumerate(day_settings):
        pool = [u.stop for p in plans for u in p.unscheduled
                if u.reason == REASON_NO_TIME and not _planned(plans, u.stop.id)
                and k in _open_days(u.stop, day_settings)]
        if not pool:
            continue
        if progress is not None:
            progress(0.5 + 0.5 * k / len(day_settings), "Fitting what is left")
        current = [v.stop for v in plans[k].stops]
        trial = plan_route(current + pool, None, None, s, distance=distance,
                           should_cancel=cancel)
        if len(trial.stops) > len(plans[k].stops):
            kept = {v.stop.id for v in trial.stops}
            lost = [st for st in current if st.id not in kept]
            plans[k] = dataclasses.replace(trial, unscheduled=tuple(
                u for u in trial.unscheduled if u.stop.id in {st.id for st in lost}))
    return plans


def _dedupe_leftovers(unscheduled, plans, day_settings) -> list[Unscheduled]:
    out, seen = [], set()
    for u in unscheduled:
        if u.stop.id in seen or _planned(plans, u.stop.id):
            continue
        seen.add(u.stop.id)
        if u.reason == REASON_NO_TIME:
            names = ", ".join(WEEKDAYS[day_settings[d].day.weekday()]
                              for d in _open_days(u.stop, day_settings))
            u = Unscheduled(u.stop, REASON_NO_TIME,
                            f"{u.stop.name} did not fit into any day it is open ({names})")
        out.append(u)
    return out
