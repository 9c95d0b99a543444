"""FastAPI dependencies: app state, DB session, the authenticated caller, protocol headers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import update
from sqlalchemy.orm import Session

from fieldcrm.sync.protocol import (
    HEADER_PROTOCOL,
    HEADER_SCHEMA,
    SCHEMA_VERSION,
    scope_of_territory,
    scope_of_user,
)
from fieldcrm.sync.server.auth import AuthFailed, live_caller, read_access_token
from fieldcrm.sync.server.engine import Database
from fieldcrm.sync.server.models import Device, utcnow
from fieldcrm.sync.server.scopes import Actor
from fieldcrm.sync.server.settings import ServerSettings
from fieldcrm.sync.server.tokens import TokenContext

_bearer = HTTPBearer(auto_error=False)
_SEEN_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class AppState:
    settings: ServerSettings
    db: Database
    secret: str

    @property
    def tokens(self) -> TokenContext:
        return TokenContext(db=self.db, settings=self.settings, secret=self.secret)


def get_state(request: Request) -> AppState:
    return request.app.state.fieldcrm


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """One write session per request, committed when the route returns without error."""
    with state.db.write() as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Caller:
    actor: Actor
    expires_in: int


def get_caller(
    state: StateDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Authenticate the bearer token; scopes are computed here, never taken from the client.

    Device, user and held territories come from one statement (``auth.live_caller``): every
    request re-checks revocation and scopes at the cost of one round trip.
    """
    if creds is None:
        raise AuthFailed(
            "missing bearer token (Authorization: Bearer <access token>)", "missing_token"
        )
    claims = read_access_token(secret=state.secret, token=creds.credentials)
    with state.db.statements() as conn:
        live = live_caller(conn, device_id=claims.device_id, user_id=claims.user_id)
    now = utcnow()
    if live.last_seen is None or now - live.last_seen > _SEEN_EVERY:
        _touch(state.db, live.device_id)
    scopes = frozenset(
        {scope_of_territory(t) for t in live.territories} | {scope_of_user(live.user_id)}
    )
    actor = Actor(user_id=live.user_id, role=live.role, device_id=live.device_id, scopes=scopes)
    return Caller(actor=actor, expires_in=max(0, int((claims.expires_at - now).total_seconds())))


def _touch(db: Database, device_id: str) -> None:
    with db.write() as session, session.begin():
        session.execute(update(Device).where(Device.id == device_id).values(last_seen=utcnow()))


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_actor(caller: CallerDep) -> Actor:
    return caller.actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


def require_manager(actor: CurrentActor) -> Actor:
    if not actor.is_manager:
        raise HTTPException(403, "managers only")
    return actor


ManagerActor = Annotated[Actor, Depends(require_manager)]


def check_protocol(
    state: StateDep,
    protocol: Annotated[str | None, Header(alias=HEADER_PROTOCOL)] = None,
    schema: Annotated[str | None, Header(alias=HEADER_SCHEMA)] = None,
) -> int:
    """426 unless ``X-Sync-Protocol`` is within [MIN, MAX] and the schema is not newer."""
    lo, hi = state.settings.protocol_min, state.settings.protocol_max
    if protocol is None or not protocol.strip().isdigit():
        raise HTTPException(426, f"send {HEADER_PROTOCOL}: this server speaks {lo}..{hi}")
    version = int(protocol)
    if not lo <= version <= hi:
        raise HTTPException(
            426, f"sync protocol {version} is not supported; this server speaks {lo}..{hi}"
        )
    schema = (schema or "").strip() or None  # a blank header is an absent one
    if schema is not None and not schema.isdigit():
        raise HTTPException(426, f"{HEADER_SCHEMA} must be a whole number, not {schema[:20]!r}")
    if schema is not None and int(schema) > SCHEMA_VERSION:
        raise HTTPException(
            426, f"schema version {schema} is newer than the server's {SCHEMA_VERSION}"
        )
    return version


ProtocolDep = Depends(check_protocol)
