"""SQLAlchemy models of the local (client) database, with the bookkeeping sync needs.

Every synced row has a UUIDv7 ``id`` made where it is born, ``row_version`` (the server's
per-row counter; 0 for a row not yet acknowledged), a soft-delete flag and ``extra_json``
for fields a newer server sends that this client does not know (kept, never dropped).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fieldcrm.db.types import ISODate, UTCDateTime, utcnow


class Base(DeclarativeBase):
    """Declarative base of the local database."""


class SyncedMixin:
    """Columns every synced row carries."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    row_version: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    extra_json: Mapped[str] = mapped_column(Text, default="{}", nullable=False)


class Meta(Base):
    """Key/value facts about this replica: device_id, protocol and schema versions."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class UserRow(SyncedMixin, Base):
    __tablename__ = "user"
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str] = mapped_column(String(320), default="", nullable=False)
    role: Mapped[str] = mapped_column(String(16), default="rep", nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)


class TerritoryRow(SyncedMixin, Base):
    __tablename__ = "territory"
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    color: Mapped[str] = mapped_column(String(16), default="#3388ff", nullable=False)
    geojson: Mapped[str] = mapped_column(Text, nullable=False)  # geometry, WGS84 lon/lat
    rep_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    region: Mapped[str] = mapped_column(String(200), default="", nullable=False)


class AccountRecord(SyncedMixin, Base):
    __tablename__ = "account"
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="lead", nullable=False)
    tier: Mapped[str] = mapped_column(String(1), default="C", nullable=False)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    territory_id: Mapped[str | None] = mapped_column(ForeignKey("territory.id"), nullable=True)
    tags: Mapped[str] = mapped_column(Text, default="", nullable=False)  # comma-separated
    street: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    postcode: Mapped[str] = mapped_column(String(20), default="", nullable=False)
    city: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    region: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    country: Mapped[str] = mapped_column(String(2), default="SE", nullable=False)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    geocode_source: Mapped[str] = mapped_column(String(16), default="none", nullable=False)
    phone: Mapped[str] = mapped_column(String(40), default="", nullable=False)
    phone_raw: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    phone_valid: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    email: Mapped[str] = mapped_column(String(320), default="", nullable=False)
    email_valid: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    website: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    notes: Mapped[str] = mapped_column(Text, default="", nullable=False)
    last_visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_account_name", "name"),
        Index("ix_account_name_nocase", text("name COLLATE NOCASE"), "id"),
        Index("ix_account_status", "status"),
        Index("ix_account_tier_last_visit", "tier", "last_visit_at"),
        Index("ix_account_territory", "territory_id"),
        Index("ix_account_owner", "owner_id"),
        Index("ix_account_lat_lon", "lat", "lon"),
    )


class ContactRecord(SyncedMixin, Base):
    __tablename__ = "contact"
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    title: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    phone: Mapped[str] = mapped_column(String(40), default="", nullable=False)
    phone_raw: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    phone_valid: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    email: Mapped[str] = mapped_column(String(320), default="", nullable=False)
    email_valid: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    notes: Mapped[str] = mapped_column(Text, default="", nullable=False)


class VisitRecord(SyncedMixin, Base):
    """A visit. Planned visits may change until they are completed or cancelled; after that the
    row is append-only and corrections are ``visit_amendment`` rows (SYNC.md)."""

    __tablename__ = "visit"
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id"), nullable=False)
    rep_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="planned", nullable=False)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    checkin_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    checkin_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    notes: Mapped[str] = mapped_column(Text, default="", nullable=False)
    next_step: Mapped[str] = mapped_column(Text, default="", nullable=False)
    follow_up_on: Mapped[date | None] = mapped_column(ISODate, nullable=True)

    __table_args__ = (
        Index("ix_visit_account_time", "account_id", "checked_in_at"),
        Index("ix_visit_planned", "status", "planned_at"),
        Index("ix_visit_follow_up", "follow_up_on"),
        Index("ix_visit_account_time_status", "account_id", "checked_in_at", "status", "deleted"),
    )


class VisitAmendmentRecord(SyncedMixin, Base):
    __tablename__ = "visit_amendment"
    visit_id: Mapped[str] = mapped_column(ForeignKey("visit.id"), nullable=False, index=True)
    author_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    fields_json: Mapped[str] = mapped_column(Text, nullable=False)


class SaleRecord(SyncedMixin, Base):
    __tablename__ = "sale"
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id"), nullable=False)
    rep_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    sold_on: Mapped[date] = mapped_column(ISODate, nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)

    __table_args__ = (
        Index("ix_sale_account_date", "account_id", "sold_on"),
        Index("ix_sale_date", "sold_on"),
        Index("ix_sale_account_date_amount", "account_id", "sold_on", "currency", "amount_minor", "deleted"),
    )


class OpportunityRecord(SyncedMixin, Base):
    __tablename__ = "opportunity"
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id"), nullable=False, index=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    stage: Mapped[str] = mapped_column(String(16), default="qualify", nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), default="SEK", nullable=False)
    expected_close: Mapped[date | None] = mapped_column(ISODate, nullable=True)


class CadenceRecord(Base):
    """How often each tier should be visited, in days."""

    __tablename__ = "cadence"
    tier: Mapped[str] = mapped_column(String(1), primary_key=True)
    days: Mapped[int] = mapped_column(Integer, nullable=False)


class OutboxRecord(Base):
    """A local change waiting for the server (SYNC.md's outbox), written with the change."""

    __tablename__ = "outbox"
    client_seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mutation_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(36), nullable=False)
    op: Mapped[str] = mapped_column(String(16), nullable=False)  # create|patch|delete|append
    base_version: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    fields_json: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (Index("ix_outbox_state", "state", "client_seq"),)


