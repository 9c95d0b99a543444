"""Fill my day: propose overdue accounts near an area or along a route, each with a reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from fieldcrm.domain.enums import DEFAULT_CADENCE_DAYS, Tier
from fieldcrm.geo.distance import EARTH_RADIUS_KM

TIER_RANK = {"A": 0, "B": 1, "C": 2}


@dataclass(frozen=True, slots=True)
class FillCandidate:
    """An account that might be visited; ``cadence_days`` None uses the tier's default."""

    account_id: str
    name: str
    tier: str
    lat: float | None
    lon: float | None
    last_visit: date | None
    cadence_days: int | None = None


@dataclass(frozen=True, slots=True)
class FillSuggestion:
    account_id: str
    name: str
    tier: str
    days_overdue: int | None  # None: never visited
    km_away: float
    reason: str


def _cadence(c: FillCandidate) -> int:
    if c.cadence_days is not None:
        return c.cadence_days
    try:
        return DEFAULT_CADENCE_DAYS[Tier(c.tier)]
    except ValueError:
        return DEFAULT_CADENCE_DAYS[Tier.C]


def _km_to_path(lat: np.ndarray, lon: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Distance in km from each point to the polyline ``path`` (m, 2), equirectangular."""
    lat0 = np.radians(np.mean(path[:, 0]))
    kx = np.radians(1.0) * EARTH_RADIUS_KM * np.cos(lat0)
    ky = np.radians(1.0) * EARTH_RADIUS_KM
    px, py = lon * kx, lat * ky
    ax, ay = path[:, 1] * kx, path[:, 0] * ky
    if len(path) == 1:
        return np.hypot(px - ax[0], py - ay[0])
    sx, sy = ax[:-1], ay[:-1]
    dx, dy = ax[1:] - sx, ay[1:] - sy
    seg2 = np.maximum(dx * dx + dy * dy, 1e-12)
    t = np.clip(((px[:, None] - sx) * dx + (py[:, None] - sy) * dy) / seg2, 0.0, 1.0)
    cx, cy = sx + t * dx, sy + t * dy
    return np.min(np.hypot(px[:, None] - cx, py[:, None] - cy), axis=1)


def suggest_fill(
    candidates: Sequence[FillCandidate],
    *,
    today: date,
    near: tuple[float, float] | None = None,
    route: Sequence[tuple[float, float]] = (),
    radius_km: float = 15.0,
    limit: int = 10,
    exclude: Sequence[str] = (),
) -> list[FillSuggestion]:
    """Overdue accounts within ``radius_km`` of ``near`` or of the ``route`` polyline.

    Order: tier A before B before C, then the longest overdue (never visited first), then the
    nearest. Accounts without coordinates, not yet due, or excluded are left out.
    """
    path = np.asarray(list(route) if route else ([near] if near else []), dtype=np.float64)
    where = "the route" if route else "the chosen area"
    skip = set(exclude)
    pool = [c for c in candidates if c.lat is not None and c.lon is not None
            and c.account_id not in skip]
    if not pool or path.size == 0:
        return []
    km = _km_to_path(np.array([c.lat for c in pool]), np.array([c.lon for c in pool]),
                     path.reshape(-1, 2))
    picked: list[tuple[tuple, FillSuggestion]] = []
    for c, d in zip(pool, km, strict=True):
        cadence = _cadence(c)
        overdue = None if c.last_visit is None else (today - c.last_visit).days - cadence
        if (overdue is not None and overdue <= 0) or d > radius_km:
            continue
        if overdue is None:
            why = f"Tier {c.tier}, never visited (cadence {cadence} days)"
        else:
            why = (f"Tier {c.tier}, {overdue} day{'s' if overdue != 1 else ''} overdue "
                   f"(cadence {cadence} days, last visit {c.last_visit.isoformat()})")
        reason = f"{why}, {d:.1f} km from {where}"
        key = (TIER_RANK.get(c.tier, 3), -(overdue if overdue is not None else 10**9), d)
        picked.append((key, FillSuggestion(c.account_id, c.name, c.tier, overdue, float(d),
                                           reason)))
    picked.sort(key=lambda kv: kv[0])
    return [s for _, s in picked[: max(0, limit)]]
