"""Week plans respect days, appointments and day length; fill-my-day ranks and explains."""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pytest

from fieldcrm.geo.distance import DistanceModel, HaversineModel, haversine_km, haversine_matrix
from fieldcrm.geo.routing.check import check_plan
from fieldcrm.geo.routing.fill import FillCandidate, suggest_fill
from fieldcrm.geo.routing.model import (
    REASON_NO_COORDS,
    OpeningHours,
    Place,
    PlanSettings,
    Stop,
    TimeWindow,
)
from fieldcrm.geo.routing.week import plan_week, working_days

MONDAY = date(2026, 11, 23)
HOME = Place("Office", 59.33, 18.06, kind="office")
MODEL = HaversineModel()


def test_working_days_skip_the_weekend() -> None:
    assert [d.isoformat() for d in working_days(date(2026, 11, 26))] == [
        "2026-11-26", "2026-11-27", "2026-11-30", "2026-12-01", "2026-12-02"]


def test_week_plan_respects_open_days_appointments_and_day_length() -> None:
    rng = random.Random(4)
    tue_thu = OpeningHours(weekly=((), (TimeWindow(540, 960),), (), (TimeWindow(540, 960),),
                                   (), (), ()))
    stops = []
    for k in range(40):
        stops.append(Stop(id=f"s{k}", name=f"S{k}", lat=59.33 + rng.uniform(-0.3, 0.3),
                          lon=18.06 + rng.uniform(-0.5, 0.5), duration=30.0,
                          hours=tue_thu if k % 5 == 0 else None))
    stops.append(Stop(id="appt", name="Appt", lat=59.4, lon=18.2, duration=60.0,
                      appointment=600.0, appointment_day=date(2026, 11, 26)))
    stops.append(Stop(id="nowhere", name="Nowhere", lat=None, lon=None))
    s = PlanSettings(day=MONDAY, start=HOME, end=HOME, start_time=480.0, latest_return=1020.0,
                     time_limit=0.2)
    week = plan_week(stops, s, distance=MODEL)
    assert [d.settings.day.weekday() for d in week.days] == [0, 1, 2, 3, 4]
    seen: list[str] = []
    for day in week.days:
        assert check_plan(day, [v.stop for v in day.stops], distance=MODEL) == []
        assert day.end_time <= 1020.0
        for v in day.stops:
            seen.append(v.stop.id)
            if v.stop.hours is not None:
                assert day.settings.day.weekday() in (1, 3)
    assert len(seen) == len(set(seen))
    thursday = week.days[3]
    assert "appt" in thursday.visit_ids
    assert next(v for v in thursday.stops if v.stop.id == "appt").start == pytest.approx(600.0)
    reasons = {u.stop.id: u.reason for u in week.unscheduled}
    assert reasons.get("nowhere") == REASON_NO_COORDS
    assert set(seen) | set(reasons) == {st.id for st in stops}
    assert week.visit_count == len(seen) >= 35


def test_fill_ranks_tier_then_overdue_then_distance_with_reasons() -> None:
    today = date(2026, 11, 22)
    c = [
        FillCandidate("c1", "C far overdue", "C", 59.34, 18.07, date(2025, 1, 1)),
        FillCandidate("a1", "A a bit overdue", "A", 59.34, 18.07, date(2026, 11, 1)),
        FillCandidate("a2", "A never", "A", 59.35, 18.08, None),
        FillCandidate("b1", "B not due", "B", 59.34, 18.07, date(2026, 11, 20)),
        FillCandidate("a3", "A too far", "A", 61.0, 18.07, None),
        FillCandidate("a4", "A no coords", "A", None, None, None),
        FillCandidate("b2", "B custom cadence", "B", 59.34, 18.07, date(2026, 11, 10), 7),
    ]
    out = suggest_fill(c, today=today, near=(59.33, 18.06), radius_km=20)
    assert [s.account_id for s in out] == ["a2", "a1", "b2", "c1"]
    assert out[0].days_overdue is None and "never visited" in out[0].reason
    assert out[1].days_overdue == 21 - 14
    assert "7 days overdue (cadence 14 days, last visit 2026-11-01)" in out[1].reason
    assert "km from the chosen area" in out[1].reason
    assert out[2].days_overdue == 5
    along = suggest_fill(c, today=today, route=[(59.0, 18.07), (60.0, 18.07)], radius_km=2,
                         limit=2, exclude=["a2"])
    assert [s.account_id for s in along] == ["a1", "b2"]
    assert "from the route" in along[0].reason and along[0].km_away < 1.0
    assert suggest_fill(c, today=today) == []


def test_distance_model_matches_geopy_and_is_a_protocol() -> None:
    from geopy.distance import great_circle

    pts = np.array([[59.33, 18.06], [57.7, 11.97], [55.6, 13.0], [59.33, 18.06]])
    m = haversine_matrix(pts)
    assert m[0, 1] == pytest.approx(great_circle(pts[0], pts[1]).km, rel=1e-5)
    assert m[0, 3] == 0.0 and np.allclose(m, m.T)
    assert haversine_km((59.33, 18.06), (57.7, 11.97)) == pytest.approx(m[0, 1], rel=1e-9)
    model = HaversineModel(detour_factor=1.5, speed_kmh=90.0)
    assert isinstance(model, DistanceModel)
    km, minutes = model.matrices(pts)
    assert km[0, 1] == pytest.approx(1.5 * m[0, 1])
    assert minutes[0, 1] == pytest.approx(km[0, 1] / 90.0 * 60.0)
    with pytest.raises(ValueError):
        HaversineModel(speed_kmh=0)
