"""A small self-contained demo dataset for the server: Swedish towns, reps, accounts, visits."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from fieldcrm.domain.ids import new_id
from fieldcrm.errors import InvalidInput
from fieldcrm.sync.protocol import ChangeOp, scope_of_territory, scope_of_user
from fieldcrm.sync.server import admin
from fieldcrm.sync.server.engine import Database
from fieldcrm.sync.server.models import Account, Contact, User, Visit, utcnow
from fieldcrm.sync.server.scopes import IndexWrites

TOWNS: tuple[tuple[str, float, float], ...] = (
    ("Stockholm", 59.33, 18.07),
    ("Göteborg", 57.71, 11.97),
    ("Malmö", 55.60, 13.00),
    ("Uppsala", 59.86, 17.64),
    ("Västerås", 59.61, 16.55),
    ("Örebro", 59.27, 15.21),
    ("Linköping", 58.41, 15.62),
    ("Jönköping", 57.78, 14.16),
    ("Umeå", 63.83, 20.26),
    ("Sundsvall", 62.39, 17.31),
    ("Karlstad", 59.38, 13.50),
    ("Luleå", 65.58, 22.15),
)
_WORDS = ("Nordic", "Bygg", "Verkstad", "Handel", "Teknik", "Mat", "Trä", "El", "Bil", "Frukt")
_SUFFIX = ("AB", "HB", "& Son", "Service AB", "Grossist AB")
_FIRST = ("Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Per", "Sara", "Nils")
_LAST = ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson")
BATCH = 50  # accounts per transaction: pull pages can end between batches


def town_polygon(lat: float, lon: float, radius_km: float = 35.0, sides: int = 8) -> dict[str, Any]:
    """A regular polygon around a town, in GeoJSON lon/lat."""
    dlat = radius_km / 111.0
    dlon = radius_km / (111.0 * math.cos(math.radians(lat)))
    ring = [
        [
            round(lon + dlon * math.cos(2 * math.pi * k / sides), 5),
            round(lat + dlat * math.sin(2 * math.pi * k / sides), 5),
        ]
        for k in range(sides)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def seed_demo(
    db: Database, *, password: str, reps: int = 4, accounts: int = 240, seed: int = 1
) -> dict[str, int]:
    """Load territories, a manager, reps, accounts, contacts and visits; refuses to run twice.

    Raises
    ------
    InvalidInput
        The server already holds the demo (user ``manager`` exists) or the password is short.
    """
    rng = random.Random(seed)
    towns = TOWNS[: max(1, min(len(TOWNS), reps * 2))]
    with db.write() as session, session.begin():
        places = _people_and_territories(session, password=password, reps=reps, towns=towns)
    counts = {"territories": len(places), "reps": reps, "accounts": 0, "contacts": 0, "visits": 0}
    for start in range(0, accounts, BATCH):
        with db.write() as session, session.begin():
            index = IndexWrites(session=session, now=utcnow())
            for _ in range(start, min(accounts, start + BATCH)):
                town, territory_id, rep_id = places[rng.randrange(len(places))]
                _one_account(Demo(session, index, rng, rep_id, counts), town, territory_id)
            session.flush()
            index.flush()
    return counts


def _people_and_territories(
    session: Any, *, password: str, reps: int, towns: tuple[tuple[str, float, float], ...]
) -> list[tuple[tuple[str, float, float], str, str]]:
    """The manager, the reps and one territory per town, dealt round the reps."""
    if session.scalar(select(User.id).where(User.username == "manager")) is not None:
        raise InvalidInput("the demo data is already loaded (user 'manager' exists)")
    admin.add_user(session, username="manager", password=password, role="manager")
    rep_ids = [
        admin.add_user(session, username=f"rep{n}", password=password, role="rep").id
        for n in range(1, reps + 1)
    ]
    features = [
        {"type": "Feature", "geometry": town_polygon(lat, lon), "properties": {"name": name}}
        for name, lat, lon in towns
    ]
    territories = admin.import_territories(
        session, collection={"type": "FeatureCollection", "features": features}
    )
    places = []
    for k, (town, t) in enumerate(zip(towns, territories, strict=True)):
        rep_id = rep_ids[k % len(rep_ids)]
        admin.assign_territory(session, territory_ref=t.id, user_ref=rep_id)
        places.append((town, t.id, rep_id))
    return places


@dataclass
class Demo:
    session: Any
    index: IndexWrites
    rng: random.Random
    rep_id: str
    counts: dict[str, int]

    def synced(self, entity: str, **values: Any) -> dict[str, Any]:
        self.counts[entity + "s"] += 1
        now = self.index.now
        return dict(
            id=new_id(),
            row_version=1,
            field_versions={},
            deleted=False,
            created_by=self.rep_id,
            created_at=now,
            updated_at=now,
            **values,
        )


def _one_account(d: Demo, town: tuple[str, float, float], territory_id: str) -> None:
    name, lat, lon = town
    rng, scope = d.rng, {scope_of_territory(territory_id)}
    acc = Account(
        **d.synced(
            "account",
            name=f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {rng.choice(_SUFFIX)}",
            status=rng.choice(("lead", "prospect", "customer", "customer")),
            tier=rng.choice("ABCC"),
            owner_id=d.rep_id,
            territory_id=territory_id,
            needs_assignment=False,
            tags=[],
            city=name,
            country="SE",
            geocode_source="town",
            lat=round(lat + rng.uniform(-0.15, 0.15), 5),
            lon=round(lon + rng.uniform(-0.25, 0.25), 5),
        )
    )
    d.session.add(acc)
    d.index.stage(scope, "account", acc.id, ChangeOp.UPSERT, 1)
    for _ in range(rng.randint(1, 2)):
        c = Contact(
            **d.synced(
                "contact",
                account_id=acc.id,
                name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                title=rng.choice(("Inköpare", "VD", "Ekonomichef", "")),
            )
        )
        d.session.add(c)
        d.index.stage(scope, "contact", c.id, ChangeOp.UPSERT, 1)
    acc.last_visit_at = _visits(d, acc.id, scope)


def _visits(d: Demo, account_id: str, scope: set[str]) -> str | None:
    """0-3 completed visits in the last 90 days; returns the latest check-in."""
    last = None
    for _ in range(d.rng.randint(0, 3)):
        at = (d.index.now - timedelta(days=d.rng.uniform(1, 90))).isoformat(timespec="microseconds")
        last = max(last or at, at)
        outcome = d.rng.choice(("Order taken", "Interested", "Follow-up needed"))
        v = Visit(
            id=new_id(),
            account_id=account_id,
            rep_id=d.rep_id,
            data={
                "account_id": account_id,
                "status": "completed",
                "checked_in_at": at,
                "outcome": outcome,
            },
            occurred_at_client=at,
            received_at_server=d.index.now,
            review="accepted",
            review_reason="",
        )
        d.session.add(v)
        d.index.stage(scope | {scope_of_user(d.rep_id)}, "visit", v.id, ChangeOp.UPSERT, 1)
        d.counts["visits"] += 1
    return last
