"""Import accounts, contacts, visits and sales from a CSV/XLSX file in one transaction."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldcrm.dataio.mapping import Preset, apply_preset, as_mapping, check_mapping, suggest_mapping
from fieldcrm.dataio.readers import Table, read_table
from fieldcrm.dataio.validate import ERROR, WARNING, Issue, Options, Validated, validate_rows
from fieldcrm.db.models import (
    AccountRecord,
    ContactRecord,
    SaleRecord,
    VisitRecord,
)
from fieldcrm.db.outbox import enqueue
from fieldcrm.db.types import utcnow
from fieldcrm.domain.enums import GeocodeSource, VisitStatus
from fieldcrm.domain.ids import new_id
from fieldcrm.errors import Cancelled
from fieldcrm.geo.dedupe import find_duplicates
from fieldcrm.geo.geocode import Address, GazetteerGeocoder
from fieldcrm.services.bulk_write import enqueue_many, insert_indexed, insert_rows
from fieldcrm.services.import_match import AccountIndex, AccountRefs

Progress = Callable[[int, int], None]
IsCancelled = Callable[[], bool]
_CHUNK = 5_000
ACCOUNT_FIELDS = ("name", "status", "tier", "tags", "street", "postcode", "city", "region",
                  "country", "lat", "lon", "geocode_source", "phone", "phone_raw", "phone_valid",
                  "email", "email_valid", "website", "notes")
_ADDRESS = ("street", "postcode", "city", "region", "country")


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did. ``rejected`` are indices into the table's rows (for the rejects file)."""

    entity: str
    created: int
    updated: int
    rejected: tuple[int, ...]
    issues: tuple[Issue, ...]
    geocoded: int = 0
    not_located: int = 0
    contacts_created: int = 0
    seconds: float = 0.0

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == ERROR)


def load_table(path: str | os.PathLike[str], *, encoding: str | None = None,
               delimiter: str | None = None, sheet: str | None = None,
               progress: Progress | None = None, cancelled: IsCancelled | None = None) -> Table:
    """Read a CSV/XLSX file (see :func:`fieldcrm.dataio.readers.read_table`)."""
    return read_table(path, encoding=encoding, delimiter=delimiter, sheet=sheet,
                      progress=progress, cancelled=cancelled)


def mapping_for(table: Table, entity: str, preset: Preset | None = None) -> dict[int, str]:
    """Return the column → field mapping: the preset's, else matched from the headers."""
    matches = apply_preset(table.headers, preset) if preset else suggest_mapping(table.headers, entity)
    return as_mapping(matches)


