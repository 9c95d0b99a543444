"""Wire models of the fieldcrm sync protocol, shared by the client and the server.

Everything a client needs to talk to ``fieldcrm-server`` is here: the protocol and
schema versions, the header names, the size limits, the pydantic models of every
request and response under ``/v1`` and the scope digest used by ``/sync/verify``.
``docs/sync.md`` describes the protocol as built; ``SYNC.md`` is the design.

Conventions
-----------
* Ids are client-made UUIDv7 strings, never renumbered.
* A scope id is ``territory:<territory id>`` or ``user:<user id>``.
* Timestamps travel as ISO 8601 strings with an offset; the server stores UTC.
* Money is integer minor units plus an ISO 4217 code.
* A mutation is ``{mutation_id, client_seq, entity, entity_id, op, base_version, fields}``;
  ``patch`` carries only the changed fields. ``tags`` in a patch may be
  ``{"add": [...], "remove": [...]}`` (set merge) or a full list (plain field).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PROTOCOL_VERSION = 1
"""The protocol version this module speaks (sent in ``X-Sync-Protocol``)."""
PROTOCOL_MIN = 1
"""Oldest protocol version the server still accepts."""
SCHEMA_VERSION = 1
"""Version of the synced data schema (sent in ``X-Schema-Version``)."""

HEADER_PROTOCOL = "X-Sync-Protocol"
HEADER_SCHEMA = "X-Schema-Version"
HEADER_RETRY_AFTER = "Retry-After"

MAX_PUSH_MUTATIONS = 100
MAX_PUSH_BYTES = 1_000_000
MAX_PULL_LIMIT = 500
MAX_PULL_BYTES = 1_000_000
"""A pull page stops near this much row data (one version is never split)."""
DEFAULT_PULL_LIMIT = 500


class Entity(StrEnum):
    """Kinds of synced rows. ``conflict`` is pull-only (a rep's own conflicts)."""

    ACCOUNT = "account"
    CONTACT = "contact"
    VISIT = "visit"
    VISIT_AMENDMENT = "visit_amendment"
    TERRITORY = "territory"
    SALE = "sale"
    OPPORTUNITY = "opportunity"
    CONFLICT = "conflict"


class Op(StrEnum):
    """What a mutation does. Visits and amendments only ``append``."""

    CREATE = "create"
    PATCH = "patch"
    DELETE = "delete"
    APPEND = "append"


class ChangeOp(StrEnum):
    """What a pulled change does to the client's replica of one scope."""

    UPSERT = "upsert"  # the row is in the scope with this data
    DELETE = "delete"  # tombstone: the row was deleted
    REMOVE = "remove"  # the row left this scope (it may still be in another)


class RejectCode(StrEnum):
    FORBIDDEN_SCOPE = "forbidden_scope"
    VALIDATION = "validation"
    GONE = "gone"


class ScopeState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"  # no longer yours: purge non-dirty rows, drop the cursor
    RESYNC = "resync"  # cursor unusable: purge non-dirty rows, pull again from 0


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


NO_NUL = r"^[^\x00]*$"
ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
"""Ids on the wire: UUIDs and other plain tokens (letters, digits, ``_ . : -``)."""


# --- auth -----------------------------------------------------------------------


class TokenRequest(_Wire):
    """``POST /v1/auth/token``: log in; binds (and registers if new) the device."""

    username: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=1000)
    device_id: str | None = Field(
        default=None, max_length=64, pattern=ID_PATTERN, description="client-made UUID"
    )
    device_name: str = Field(default="", max_length=200, pattern=NO_NUL)


class RefreshRequest(_Wire):
    """``POST /v1/auth/refresh``: trade a refresh token for a new pair (rotation)."""

    refresh_token: str = Field(min_length=1, max_length=500)


class TokenResponse(_Wire):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds the access token stays valid")
    refresh_token: str
    refresh_expires_in: int = Field(description="seconds of idleness before it expires")
    user_id: str
    role: str
    device_id: str


class DeviceRegisterRequest(_Wire):
    """``POST /v1/devices/register`` (authenticated): register or rename a device."""

    device_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    name: str = Field(default="", max_length=200, pattern=NO_NUL)


class DeviceOut(_Wire):
    id: str
    user_id: str
    name: str
    revoked: bool


# --- push -----------------------------------------------------------------------


class Mutation(_Wire):
    """One outbox entry. ``base_version`` is the ``row_version`` a patch was made on."""

    mutation_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    client_seq: int = Field(ge=0, lt=2**63)
    entity: Entity
    entity_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    op: Op
    base_version: int | None = Field(default=None, ge=0)
    fields: dict[str, Any] = Field(default_factory=dict)


