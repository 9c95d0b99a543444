"""Account use cases: create, edit, delete, search and filter (each takes a session, returns DTOs)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select, text
from sqlalchemy.orm import Session, aliased

from fieldcrm.db.models import AccountRecord, CadenceRecord, TerritoryRow, UserRow
from fieldcrm.db.outbox import enqueue
from fieldcrm.db.types import utcnow
from fieldcrm.domain.enums import (
    DEFAULT_CADENCE_DAYS,
    AccountStatus,
    GeocodeSource,
    Role,
    Tier,
)
from fieldcrm.domain.ids import new_id
from fieldcrm.domain.records import Account, AccountFilter, AccountRow
from fieldcrm.errors import InvalidInput, NotFound
from fieldcrm.services.validation import check_coordinates, normalise_email, normalise_phone

EDITABLE = (
    "name", "status", "tier", "owner_id", "territory_id", "tags", "street", "postcode", "city",
    "region", "country", "lat", "lon", "geocode_source", "phone", "email", "website", "notes",
)
# The server's column limits (fieldcrm/sync/server/fields.py), checked here so that an edit is
# refused at the form instead of being rejected by the server at the next sync.
MAX_LEN = {"street": 300, "postcode": 20, "city": 120, "region": 120, "website": 300,
           "notes": 20_000}
SORT_KEYS = ("name", "status", "tier", "city", "region", "territory", "owner", "last_visit")


@dataclass(frozen=True, slots=True)
class AccountPage:
    """One page of the filtered, sorted accounts list and the total number that match."""

    rows: tuple[AccountRow, ...]
    total: int


def to_account(rec: AccountRecord) -> Account:
    """Return the DTO of an account row."""
    return Account(
        id=rec.id, name=rec.name, status=AccountStatus(rec.status), tier=Tier(rec.tier),
        owner_id=rec.owner_id, territory_id=rec.territory_id,
        tags=tuple(t for t in rec.tags.split(",") if t), street=rec.street,
        postcode=rec.postcode, city=rec.city, region=rec.region, country=rec.country,
        lat=rec.lat, lon=rec.lon, geocode_source=GeocodeSource(rec.geocode_source),
        phone=rec.phone, phone_raw=rec.phone_raw, phone_valid=rec.phone_valid,
        email=rec.email, email_valid=rec.email_valid, website=rec.website, notes=rec.notes,
        last_visit_at=rec.last_visit_at, created_at=rec.created_at, updated_at=rec.updated_at,
        row_version=rec.row_version,
    )


def _live(session: Session, account_id: str) -> AccountRecord:
    rec = session.get(AccountRecord, account_id)
    if rec is None or rec.deleted:
        raise NotFound("That account does not exist or was deleted.")
    return rec


def get_account(*, session: Session, account_id: str) -> Account:
    """Return one account.

    Raises
    ------
    NotFound
        If there is no such live account.
    """
    return to_account(_live(session, account_id))


def _clean(changes: dict[str, Any], *, country: str, strict: bool) -> dict[str, Any]:
    """Validate and normalise edited account fields; raise InvalidInput naming each bad field."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"Unknown account field(s): {', '.join(sorted(unknown))}.")
    out = dict(changes)
    errors: dict[str, str] = {}
    if "name" in out:
        out["name"] = str(out["name"]).strip()
        if not out["name"]:
            errors["name"] = "Name is required."
        elif len(out["name"]) > 300:
            errors["name"] = "Name is longer than 300 characters."
    for key, enum in (("status", AccountStatus), ("tier", Tier), ("geocode_source", GeocodeSource)):
        if key in out:
            try:
                out[key] = enum(out[key]).value
            except ValueError:
                errors[key] = f"{key.replace('_', ' ').capitalize()} must be one of: " + ", ".join(e.value for e in enum)
    if "tags" in out:
        tags = out["tags"]
        items = tags.split(",") if isinstance(tags, str) else list(tags)
        out["tags"] = ",".join(dict.fromkeys(t.strip() for t in items if t.strip()))
    if "phone" in out:
        phone = normalise_phone(str(out["phone"] or ""), country)
        if strict and not phone.valid:
            errors["phone"] = f"Phone “{phone.raw}” is not a valid number for {country}."
        out.update(phone=phone.value, phone_raw=phone.raw, phone_valid=phone.valid)
    if "email" in out:
        email = normalise_email(str(out["email"] or ""))
        if strict and not email.valid:
            errors["email"] = f"Email “{email.raw}” is not a valid address."
        out.update(email=email.value, email_valid=email.valid)
    if "country" in out:
        out["country"] = str(out["country"] or "").strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", out["country"]):
            errors["country"] = "Country must be a two-letter ISO code, e.g. SE."
    if "lat" in out or "lon" in out:
        errors.update(check_coordinates(out.get("lat"), out.get("lon")))
    for key, limit in MAX_LEN.items():
        if key in out:
            out[key] = str(out[key] or "").strip()
            if len(out[key]) > limit:
                label = key.capitalize()
                errors[key] = f"{label} is longer than {limit:,} characters."
    if len(out.get("phone_raw", "")) > 80:
        errors["phone"] = "Phone is longer than 80 characters."
    if errors:
        first = next(iter(errors.values()))
        raise InvalidInput(first if len(errors) == 1 else f"{len(errors)} fields need attention: {first}", errors)
    return out


