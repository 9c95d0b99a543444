"""Field specs of every synced entity: which fields a mutation may carry and how to clean them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from fieldcrm.domain.enums import AccountStatus, GeocodeSource, OpportunityStage, Tier, VisitStatus
from fieldcrm.errors import InvalidInput

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class Spec:
    kind: str  # str | enum | bool | int | float | datetime | date | tags | currency | geojson
    nullable: bool = False
    max_len: int = 300
    choices: tuple[str, ...] = ()
    merge: str = "field"  # field (3-way) | max | set


def _s(max_len: int = 300, nullable: bool = False) -> Spec:
    return Spec("str", nullable=nullable, max_len=max_len)


def _e(enum: Any) -> Spec:
    return Spec("enum", choices=tuple(m.value for m in enum))


_PHONE_EMAIL = {
    "phone": _s(40),
    "phone_raw": _s(80),
    "phone_valid": Spec("bool"),
    "email": _s(320),
    "email_valid": Spec("bool"),
    "notes": _s(20_000),
}

SPECS: dict[str, dict[str, Spec]] = {
    "account": {
        "name": _s(300),
        "status": _e(AccountStatus),
        "tier": _e(Tier),
        "owner_id": _s(36, nullable=True),
        "territory_id": _s(64, nullable=True),
        "tags": Spec("tags", merge="set"),
        "street": _s(300),
        "postcode": _s(20),
        "city": _s(120),
        "region": _s(120),
        "country": _s(2),
        "lat": Spec("float", nullable=True),
        "lon": Spec("float", nullable=True),
        "geocode_source": _e(GeocodeSource),
        "website": _s(300),
        "last_visit_at": Spec("datetime", nullable=True, merge="max"),
        **_PHONE_EMAIL,
    },
    "contact": {"account_id": _s(64), "name": _s(300), "title": _s(200), **_PHONE_EMAIL},
    "opportunity": {
        "account_id": _s(64),
        "name": _s(300),
        "stage": _e(OpportunityStage),
        "amount_minor": Spec("int"),
        "currency": Spec("currency"),
        "expected_close": Spec("date", nullable=True),
    },
    "sale": {
        "account_id": _s(64),
        "sold_on": Spec("date"),
        "amount_minor": Spec("int"),
        "currency": Spec("currency"),
    },
    "territory": {
        "name": _s(200),
        "geojson": Spec("geojson"),
        "color": _s(16),
    },
    "visit": {
        "account_id": _s(64),
        "status": _e(VisitStatus),
        "planned_at": Spec("datetime", nullable=True),
        "checked_in_at": Spec("datetime", nullable=True),
        "occurred_at": Spec("datetime", nullable=True),
        "checkin_lat": Spec("float", nullable=True),
        "checkin_lon": Spec("float", nullable=True),
        "duration_min": Spec("int", nullable=True),
        "outcome": _s(200),
        "notes": _s(20_000),
        "next_step": _s(2000),
        "follow_up_on": Spec("date", nullable=True),
    },
}

REQUIRED_ON_CREATE: dict[str, tuple[str, ...]] = {
    "account": ("name",),
    "contact": ("account_id", "name"),
    "opportunity": ("account_id", "name"),
    "sale": ("account_id", "sold_on", "amount_minor", "currency"),
    "territory": ("name", "geojson"),
    "visit": ("account_id",),
}
SERVER_ONLY: dict[str, frozenset[str]] = {
    "account": frozenset({"territory_id", "owner_id"}),
}
"""Fields a rep may never set; managers change them (moving the account between scopes)."""
IMMUTABLE = frozenset({"account_id"})
"""Fields fixed at create: a child never moves to another account."""


def utc_iso(value: datetime) -> str:
    """Normalise an aware datetime to the canonical UTC string (sorts as it compares)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _clean_one(name: str, spec: Spec, value: Any) -> Any:  # noqa: PLR0911
    if value is None:
        if spec.nullable:
            return None
        raise ValueError("may not be null")
    kind = spec.kind
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if len(value) > spec.max_len:
            raise ValueError(f"is longer than {spec.max_len} characters")
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        return value
    if kind == "enum":
        if value not in spec.choices:
            raise ValueError(f"must be one of {', '.join(spec.choices)}")
        return value
    if kind in ("bool", "int", "float"):
        return _clean_scalar(kind, value)
    if kind == "datetime":
        return _clean_datetime(value)
    if kind == "date":
        if not isinstance(value, str):
            raise ValueError("must be a date YYYY-MM-DD")
        return date.fromisoformat(value).isoformat()
    if kind == "currency":
        if not isinstance(value, str) or not _CURRENCY.match(value):
            raise ValueError("must be an ISO 4217 code such as SEK")
        return value
    if kind == "tags":
        return _clean_tags(value)
    if kind == "geojson":
        return clean_geometry(value)
    raise ValueError(f"unknown kind {kind}")  # pragma: no cover