class PushRequest(_Wire):
    """``POST /v1/sync/push``: at most 100 mutations and 1 MB; applied in client_seq order."""

    device_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    mutations: list[Mutation] = Field(max_length=MAX_PUSH_MUTATIONS)


class FieldConflict(_Wire):
    """A same-field conflict: the committed value stayed, yours is in the conflict row."""

    conflict_id: str
    field: str
    kept_value: Any = None
    rejected_value: Any = None


class Applied(_Wire):
    status: Literal["applied"] = "applied"
    version: int = Field(description="scope version at which the row's new state is visible")
    row_version: int | None = None
    review: str | None = Field(default=None, description="visits: accepted | needs_review")


class Merged(_Wire):
    status: Literal["merged"] = "merged"
    version: int
    row_version: int | None = None
    conflicts: list[FieldConflict]


class Duplicate(_Wire):
    status: Literal["duplicate"] = "duplicate"
    original_result: dict[str, Any]


class Rejected(_Wire):
    status: Literal["rejected"] = "rejected"
    code: RejectCode
    message: str


MutationResult = Annotated[Applied | Merged | Duplicate | Rejected, Field(discriminator="status")]


class MutationOutcome(_Wire):
    mutation_id: str
    client_seq: int
    result: MutationResult


class PushResponse(_Wire):
    results: list[MutationOutcome]


# --- pull -----------------------------------------------------------------------


class Cursor(_Wire):
    epoch: int = Field(default=0, ge=0)
    version: int = Field(default=0, ge=0)


class PullRequest(_Wire):
    """``POST /v1/sync/pull``. Scopes you hold but did not name start from version 0."""

    cursors: dict[str, Cursor] = Field(default_factory=dict, max_length=1000)
    limit: int = Field(default=DEFAULT_PULL_LIMIT, ge=1, le=MAX_PULL_LIMIT)


class ScopeInfo(_Wire):
    id: str
    epoch: int
    state: ScopeState


class Change(_Wire):
    scope: str
    version: int
    entity: Entity
    id: str
    op: ChangeOp
    data: dict[str, Any] | None = None


class PullResponse(_Wire):
    scopes: list[ScopeInfo]
    changes: list[Change]
    next_cursors: dict[str, Cursor]
    has_more: bool
    token_expires_in: int | None = Field(default=None, description="seconds left on the token")


# --- verify ---------------------------------------------------------------------


class ScopeDigest(_Wire):
    """What the client holds for one scope after applying everything up to ``version``."""

    version: int = Field(ge=0)
    count: int = Field(ge=0)
    digest: int = Field(ge=0, lt=2**64)


class VerifyRequest(_Wire):
    scopes: dict[str, ScopeDigest] = Field(max_length=1000)


class VerifyResponse(_Wire):
    mismatched: list[str] = Field(description="resync these scopes")
    behind: list[str] = Field(description="the server moved on: pull, then verify again")
    revoked: list[str] = Field(description="not your scopes")


def digest_item(entity: str, entity_id: str, row_version: int) -> int:
    """Hash one ``(entity, id, row_version)`` into 64 bits for a scope digest."""
    raw = f"{entity}\x1f{entity_id}\x1f{row_version}".encode()
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "big")


def digest_add(digest: int, item: int) -> int:
    """Add one item to a digest; order-independent (sum modulo 2**64)."""
    return (digest + item) % 2**64


def scope_digest(items: list[tuple[str, str, int]]) -> tuple[int, int]:
    """Return ``(count, digest)`` of the live rows ``(entity, id, row_version)`` of a scope."""
    total = 0
    for entity, entity_id, row_version in items:
        total = digest_add(total, digest_item(entity, entity_id, row_version))
    return len(items), total


# --- manager endpoints ----------------------------------------------------------


class TerritoryOut(_Wire):
    id: str
    name: str
    geojson: dict[str, Any]
    color: str
    rep_id: str | None
    row_version: int


class AssignRequest(_Wire):
    """``POST /v1/territories/{id}/assign``: give the territory to a rep (null: nobody)."""

    user_id: str | None


class ConflictOut(_Wire):
    id: str
    entity: Entity
    entity_id: str
    field: str
    kind: Literal["field", "gone"]
    kept_value: Any = None
    rejected_value: Any = None
    rejected_mutation_id: str
    user_id: str
    status: Literal["open", "kept", "applied"]
    created_at: str


class ResolveRequest(_Wire):
    """``keep`` the committed value, or ``apply`` the rejected one (a fresh server patch)."""

    action: Literal["keep", "apply"]


def scope_of_territory(territory_id: str) -> str:
    return f"territory:{territory_id}"


def scope_of_user(user_id: str) -> str:
    return f"user:{user_id}"
