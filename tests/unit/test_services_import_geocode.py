"""Geocoding stored accounts: gazetteer first, then online via the DB cache (fake Nominatim)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from fieldcrm.db.models import AccountRecord, GeocodeCacheRecord, OutboxRecord
from fieldcrm.errors import GeocodeError
from fieldcrm.geo.geocode import OnlineSettings
from fieldcrm.services.geocoding import geocode_accounts
from tests.unit.test_geocode import FakeNominatim, server  # noqa: F401 - the fixture


def _add(session, **fields) -> str:
    from fieldcrm.domain.ids import new_id

    rec = AccountRecord(id=new_id(), **fields)
    session.add(rec)
    session.commit()
    return rec.id


def test_offline_then_online_with_db_cache(db, server: str) -> None:  # noqa: F811
    with db.session() as session:
        house = _add(session, name="Åkes", street="Storgatan 1", city="Umeå")
        town = _add(session, name="Lunds Järn", city="Lund")
        lost = _add(session, name="Nowhere", city="Atlantis")
        unknown_street = _add(session, name="Ghost", street="Nowhere 9", city="Umeå")
        settings = OnlineSettings(domain=server, scheme="http", min_delay_seconds=0.0, timeout=2.0)
        summary = geocode_accounts(session=session, online=settings)
        assert (summary.placed_at_town, summary.refined_online, summary.not_found) == (3, 1, 1)
        by_id = {r.id: r for r in session.scalars(select(AccountRecord))}
        assert by_id[house].geocode_source == "rooftop" and by_id[house].lat == 63.826
        assert by_id[town].geocode_source == "town" and by_id[lost].lat is None
        assert by_id[unknown_street].geocode_source == "town"  # the provider did not know it
        cached = session.scalars(select(GeocodeCacheRecord)).all()
        assert len(cached) == 2 and {c.lat is None for c in cached} == {True, False}
        patches = [json.loads(o.fields_json) for o in session.scalars(select(OutboxRecord))]
        assert {"lat": 63.826, "lon": 20.261, "geocode_source": "rooftop"} in patches
        asked = len(FakeNominatim.requests)
        by_id[house].geocode_source = "town"  # as if it had to be looked up again
        session.commit()
        geocode_accounts(session=session, online=settings)
        assert len(FakeNominatim.requests) == asked  # answered from the database cache


def test_online_failure_keeps_the_offline_work(db, server: str) -> None:  # noqa: F811
    with db.session() as session:
        _add(session, name="Quota AB", street="Quota 1", city="Umeå")
        settings = OnlineSettings(domain=server, scheme="http", min_delay_seconds=0.0, timeout=2.0)
        with pytest.raises(GeocodeError, match="too many requests"):
            geocode_accounts(session=session, online=settings)
    with db.session() as session:
        rec = session.scalars(select(AccountRecord)).one()
        assert rec.geocode_source == "town" and rec.lat is not None
