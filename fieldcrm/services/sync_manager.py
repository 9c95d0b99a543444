"""Manager actions over the sync server: territories and who holds them, the team's conflicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from fieldcrm.db.engine import Database
from fieldcrm.errors import SyncError
from fieldcrm.services.sync_names import row_names
from fieldcrm.services.sync_status import (
    known_user_names,
    remember_user_names,
    show_value,
)
from fieldcrm.sync.client import SyncClient
from fieldcrm.sync.protocol import (
    HEADER_PROTOCOL,
    HEADER_SCHEMA,
    AssignRequest,
    ConflictOut,
    TerritoryOut,
)


@dataclass(frozen=True, slots=True)
class RepChoice:
    """A user a territory can be given to: the server's id (or user name) and a label."""

    ref: str
    label: str


@dataclass(frozen=True, slots=True)
class TeamTerritory:
    """A territory on the server and the rep who holds it now."""

    id: str
    name: str
    rep_id: str | None
    rep_label: str


@dataclass(frozen=True, slots=True)
class TeamConflict:
    """One conflict of the team's queue, readable."""

    id: str
    entity: str
    name: str
    field: str
    kept: str
    rejected: str
    user_label: str
    status: str
    created_at: str


@dataclass(frozen=True, slots=True)
class TeamView:
    """What the Team tab shows: territories, the reps to choose from and the open conflicts."""

    territories: tuple[TeamTerritory, ...]
    reps: tuple[RepChoice, ...]
    conflicts: tuple[TeamConflict, ...]


def request_json(client: SyncClient, method: str, path: str, body: Any = None) -> Any:
    """One authenticated request (refreshing an expired token once); the parsed JSON answer.

    Raises
    ------
    SyncError
        ``offline``, ``auth``, ``forbidden``, ``protocol``, ``busy`` or ``server``.
    """
    for attempt in range(2):
        headers = {HEADER_PROTOCOL: str(client.protocol), HEADER_SCHEMA: str(client.schema),
                   "Authorization": f"Bearer {client.ensure_session().access_token}"}
        extra = {} if client.timeout is None else {"timeout": client.timeout}
        try:
            response = client.http.request(method, client.base_url + path, json=body,
                                           headers=headers, **extra)
        except httpx.TransportError as exc:
            raise SyncError(f"Cannot reach the sync server ({type(exc).__name__}).",
                            kind="offline") from None
        if response.status_code == 401 and attempt == 0 and "expired" in response.text:
            client.refresh()
            continue
        _raise_for(response)
        return response.json()
    raise SyncError("The sync server refused the login twice; log in again.", kind="auth")


def _raise_for(response: httpx.Response) -> None:
    code = response.status_code
    if code < 400:
        return
    try:
        detail = str(response.json().get("detail", ""))[:300]
    except (ValueError, AttributeError):
        detail = response.text[:300]
    if code == 401:
        raise SyncError(f"Your sync login is no longer valid ({detail}); log in again.", kind="auth")
    if code == 403:
        raise SyncError("Only a manager can do this on the sync server.", kind="forbidden")
    if code == 404:
        raise SyncError(f"The sync server does not know that: {detail}", kind="server")
    if code == 426:
        raise SyncError("This fieldcrm is too old for the server; update it.", kind="protocol")
    if code in (429, 503) or code >= 500:
        raise SyncError(f"The sync server is busy ({code}); try again in a minute.", kind="busy")
    raise SyncError(f"The sync server refused ({code}): {detail}", kind="server")


def _parse(adapter: TypeAdapter[Any], data: Any) -> Any:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise SyncError(f"The sync server sent an unreadable answer: {exc}", kind="server") from None


_TERRITORIES = TypeAdapter(list[TerritoryOut])
_CONFLICTS = TypeAdapter(list[ConflictOut])


def list_server_territories(client: SyncClient) -> list[TerritoryOut]:
    """Every territory (a manager) or the caller's own (a rep)."""
    return list(_parse(_TERRITORIES, request_json(client, "GET", "/v1/territories")))


