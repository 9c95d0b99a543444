"""Territory balance: workload figures, deviations from the mean, and boundary moves to even out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from fieldcrm.geo.territory_area import area_km2, points_to_local_metres, to_local_metres

BHH_CONSTANT = 0.7124
"""Beardwood–Halton–Hammersley: a shortest tour through n random points in area A is
about 0.7124·√(n·A) (Applegate et al.'s estimate of the constant for the plane)."""

METRICS = ("accounts", "sales_minor", "pipeline_minor", "visits_per_month", "drive_hours",
           "workload_hours")  # fmt: skip


@dataclass(frozen=True, slots=True)
class BalanceParams:
    """Assumptions of the workload model; every figure is per month."""

    visit_minutes: float = 45.0  # time at the account
    stops_per_day: float = 6.0  # visits in one day's tour
    detour: float = 1.3  # road km per straight-line km
    speed_kmh: float = 60.0  # average road speed
    days_per_month: float = 30.4375  # 365.25 / 12
    limit: float = 0.25  # flag a territory whose workload is > 25 % off the mean


@dataclass(frozen=True, slots=True)
class AccountsFrame:
    """Accounts as columns (one entry per account), as the balance maths needs them."""

    ids: Sequence[str]
    lons: np.ndarray
    lats: np.ndarray
    territory: np.ndarray  # index of the account's territory, -1 for none
    cadence_days: np.ndarray  # a visit is due every N days; <= 0 or inf: never
    sales_minor: np.ndarray  # sales in the period, integer minor units
    pipeline_minor: np.ndarray  # open pipeline, integer minor units


@dataclass(frozen=True, slots=True)
class TerritoryFigures:
    """One territory's monthly figures."""

    index: int
    accounts: int
    sales_minor: int
    pipeline_minor: int
    visits_per_month: float
    spread_km2: float  # area of the convex hull of its accounts
    drive_km: float
    drive_hours: float
    workload_hours: float  # visits x visit time + drive time


@dataclass(frozen=True, slots=True)
class Deviation:
    """How far one territory's value is from the mean of all territories."""

    index: int
    value: float
    mean: float
    pct: float  # (value - mean) / mean; 0 when the mean is 0
    z: float  # (value - mean) / population standard deviation; 0 when all are equal
    flag: str  # "heavy", "light" or ""


@dataclass(frozen=True, slots=True)
class Move:
    """Move one account from the heavier territory to a lighter neighbour."""

    account: int  # index into the frame
    account_id: str
    source: int
    target: int
    distance_km: float  # from the account to the target territory
    source_workload_after: float
    target_workload_after: float


@dataclass(frozen=True, slots=True)
class MovePlan:
    """Suggested moves with the expected figures before and after all of them."""

    moves: tuple[Move, ...]
    before: tuple[TerritoryFigures, ...]
    after: tuple[TerritoryFigures, ...]

    def spread(self, figures: Sequence[TerritoryFigures]) -> float:
        """Largest |workload − mean| / mean over the territories."""
        devs = deviations([f.workload_hours for f in figures])
        return max((abs(d.pct) for d in devs), default=0.0)


def visits_per_month(cadence_days: np.ndarray, days_per_month: float = 30.4375) -> np.ndarray:
    """Visits a month each account needs: days_per_month / cadence (0 if no cadence)."""
    c = np.asarray(cadence_days, dtype=float)
    ok = np.isfinite(c) & (c > 0)
    out = np.zeros(c.shape, dtype=float)
    out[ok] = days_per_month / c[ok]
    return out


def drive_km(visits: float, spread_km2: float, params: BalanceParams) -> float:
    """Monthly road km to make ``visits`` visits among accounts spread over ``spread_km2``.

    Each day is one tour of ``k = min(stops_per_day, visits)`` stops; by
    Beardwood–Halton–Hammersley a tour through k points spread over A is 0.7124·√(k·A),
    there are visits/k such days, and road km are straight km × detour:
    ``km = visits/k · 0.7124·√(k·A) · detour``. It ignores the trip from home to the area,
    so it compares territories rather than predicting a mileage log.
    """
    if visits <= 0 or spread_km2 <= 0:
        return 0.0
    k = min(params.stops_per_day, visits)
    return visits / k * BHH_CONSTANT * math.sqrt(k * spread_km2) * params.detour


def _spread_km2(lons: np.ndarray, lats: np.ndarray) -> float:
    if len(lons) < 3:
        return 0.0
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([lons, lats])))
    return area_km2(hull)


def _figures(frame: AccountsFrame, territory: np.ndarray, index: int, p: BalanceParams,
             visits: np.ndarray) -> TerritoryFigures:  # fmt: skip
    mine = territory == index
    v = float(visits[mine].sum())
    spread = _spread_km2(frame.lons[mine], frame.lats[mine])
    km = drive_km(v, spread, p)
    hours = km / p.speed_kmh
    return TerritoryFigures(
        index=index,
        accounts=int(mine.sum()),
        sales_minor=int(np.asarray(frame.sales_minor)[mine].sum()),
        pipeline_minor=int(np.asarray(frame.pipeline_minor)[mine].sum()),
        visits_per_month=v,
        spread_km2=spread,
        drive_km=km,
        drive_hours=hours,
        workload_hours=v * p.visit_minutes / 60 + hours,
    )


