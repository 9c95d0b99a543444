"""HTTP routes under /v1; thin: parse, authorise, call the store, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import text

from fieldcrm.sync.protocol import (
    MAX_PUSH_BYTES,
    PROTOCOL_VERSION,
    SCHEMA_VERSION,
    AssignRequest,
    ConflictOut,
    DeviceOut,
    DeviceRegisterRequest,
    PullRequest,
    PullResponse,
    PushRequest,
    PushResponse,
    RefreshRequest,
    ResolveRequest,
    TerritoryOut,
    TokenRequest,
    TokenResponse,
    VerifyRequest,
    VerifyResponse,
)
from fieldcrm.sync.server import admin, review, store, tokens
from fieldcrm.sync.server.deps import (
    CallerDep,
    CurrentActor,
    ManagerActor,
    ProtocolDep,
    SessionDep,
    StateDep,
)

router = APIRouter(prefix="/v1")
sync = APIRouter(prefix="/v1/sync", dependencies=[ProtocolDep], tags=["sync"])


@router.get("/health", tags=["meta"])
def health(state: StateDep) -> dict[str, Any]:
    """Liveness and readiness: answers 503 when the database cannot be reached."""
    with state.db.read() as session:
        session.execute(text("SELECT 1"))
    return {
        "status": "ok",
        "protocol": PROTOCOL_VERSION,
        "protocol_min": state.settings.protocol_min,
        "protocol_max": state.settings.protocol_max,
        "schema_version": SCHEMA_VERSION,
    }


@router.post("/auth/token", tags=["auth"])
def auth_token(body: TokenRequest, request: Request, state: StateDep) -> TokenResponse:
    """Log in with username and password; registers the device on first use."""
    ip = request.client.host if request.client else "?"
    return tokens.login(state.tokens, body=body, ip=ip)


@router.post("/auth/refresh", tags=["auth"])
def auth_refresh(body: RefreshRequest, state: StateDep) -> TokenResponse:
    """Trade a refresh token for a new pair; each refresh token works once."""
    return tokens.refresh(state.tokens, body=body)


@router.post("/devices/register", tags=["auth"])
def devices_register(
    body: DeviceRegisterRequest, actor: CurrentActor, session: SessionDep
) -> DeviceOut:
    """Register (or rename) another device of the caller; log in on it to get its tokens."""
    d = admin.register_device(
        session, user_id=actor.user_id, device_id=body.device_id, name=body.name
    )
    return DeviceOut(id=d.id, user_id=d.user_id, name=d.name, revoked=d.revoked_at is not None)


async def read_push(request: Request) -> PushRequest:
    """Read at most 1 MB and validate it; a bigger or malformed body never reaches the DB."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_PUSH_BYTES:
        raise HTTPException(413, f"push body is {declared} bytes; the limit is {MAX_PUSH_BYTES}")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_PUSH_BYTES:
            raise HTTPException(413, f"push body exceeds the limit of {MAX_PUSH_BYTES} bytes")
    try:
        return PushRequest.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


_PUSH_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PushRequest"}}},
    }
}


@sync.post("/push", openapi_extra=_PUSH_DOC)
def sync_push(
    caller: CallerDep, state: StateDep, body: Annotated[PushRequest, Depends(read_push)]
) -> PushResponse:
    """Apply up to 100 mutations in client_seq order, one transaction each; a result per mutation."""
    actor = caller.actor
    if body.schema_version > SCHEMA_VERSION:
        raise HTTPException(
            426, f"schema version {body.schema_version} is newer than the server's {SCHEMA_VERSION}"
        )
    if body.device_id != actor.device_id:
        raise HTTPException(403, "device_id does not match the access token's device")
    if len({m.mutation_id for m in body.mutations}) != len(body.mutations):
        raise HTTPException(422, "a push batch must not repeat a mutation_id")
    results = store.apply_push(
        state.db, actor=actor, mutations=body.mutations, grace_days=state.settings.visit_grace_days
    )
    return PushResponse(results=results)


@sync.post("/pull")
def sync_pull(body: PullRequest, caller: CallerDep, state: StateDep) -> PullResponse:
    """Changes after each cursor for the scopes the server grants the caller."""
    page = store.pull(state.db, actor=caller.actor, request=body)
    page.token_expires_in = caller.expires_in
    return page


@sync.post("/verify")
def sync_verify(body: VerifyRequest, actor: CurrentActor, state: StateDep) -> VerifyResponse:
    """Compare per-scope (count, digest) with the server's; mismatched scopes must resync."""
    return store.verify(state.db, actor=actor, request=body)


@router.get("/territories", tags=["manage"])
def territories(actor: CurrentActor, session: SessionDep) -> list[TerritoryOut]:
    """Managers get every territory, a rep their own."""
    return admin.list_territories(session, actor=actor)


@router.post("/territories/{territory_id}/assign", tags=["manage"])
def assign(
    territory_id: str, body: AssignRequest, _m: ManagerActor, session: SessionDep
) -> TerritoryOut:
    """Give a territory to a rep (``user_id`` null: to nobody); history is kept."""
    return admin.assign_territory(session, territory_ref=territory_id, user_ref=body.user_id)


@router.get("/conflicts", tags=["manage"])
def conflicts(
    actor: CurrentActor,
    session: SessionDep,
    status: Literal["open", "kept", "applied", ""] = "open",
) -> list[ConflictOut]:
    """Managers: the team's conflicts; reps: their own. ``status``: open, kept, applied or empty."""
    return review.list_conflicts(session, actor=actor, status=status or None)


@router.post("/conflicts/{conflict_id}/resolve", tags=["manage"])
def resolve(
    conflict_id: str, body: ResolveRequest, actor: CurrentActor, session: SessionDep
) -> ConflictOut:
    """Keep the committed value, or (managers) apply the rejected one."""
    return review.resolve_conflict(
        session, actor=actor, conflict_id=conflict_id, action=body.action
    )


@router.get("/quarantine", tags=["manage"])
def quarantine(_m: ManagerActor, session: SessionDep) -> list[dict[str, Any]]:
    """Managers: edits refused because they fell outside the sender's scopes (newest first)."""
    return review.list_quarantine(session)


@router.get("/accounts/flagged", tags=["manage"])
def flagged_accounts(_m: ManagerActor, session: SessionDep) -> list[dict[str, Any]]:
    """Managers: rep-created accounts to place (push a patch with ``territory_id``)."""
    return review.list_flagged_accounts(session)


@router.get("/users", tags=["manage"])
def users(_m: ManagerActor, session: SessionDep) -> list[dict[str, Any]]:
    """Managers: every user (to pick a rep when assigning a territory)."""
    return [
        {"id": u.id, "username": u.username, "name": u.name, "role": u.role, "disabled": u.disabled}
        for u in admin.list_users(session)
    ]
