"""The importable/exportable fields of each entity (accounts, contacts, visits, sales)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fieldcrm.errors import InvalidInput


class Kind(StrEnum):
    """How a field's cell text is parsed and checked."""

    TEXT = "text"
    PHONE = "phone"
    EMAIL = "email"
    URL = "url"
    NUMBER = "number"  # decimal, in the file's locale
    INTEGER = "integer"
    MONEY = "money"  # decimal → minor units (cents/öre)
    DATE = "date"
    DATETIME = "datetime"
    LAT = "lat"
    LON = "lon"
    COUNTRY = "country"
    CURRENCY = "currency"
    STATUS = "status"
    TIER = "tier"
    VISIT_STATUS = "visit_status"
    TAGS = "tags"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field an import column can be mapped to."""

    name: str
    kind: Kind
    label: str
    required: bool = False


def _f(name: str, kind: Kind, label: str, required: bool = False) -> FieldSpec:
    return FieldSpec(name, kind, label, required)


T = Kind
_ACCOUNT_REF = (
    _f("account_ref", T.TEXT, "Account (name or external id)", True),
)

FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "accounts": (
        _f("external_id", T.TEXT, "External id"),
        _f("name", T.TEXT, "Name", True),
        _f("status", T.STATUS, "Status"),
        _f("tier", T.TIER, "Tier"),
        _f("owner", T.TEXT, "Owner (name or email)"),
        _f("tags", T.TAGS, "Tags"),
        _f("street", T.TEXT, "Street"),
        _f("postcode", T.TEXT, "Postcode"),
        _f("city", T.TEXT, "City"),
        _f("region", T.TEXT, "Region"),
        _f("country", T.COUNTRY, "Country"),
        _f("lat", T.LAT, "Latitude"),
        _f("lon", T.LON, "Longitude"),
        _f("phone", T.PHONE, "Phone"),
        _f("email", T.EMAIL, "Email"),
        _f("website", T.URL, "Website"),
        _f("notes", T.TEXT, "Notes"),
        _f("contact_name", T.TEXT, "Contact person"),
    ),
    "contacts": (
        *_ACCOUNT_REF,
        _f("name", T.TEXT, "Name", True),
        _f("first_name", T.TEXT, "First name"),
        _f("last_name", T.TEXT, "Last name"),
        _f("title", T.TEXT, "Title"),
        _f("phone", T.PHONE, "Phone"),
        _f("email", T.EMAIL, "Email"),
        _f("notes", T.TEXT, "Notes"),
    ),
    "visits": (
        *_ACCOUNT_REF,
        _f("planned_at", T.DATETIME, "Planned at"),
        _f("checked_in_at", T.DATETIME, "Visited at"),
        _f("status", T.VISIT_STATUS, "Status"),
        _f("duration_min", T.INTEGER, "Duration (min)"),
        _f("outcome", T.TEXT, "Outcome"),
        _f("notes", T.TEXT, "Notes"),
        _f("next_step", T.TEXT, "Next step"),
        _f("follow_up_on", T.DATE, "Follow-up on"),
    ),
    "sales": (
        *_ACCOUNT_REF,
        _f("sold_on", T.DATE, "Date", True),
        _f("amount", T.MONEY, "Amount", True),
        _f("currency", T.CURRENCY, "Currency"),
    ),
}

ENTITIES: tuple[str, ...] = tuple(FIELDS)

# Fields that are satisfied by others when they are mapped (a contact's name from first+last).
ALTERNATIVES: dict[tuple[str, str], tuple[str, ...]] = {
    ("contacts", "name"): ("first_name", "last_name"),
    ("visits", "planned_at"): ("checked_in_at",),
}


def field_specs(entity: str) -> dict[str, FieldSpec]:
    """Return the fields of ``entity`` by name.

    Raises
    ------
    InvalidInput
        If ``entity`` is not one of :data:`ENTITIES`.
    """
    try:
        return {f.name: f for f in FIELDS[entity]}
    except KeyError:
        raise InvalidInput(f"Unknown entity {entity!r}; expected one of {', '.join(ENTITIES)}.") from None
