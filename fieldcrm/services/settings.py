"""The rep's settings that live with the data: home and office, country, currency, units, cadence."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldcrm.db.models import CadenceRecord, Meta, SettingRecord, UserRow
from fieldcrm.domain.enums import DEFAULT_CADENCE_DAYS, DEFAULT_OUTCOMES, Role, Tier
from fieldcrm.domain.records import User
from fieldcrm.errors import InvalidInput
from fieldcrm.services.validation import check_coordinates


@dataclass(frozen=True, slots=True)
class Place:
    label: str = ""
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    home: Place = field(default_factory=Place)
    office: Place = field(default_factory=Place)
    default_country: str = "SE"
    currency: str = "SEK"
    units: str = "km"  # or "mi"
    outcomes: tuple[str, ...] = DEFAULT_OUTCOMES
    cadence: dict[str, int] = field(default_factory=lambda: {t.value: d for t, d in DEFAULT_CADENCE_DAYS.items()})
    timezone: str = "Europe/Stockholm"
    geocoder_online: bool = False  # off by default: nothing leaves the laptop unless asked
    geocoder_provider: str = "nominatim"
    geocoder_domain: str = "nominatim.openstreetmap.org"
    geocoder_scheme: str = "https"
    geocoder_user_agent: str = "fieldcrm/0.1 (offline-first field sales CRM)"


_GEOCODER_KEYS = ("geocoder_online", "geocoder_provider", "geocoder_domain", "geocoder_scheme",
                  "geocoder_user_agent")


def load_settings(*, session: Session) -> Settings:
    """Return the stored settings, defaults where none are stored."""
    stored: dict[str, Any] = {r.key: json.loads(r.value_json) for r in session.scalars(select(SettingRecord))}
    base = Settings()
    kwargs: dict[str, Any] = {}
    for key in ("default_country", "currency", "units", "timezone", *_GEOCODER_KEYS):
        if key in stored:
            kwargs[key] = stored[key]
    for key in ("home", "office"):
        if key in stored:
            kwargs[key] = Place(**stored[key])
    if "outcomes" in stored:
        kwargs["outcomes"] = tuple(stored["outcomes"])
    cadence = dict(base.cadence)
    cadence.update({r.tier: r.days for r in session.scalars(select(CadenceRecord))})
    return replace(base, cadence=cadence, **kwargs)


def _validate(s: Settings) -> None:
    errors: dict[str, str] = {}
    for key in ("home", "office"):
        place: Place = getattr(s, key)
        for f, msg in check_coordinates(place.lat, place.lon).items():
            errors[f"{key}_{f}"] = msg
    if len(s.default_country) != 2 or not s.default_country.isalpha():
        errors["default_country"] = "Country must be a two-letter code, e.g. SE."
    if len(s.currency) != 3 or not s.currency.isalpha():
        errors["currency"] = "Currency must be a three-letter ISO 4217 code, e.g. SEK."
    if s.units not in ("km", "mi"):
        errors["units"] = "Units must be km or mi."
    for tier, days in s.cadence.items():
        if tier not in {t.value for t in Tier} or not 1 <= int(days) <= 3650:
            errors[f"cadence_{tier}"] = f"Cadence for tier {tier} must be 1–3650 days."
    if not s.outcomes or any(not o.strip() for o in s.outcomes):
        errors["outcomes"] = "Give at least one outcome, none empty."
    errors.update(_geocoder_errors(s))
    if errors:
        raise InvalidInput(next(iter(errors.values())), errors)


def _geocoder_errors(s: Settings) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not s.geocoder_provider.strip().isidentifier():
        errors["geocoder_provider"] = "Geocoder must be a geopy service name, e.g. nominatim."
    if s.geocoder_scheme not in ("https", "http"):
        errors["geocoder_scheme"] = "Geocoder scheme must be https or http."
    if s.geocoder_online and s.geocoder_provider == "nominatim" and not s.geocoder_domain.strip():
        errors["geocoder_domain"] = "Give the Nominatim server, e.g. nominatim.openstreetmap.org."
    if s.geocoder_online and not s.geocoder_user_agent.strip():
        errors["geocoder_user_agent"] = "Give a user agent that identifies you (Nominatim's policy)."
    return errors


def save_settings(*, session: Session, settings: Settings) -> Settings:
    """Validate and store the settings; commits.

    Raises
    ------
    InvalidInput
        If a value is invalid (``errors`` names each field).
    """
    s = replace(settings, default_country=settings.default_country.upper(),
                currency=settings.currency.upper())
    _validate(s)
    values = {"home": asdict(s.home), "office": asdict(s.office), "default_country": s.default_country,
              "currency": s.currency, "units": s.units, "outcomes": list(s.outcomes), "timezone": s.timezone,
              **{k: getattr(s, k) for k in _GEOCODER_KEYS}}
    for key, value in values.items():
        session.merge(SettingRecord(key=key, value_json=json.dumps(value)))
    for tier, days in s.cadence.items():
        session.merge(CadenceRecord(tier=tier, days=int(days)))
    session.commit()
    return s


def list_users(*, session: Session) -> list[User]:
    """Return the active users (reps and managers), by name."""
    stmt = select(UserRow).where(UserRow.deleted.is_(False), UserRow.active.is_(True)).order_by(UserRow.name)
    return [User(u.id, u.name, u.email, Role(u.role)) for u in session.scalars(stmt)]


def current_user(*, session: Session) -> User | None:
    """Return the user this laptop belongs to (set at login or by the demo)."""
    meta = session.get(Meta, "current_user_id")
    if meta is None:
        return None
    row = session.get(UserRow, meta.value)
    return None if row is None else User(row.id, row.name, row.email, Role(row.role))


def set_current_user(*, session: Session, user_id: str) -> None:
    """Record which user this laptop belongs to; commits."""
    session.merge(Meta(key="current_user_id", value=user_id))
    session.commit()