@dataclass
class _Stage:
    """Maps one stage's (done, total) into the whole import's progress, and checks for cancel."""

    progress: Progress | None
    cancelled: IsCancelled | None
    base: int = 0
    span: int = 100

    def __call__(self, done: int, total: int) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled("Import cancelled.")
        if self.progress:
            self.progress(self.base + (self.span * done) // max(total, 1), 100)

    def check(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled("Import cancelled.")


@dataclass
class _Result:
    created: int = 0
    updated: int = 0
    geocoded: int = 0
    not_located: int = 0
    contacts: int = 0
    issues: list[Issue] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)


def import_table(
    *,
    session: Session,
    table: Table,
    entity: str,
    mapping: dict[int, str],
    options: Options | None = None,
    update_existing: bool = False,
    geocode: bool = True,
    check_duplicates: bool = True,
    progress: Progress | None = None,
    cancelled: IsCancelled | None = None,
) -> ImportReport:
    """Validate and write the valid rows of ``table``; commits once at the end.

    Valid rows are written, invalid ones are reported (row, column, reason). Accounts without
    coordinates are placed at their town by the offline gazetteer. With ``update_existing``,
    an account row that matches a stored account (same normalised name and town, else the
    same email, else the same phone) updates it instead of creating a twin; otherwise, with
    ``check_duplicates``, new accounts that look like stored ones get a warning. Progress goes
    0-100. Everything is one transaction: an error or a cancel writes nothing.

    Raises
    ------
    InvalidInput
        If the mapping is invalid or misses a required field.
    Cancelled
        If ``cancelled()`` turns true (nothing is written).
    """
    started = time.perf_counter()
    options = options or Options()
    check_mapping(entity, mapping, len(table.headers))
    validated = validate_rows(table, entity, mapping, options=options,
                              progress=_Stage(progress, cancelled, 0, 40), cancelled=cancelled)
    stage = _Stage(progress, cancelled, 40, 60)
    result = _Result(issues=list(validated.issues), rejected=list(validated.rejected))
    writers = {"accounts": _write_accounts, "contacts": _write_contacts,
               "visits": _write_visits, "sales": _write_sales}
    try:
        writers[entity](session, table, mapping, validated, result, stage,
                        update_existing=update_existing, geocode=geocode, options=options,
                        check_duplicates=check_duplicates)
        stage.check()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if progress:
        progress(100, 100)
    return ImportReport(entity, result.created, result.updated, tuple(sorted(result.rejected)),
                        tuple(sorted(result.issues, key=lambda i: i.row)), result.geocoded,
                        result.not_located, result.contacts, time.perf_counter() - started)


def _account_values(record: dict[str, Any]) -> dict[str, Any]:
    values = {k: record[k] for k in ACCOUNT_FIELDS if k in record}
    for key in ("status", "tier"):
        if key in values:
            values[key] = values[key].value
    if "tags" in values:
        values["tags"] = ",".join(values["tags"])
    if values.get("lat") is not None and "geocode_source" not in values:
        values["geocode_source"] = GeocodeSource.MANUAL.value
    return values


def _geocode_new(values: list[dict[str, Any]], options: Options, result: _Result,
                 stage: _Stage) -> None:
    missing = [v for v in values if v.get("lat") is None and (v.get("city") or v.get("street"))]
    geocoder = GazetteerGeocoder(options.default_country)
    addresses = [Address(*(str(v.get(k) or "") for k in _ADDRESS)) for v in missing]
    found = geocoder.geocode_many(addresses, progress=stage)
    for target, hit in zip(missing, found, strict=True):
        if hit is not None:
            target.update(lat=hit.lat, lon=hit.lon, geocode_source=GeocodeSource.TOWN.value)
            result.geocoded += 1
    result.not_located = sum(1 for v in values if v.get("lat") is None)


def _write_accounts(session: Session, table: Table, mapping: dict[int, str], validated: Validated,
                    result: _Result, stage: _Stage, *, update_existing: bool, geocode: bool,
                    options: Options, check_duplicates: bool) -> None:
    index = AccountIndex(session) if update_existing else None
    unused = {"owner": "owners are not imported: a manager assigns them",
              "external_id": "ids of the other system are not kept (no place for them yet)"}
    for column, name in sorted(mapping.items()):
        if name in unused and validated.records:  # said once, not on every row
            result.issues.append(Issue(validated.records[0]["_row"], table.headers[column], name,
                                       unused[name], WARNING))
    new_rows: list[dict[str, Any]] = []
    new_numbers: list[int] = []
    contacts: list[tuple[str, str]] = []
    for i, record in enumerate(validated.records):
        if i % _CHUNK == 0:
            stage.check()
        values = _account_values(record)
        existing = index.match(record) if index else None
        if existing:
            _update_account(session, existing, values, result)
        else:
            values["id"] = new_id()
            new_rows.append(values)
            new_numbers.append(record["_row"])
        if record.get("contact_name"):
            contacts.append((existing or values["id"], record["contact_name"]))
    if check_duplicates:
        _flag_duplicates(session, new_rows, new_numbers, result)
    if geocode:
        _geocode_new(new_rows, options, result, _Stage(stage.progress, stage.cancelled, 45, 10))
    insert_indexed(session, AccountRecord, new_rows, _Stage(stage.progress, stage.cancelled, 55, 20))
    enqueue_many(session, "account", [
        (row["id"], "create", {k: row[k] for k in ACCOUNT_FIELDS if k in row}) for row in new_rows
    ], _Stage(stage.progress, stage.cancelled, 75, 20))
    result.created = len(new_rows)
    _add_contacts(session, contacts, result)


_PRECISE = (GeocodeSource.MANUAL.value, GeocodeSource.ROOFTOP.value, GeocodeSource.STREET.value)


def _flag_duplicates(session: Session, rows: list[dict[str, Any]], numbers: list[int],
                     result: _Result) -> None:
    """Warn about new accounts that look like stored ones (they are imported all the same)."""
    stored = session.execute(select(
        AccountRecord.id, AccountRecord.name, AccountRecord.phone, AccountRecord.email,
        AccountRecord.website, AccountRecord.lat, AccountRecord.lon, AccountRecord.geocode_source,
    ).where(AccountRecord.deleted.is_(False))).all()
    if not stored or not rows:
        return
    names = {r.id: r.name for r in stored}
    columns: dict[str, list[Any]] = {k: [] for k in ("ids", "names", "phones", "emails", "sites",
                                                     "lats", "lons")}
    for r in stored:
        precise = r.geocode_source in _PRECISE  # town centres would make every shop a neighbour
        for key, value in zip(columns, (r.id, r.name, r.phone, r.email, r.website,
                                        r.lat if precise else None, r.lon if precise else None),
                              strict=True):
            columns[key].append(value)
    for i, row in enumerate(rows):
        for key, value in zip(columns, (f"#{i}", row["name"], row.get("phone", ""),
                                        row.get("email", ""), row.get("website", ""),
                                        row.get("lat"), row.get("lon")), strict=True):
            columns[key].append(value)
    sides = [0] * len(stored) + [1] * len(rows)
    for pair in find_duplicates(*columns.values(), sides=sides):
        new, old = (pair.a, pair.b) if pair.a.startswith("#") else (pair.b, pair.a)
        reasons = ", ".join(pair.reasons)
        result.issues.append(Issue(numbers[int(new[1:])], "", "name",
                                   f"may be the same as the stored account {names[old]!r} "
                                   f"({reasons})", WARNING))


def _update_account(session: Session, account_id: str, values: dict[str, Any], result: _Result) -> None:
    rec = session.get(AccountRecord, account_id)
    assert rec is not None
    if rec.lat is not None and rec.geocode_source == GeocodeSource.MANUAL.value:
        values = {k: v for k, v in values.items() if k not in ("lat", "lon", "geocode_source")}
    changed = {k: v for k, v in values.items() if getattr(rec, k) != v}
    if not changed:
        return
    for key, value in changed.items():
        setattr(rec, key, value)
    rec.updated_at = utcnow()
    enqueue(session, entity="account", entity_id=rec.id, op="patch", fields=changed,
            base_version=rec.row_version)
    result.updated += 1


def _add_contacts(session: Session, contacts: list[tuple[str, str]], result: _Result) -> None:
    """Add each account's contact person, unless the account already has a contact so named
    (a re-import in update mode must not add the same person again)."""
    accounts = sorted({a for a, _ in contacts})
    known: set[tuple[str, str]] = set()
    for start in range(0, len(accounts), 900):  # SQLite caps the number of bound values
        known.update((a, n) for a, n in session.execute(
            select(ContactRecord.account_id, ContactRecord.name).where(
                ContactRecord.deleted.is_(False),
                ContactRecord.account_id.in_(accounts[start:start + 900]))))
    rows = [{"id": new_id(), "account_id": account_id, "name": name[:200]}
            for account_id, name in dict.fromkeys(contacts) if (account_id, name[:200]) not in known]
    stage = _Stage(None, None)
    insert_rows(session, ContactRecord, rows, stage)
    enqueue_many(session, "contact", [
        (row["id"], "create", {"account_id": row["account_id"], "name": row["name"]}) for row in rows
    ], stage)
    result.contacts = len(rows)


def _with_accounts(session: Session, table: Table, mapping: dict[int, str], validated: Validated,
                   result: _Result) -> list[tuple[str, dict[str, Any]]]:
    """Return (account id, record) for records whose account is found; reject the others."""
    refs = AccountRefs(session)
    column = table.headers[next(c for c, f in mapping.items() if f == "account_ref")]
    index_of = {n: i for i, n in enumerate(table.row_numbers)}
    out = []
    for record in validated.records:
        account_id, why = refs.resolve(record["account_ref"])
        if account_id is None:
            result.issues.append(Issue(record["_row"], column, "account_ref", why))
            result.rejected.append(index_of[record["_row"]])
        else:
            out.append((account_id, record))
    return out


def _write_contacts(session: Session, table: Table, mapping: dict[int, str], validated: Validated,
                    result: _Result, stage: _Stage, **_: Any) -> None:
    keys = ("name", "title", "phone", "phone_raw", "phone_valid", "email", "email_valid", "notes")
    rows = [{"id": new_id(), "account_id": account_id, **{k: r[k] for k in keys if k in r}}
            for account_id, r in _with_accounts(session, table, mapping, validated, result)]
    insert_rows(session, ContactRecord, rows, stage)
    enqueue_many(session, "contact", [
        (row["id"], "create", {k: v for k, v in row.items() if k != "id"}) for row in rows
    ], stage)
    result.created = len(rows)


def _write_visits(session: Session, table: Table, mapping: dict[int, str], validated: Validated,
                  result: _Result, stage: _Stage, **_: Any) -> None:
    keys = ("planned_at", "checked_in_at", "duration_min", "outcome", "notes", "next_step",
            "follow_up_on")
    rows = []
    last_visit: dict[str, datetime] = {}
    for account_id, record in _with_accounts(session, table, mapping, validated, result):
        status = record.get("status") or (
            VisitStatus.COMPLETED if record.get("checked_in_at") else VisitStatus.PLANNED)
        row = {"id": new_id(), "account_id": account_id, "rep_id": None, "status": status.value,
               **{k: record[k] for k in keys if k in record}}
        if status is VisitStatus.COMPLETED and row.get("checked_in_at") is None:
            row["checked_in_at"] = row.get("planned_at")
        when = row.get("checked_in_at")
        if status is VisitStatus.COMPLETED and when:
            last_visit[account_id] = max(when, last_visit.get(account_id, when))
        rows.append(row)
    insert_rows(session, VisitRecord, rows, stage)
    enqueue_many(session, "visit", [
        (row["id"], "append" if row["status"] == VisitStatus.COMPLETED.value else "create",
         {k: v for k, v in row.items() if k != "id"}) for row in rows
    ], stage)
    for account_id, when in last_visit.items():
        account = session.get(AccountRecord, account_id)
        if account is not None and (account.last_visit_at is None or when > account.last_visit_at):
            account.last_visit_at = when  # derived, as log_visit does
    result.created = len(rows)


def _write_sales(session: Session, table: Table, mapping: dict[int, str], validated: Validated,
                 result: _Result, stage: _Stage, **_: Any) -> None:
    rows = [{"id": new_id(), "account_id": account_id, "rep_id": None, "sold_on": r["sold_on"],
             "amount_minor": r["amount"], "currency": r["currency"]}
            for account_id, r in _with_accounts(session, table, mapping, validated, result)]
    insert_rows(session, SaleRecord, rows, stage)
    enqueue_many(session, "sale", [
        (row["id"], "create", {k: v for k, v in row.items() if k not in ("id", "rep_id")})
        for row in rows
    ], stage)
    result.created = len(rows)