class BaseCopyRecord(Base):
    """The last server-acknowledged copy of a row, to diff and rebase pending edits."""

    __tablename__ = "base_copy"
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    row_version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    data_json: Mapped[str] = mapped_column(Text, nullable=False)


class ScopeCursorRecord(Base):
    __tablename__ = "scope_cursor"
    scope_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)


class RowScopeRecord(Base):
    __tablename__ = "row_scope"
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    scope_id: Mapped[str] = mapped_column(String(80), primary_key=True)


class GeocodeCacheRecord(Base):
    """Every geocoder answer, so that nothing is asked twice."""

    __tablename__ = "geocode_cache"
    query: Mapped[str] = mapped_column(String(500), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="none", nullable=False)
    raw_json: Mapped[str] = mapped_column(Text, default="{}", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class SettingRecord(Base):
    """User settings that belong with the data (home, office, units, currency, country)."""

    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text, nullable=False)


__all__ = [
    "Base", "Meta", "UserRow", "TerritoryRow", "AccountRecord", "ContactRecord", "VisitRecord",
    "VisitAmendmentRecord", "SaleRecord", "OpportunityRecord", "CadenceRecord", "OutboxRecord",
    "BaseCopyRecord", "ScopeCursorRecord", "RowScopeRecord", "GeocodeCacheRecord", "SettingRecord",
]


class SyncConflictRecord(Base):
    """A same-field conflict (or an edit to a deleted row) the server ruled on: kept vs mine.

    ``status`` is the server's (open, kept, applied); ``resolution`` is the rep's local answer
    (``""``, ``accepted`` = drop my value, ``overridden`` = my value sent again as a new patch).
    """

    __tablename__ = "sync_conflict"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(36), nullable=False)
    field: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), default="field", nullable=False)
    kept_json: Mapped[str] = mapped_column(Text, default="null", nullable=False)
    mine_json: Mapped[str] = mapped_column(Text, default="null", nullable=False)
    mutation_id: Mapped[str] = mapped_column(String(36), default="", nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="open", nullable=False)
    resolution: Mapped[str] = mapped_column(String(16), default="", nullable=False)
    resolution_sent: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    row_version: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[str] = mapped_column(String(40), default="", nullable=False)


class SyncQuarantineRecord(Base):
    """A local edit the server refused because its scope is no longer ours; kept for export."""

    __tablename__ = "sync_quarantine"
    mutation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(36), nullable=False)
    op: Mapped[str] = mapped_column(String(16), nullable=False)
    fields_json: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="open", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # The record's name when it was refused: the record leaves this laptop with the territory.
    name: Mapped[str] = mapped_column(Text, default="", server_default="", nullable=False)


# Indexes the sync client needs on the tables above (declared here so the classes stay as they were).
Index("ix_row_scope_scope", RowScopeRecord.scope_id, RowScopeRecord.entity)
Index("ix_outbox_entity", OutboxRecord.entity, OutboxRecord.entity_id, OutboxRecord.state)
Index("ix_sync_conflict_entity", SyncConflictRecord.entity, SyncConflictRecord.entity_id)
