"""SQLAlchemy tables of the sync server (its own schema; never the client's ``fieldcrm.db``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonType = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (stored naive UTC) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ServerMeta(Base):
    """Key/value facts every worker must share (the generated token secret)."""

    __tablename__ = "server_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Device(Base):
    __tablename__ = "device"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class RefreshToken(Base):
    __tablename__ = "refresh_token"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("device.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class LoginAttempt(Base):
    """Failed logins per ``username|ip`` in a fixed window (shared by every worker)."""

    __tablename__ = "login_attempt"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class ScopeCounter(Base):
    __tablename__ = "scope_counter"
    scope_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_version: Mapped[int] = mapped_column(BigInteger, default=0)
    low_water: Mapped[int] = mapped_column(BigInteger, default=0)
    epoch: Mapped[int] = mapped_column(Integer, default=1)


class SyncIndex(Base):
    """Latest op per entity per scope; ``row_version`` feeds the verify digest."""

    __tablename__ = "sync_index"
    scope_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    op: Mapped[str] = mapped_column(String(8))
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (Index("ix_sync_index_scope_version", "scope_id", "version"),)


class SyncedRow:
    """Columns every mutable synced row carries (SYNC.md: row_version, field_versions, deleted)."""

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    field_versions: Mapped[dict[str, int]] = mapped_column(JsonType, default=dict)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Territory(SyncedRow, Base):
    __tablename__ = "territory"
    name: Mapped[str] = mapped_column(String(200))
    geojson: Mapped[dict[str, Any]] = mapped_column(JsonType)
    color: Mapped[str] = mapped_column(String(16), default="#3388ff")
    rep_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class TerritoryAssignment(Base):
    __tablename__ = "territory_assignment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    territory_id: Mapped[str] = mapped_column(ForeignKey("territory.id"), index=True)
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    valid_to: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Account(SyncedRow, Base):
    __tablename__ = "account"
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="lead")
    tier: Mapped[str] = mapped_column(String(2), default="C")
    owner_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    territory_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    needs_assignment: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[list[str]] = mapped_column(JsonType, default=list)
    street: Mapped[str] = mapped_column(String(300), default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    region: Mapped[str] = mapped_column(String(120), default="")
    country: Mapped[str] = mapped_column(String(2), default="SE")
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    geocode_source: Mapped[str] = mapped_column(String(16), default="none")
    phone: Mapped[str] = mapped_column(String(40), default="")
    phone_raw: Mapped[str] = mapped_column(String(80), default="")
    phone_valid: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    email_valid: Mapped[bool] = mapped_column(Boolean, default=True)
    website: Mapped[str] = mapped_column(String(300), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    last_visit_at: Mapped[str | None] = mapped_column(String(40), nullable=True)


class Contact(SyncedRow, Base):
    __tablename__ = "contact"
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    phone_raw: Mapped[str] = mapped_column(String(80), default="")
    phone_valid: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    email_valid: Mapped[bool] = mapped_column(Boolean, default=True)
    notes: Mapped[str] = mapped_column(Text, default="")


class Opportunity(SyncedRow, Base):
    __tablename__ = "opportunity"
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(300))
    stage: Mapped[str] = mapped_column(String(16), default="qualify")
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="SEK")
    expected_close: Mapped[str | None] = mapped_column(String(10), nullable=True)


class Sale(SyncedRow, Base):
    __tablename__ = "sale"
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    sold_on: Mapped[str] = mapped_column(String(10))
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="SEK")


class Visit(Base):
    """Append-only field work; ``review`` is accepted or needs_review, never dropped."""

    __tablename__ = "visit"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    rep_id: Mapped[str] = mapped_column(String(36), index=True)
    device_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    occurred_at_client: Mapped[str | None] = mapped_column(String(40), nullable=True)
    received_at_server: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    review: Mapped[str] = mapped_column(String(16), default="accepted")
    review_reason: Mapped[str] = mapped_column(String(200), default="")
    """Why the server flagged the visit (kept after a manager's decision)."""
    reviewed_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    """The manager who last accepted or dismissed it (a user id; the CLI's "server admin")."""
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    review_note: Mapped[str | None] = mapped_column(String(200), nullable=True)


class VisitAmendment(Base):
    __tablename__ = "visit_amendment"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    visit_id: Mapped[str] = mapped_column(String(64), index=True)
    rep_id: Mapped[str] = mapped_column(String(36))
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    received_at_server: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    review: Mapped[str] = mapped_column(String(16), default="accepted")


class AppliedMutation(Base):
    """Written in the same transaction as the effect: exactly-once over at-least-once."""

    __tablename__ = "applied_mutation"
    mutation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(36))
    client_seq: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any]] = mapped_column(JsonType)
    applied_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class Conflict(Base):
    __tablename__ = "conflict"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64), index=True)
    field: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8), default="field")
    kept_value: Mapped[Any] = mapped_column(JsonType, nullable=True)
    rejected_value: Mapped[Any] = mapped_column(JsonType, nullable=True)
    rejected_mutation_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(8), default="open")
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(36), nullable=True)


class Quarantine(Base):
    """Edits refused for scope reasons, kept for the manager (the client keeps its own copy)."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mutation_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(36))
    device_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