def create_account(
    *, session: Session, fields: dict[str, Any], default_country: str = "SE", strict: bool = True
) -> Account:
    """Create an account (and its outbox `create`); commits.

    Raises
    ------
    InvalidInput
        If a field is invalid; ``errors`` names each field.
    """
    data = {"country": default_country, **fields}
    clean = _clean(data, country=str(data["country"]).upper() or default_country, strict=strict)
    if "name" not in clean:
        raise InvalidInput("Name is required.", {"name": "Name is required."})
    if clean.get("lat") is not None and clean.get("geocode_source", "none") == "none":
        clean["geocode_source"] = GeocodeSource.MANUAL.value
    rec = AccountRecord(id=new_id(), **clean)
    session.add(rec)
    session.flush()
    enqueue(session, entity="account", entity_id=rec.id, op="create", fields=_fields_of(rec))
    session.commit()
    return to_account(rec)


def _fields_of(rec: AccountRecord) -> dict[str, Any]:
    extra = ("phone_raw", "phone_valid", "email_valid")
    return {key: getattr(rec, key) for key in (*EDITABLE, *extra)}


def update_account(*, session: Session, account_id: str, changes: dict[str, Any]) -> Account:
    """Apply edited fields to an account; only fields that really changed go to the outbox.

    Raises
    ------
    NotFound
        If the account does not exist.
    InvalidInput
        If a field is invalid.
    """
    rec = _live(session, account_id)
    clean = _clean(changes, country=str(changes.get("country", rec.country)), strict=True)
    if ("lat" in clean or "lon" in clean) and "geocode_source" not in clean:
        clean["geocode_source"] = GeocodeSource.MANUAL.value
    changed = {k: v for k, v in clean.items() if getattr(rec, k) != v}
    if not changed:
        return to_account(rec)
    for key, value in changed.items():
        setattr(rec, key, value)
    rec.updated_at = utcnow()
    enqueue(session, entity="account", entity_id=rec.id, op="patch", fields=changed,
            base_version=rec.row_version)
    session.commit()
    return to_account(rec)


def delete_account(*, session: Session, account_id: str, actor_role: Role) -> None:
    """Soft-delete an account (managers only, as on the server); commits.

    Raises
    ------
    InvalidInput
        If the actor is not a manager or admin.
    """
    if actor_role not in (Role.MANAGER, Role.ADMIN):
        raise InvalidInput("Only a manager can delete an account.")
    rec = _live(session, account_id)
    rec.deleted = True
    rec.updated_at = utcnow()
    enqueue(session, entity="account", entity_id=rec.id, op="delete", fields={},
            base_version=rec.row_version)
    session.commit()


def cadence_days(session: Session) -> dict[str, int]:
    """Return the visit cadence in days per tier (defaults where not set)."""
    days = {t.value: d for t, d in DEFAULT_CADENCE_DAYS.items()}
    for rec in session.scalars(select(CadenceRecord)):
        days[rec.tier] = rec.days
    return days


def fts_query(text_: str) -> str:
    """Turn what a user typed into an FTS5 prefix query (every word must match)."""
    words = re.findall(r"\w+", text_, flags=re.UNICODE)
    return " ".join(f'"{w}"*' for w in words[:12])


def _text_condition(query: str):  # type: ignore[no-untyped-def]
    # One set of matching account ids (a UNION), probed by primary key: an OR of three INs
    # would make SQLite test every account row.
    ids = text(
        "account.id IN ("
        "SELECT a.id FROM account AS a WHERE a.rowid IN "
        "(SELECT rowid FROM account_fts WHERE account_fts MATCH :q) "
        "UNION SELECT c.account_id FROM contact AS c WHERE c.rowid IN "
        "(SELECT rowid FROM contact_fts WHERE contact_fts MATCH :q) "
        "UNION SELECT v.account_id FROM visit AS v WHERE v.rowid IN "
        "(SELECT rowid FROM visit_fts WHERE visit_fts MATCH :q))"
    )
    return ids, {"q": query}