def list_team_conflicts(client: SyncClient, *, status: str = "open") -> list[ConflictOut]:
    """The team's conflicts (a manager sees everyone's)."""
    return list(_parse(_CONFLICTS, request_json(client, "GET", f"/v1/conflicts?status={status}")))


def list_server_users(client: SyncClient) -> list[RepChoice] | None:
    """The server's users when it offers ``GET /v1/users``; None when it does not (404/405)."""
    try:
        data = request_json(client, "GET", "/v1/users")
    except SyncError as exc:
        if "does not know" in str(exc) or "(405)" in str(exc):
            return None
        raise
    out = []
    for u in data if isinstance(data, list) else []:
        if (isinstance(u, dict) and u.get("id") and u.get("role", "rep") == "rep"
                and not u.get("disabled")):
            out.append(RepChoice(str(u["id"]), _user_label(u)))
    return out


def _user_label(u: dict[str, Any]) -> str:
    """``Anna Berg (anna)``, or just the user name when there is no other name."""
    username, name = str(u.get("username") or ""), str(u.get("name") or "")
    if name and username and name != username:
        return f"{name} ({username})"
    return name or username or str(u["id"])


def assign_territory(client: SyncClient, *, territory_id: str, user_ref: str | None) -> TerritoryOut:
    """Give a territory to a rep (by server user id or user name), or to nobody (None).

    Raises
    ------
    SyncError
        ``forbidden`` when the caller is not a manager; ``server`` for an unknown rep.
    """
    body = AssignRequest(user_id=user_ref or None).model_dump(mode="json")
    data = request_json(client, "POST", f"/v1/territories/{territory_id}/assign", body)
    return TerritoryOut.model_validate(data)


def assign_territories(db: Database, client: SyncClient,
                       changes: list[tuple[str, str | None]]) -> int:
    """Apply several assignments; remember the user names typed for them. Returns the count."""
    learnt: dict[str, str] = {}
    for territory_id, ref in changes:
        out = assign_territory(client, territory_id=territory_id, user_ref=ref)
        if ref and out.rep_id and ref != out.rep_id:
            learnt[out.rep_id] = ref
    if learnt:
        with db.session() as s:
            remember_user_names(session=s, names=learnt)
    return len(changes)


def resolve_team_conflict(client: SyncClient, *, conflict_id: str, action: str) -> ConflictOut:
    """``keep`` the committed value or ``apply`` the rejected one (managers)."""
    return client.resolve_conflict(conflict_id, action)


def load_team(db: Database, client: SyncClient) -> TeamView:
    """Territories, the reps known to hold or be able to hold them, and the open conflicts."""
    territories = list_server_territories(client)
    conflicts = list_team_conflicts(client)
    users = list_server_users(client)
    with db.session() as s:
        keys = [("user", t.rep_id) for t in territories if t.rep_id]
        keys += [("user", c.user_id) for c in conflicts]
        keys += [(str(c.entity), c.entity_id) for c in conflicts]
        names = row_names(s, keys)
        learnt = known_user_names(session=s)
    known = {**learnt, **{u.ref: u.label for u in users or []}}

    def label(user_id: str | None) -> str:
        if not user_id:
            return ""
        # ids are UUIDv7: their head is a timestamp, so the tail tells users apart
        return known.get(user_id) or names.get(("user", user_id)) or f"user …{user_id[-6:]}"

    reps = {u.ref: u for u in users or []}
    for t in territories:
        if t.rep_id and t.rep_id not in reps:
            reps[t.rep_id] = RepChoice(t.rep_id, label(t.rep_id))
    return TeamView(
        territories=tuple(TeamTerritory(t.id, t.name, t.rep_id, label(t.rep_id))
                          for t in territories),
        reps=tuple(sorted(reps.values(), key=lambda r: r.label.lower())),
        conflicts=tuple(
            TeamConflict(c.id, str(c.entity), names.get((str(c.entity), c.entity_id), c.entity_id),
                         c.field, show_value(c.kept_value), show_value(c.rejected_value),
                         label(c.user_id), c.status, c.created_at)
            for c in conflicts),
    )
