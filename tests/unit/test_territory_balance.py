"""Balance maths checked by hand on a small dataset."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import box

from fieldcrm.geo.balance import (
    AccountsFrame,
    BalanceParams,
    balance_report,
    deviations,
    drive_km,
    suggest_moves,
    territory_figures,
    visits_per_month,
)

P = BalanceParams(visit_minutes=45, stops_per_day=6, detour=1.3, speed_kmh=60, days_per_month=30)
EQ_CELL_KM2 = 123.09  # a 0.1° x 0.1° cell at the equator (see test_territory_coverage)


def _frame(lons, lats, territory, cadence=30, sales=0, pipeline=0):
    n = len(lons)
    return AccountsFrame(
        ids=[f"acc{i}" for i in range(n)],
        lons=np.asarray(lons, float),
        lats=np.asarray(lats, float),
        territory=np.asarray(territory),
        cadence_days=np.full(n, cadence, float),
        sales_minor=np.full(n, sales, np.int64),
        pipeline_minor=np.full(n, pipeline, np.int64),
    )


def test_visits_per_month_from_cadence():
    got = visits_per_month(np.array([14, 30, 90, 0, np.inf]), 30.0)
    np.testing.assert_allclose(got, [30 / 14, 1.0, 1 / 3, 0.0, 0.0])


def test_drive_km_by_hand():
    # 4 visits over 100 km²: one day's tour, 0.7124 * sqrt(4 * 100) = 14.248 km, x 1.3 detour.
    assert drive_km(4, 100.0, P) == pytest.approx(18.5224)
    # 12 visits: two days of 6 stops, each 0.7124 * sqrt(6 * 100) = 17.4502 km.
    assert drive_km(12, 100.0, P) == pytest.approx(2 * 0.7124 * math.sqrt(600) * 1.3)
    assert drive_km(0, 100.0, P) == 0.0 and drive_km(5, 0.0, P) == 0.0


def test_territory_figures_by_hand():
    # Territory 0: four accounts on the corners of a 0.1° square at the equator, monthly
    # cadence; territory 1: one account; one account in no territory.
    frame = _frame(
        [0, 0.1, 0.1, 0, 5, 9], [0, 0, 0.1, 0.1, 5, 9], [0, 0, 0, 0, 1, -1], sales=250, pipeline=7
    )
    t0, t1 = territory_figures(frame, 2, P)
    assert (t0.accounts, t0.sales_minor, t0.pipeline_minor) == (4, 1000, 28)
    assert t0.visits_per_month == pytest.approx(4.0)
    assert t0.spread_km2 == pytest.approx(EQ_CELL_KM2, rel=1e-3)
    # 0.7124 * sqrt(4 * 123.09) * 1.3 = 20.549 km; at 60 km/h 0.3425 h; visits 4 x 0.75 h.
    assert t0.drive_km == pytest.approx(20.549, rel=1e-3)
    assert t0.drive_hours == pytest.approx(0.34249, rel=1e-3)
    assert t0.workload_hours == pytest.approx(3.34249, rel=1e-3)
    assert (t1.accounts, t1.spread_km2, t1.drive_km, t1.workload_hours) == (1, 0.0, 0.0, 0.75)


def test_deviation_and_flags_by_hand():
    # Mean 20, population std sqrt(200/3) = 8.165.
    light, mid, heavy = deviations([10, 20, 30], limit=0.25)
    assert (light.pct, mid.pct, heavy.pct) == (-0.5, 0.0, 0.5)
    assert heavy.z == pytest.approx(10 / math.sqrt(200 / 3))
    assert (light.flag, mid.flag, heavy.flag) == ("light", "", "heavy")
    assert [d.flag for d in deviations([10, 12, 8])] == ["", "", ""]  # within ±25 %
    assert deviations([0, 0])[0].pct == 0.0 and deviations([5, 5])[0].z == 0.0
    report = balance_report(territory_figures(_frame([0, 1], [0, 1], [0, 0]), 2, P))
    assert [d.flag for d in report["accounts"]] == ["heavy", "light"]


def test_moves_take_the_accounts_nearest_the_lighter_neighbour():
    # West [0, 0.1] holds six accounts along y = 0.05, East [0.1, 0.2] two.
    west_x = [0.01, 0.03, 0.05, 0.07, 0.085, 0.09]
    frame = _frame(
        [*west_x, 0.15, 0.18], [0.05, 0.04, 0.06, 0.05, 0.07, 0.03, 0.05, 0.06], [0] * 6 + [1] * 2
    )
    geoms = [box(0, 0, 0.1, 0.1), box(0.1, 0, 0.2, 0.1)]
    plan = suggest_moves(frame, geoms, BalanceParams(days_per_month=30, limit=0.05))
    assert [m.account_id for m in plan.moves] == ["acc5", "acc4"]
    # 0.01° of longitude at the equator is 1.113 km; 0.015° is 1.670 km.
    assert plan.moves[0].distance_km == pytest.approx(1.113, rel=2e-3)
    assert plan.moves[1].distance_km == pytest.approx(1.670, rel=2e-3)
    assert all(m.source == 0 and m.target == 1 for m in plan.moves)
    assert [f.accounts for f in plan.before] == [6, 2]
    assert [f.accounts for f in plan.after] == [4, 4]
    assert plan.moves[-1].source_workload_after == plan.after[0].workload_hours
    assert plan.spread(plan.after) < plan.spread(plan.before)


def test_no_moves_when_balanced_or_no_lighter_neighbour():
    geoms = [box(0, 0, 0.1, 0.1), box(0.1, 0, 0.2, 0.1)]
    even = _frame([0.05, 0.15], [0.05, 0.05], [0, 1])
    assert suggest_moves(even, geoms, P).moves == ()
    apart = [box(0, 0, 0.1, 0.1), box(1, 1, 1.1, 1.1)]  # not neighbours
    heavy = _frame([0.05, 0.06, 1.05], [0.05, 0.05, 1.05], [0, 0, 1])
    assert suggest_moves(heavy, apart, P).moves == ()
