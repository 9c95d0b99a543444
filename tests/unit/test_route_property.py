"""Property: for any day thrown at it, plan_route returns a plan the checker finds feasible."""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldcrm.geo.distance import HaversineModel
from fieldcrm.geo.routing.check import check_plan
from fieldcrm.geo.routing.model import (
    Break,
    OpeningHours,
    Place,
    PlanSettings,
    Stop,
    TimeWindow,
)
from fieldcrm.geo.routing.solver import plan_route

MONDAY = date(2026, 11, 23)
HOME = Place("Office", 59.33, 18.06)
MODEL = HaversineModel(detour_factor=1.3, speed_kmh=50.0)

windows = st.lists(
    st.tuples(st.integers(360, 1200), st.integers(0, 300)).map(
        lambda t: TimeWindow(t[0], t[0] + t[1])), max_size=2)


@st.composite
def stops(draw: st.DrawFn) -> list[Stop]:
    n = draw(st.integers(0, 12))
    out = []
    for k in range(n):
        no_coords = draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans())
        wins = draw(windows)
        hours = None if not wins else OpeningHours.weekdays(*sorted(wins, key=lambda w: w.start))
        appt = draw(st.one_of(st.none(), st.integers(480, 960))) if k % 4 == 0 else None
        out.append(Stop(
            id=f"s{draw(st.integers(0, n))}",  # duplicates on purpose
            name=f"S{k}",
            lat=None if no_coords else 59.33 + draw(st.floats(-0.3, 0.3)),
            lon=None if no_coords else 18.06 + draw(st.floats(-0.5, 0.5)),
            tier=draw(st.sampled_from("ABC")), hours=hours,
            appointment=None if appt is None else float(appt)))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stops(), st.integers(300, 700), st.integers(600, 1260), st.booleans())
def test_any_day_is_planned_feasibly_and_explained(
    day_stops: list[Stop], start: int, end: int, lunch: bool
) -> None:
    s = PlanSettings(day=MONDAY, start=HOME, end=HOME, start_time=float(start),
                     latest_return=float(end), time_limit=0.15,
                     breaks=(Break(690, 780, 30),) if lunch else ())
    plan = plan_route(day_stops, None, None, s, distance=MODEL)
    assert check_plan(plan, day_stops, distance=MODEL) == []
    explained = [v.stop.id for v in plan.stops] + [u.stop.id for u in plan.unscheduled]
    assert sorted(explained) == sorted(x.id for x in day_stops)
    assert all(u.message for u in plan.unscheduled)
    if plan.stops:
        assert plan.end_time <= end + 1e-6