def _overdue_condition(cadence: dict[str, int], now: datetime):  # type: ignore[no-untyped-def]
    parts = []
    for tier, days in cadence.items():
        cut = now - timedelta(days=days)
        parts.append(and_(AccountRecord.tier == tier,
                          or_(AccountRecord.last_visit_at.is_(None), AccountRecord.last_visit_at < cut)))
    return or_(*parts) if parts else false()


def filtered(flt: AccountFilter, cadence: dict[str, int], now: datetime) -> tuple[Select, dict[str, str]]:
    """Return a SELECT of matching account ids (and its bind parameters) for a filter."""
    stmt = select(AccountRecord.id).where(AccountRecord.deleted.is_(False))
    params: dict[str, str] = {}
    if flt.text.strip():
        query = fts_query(flt.text)
        if query:
            cond, params = _text_condition(query)
            stmt = stmt.where(cond)
    if flt.statuses:
        stmt = stmt.where(AccountRecord.status.in_([s.value for s in flt.statuses]))
    if flt.tiers:
        stmt = stmt.where(AccountRecord.tier.in_([t.value for t in flt.tiers]))
    if flt.territory_id:
        stmt = stmt.where(AccountRecord.territory_id == flt.territory_id)
    if flt.owner_id:
        stmt = stmt.where(AccountRecord.owner_id == flt.owner_id)
    if flt.overdue_only:
        stmt = stmt.where(_overdue_condition(cadence, now))
    return stmt, params


def days_overdue(last_visit_at: datetime | None, tier: str, cadence: dict[str, int], now: datetime) -> int | None:
    """Return how many days past its cadence an account is (None if never visited)."""
    if last_visit_at is None:
        return None
    return (now - last_visit_at).days - cadence.get(tier, 30)


def query_accounts(
    *,
    session: Session,
    flt: AccountFilter,
    sort: str = "name",
    descending: bool = False,
    offset: int = 0,
    limit: int = 200,
    now: datetime | None = None,
) -> AccountPage:
    """Return one page of accounts matching ``flt``, sorted, with the total count."""
    now = now or utcnow()
    cadence = cadence_days(session)
    ids, params = filtered(flt, cadence, now)
    total = int(session.scalar(select(func.count()).select_from(ids.subquery()), params) or 0)
    owner, terr = aliased(UserRow), aliased(TerritoryRow)
    order = {
        "name": AccountRecord.name, "status": AccountRecord.status, "tier": AccountRecord.tier,
        "city": AccountRecord.city, "region": AccountRecord.region, "territory": terr.name,
        "owner": owner.name, "last_visit": AccountRecord.last_visit_at,
    }.get(sort, AccountRecord.name)
    if sort in ("name", "city", "region"):
        order = order.collate("NOCASE")  # Åby after aby, not after every capital
    stmt = (
        select(AccountRecord.id, AccountRecord.name, AccountRecord.status, AccountRecord.tier,
               AccountRecord.city, AccountRecord.region, AccountRecord.owner_id, owner.name,
               AccountRecord.territory_id, terr.name, AccountRecord.lat, AccountRecord.lon,
               AccountRecord.last_visit_at)
        .outerjoin(owner, owner.id == AccountRecord.owner_id)
        .outerjoin(terr, terr.id == AccountRecord.territory_id)
        .where(ids.whereclause)
        .order_by(order.desc() if descending else order.asc(), AccountRecord.id)
        .offset(offset).limit(limit)
    )
    rows = tuple(
        AccountRow(r[0], r[1], AccountStatus(r[2]), Tier(r[3]), r[4], r[5], r[6], r[7] or "",
                   r[8], r[9] or "", r[10], r[11], r[12], days_overdue(r[12], r[3], cadence, now))
        for r in session.execute(stmt, params)
    )
    return AccountPage(rows, total)


def matching_ids(*, session: Session, flt: AccountFilter, now: datetime | None = None) -> list[str]:
    """Return the ids of every account matching ``flt`` (for the map)."""
    now = now or utcnow()
    stmt, params = filtered(flt, cadence_days(session), now)
    return list(session.scalars(stmt, params))
