"""Place accounts on the map: the offline gazetteer for every account without a position, then
(when enabled) the online geocoder for street addresses, with answers cached in the database."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldcrm.db.models import AccountRecord, GeocodeCacheRecord
from fieldcrm.db.outbox import enqueue
from fieldcrm.db.types import utcnow
from fieldcrm.domain.enums import GeocodeSource
from fieldcrm.errors import Cancelled, GeocodeError
from fieldcrm.geo.geocode import (
    Address,
    CachedAnswer,
    GazetteerGeocoder,
    GeocodeResult,
    OnlineGeocoder,
    OnlineSettings,
)

Progress = Callable[[int, int], None]
IsCancelled = Callable[[], bool]
_RANK = {source: rank for rank, source in enumerate(GeocodeSource)}


class DbGeocodeCache:
    """The ``geocode_cache`` table as a :class:`fieldcrm.geo.geocode.GeocodeCache`."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, query: str, provider: str) -> CachedAnswer | None:
        rec = self.session.get(GeocodeCacheRecord, (query[:500], provider[:40]))
        if rec is None:
            return None
        return CachedAnswer(rec.lat, rec.lon, GeocodeSource(rec.source), rec.raw_json)

    def put(self, query: str, provider: str, answer: CachedAnswer) -> None:
        self.session.merge(GeocodeCacheRecord(
            query=query[:500], provider=provider[:40], lat=answer.lat, lon=answer.lon,
            source=answer.source.value, raw_json=answer.raw_json, created_at=utcnow()))
        self.session.flush()


@dataclass(frozen=True, slots=True)
class GeocodeSummary:
    """What a geocoding run did."""

    placed_at_town: int
    refined_online: int
    not_found: int


def _address(rec: AccountRecord) -> Address:
    return Address(rec.street, rec.postcode, rec.city, rec.region, rec.country)


def _place(session: Session, rec: AccountRecord, hit: GeocodeResult) -> None:
    changed = {"lat": hit.lat, "lon": hit.lon, "geocode_source": hit.source.value}
    for key, value in changed.items():
        setattr(rec, key, value)
    rec.updated_at = utcnow()
    enqueue(session, entity="account", entity_id=rec.id, op="patch", fields=changed,
            base_version=rec.row_version)


def _check(cancelled: IsCancelled | None) -> None:
    if cancelled is not None and cancelled():
        raise Cancelled("Geocoding cancelled.")


def geocode_accounts(
    *,
    session: Session,
    default_country: str = "SE",
    online: OnlineSettings | None = None,
    progress: Progress | None = None,
    cancelled: IsCancelled | None = None,
) -> GeocodeSummary:
    """Place live accounts that have no position at their town (gazetteer), then, with
    ``online``, look up street addresses known only to town level (or not at all) online.

    Offline results are committed at once; online ones every few accounts, so a cancel or an
    error keeps what was done (and every online answer stays cached: nothing is asked twice).
    Run it off the UI thread: online, it goes at the provider's pace (Nominatim: 1/s).

    Raises
    ------
    GeocodeError
        If the online provider fails (what was done before stays).
    Cancelled
        If ``cancelled()`` turns true (what was done before stays).
    """
    missing = list(session.scalars(select(AccountRecord).where(
        AccountRecord.deleted.is_(False), AccountRecord.lat.is_(None))))
    offline = GazetteerGeocoder(default_country)
    hits = offline.geocode_many([_address(r) for r in missing], progress=progress,
                                cancelled=cancelled)
    placed = 0
    for rec, hit in zip(missing, hits, strict=True):
        if hit is not None:
            _place(session, rec, hit)
            placed += 1
    session.commit()
    refined = 0
    if online is not None:
        refined = _refine_online(session, online, progress, cancelled)
    not_found = len(session.scalars(select(AccountRecord.id).where(
        AccountRecord.deleted.is_(False), AccountRecord.lat.is_(None))).all())
    return GeocodeSummary(placed, refined, not_found)


def _refine_online(session: Session, settings: OnlineSettings, progress: Progress | None,
                   cancelled: IsCancelled | None) -> int:
    coarse = (GeocodeSource.NONE.value, GeocodeSource.TOWN.value, GeocodeSource.POSTCODE.value)
    todo = list(session.scalars(select(AccountRecord).where(
        AccountRecord.deleted.is_(False), AccountRecord.street != "",
        AccountRecord.geocode_source.in_(coarse))))
    geocoder = OnlineGeocoder(settings, DbGeocodeCache(session))
    refined = 0
    try:
        for i, rec in enumerate(todo):
            _check(cancelled)
            if progress:
                progress(i, len(todo))
            hit = geocoder.geocode(_address(rec))
            if hit is not None and _RANK[hit.source] < _RANK[GeocodeSource(rec.geocode_source)]:
                _place(session, rec, hit)
                refined += 1
            # Commit every answer: the next one is a second away (the provider's rate limit),
            # and an open write transaction would lock the user's own edits out meanwhile.
            session.commit()
    except (GeocodeError, Cancelled):
        session.commit()  # keep the accounts placed and the answers cached so far
        raise
    session.commit()
    if progress:
        progress(len(todo), len(todo))
    return refined


def cached_answers(session: Session) -> list[tuple[str, str, str]]:
    """Return (query, provider, display name) of every cached answer (for diagnostics)."""
    rows = session.execute(select(GeocodeCacheRecord.query, GeocodeCacheRecord.provider,
                                  GeocodeCacheRecord.raw_json))
    return [(q, p, str(json.loads(raw or "{}").get("display_name", ""))) for q, p, raw in rows]


def unplaced_accounts(session: Session) -> list[tuple[str, str, str]]:
    """Return (id, name, address) of of the live accounts without a position, by name."""
    rows = session.execute(select(AccountRecord.id, AccountRecord.name, AccountRecord.street,
                                  AccountRecord.postcode, AccountRecord.city,
                                  AccountRecord.country)
                           .where(AccountRecord.deleted.is_(False), AccountRecord.lat.is_(None))
                           .order_by(AccountRecord.name))
    return [(r.id, r.name, ", ".join(p for p in (r.street, f"{r.postcode} {r.city}".strip(),
                                                  r.country) if p) or "no address")
            for r in rows]
