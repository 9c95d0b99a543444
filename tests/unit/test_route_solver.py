"""Solver against brute force (every ordered subset), and its output against the checker."""

from __future__ import annotations

import itertools
import math
import random
from datetime import date

import pytest

from fieldcrm.geo.distance import HaversineModel
from fieldcrm.geo.routing.check import check_plan
from fieldcrm.geo.routing.model import (
    Break,
    OpeningHours,
    Place,
    PlanSettings,
    ScheduledStop,
    Stop,
    TimeWindow,
)
from fieldcrm.geo.routing.schedule import build_problem, is_feasible, route_km
from fieldcrm.geo.routing.search import insert_greedy
from fieldcrm.geo.routing.solver import plan_route

MONDAY = date(2026, 11, 23)
HOME = Place("Office", 59.33, 18.06, kind="office")
MODEL = HaversineModel(detour_factor=1.3, speed_kmh=50.0)


def random_stops(rng: random.Random, n: int, *, windows: bool) -> list[Stop]:
    out = []
    for k in range(n):
        hours = None
        if windows:
            a = rng.choice((480, 540, 600, 660, 720, 780, 840))
            wins = [TimeWindow(a, a + rng.choice((60, 90, 120)))]
            if rng.random() < 0.3:
                wins.append(TimeWindow(wins[0].end + 60, wins[0].end + 180))
            hours = OpeningHours.weekdays(*wins)
        out.append(Stop(id=f"s{k}", name=f"S{k}", lat=59.33 + rng.uniform(-0.25, 0.25),
                        lon=18.06 + rng.uniform(-0.45, 0.45), tier=rng.choice("ABC"),
                        hours=hours))
    return out


def brute_force(stops: list[Stop], settings: PlanSettings) -> tuple[int, float]:
    """Best (visits, km) over every subset in every order, by direct enumeration."""
    p, _, _ = build_problem(stops, settings, MODEL)
    best = (0, -route_km(p, []))
    for r in range(1, p.n + 1):
        for seq in itertools.permutations(range(p.n), r):
            if is_feasible(p, seq):
                best = max(best, (r, -route_km(p, seq)))
    return best[0], -best[1]


@pytest.mark.parametrize("n", [3, 5, 8])
def test_without_windows_matches_every_permutation(n: int) -> None:
    rng = random.Random(n)
    stops = random_stops(rng, n, windows=False)
    s = PlanSettings(day=MONDAY, start=HOME, end=HOME)
    p, _, _ = build_problem(stops, s, MODEL)
    best = min(route_km(p, perm) for perm in itertools.permutations(range(n)))
    plan = plan_route(stops, None, None, s, distance=MODEL)
    assert len(plan.stops) == n
    assert plan.total_km == pytest.approx(best, rel=1e-9)
    assert check_plan(plan, stops, distance=MODEL) == []


@pytest.mark.parametrize("seed", range(7))
def test_with_windows_matches_brute_force(seed: int) -> None:
    rng = random.Random(100 + seed)
    n = 4 + seed % 4 if seed < 6 else 8  # 4..8 stops
    stops = random_stops(rng, n, windows=True)
    brk = (Break(690, 780, 30),) if seed % 2 else ()
    s = PlanSettings(day=MONDAY, start=HOME, end=HOME, start_time=480.0,
                     latest_return=rng.choice((720.0, 900.0, 1020.0)), breaks=brk)
    visits, km = brute_force(stops, s)
    plan = plan_route(stops, None, None, s, distance=MODEL)
    assert len(plan.stops) == visits
    assert plan.total_km == pytest.approx(km, rel=1e-9)
    assert check_plan(plan, stops, distance=MODEL) == []
    assert len(plan.stops) + len(plan.unscheduled) == n


def test_open_route_from_hotel_to_home() -> None:
    hotel = Place("Hotel", 59.6, 17.6, kind="hotel")
    stops = random_stops(random.Random(5), 6, windows=False)
    s = PlanSettings(day=MONDAY, start=hotel, end=HOME)
    p, _, _ = build_problem(stops, s, MODEL)
    best = min(route_km(p, perm) for perm in itertools.permutations(range(6)))
    plan = plan_route(stops, None, None, s, distance=MODEL)
    assert plan.total_km == pytest.approx(best)
    assert plan.legs[0].from_name == "Hotel" and plan.legs[-1].to_name == "Office"


@pytest.mark.parametrize("seed", [1, 2])
def test_larger_days_are_feasible_and_account_for_every_stop(seed: int) -> None:
    rng = random.Random(seed)
    stops = random_stops(rng, 25, windows=True)
    stops[3] = Stop(id="appt", name="Appointment", lat=59.4, lon=18.1, appointment=630.0)
    s = PlanSettings(day=MONDAY, start=HOME, end=HOME, breaks=(Break(690, 780, 30),),
                     time_limit=0.4)
    plan = plan_route(stops, None, None, s, distance=MODEL)
    assert check_plan(plan, stops, distance=MODEL) == []
    assert "appt" in plan.visit_ids
    p, _, _ = build_problem(stops, s, MODEL)
    greedy, _ = insert_greedy(p, [], [i for i in range(p.n) if is_feasible(p, [i])], math.inf)
    assert len(plan.stops) >= max(len(greedy), 6)
    ids = [v.stop.id for v in plan.stops] + [u.stop.id for u in plan.unscheduled]
    assert sorted(ids) == sorted(st.id for st in stops)


def test_checker_catches_a_broken_plan() -> None:
    stops = random_stops(random.Random(9), 3, windows=True)
    s = PlanSettings(day=MONDAY, start=HOME, end=HOME)
    plan = plan_route(stops, None, None, s, distance=MODEL)
    assert plan.stops
    v = plan.stops[0]
    early = ScheduledStop(v.stop, v.arrival - 30, v.start - 600, v.departure - 600, 0.0)
    import dataclasses

    broken = dataclasses.replace(plan, stops=(early, *plan.stops[1:]))
    problems = check_plan(broken, stops, distance=MODEL)
    assert any("earlier than possible" in x for x in problems)
    assert any("outside its hours" in x for x in problems)


def test_duration_cost_model_charges_time_and_keeps_the_prize_dominant() -> None:
    """The time-charging PyVRP model (used to find sets with room for one more visit)."""
    import pyvrp

    from fieldcrm.geo.routing.multistart import build_data

    stops = random_stops(random.Random(4), 12, windows=True)
    s = PlanSettings(day=MONDAY, start=HOME, end=HOME)
    p, _, _ = build_problem(stops, s, MODEL)
    cand = [i for i in range(p.n) if is_feasible(p, [i])]
    plain, _ = build_data(p, cand)
    timed, stop_of = build_data(p, cand, duration_cost=50)
    assert plain.vehicle_type(0).unit_duration_cost == 0
    assert timed.vehicle_type(0).unit_duration_cost == 50
    dist, dur = timed.distance_matrix(0), timed.duration_matrix(0)
    longest_visit = max(c.service_duration for c in timed.clients())
    worst_detour = 2 * dist.max() + 50 * (2 * dur.max() + longest_visit)
    assert min(c.prize for c in timed.clients()) > worst_detour
    res = pyvrp.solve(timed, pyvrp.stop.MaxIterations(200), seed=1, display=False)
    seq = [stop_of[a.idx] for a in res.best.routes()[0] if a.is_client()]
    assert seq and is_feasible(p, seq)
