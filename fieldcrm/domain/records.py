"""Frozen view objects that services return and the UI shows (never ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from fieldcrm.domain.enums import (
    AccountStatus,
    GeocodeSource,
    OpportunityStage,
    Role,
    Tier,
    VisitStatus,
)


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    email: str
    role: Role


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One line of the accounts list: what the list, the map and filters need."""

    id: str
    name: str
    status: AccountStatus
    tier: Tier
    city: str
    region: str
    owner_id: str | None
    owner_name: str
    territory_id: str | None
    territory_name: str
    lat: float | None
    lon: float | None
    last_visit_at: datetime | None
    days_overdue: int | None  # > 0 when a visit is overdue against the tier's cadence


@dataclass(frozen=True, slots=True)
class Account:
    """An account with every editable field."""

    id: str
    name: str
    status: AccountStatus = AccountStatus.LEAD
    tier: Tier = Tier.C
    owner_id: str | None = None
    territory_id: str | None = None
    tags: tuple[str, ...] = ()
    street: str = ""
    postcode: str = ""
    city: str = ""
    region: str = ""
    country: str = "SE"
    lat: float | None = None
    lon: float | None = None
    geocode_source: GeocodeSource = GeocodeSource.NONE
    phone: str = ""
    phone_raw: str = ""
    phone_valid: bool = True
    email: str = ""
    email_valid: bool = True
    website: str = ""
    notes: str = ""
    last_visit_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    row_version: int = 0


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    account_id: str
    name: str
    title: str = ""
    phone: str = ""
    phone_raw: str = ""
    phone_valid: bool = True
    email: str = ""
    email_valid: bool = True
    notes: str = ""
    row_version: int = 0


@dataclass(frozen=True, slots=True)
class Visit:
    id: str
    account_id: str
    rep_id: str | None
    status: VisitStatus
    planned_at: datetime | None = None
    checked_in_at: datetime | None = None
    checkin_lat: float | None = None
    checkin_lon: float | None = None
    duration_min: int | None = None
    outcome: str = ""
    notes: str = ""
    next_step: str = ""
    follow_up_on: date | None = None
    account_name: str = ""


@dataclass(frozen=True, slots=True)
class Territory:
    id: str
    name: str
    geojson: dict  # GeoJSON geometry (Polygon or MultiPolygon), WGS84 lon/lat
    color: str = "#3388ff"
    rep_id: str | None = None
    rep_name: str = ""


@dataclass(frozen=True, slots=True)
class Sale:
    id: str
    account_id: str
    sold_on: date
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Opportunity:
    id: str
    account_id: str
    name: str
    stage: OpportunityStage
    amount_minor: int
    currency: str
    expected_close: date | None = None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One thing that happened with an account, for its timeline."""

    at: datetime
    kind: str  # "visit", "planned", "sale", "opportunity", "contact", "created"
    title: str
    detail: str = ""
    ref_id: str = ""


@dataclass(frozen=True, slots=True)
class AccountFilter:
    """The filters of the accounts list; the map applies the same."""

    text: str = ""
    statuses: frozenset[AccountStatus] = field(default_factory=frozenset)
    tiers: frozenset[Tier] = field(default_factory=frozenset)
    territory_id: str | None = None
    owner_id: str | None = None
    overdue_only: bool = False