def _clean_scalar(kind: str, value: Any) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer" if kind == "int" else "must be a number")
    if kind == "int":
        if not isinstance(value, int) or abs(value) >= 2**62:
            raise ValueError("must be an integer")
        return value
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return float(value)


def _clean_datetime(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 timestamp with a UTC offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 timestamp with a UTC offset") from None
    if parsed.tzinfo is None:
        raise ValueError("needs a UTC offset (e.g. 2026-05-01T09:30:00+02:00)")
    return utc_iso(parsed)


def _clean_tags(value: Any) -> Any:
    def tag_list(items: Any) -> list[str]:
        if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
            raise ValueError("must be a list of strings")
        if any(len(t) > 100 or "\x00" in t for t in items):
            raise ValueError("has a tag longer than 100 characters or with a NUL")
        return sorted(set(items))

    if isinstance(value, dict):
        unknown = set(value) - {"add", "remove"}
        if unknown:
            raise ValueError("as a set change takes only 'add' and 'remove'")
        return {"add": tag_list(value.get("add", [])), "remove": tag_list(value.get("remove", []))}
    return tag_list(value)


def clean_geometry(value: Any) -> dict[str, Any]:
    """Validate a GeoJSON Polygon/MultiPolygon in lon/lat and repair it with shapely."""
    from shapely import make_valid
    from shapely.geometry import mapping, shape

    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError("must be a GeoJSON Polygon or MultiPolygon")
    try:
        geom = shape(value)
    except Exception as exc:  # shapely raises several types for bad coordinates
        raise ValueError(f"is not valid GeoJSON ({exc})") from None
    if geom.is_empty:
        raise ValueError("is empty")
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise ValueError("has coordinates outside lon -180..180 / lat -90..90")
    if not geom.is_valid:
        geom = make_valid(geom)
    return dict(mapping(geom))


def clean_fields(entity: str, fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Return ``fields`` validated and normalised for ``entity``.

    Raises
    ------
    InvalidInput
        A field is unknown, has a bad value, or a required field is missing; ``errors``
        maps each bad field to its message.
    """
    specs = SPECS[entity]
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name, value in fields.items():
        spec = specs.get(name)
        if spec is None:
            errors[name] = f"unknown field for {entity}"
            continue
        if not creating and name in IMMUTABLE:
            errors[name] = "cannot change after create"
            continue
        if creating and spec.kind == "tags" and isinstance(value, dict):
            errors[name] = "must be a list on create"
            continue
        try:
            out[name] = _clean_one(name, spec, value)
        except ValueError as exc:
            errors[name] = str(exc)
    if creating:
        for name in REQUIRED_ON_CREATE.get(entity, ()):
            if name not in fields:
                errors.setdefault(name, "is required")
    if errors:
        detail = "; ".join(f"{k} {v}" for k, v in sorted(errors.items()))
        raise InvalidInput(f"invalid {entity}: {detail}", errors)
    return out