def territory_figures(
    frame: AccountsFrame, n_territories: int, params: BalanceParams | None = None
) -> tuple[TerritoryFigures, ...]:
    """Monthly figures of territories ``0..n_territories-1`` from their accounts."""
    p = params or BalanceParams()
    visits = visits_per_month(frame.cadence_days, p.days_per_month)
    territory = np.asarray(frame.territory)
    return tuple(_figures(frame, territory, i, p, visits) for i in range(n_territories))


def deviations(values: Sequence[float], limit: float = 0.25) -> tuple[Deviation, ...]:
    """Deviation of each value from the mean; flagged when more than ``limit`` off the mean.

    The z-score (population standard deviation) is given alongside for information.
    """
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return ()
    mean = float(v.mean())
    std = float(v.std())
    out = []
    for i, x in enumerate(v):
        pct = (x - mean) / mean if mean else 0.0
        z = (x - mean) / std if std > 0 else 0.0
        flag = "heavy" if pct > limit else "light" if pct < -limit else ""
        out.append(Deviation(i, float(x), mean, pct, z, flag))
    return tuple(out)


def balance_report(
    figures: Sequence[TerritoryFigures], limit: float = 0.25
) -> dict[str, tuple[Deviation, ...]]:
    """Deviations per metric (see `METRICS`); ``workload_hours`` is the one to balance."""
    return {m: deviations([float(getattr(f, m)) for f in figures], limit) for m in METRICS}


def _neighbours(local: Sequence[BaseGeometry], touch_km: float) -> list[set[int]]:
    arr = np.array(local, dtype=object)
    left, right = shapely.STRtree(arr).query(arr, predicate="dwithin", distance=touch_km * 1000)
    out: list[set[int]] = [set() for _ in local]
    for a, b in zip(left, right, strict=True):
        if a != b:
            out[int(a)].add(int(b))
    return out


def _best_move(
    h: int, targets: list[int], territory: np.ndarray, moved: np.ndarray,
    pts: np.ndarray, local: Sequence[BaseGeometry],
) -> tuple[int, int, float] | None:  # fmt: skip
    cand = np.flatnonzero((territory == h) & ~moved)
    if not len(cand) or not targets:
        return None
    best: tuple[int, int, float] | None = None
    for t in targets:
        d = shapely.distance(local[t], pts[cand])
        k = int(np.argmin(d))
        if best is None or d[k] < best[2]:
            best = (int(cand[k]), t, float(d[k]))
    return best


def suggest_moves(
    frame: AccountsFrame,
    geoms: Sequence[BaseGeometry],
    params: BalanceParams | None = None,
    *,
    max_moves: int = 50,
    touch_km: float = 1.0,
) -> MovePlan:
    """Accounts to move out of the heaviest territory to lighter neighbours, greedily.

    While the heaviest territory is more than ``limit`` above the mean workload, take its
    account closest to a lighter neighbouring territory (one within ``touch_km``, distance to
    that polygon) and move it there, if that lowers the larger workload of the two. Figures
    (visits, spread, drive time) are recomputed after every move, so the plan states the
    expected effect. A territory that can improve no further is left as it is.
    """
    p = params or BalanceParams()
    centre = shapely.bounds(shapely.union_all(list(geoms))) if geoms else np.zeros(4)
    c = ((centre[0] + centre[2]) / 2, (centre[1] + centre[3]) / 2)
    local = [to_local_metres(g, c) for g in geoms]
    pts = shapely.points(points_to_local_metres(frame.lons, frame.lats, c))
    nbrs = _neighbours(local, touch_km) if geoms else []
    visits = visits_per_month(frame.cadence_days, p.days_per_month)
    territory = np.asarray(frame.territory).copy()
    before = territory_figures(frame, len(geoms), p)
    figs = list(before)
    moved = np.zeros(len(territory), dtype=bool)
    stuck: set[int] = set()
    moves: list[Move] = []
    while len(moves) < max_moves:
        load = np.array([f.workload_hours for f in figs])
        mean = load.mean() if len(load) else 0.0
        order = [int(i) for i in np.argsort(-load, kind="stable") if int(i) not in stuck]
        if not order or load[order[0]] <= mean * (1 + p.limit):
            break
        h = order[0]
        targets = sorted(t for t in nbrs[h] if load[t] < load[h])
        best = _best_move(h, targets, territory, moved, pts, local)
        if best is None:
            stuck.add(h)
            continue
        a, t, dist = best
        trial = territory.copy()
        trial[a] = t
        fh, ft = (_figures(frame, trial, i, p, visits) for i in (h, t))
        if max(fh.workload_hours, ft.workload_hours) >= load[h]:
            stuck.add(h)
            continue
        territory, figs[h], figs[t], moved[a] = trial, fh, ft, True
        moves.append(Move(a, str(frame.ids[a]), h, t, dist / 1000, fh.workload_hours,
                          ft.workload_hours))  # fmt: skip
    return MovePlan(tuple(moves), before, tuple(figs))


def with_territory(frame: AccountsFrame, territory: np.ndarray) -> AccountsFrame:
    """The same accounts with another territory column (e.g. after applying a plan)."""
    return replace(frame, territory=np.asarray(territory))
