"""A realistic, reproducible demo database: reps, territories, accounts at real towns, a year of work.

Everything is drawn from one seeded random generator (ids included), so the same seed, size,
country and day give the same database. Rows are bulk-inserted in one transaction.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from fieldcrm.db.models import (
    AccountRecord,
    CadenceRecord,
    ContactRecord,
    Meta,
    OpportunityRecord,
    SaleRecord,
    TerritoryRow,
    UserRow,
    VisitRecord,
)
from fieldcrm.db.search_sql import drop_trigger_statements, rebuild_statements, trigger_statements
from fieldcrm.domain.enums import DEFAULT_CADENCE_DAYS, DEFAULT_OUTCOMES
from fieldcrm.errors import InvalidInput
from fieldcrm.geo import gazetteer
from fieldcrm.geo.demo_shapes import cluster_centres, voronoi_cover
from fieldcrm.geo.territory import assign_points

MAX_ACCOUNTS = 100_000
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939")
FIRST = ("Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Anders", "Sara", "Per", "Emma",
         "Nils", "Lena", "Olof", "Ida", "Magnus", "Elin", "Jonas", "Sofia", "Gustav", "Linnea", "Oskar")
LAST = ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
        "Svensson", "Gustafsson", "Lindqvist", "Berg", "Holm", "Lund", "Ström", "Sandberg", "Ek")
TRADES = ("Bygg", "Järn & Färg", "Lantbruk", "Mekaniska", "VVS", "Elektriska", "Trävaror",
          "Maskin", "Livs", "Transport", "Verktyg", "Fastighetsservice", "Plåt", "Trädgård", "Bil")
SUFFIX = {"SE": "AB", "DE": "GmbH", "GB": "Ltd", "FR": "SARL", "SK": "s.r.o.", "NO": "AS",
          "FI": "Oy", "DK": "ApS"}
STREETS = ("Storgatan", "Kungsgatan", "Industrivägen", "Verkstadsgatan", "Järnvägsgatan",
           "Hamngatan", "Skolgatan", "Nygatan", "Företagsvägen", "Lagergatan")
TITLES = ("Inköpschef", "VD", "Butikschef", "Verkstadschef", "Ekonomiansvarig", "Platschef")
NOTES = ("Asked for the spring catalogue.", "Wants a quote on the larger order.",
         "Stock levels low before season.", "Price discussion, competitor cheaper.",
         "New buyer since last visit.", "Happy with last delivery.", "Complaint about lead times.")
NEXT = ("Send quote", "Call back about delivery", "Bring samples", "Book demo", "")
TAGS = ("key-account", "seasonal", "new", "webshop", "chain", "export")


@dataclass(frozen=True)
class DemoSummary:
    accounts: int
    contacts: int
    visits: int
    sales: int
    territories: int
    users: int
    current_user: str


class _Ids:
    """Deterministic UUIDv7s: a fixed clock that ticks per id, random bits from the seeded rng."""

    def __init__(self, rng: random.Random, start_ms: int) -> None:
        self.rng, self.ms = rng, start_ms

    def __call__(self) -> str:
        self.ms += 1
        value = (self.ms << 80) | (0x7 << 76) | (self.rng.getrandbits(12) << 64)
        value |= (0b10 << 62) | self.rng.getrandbits(62)
        return str(uuid.UUID(int=value))


def _phone(rng: random.Random, country: str) -> str:
    if country == "SE":
        return f"+4670{rng.randrange(10**6, 10**7)}"
    import phonenumbers

    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return ""
    digits = str(example.national_number)
    return f"+{example.country_code}{digits[:-4]}{rng.randrange(10000):04d}"


def _users(ids: _Ids, rng: random.Random) -> list[dict[str, Any]]:
    names = rng.sample([f"{f} {last}" for f in FIRST for last in LAST], 6)
    rows = []
    for i, name in enumerate(names):
        first, last = name.split(" ", 1)
        rows.append({"id": ids(), "name": name, "role": "manager" if i == 5 else "rep",
                     "email": f"{first.lower()}.{last.lower().replace('ö', 'o')}@fieldcrm-demo.example"})
    return rows


def _towns(country: str, n: int, rng: random.Random) -> tuple[list[gazetteer.Place], np.ndarray]:
    try:
        places = gazetteer.places(country)
    except ValueError as exc:
        raise InvalidInput(str(exc), {"country": str(exc)}) from exc
    weights = np.array([p.population for p in places], dtype=float) ** 0.8
    nprng = np.random.default_rng(rng.getrandbits(32))
    picks = nprng.choice(len(places), size=n, p=weights / weights.sum())
    return list(places), picks


def build_demo(*, session: Session, accounts: int = 2000, seed: int = 1, country: str = "SE",
               today: date | None = None,
               progress: Callable[[int, int, str], None] | None = None) -> DemoSummary:
    """Fill an empty local database with a demo; commits once at the end.

    Raises
    ------
    InvalidInput
        If the size is out of range, the country is unknown, or the database is not empty.
    """
    if not 1 <= accounts <= MAX_ACCOUNTS:
        raise InvalidInput(f"Demo size must be 1–{MAX_ACCOUNTS:,} accounts.", {"accounts": "out of range"})
    if session.query(AccountRecord.id).limit(1).first() is not None:
        raise InvalidInput("This database already has accounts; build the demo into a new file.")
    report = progress or (lambda done, total, label: None)
    today = today or date.today()
    rng = random.Random(seed)
    now = datetime.combine(today, time(9), UTC)
    ids = _Ids(rng, int(datetime.combine(today - timedelta(days=400), time(), UTC).timestamp() * 1000))
    country = country.upper()
    users = _users(ids, rng)
    reps = [u for u in users if u["role"] == "rep"]
    places, picks = _towns(country, accounts, rng)
    report(1, 6, "Placing accounts")
    nprng = np.random.default_rng(seed)
    base_lat = np.array([places[i].lat for i in picks])
    base_lon = np.array([places[i].lon for i in picks])
    spread = np.array([min(0.08, 0.01 + places[i].population ** 0.5 / 30000) for i in picks])
    lats = base_lat + nprng.normal(0, 1, accounts) * spread
    lons = base_lon + nprng.normal(0, 1, accounts) * spread / np.cos(np.radians(base_lat))
    k = rng.randint(8, 12)
    centres = cluster_centres(lons, lats, k, seed=seed)
    shapes = voronoi_cover(lons, lats, centres, country=country)
    terr_ids = [ids() for _ in range(k)]
    from shapely.geometry import shape

    index = assign_points(lons, lats, list(zip(terr_ids, [shape(s) for s in shapes], strict=True)))
    territories, used = [], set()
    for j, (tid, geom) in enumerate(zip(terr_ids, shapes, strict=True)):
        members = picks[index == j]
        # Named after the territory's largest town that no other territory is named after.
        counts = np.bincount(members, minlength=len(places)) if len(members) else np.zeros(1)
        towns = sorted({places[i] for i in set(members.tolist()) if counts[i] >= 3},
                       key=lambda p: -p.population)
        biggest = next((p for p in towns if p.name not in used), None)
        label = biggest.name if biggest else f"Area {j + 1}"
        used.add(label)
        territories.append({"id": tid, "name": label, "color": COLORS[j % len(COLORS)],
                            "geojson": json.dumps(geom), "rep_id": reps[j % len(reps)]["id"],
                            "region": biggest.region if biggest else ""})
    report(2, 6, "Writing accounts")
    acc_rows, contacts = _accounts(rng, ids, places, picks, lats, lons, index, territories, country, now)
    report(3, 6, "Writing a year of visits and sales")
    visits, sales, opps = _history(rng, ids, acc_rows, now, today)
    _plan_today(rng, ids, acc_rows, visits, reps[0]["id"], now)
    report(4, 6, "Saving")
    # Bulk load without the search triggers, then index everything in one pass: far faster
    # than a trigger per row. All of it is one transaction, so a failure leaves nothing behind.
    session.execute(text("PRAGMA cache_size=-262144"))
    for statement in drop_trigger_statements():
        session.execute(text(statement))
    for model, rows in ((UserRow, users), (TerritoryRow, territories), (AccountRecord, acc_rows),
                        (ContactRecord, contacts), (VisitRecord, visits), (SaleRecord, sales),
                        (OpportunityRecord, opps)):
        for start in range(0, len(rows), 20_000):
            session.execute(insert(model), rows[start:start + 20_000])
    for tier, days in DEFAULT_CADENCE_DAYS.items():
        session.merge(CadenceRecord(tier=tier.value, days=days))
    report(5, 6, "Indexing for search")
    for statement in rebuild_statements() + trigger_statements():
        session.execute(text(statement))
    session.merge(Meta(key="current_user_id", value=reps[0]["id"]))
    session.merge(Meta(key="demo", value=json.dumps({"seed": seed, "country": country, "accounts": accounts})))
    session.commit()
    report(6, 6, "Done")
    return DemoSummary(len(acc_rows), len(contacts), len(visits), len(sales), len(territories),
                       len(users), reps[0]["name"])


def _accounts(rng: random.Random, ids: _Ids, places: list[gazetteer.Place], picks: np.ndarray,
              lats: np.ndarray, lons: np.ndarray, index: np.ndarray, territories: list[dict],
              country: str, now: datetime) -> tuple[list[dict], list[dict]]:
    suffix = SUFFIX.get(country, "Ltd")
    statuses = rng.choices(("customer", "prospect", "lead", "former"), (45, 25, 25, 5), k=len(picks))
    tiers = rng.choices(("A", "B", "C"), (15, 35, 50), k=len(picks))
    rows, contacts = [], []
    for i, pi in enumerate(picks.tolist()):
        place = places[pi]
        t = territories[index[i]] if index[i] >= 0 else None
        name = (f"{place.name} {rng.choice(TRADES)} {suffix}" if rng.random() < 0.6
                else f"{rng.choice(LAST)}s {rng.choice(TRADES)} {suffix}")
        precise = rng.random() < 0.85
        domain = "".join(c for c in gazetteer.fold(name.split(" ")[0]) if c.isalnum()) or "firma"
        aid = ids()
        created = now - timedelta(days=rng.randint(380, 1500), minutes=rng.randint(0, 600))
        rows.append({
            "created_at": created, "updated_at": created,
            "id": aid, "name": name, "status": statuses[i], "tier": tiers[i],
            "owner_id": t["rep_id"] if t else None, "territory_id": t["id"] if t else None,
            "tags": ",".join(rng.sample(TAGS, rng.choice((0, 0, 1, 2)))),
            "street": f"{rng.choice(STREETS)} {rng.randint(1, 120)}",
            "postcode": f"{rng.randint(100, 985)} {rng.randint(10, 99)}" if country == "SE" else "",
            "city": place.name, "region": place.region, "country": country,
            "lat": round(float(lats[i]), 6) if precise else place.lat,
            "lon": round(float(lons[i]), 6) if precise else place.lon,
            "geocode_source": "rooftop" if precise else "town",
            "phone": _phone(rng, country), "phone_raw": "", "phone_valid": True,
            "email": f"info@{domain}{i}.example", "email_valid": True,
            "website": f"https://www.{domain}{i}.example", "notes": "",
        })
        for _ in range(rng.choice((1, 1, 2, 3))):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            contacts.append({"id": ids(), "account_id": aid, "name": f"{first} {last}",
                             "created_at": created, "updated_at": created,
                             "title": rng.choice(TITLES), "phone": _phone(rng, country),
                             "phone_raw": "", "phone_valid": True,
                             "email": f"{gazetteer.fold(first)}.{gazetteer.fold(last)}@{domain}{i}.example",
                             "email_valid": True, "notes": ""})
    return rows, contacts


def _history(rng: random.Random, ids: _Ids, accounts: list[dict], now: datetime,
             today: date) -> tuple[list[dict], list[dict], list[dict]]:
    cadence = {t.value: d for t, d in DEFAULT_CADENCE_DAYS.items()}
    visits, sales, opps = [], [], []
    for acc in accounts:
        if acc["status"] == "lead" and rng.random() < 0.6:
            continue
        gap = cadence[acc["tier"]] * rng.uniform(0.8, 1.6)
        day = rng.uniform(0, gap)
        last = None
        while day < 365:
            at = now - timedelta(days=day, minutes=rng.randint(0, 480))
            visits.append({
                "id": ids(), "account_id": acc["id"], "rep_id": acc["owner_id"], "status": "completed",
                "checked_in_at": at, "checkin_lat": acc["lat"], "checkin_lon": acc["lon"],
                "duration_min": rng.choice((20, 30, 30, 45, 60)), "outcome": rng.choice(DEFAULT_OUTCOMES),
                "notes": rng.choice(NOTES), "next_step": rng.choice(NEXT),
                "follow_up_on": (at + timedelta(days=rng.choice((7, 14, 30)))).date() if rng.random() < 0.2 else None,
            })
            last = at if last is None or at > last else last
            day += gap * rng.uniform(0.7, 1.3)
        acc["last_visit_at"] = last
        if acc["status"] == "customer":
            scale = {"A": 80_000_00, "B": 25_000_00, "C": 6_000_00}[acc["tier"]]
            for _ in range(rng.randint(2, 12)):
                sales.append({"id": ids(), "account_id": acc["id"], "rep_id": acc["owner_id"],
                              "sold_on": today - timedelta(days=rng.randint(0, 364)),
                              "amount_minor": int(scale * rng.lognormvariate(0, 0.6)), "currency": "SEK"})
        if acc["status"] in ("prospect", "customer") and rng.random() < 0.2:
            stage = rng.choice(("qualify", "proposal", "negotiation", "won", "lost"))
            touched = now - timedelta(days=rng.randint(1, 90))
            opps.append({"id": ids(), "account_id": acc["id"], "owner_id": acc["owner_id"],
                         "created_at": touched, "updated_at": touched,
                         "name": f"{rng.choice(TRADES)} order", "stage": stage,
                         "amount_minor": rng.randint(5, 400) * 1000_00, "currency": "SEK",
                         "expected_close": today + timedelta(days=rng.randint(-30, 120))})
    for acc in accounts:
        acc.setdefault("last_visit_at", None)
    return visits, sales, opps


def _plan_today(rng: random.Random, ids: _Ids, accounts: list[dict], visits: list[dict],
                rep_id: str, now: datetime) -> None:
    mine = [a for a in accounts if a["owner_id"] == rep_id]
    for day in range(0, 5):
        for slot, acc in enumerate(rng.sample(mine, min(len(mine), 5))):
            visits.append({"id": ids(), "account_id": acc["id"], "rep_id": rep_id, "status": "planned",
                           "planned_at": now + timedelta(days=day, minutes=90 * slot),
                           "duration_min": 45})
