"""Schedule arithmetic on a line where 0.1° of latitude is 10 km and 10 minutes of driving."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from fieldcrm.geo.distance import DistanceModel
from fieldcrm.geo.routing.check import check_plan
from fieldcrm.geo.routing.model import (
    REASON_APPOINTMENT,
    REASON_CLOSED,
    REASON_DUPLICATE,
    REASON_NO_COORDS,
    REASON_NO_TIME,
    Break,
    OpeningHours,
    Place,
    PlanSettings,
    Stop,
    TimeWindow,
)
from fieldcrm.geo.routing.replan import replan
from fieldcrm.geo.routing.solver import plan_route

MONDAY = date(2026, 11, 23)
HOME = Place("Home", 0.0, 0.0)


class LineModel:
    """km = minutes = 100 × |Δlat|: exact numbers for hand-checked schedules."""

    def matrices(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lat = np.asarray(points)[:, 0]
        km = np.abs(lat[:, None] - lat[None, :]) * 100.0
        return km, km.copy()


LINE = LineModel()


def settings(**kw: object) -> PlanSettings:
    base = dict(day=MONDAY, start=HOME, end=HOME, start_time=480.0, latest_return=1020.0)
    base.update(kw)
    return PlanSettings(**base)  # type: ignore[arg-type]


def stop(sid: str, lat: float | None, **kw: object) -> Stop:
    return Stop(id=sid, name=sid.upper(), lat=lat, lon=None if lat is None else 0.0,
                duration=kw.pop("duration", 30.0), **kw)  # type: ignore[arg-type]


def test_line_model_is_a_distance_model() -> None:
    assert isinstance(LINE, DistanceModel)


def test_arrival_wait_and_departure_arithmetic() -> None:
    a = stop("a", 0.1, hours=OpeningHours.weekdays(TimeWindow(540, 720)))
    b = stop("b", 0.3)
    plan = plan_route([a, b], None, None, settings(), distance=LINE)
    assert plan.visit_ids == ("a", "b")
    va, vb = plan.stops
    assert (va.arrival, va.wait, va.start, va.departure) == pytest.approx((490, 50, 540, 570))
    assert (vb.arrival, vb.start, vb.departure) == pytest.approx((590, 590, 620))
    assert plan.end_time == pytest.approx(650)
    assert plan.total_km == pytest.approx(60)
    assert plan.total_drive_minutes == pytest.approx(60)
    assert plan.total_wait_minutes == pytest.approx(50)
    assert [leg.km for leg in plan.legs] == pytest.approx([10, 20, 30])
    assert check_plan(plan, [a, b], distance=LINE) == []


def test_break_is_taken_between_visits_inside_its_window() -> None:
    stops = [stop("a", 0.1, duration=200.0), stop("b", 0.2, duration=60.0)]
    s = settings(breaks=(Break(earliest=690, latest=750, duration=30),))
    plan = plan_route(stops, None, None, s, distance=LINE)
    assert plan.visit_ids == ("a", "b")
    # a: 490-690; break 690-720 at a; drive 10; b 730-790; home 810
    assert [tuple(b) for b in plan.breaks_taken] == [pytest.approx((690, 720))]
    assert plan.stops[1].break_before == pytest.approx(30)
    assert plan.stops[1].start == pytest.approx(730)
    assert plan.end_time == pytest.approx(810)
    assert check_plan(plan, stops, distance=LINE) == []


def test_break_is_taken_early_when_the_next_visit_would_overrun_it() -> None:
    stops = [stop("a", 0.1, duration=300.0)]
    s = settings(breaks=(Break(earliest=600, latest=660, duration=45),))
    plan = plan_route(stops, None, None, s, distance=LINE)
    # the visit from 490 would end at 790 > 660: the break is at 600 before leaving home
    assert [tuple(b) for b in plan.breaks_taken] == [pytest.approx((600, 645))]
    assert plan.stops[0].start == pytest.approx(655)
    assert check_plan(plan, stops, distance=LINE) == []


def test_day_end_drops_what_does_not_fit_with_a_reason() -> None:
    stops = [stop(f"s{k}", 0.1 * (k + 1), duration=120.0) for k in range(5)]
    plan = plan_route(stops, None, None, settings(latest_return=800.0), distance=LINE)
    assert plan.end_time <= 800.0
    assert len(plan.stops) == 2
    assert {u.reason for u in plan.unscheduled} == {REASON_NO_TIME}
    assert len(plan.unscheduled) == 3
    assert all("No time left" in u.message for u in plan.unscheduled)
    assert check_plan(plan, stops, distance=LINE) == []


def test_appointment_keeps_its_time() -> None:
    stops = [stop("fixed", 0.2, appointment=600.0, appointment_day=MONDAY), stop("x", 0.1)]
    plan = plan_route(stops, None, None, settings(), distance=LINE)
    by_id = {v.stop.id: v for v in plan.stops}
    assert by_id["fixed"].start == pytest.approx(600.0)
    assert set(by_id) == {"fixed", "x"}
    assert check_plan(plan, stops, distance=LINE) == []


def test_bad_inputs_get_explanations_not_exceptions() -> None:
    closed = stop("closed", 0.1, hours=OpeningHours(weekly=((),) * 7))
    short = stop("short", 0.1, hours=OpeningHours.weekdays(TimeWindow(600, 610)))
    never = stop("never", 0.1, hours=OpeningHours.weekdays(TimeWindow(1200, 1300)))
    nocoord = stop("nocoord", None)
    other_day = stop("appt", 0.1, appointment=600.0, appointment_day=date(2026, 11, 24))
    ok = stop("ok", 0.1)
    stops = [closed, short, never, nocoord, other_day, ok, ok]
    plan = plan_route(stops, None, None, settings(), distance=LINE)
    reasons = {u.stop.id: u.reason for u in plan.unscheduled}
    assert plan.visit_ids == ("ok",)
    assert reasons == {"closed": REASON_CLOSED, "short": REASON_CLOSED, "never": REASON_NO_TIME,
                       "nocoord": REASON_NO_COORDS, "appt": REASON_APPOINTMENT,
                       "ok": REASON_DUPLICATE}
    msgs = {u.stop.id: u.message for u in plan.unscheduled}
    assert "closed on Mondays" in msgs["closed"]
    assert "too short for a 30-minute visit" in msgs["short"]
    assert "geocode" in msgs["nocoord"]
    assert any("twice" in w for w in plan.warnings)


def test_start_after_latest_return() -> None:
    stops = [stop("a", 0.1)]
    plan = plan_route(stops, None, None, settings(start_time=1100.0), distance=LINE)
    assert plan.stops == ()
    assert plan.unscheduled[0].reason == REASON_NO_TIME
    assert any("no time for visits" in w for w in plan.warnings)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_zero_one_two_stops(n: int) -> None:
    stops = [stop(f"s{k}", 0.1 * (k + 1)) for k in range(n)]
    plan = plan_route(stops, None, None, settings(), distance=LINE)
    assert len(plan.stops) == n
    assert len(plan.legs) == n + 1
    if n == 0:
        assert plan.warnings and "no stops" in plan.warnings[0]
        assert plan.total_km == 0
    assert check_plan(plan, stops, distance=LINE) == []


def test_replan_keeps_done_visits_and_plans_the_rest_from_here() -> None:
    stops = [stop(f"s{k}", 0.1 * (k + 1)) for k in range(4)]
    plan = plan_route(stops, None, None, settings(), distance=LINE)
    first, second = plan.stops[0].stop.id, plan.stops[1].stop.id
    here = Place("Here", 0.35, 0.0, kind="current")
    new = replan(plan, now=700.0, position=here, done=[first], skipped=[second], distance=LINE)
    assert new.stops[0].stop.id == first and new.stops[0].done
    assert new.stops[0].start == plan.stops[0].start
    rest = [v for v in new.stops if not v.done]
    assert {v.stop.id for v in rest} == {s.id for s in stops} - {first, second}
    assert all(v.arrival >= 700.0 for v in rest)
    assert [u.stop.id for u in new.unscheduled] == [second]
    assert new.settings.start == here and new.settings.start_time == 700.0
    assert check_plan(new, stops, distance=LINE) == []


def test_replan_after_overrun_drops_what_no_longer_fits() -> None:
    stops = [stop(f"s{k}", 0.1 * (k + 1), duration=60.0) for k in range(4)]
    plan = plan_route(stops, None, None, settings(latest_return=800.0), distance=LINE)
    here = Place("Here", 0.1, 0.0)
    new = replan(plan, now=720.0, position=here, done=[plan.stops[0].stop.id], distance=LINE)
    assert new.end_time <= 800.0
    assert any(u.reason == REASON_NO_TIME for u in new.unscheduled)
    assert check_plan(new, stops, distance=LINE) == []


def test_progress_and_cancel() -> None:
    from fieldcrm.errors import Cancelled

    stops = [stop(f"s{k}", 0.01 * k) for k in range(12)]
    seen: list[float] = []
    plan_route(stops, None, None, settings(time_limit=0.3), distance=LINE,
               progress=lambda f, _text: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0
    with pytest.raises(Cancelled):
        plan_route(stops, None, None, settings(), distance=LINE, should_cancel=lambda: True)


def test_invalid_places_durations_and_unreachable_stops() -> None:
    bad_home = Place("Nowhere", float("nan"), 0.0)
    stops = [stop("a", 0.1), stop("neg", 0.2, duration=-5.0)]
    plan = plan_route(stops, bad_home, None, settings(), distance=LINE)
    assert plan.stops == () and any("Nowhere has no valid coordinates" in w
                                    for w in plan.warnings)
    assert {u.stop.id: u.reason for u in plan.unscheduled} == {"a": REASON_NO_TIME,
                                                                "neg": "invalid"}

    class Island(LineModel):
        def matrices(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            km, minutes = super().matrices(points)
            km[:, 2] = km[2, :] = np.inf  # the first stop cannot be reached by road
            minutes[:, 2] = minutes[2, :] = np.nan
            return km, minutes

    plan = plan_route([stop("island", 0.1), stop("b", 0.2)], None, None, settings(),
                      distance=Island())
    assert plan.visit_ids == ("b",)
    assert plan.unscheduled[0].stop.id == "island"
    assert "cannot be reached" in plan.unscheduled[0].message


def test_day_can_start_at_an_account() -> None:
    first = stop("first", 0.2)
    start = Place.at_stop(first)
    assert (start.lat, start.kind) == (0.2, "account")
    plan = plan_route([stop("b", 0.3)], start, HOME, settings(), distance=LINE)
    assert plan.legs[0].from_name == "FIRST" and plan.total_km == pytest.approx(40)
    with pytest.raises(ValueError, match="no coordinates"):
        Place.at_stop(stop("x", None))
