"""HTTP routes under /v1; thin: parse, authorise, call the store, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
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


class ErrorOut(BaseModel):
    """Every error answer: a plain message, plus a ``code`` on 401 and the bad fields on 400/422."""

    detail: str
    code: str | None = None
    errors: list[dict[str, Any]] | dict[str, str] | None = None


class HealthOut(BaseModel):
    status: Literal["ok"]
    protocol: int
    protocol_min: int
    protocol_max: int
    schema_version: int


class UserOut(BaseModel):
    id: str
    username: str
    name: str
    role: str
    disabled: bool


class QuarantineOut(BaseModel):
    id: int
    mutation_id: str
    user_id: str
    device_id: str
    reason: str
    payload: dict[str, Any]
    created_at: str


class FlaggedAccountOut(BaseModel):
    id: str
    name: str
    lat: float | None
    lon: float | None
    city: str
    territory_id: str | None
    created_by: str | None
    row_version: int


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error codes: the JSON error body, Retry-After where sent."""
    retry = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
    text = {
        400: "a value is invalid (``errors`` names the fields)",
        401: "not logged in, or the token or device is no longer valid (see ``code``)",
        403: "the caller's role or device may not do this",
        404: "no such object",
        413: "the body is larger than the limit",
        422: "the request does not match the schema (``errors`` lists each location)",
        426: "unsupported sync protocol or schema version",
        429: "too many failed logins; retry after Retry-After seconds",
        503: "the database is busy or down; retry after Retry-After seconds",
    }
    return {
        c: {
            "model": ErrorOut,
            "description": text[c],
            **({"headers": retry} if c in (429, 503) else {}),
        }
        for c in codes
    }


_BASE = (400, 422, 503)
_AUTHED = (*_BASE, 401)
_MANAGER = (*_AUTHED, 403)

router = APIRouter(prefix="/v1")
sync = APIRouter(
    prefix="/v1/sync",
    dependencies=[ProtocolDep],
    tags=["sync"],
    responses=_errors(*_AUTHED, 426),
)


@router.get("/health", tags=["meta"], responses=_errors(503))
def health(state: StateDep) -> HealthOut:
    """Liveness and readiness: answers 503 when the database cannot be reached."""
    with state.db.read() as session:
        session.execute(text("SELECT 1"))
    return HealthOut(
        status="ok",
        protocol=PROTOCOL_VERSION,
        protocol_min=state.settings.protocol_min,
        protocol_max=state.settings.protocol_max,
        schema_version=SCHEMA_VERSION,
    )


@router.post("/auth/token", tags=["auth"], responses=_errors(*_AUTHED, 429))
def auth_token(body: TokenRequest, request: Request, state: StateDep) -> TokenResponse:
    """Log in with username and password; registers the device on first use."""
    ip = request.client.host if request.client else "?"
    return tokens.login(state.tokens, body=body, ip=ip)


@router.post("/auth/refresh", tags=["auth"], responses=_errors(*_AUTHED))
def auth_refresh(body: RefreshRequest, state: StateDep) -> TokenResponse:
    """Trade a refresh token for a new pair; each refresh token works once."""
    return tokens.refresh(state.tokens, body=body)


@router.post("/devices/register", tags=["auth"], responses=_errors(*_MANAGER))
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


@sync.post("/push", openapi_extra=_PUSH_DOC, responses=_errors(403, 413))
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


@router.get("/territories", tags=["manage"], responses=_errors(*_AUTHED))
def territories(actor: CurrentActor, session: SessionDep) -> list[TerritoryOut]:
    """Managers get every territory, a rep their own."""
    return admin.list_territories(session, actor=actor)


@router.post(
    "/territories/{territory_id}/assign", tags=["manage"], responses=_errors(*_MANAGER, 404)
)
def assign(
    territory_id: str, body: AssignRequest, _m: ManagerActor, session: SessionDep
) -> TerritoryOut:
    """Give a territory to a rep (``user_id`` null: to nobody); history is kept."""
    return admin.assign_territory(session, territory_ref=territory_id, user_ref=body.user_id)


@router.get("/conflicts", tags=["manage"], responses=_errors(*_AUTHED))
def conflicts(
    actor: CurrentActor,
    session: SessionDep,
    status: Literal["open", "kept", "applied", ""] = "open",
) -> list[ConflictOut]:
    """Managers: the team's conflicts; reps: their own. ``status``: open, kept, applied or empty."""
    return review.list_conflicts(session, actor=actor, status=status or None)


@router.post("/conflicts/{conflict_id}/resolve", tags=["manage"], responses=_errors(*_MANAGER, 404))
def resolve(
    conflict_id: str, body: ResolveRequest, actor: CurrentActor, session: SessionDep
) -> ConflictOut:
    """Keep the committed value, or (managers) apply the rejected one."""
    return review.resolve_conflict(
        session, actor=actor, conflict_id=conflict_id, action=body.action
    )


@router.get("/quarantine", tags=["manage"], responses=_errors(*_MANAGER))
def quarantine(_m: ManagerActor, session: SessionDep) -> list[QuarantineOut]:
    """Managers: edits refused because they fell outside the sender's scopes (newest first)."""
    return [QuarantineOut.model_validate(q) for q in review.list_quarantine(session)]


@router.get("/accounts/flagged", tags=["manage"], responses=_errors(*_MANAGER))
def flagged_accounts(_m: ManagerActor, session: SessionDep) -> list[FlaggedAccountOut]:
    """Managers: rep-created accounts to place (push a patch with ``territory_id``)."""
    return [FlaggedAccountOut.model_validate(a) for a in review.list_flagged_accounts(session)]


@router.get("/users", tags=["manage"], responses=_errors(*_MANAGER))
def users(_m: ManagerActor, session: SessionDep) -> list[UserOut]:
    """Managers: every user (to pick a rep when assigning a territory)."""
    return [
        UserOut(id=u.id, username=u.username, name=u.name, role=u.role, disabled=u.disabled)
        for u in admin.list_users(session)
    ]


@router.get("/visits/review", tags=["manage"], responses=_errors(*_MANAGER))
def visits_under_review(
    _m: ManagerActor,
    session: SessionDep,
    status: Literal["needs_review", "dismissed"] = "needs_review",
) -> list[review.ReviewVisitOut]:
    """Managers: visits accepted with ``needs_review`` (or the dismissed ones), newest first."""
    return review.list_review_visits(session, status=status)


@router.post("/visits/{visit_id}/review", tags=["manage"], responses=_errors(*_MANAGER, 404))
def visit_review(
    visit_id: str, body: review.VisitReviewRequest, actor: ManagerActor, session: SessionDep
) -> review.ReviewVisitOut:
    """Managers: ``accept`` (publish into the account's territory) or ``dismiss`` (kept aside)."""
    return review.review_visit(
        session, actor=actor, visit_id=visit_id, action=body.action, note=body.note
    )
