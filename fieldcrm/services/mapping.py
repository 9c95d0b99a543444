"""Map use cases: the pins and territories of the map, building the page, accounts near a point."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fieldcrm.db.models import TerritoryRow, UserRow
from fieldcrm.db.types import UTCDateTime, utcnow
from fieldcrm.domain.records import AccountFilter, Territory
from fieldcrm.errors import NotFound
from fieldcrm.geo.distance import EARTH_RADIUS_KM
from fieldcrm.services.accounts import cadence_days, matching_ids

if TYPE_CHECKING:
    from fieldcrm.geo.maps import MapPoints

PRECISE_SOURCES = frozenset({"manual", "rooftop", "street"})
_UTC = UTCDateTime()


def list_territories(*, session: Session) -> list[Territory]:
    """Return the live territories with their rep's name, by name."""
    stmt = (select(TerritoryRow, UserRow.name)
            .outerjoin(UserRow, UserRow.id == TerritoryRow.rep_id)
            .where(TerritoryRow.deleted.is_(False)).order_by(TerritoryRow.name))
    return [Territory(t.id, t.name, json.loads(t.geojson), t.color, t.rep_id, rep or "")
            for t, rep in session.execute(stmt)]


def map_points(*, session: Session, now: datetime | None = None) -> MapPoints:
    """Return every live account that has coordinates, as columns for the map."""
    from fieldcrm.geo.maps import MapPoints  # folium is heavy: load it only for the map

    now = now or utcnow()
    cadence = cadence_days(session)
    rows = session.execute(text(
        "SELECT id, name, lat, lon, status, tier, last_visit_at, geocode_source FROM account "
        "WHERE deleted = 0 AND lat IS NOT NULL AND lon IS NOT NULL")).all()
    overdue: list[int | None] = []
    for r in rows:
        if r[6] is None:
            overdue.append(None)
        else:
            last = _UTC.process_result_value(r[6], None)
            overdue.append((now - last).days - cadence.get(r[5], 30) if last else None)
    return MapPoints(
        ids=[r[0] for r in rows], names=[r[1] for r in rows], lats=[r[2] for r in rows],
        lons=[r[3] for r in rows], statuses=[r[4] for r in rows], tiers=[r[5] for r in rows],
        days_overdue=overdue, precise=[r[7] in PRECISE_SOURCES for r in rows],
    )


def build_map(*, session: Session, out_dir: Path, color_by: str = "status",
              tile_url: str | None = None) -> Path:
    """Write the map page for every account and territory; return the HTML file's path."""
    from fieldcrm.geo.maps import MapTerritory, build_account_map

    territories = [MapTerritory(t.id, t.name, t.color, t.geojson)
                   for t in list_territories(session=session)]
    return build_account_map(points=map_points(session=session), territories=territories,
                             out_dir=out_dir, color_by=color_by, tile_url=tile_url)


def visible_ids(*, session: Session, flt: AccountFilter) -> list[str] | None:
    """Return the ids the map should show for the list's filter (None = show all)."""
    if flt == AccountFilter():
        return None
    return matching_ids(session=session, flt=flt)


@dataclass(frozen=True, slots=True)
class Nearby:
    """An account near a point, with its straight-line distance."""

    id: str
    name: str
    city: str
    km: float


def accounts_within(*, session: Session, account_id: str, km: float) -> list[Nearby]:
    """Return the live accounts within ``km`` of an account (nearest first, itself excluded).

    Raises
    ------
    NotFound
        If the account does not exist or has no coordinates.
    """
    centre = session.execute(text("SELECT lat, lon FROM account WHERE id = :i AND deleted = 0"),
                             {"i": account_id}).first()
    if centre is None or centre[0] is None:
        raise NotFound("That account has no position on the map yet.")
    lat0, lon0 = centre
    dlat = km / 111.0
    dlon = km / max(1e-6, 111.0 * np.cos(np.radians(lat0)))
    rows = session.execute(text(
        "SELECT id, name, city, lat, lon FROM account WHERE deleted = 0 AND id != :i "
        "AND lat BETWEEN :a AND :b AND lon BETWEEN :c AND :d"),
        {"i": account_id, "a": lat0 - dlat, "b": lat0 + dlat, "c": lon0 - dlon, "d": lon0 + dlon}).all()
    if not rows:
        return []
    lat = np.radians(np.array([r[3] for r in rows]))
    lon = np.radians(np.array([r[4] for r in rows]))
    p0, l0 = np.radians(lat0), np.radians(lon0)
    h = np.sin((lat - p0) / 2) ** 2 + np.cos(p0) * np.cos(lat) * np.sin((lon - l0) / 2) ** 2
    dist = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(h))
    found = [Nearby(r[0], r[1], r[2], float(d)) for r, d in zip(rows, dist, strict=True) if d <= km]
    return sorted(found, key=lambda n: n.km)
