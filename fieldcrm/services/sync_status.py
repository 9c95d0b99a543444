"""Read-side of sync for the app: login facts, the outbox as rows, names, interval, CSV export."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldcrm.dataio.writers import write_csv
from fieldcrm.db.engine import Database
from fieldcrm.db.models import (
    Meta,
    OutboxRecord,
    SettingRecord,
    SyncConflictRecord,
    SyncQuarantineRecord,
)
from fieldcrm.errors import InvalidInput
from fieldcrm.services.sync_conflicts import list_conflicts, list_quarantine
from fieldcrm.services.sync_names import row_names
from fieldcrm.sync.client import SyncClient, retry_hint

INTERVAL_KEY = "sync_interval_min"
DEFAULT_INTERVAL_MIN = 5
VISIBLE_STATES = ("pending", "inflight", "rejected")


@dataclass(frozen=True, slots=True)
class SyncInfo:
    """What this replica knows about its sync login and backlog."""

    server_url: str
    user: str
    role: str
    last_sync_at: datetime | None
    pending: int
    conflicts: int
    quarantined: int

    @property
    def logged_in(self) -> bool:
        return bool(self.server_url and self.user)

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One local change not yet accepted by the server, described for a person."""

    client_seq: int
    entity: str
    entity_id: str
    name: str
    what: str
    state: str
    created_at: datetime
    attempts: int
    last_error: str


@dataclass(frozen=True, slots=True)
class ConflictView:
    """A conflict (from ``sync_conflicts``) with the name of the row it is about."""

    id: str
    entity: str
    entity_id: str
    name: str
    field: str
    kind: str
    kept_value: Any
    my_value: Any


@dataclass(frozen=True, slots=True)
class QuarantineView:
    """A quarantined edit with the name of its row and a readable summary of its fields."""

    mutation_id: str
    entity: str
    entity_id: str
    name: str
    what: str
    reason: str
    created_at: str


def _meta(session: Session, key: str) -> str:
    row = session.get(Meta, key)
    return row.value if row is not None else ""


def parse_utc(text: str) -> datetime | None:
    """``2026-11-22T10:42:00Z`` (as ``sync_once`` stores it) → aware datetime; None if blank."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def read_sync_info(*, session: Session) -> SyncInfo:
    """Return the saved login (server, user, role), the last sync time and the backlog."""
    return SyncInfo(
        server_url=_meta(session, "server_url"),
        user=_meta(session, "sync_user"),
        role=_meta(session, "role"),
        last_sync_at=parse_utc(_meta(session, "last_sync_at")),
        pending=_count(session, OutboxRecord, OutboxRecord.state.in_(("pending", "inflight"))),
        conflicts=_count(session, SyncConflictRecord, SyncConflictRecord.resolution == "",
                         SyncConflictRecord.status == "open"),
        quarantined=_count(session, SyncQuarantineRecord),
    )


def _fields(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _shown_fields(fields: dict[str, Any]) -> list[str]:
    """Field names a person recognises (no bookkeeping like ``phone_raw``), in words."""
    hidden = ("_raw", "_valid", "_source")
    return sorted(k.replace("_", " ") for k in fields
                  if not k.startswith("_") and not k.endswith(hidden))


def describe_change(op: str, fields: dict[str, Any]) -> str:
    """``patch`` of phone and email → "changed email, phone"; a create → "new"."""
    shown = ", ".join(_shown_fields(fields))
    if op == "create":
        return "new"
    if op == "delete":
        return "deleted"
    if op == "append":
        return _describe_visit(fields)
    return f"changed {shown}" if shown else "changed"


def _describe_visit(fields: dict[str, Any]) -> str:
    """A visit as the rep logged it: ``logged · order · “Met the owner; order taken”``."""
    status = str(fields.get("status") or "")
    parts = {"planned": ["planned visit"], "cancelled": ["cancelled visit"]}.get(status, ["logged"])
    if fields.get("outcome"):
        parts.append(str(fields["outcome"]).replace("_", " "))
    notes = " ".join(str(fields.get("notes") or "").split())
    if notes:
        parts.append(f"“{notes[:57]}…”" if len(notes) > 60 else f"“{notes}”")
    return " · ".join(parts)


# --- lists ----------------------------------------------------------------------------------


def list_outbox(*, session: Session, states: Sequence[str] = VISIBLE_STATES) -> list[OutboxItem]:
    """Outbox entries in ``states`` (default: what is not on the server yet), oldest first."""
    rows = list(session.scalars(select(OutboxRecord).where(OutboxRecord.state.in_(states))
                                .order_by(OutboxRecord.client_seq)))
    names = row_names(session, ((r.entity, r.entity_id) for r in rows))
    return [
        OutboxItem(r.client_seq, r.entity, r.entity_id, names.get((r.entity, r.entity_id), ""),
                   describe_change(r.op, _fields(r.fields_json)), r.state, r.created_at,
                   r.attempts, r.last_error)
        for r in rows
    ]


def list_conflict_views(db: Database) -> list[ConflictView]:
    """Open conflicts not yet answered here, with the names of their rows."""
    items = list_conflicts(db)
    with db.session() as s:
        names = row_names(s, ((c.entity, c.entity_id) for c in items))
    return [ConflictView(c.id, c.entity, c.entity_id, names.get((c.entity, c.entity_id), ""),
                         c.field, c.kind, c.kept_value, c.my_value) for c in items]


def list_quarantine_views(db: Database) -> list[QuarantineView]:
    """Edits kept after a lost territory, with names and a readable summary."""
    items = list_quarantine(db)
    with db.session() as s:
        names = row_names(s, ((q.entity, q.entity_id) for q in items))
    views = []
    for q in items:
        name = q.name or names.get((q.entity, q.entity_id), "")
        views.append(QuarantineView(q.mutation_id, q.entity, q.entity_id, name,
                                    _values(q.fields) or describe_change(q.op, q.fields),
                                    _plain_reason(q.reason, q.entity, q.entity_id, name),
                                    q.created_at))
    return views


def _plain_reason(reason: str, entity: str, entity_id: str, name: str) -> str:
    """The server's reason in a rep's words: the record's name for its id, territories for
    scopes ("account 01a2… is not in your scopes" → "“Bygg AB” is not in your territories")."""
    if name and entity_id:
        quoted = f"“{name}”"
        reason = reason.replace(f"{entity} {entity_id}", quoted).replace(entity_id, quoted)
    return reason.replace("not in your scopes", "not in your territories any more")


def _values(fields: dict[str, Any]) -> str:
    names = set(_shown_fields(fields))
    shown = [f"{k.replace('_', ' ')} to “{show_value(v)}”" for k, v in sorted(fields.items())
             if k.replace("_", " ") in names]
    return f"set {', '.join(shown)}" if shown and len(shown) <= 4 else ""


def show_value(value: Any) -> str:
    """A value as a rep reads it: empty → "(empty)", lists joined, dicts as key: value."""
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, list | tuple):
        return ", ".join(show_value(v) for v in value) or "(empty)"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {show_value(v)}" for k, v in value.items()) or "(empty)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --- server user names ------------------------------------------------------------------------

USER_NAMES_KEY = "sync_user_names"


def known_user_names(*, session: Session) -> dict[str, str]:
    """Server user id → user name, as learnt here (own login, names typed in the Team tab)."""
    try:
        names = json.loads(_meta(session, USER_NAMES_KEY) or "{}")
    except ValueError:
        names = {}
    names = {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}
    own_id, own_name = _meta(session, "user_id"), _meta(session, "sync_user")
    if own_id and own_name:
        names[own_id] = own_name
    return names


def remember_user_names(*, session: Session, names: dict[str, str]) -> None:
    """Keep more id → user name pairs (the server has no user list for the app yet); commits."""
    merged = {**known_user_names(session=session), **names}
    session.merge(Meta(key=USER_NAMES_KEY, value=json.dumps(merged, sort_keys=True)))
    session.commit()


# --- interval -----------------------------------------------------------------------------


def get_sync_interval(*, session: Session) -> int:
    """Minutes between background syncs (stored setting, else FIELDCRM_SYNC_INTERVAL_MIN, else 5)."""
    row = session.get(SettingRecord, INTERVAL_KEY)
    if row is not None:
        try:
            return max(1, int(json.loads(row.value_json)))
        except (TypeError, ValueError):
            pass
    try:
        return max(1, int(os.environ.get("FIELDCRM_SYNC_INTERVAL_MIN", DEFAULT_INTERVAL_MIN)))
    except ValueError:
        return DEFAULT_INTERVAL_MIN


def set_sync_interval(*, session: Session, minutes: int) -> int:
    """Store the interval; commits.

    Raises
    ------
    InvalidInput
        Outside 1–1440 minutes.
    """
    if not 1 <= int(minutes) <= 1440:
        raise InvalidInput("Sync every 1 to 1440 minutes.", {"interval": "Give 1 to 1440 minutes."})
    session.merge(SettingRecord(key=INTERVAL_KEY, value_json=json.dumps(int(minutes))))
    session.commit()
    return int(minutes)


# --- export and Retry-After -----------------------------------------------------------------


def export_csv(path: Path | str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write ``rows`` under ``header`` to a UTF-8 CSV that Excel opens; return the count.

    Cells a spreadsheet would run as formulas are escaped, and the file appears whole or not at
    all (``dataio.writers.write_csv``).

    Raises
    ------
    FieldCrmError
        The file cannot be written (folder missing, no permission, open in another program).
    """
    return write_csv(path, header, list(rows))


class RetryAfterMemo:
    """Remembers the last ``Retry-After``/``Backoff`` hint the server sent to ``client``.

    ``SyncClient`` honours the hint between its own retries but raises a plain ``SyncError``
    once they are used up; the background scheduler reads the hint here to wait long enough.
    """

    def __init__(self, client: SyncClient, clock: Callable[[], float] | None = None) -> None:
        import time

        self._clock = clock or time.monotonic
        self._hint: tuple[float, float] | None = None
        hooks = client.http.event_hooks
        hooks["response"] = [*hooks.get("response", []), self._on_response]
        client.http.event_hooks = hooks

    def _on_response(self, response: httpx.Response) -> None:
        if response.status_code in (429, 503):
            hint = retry_hint(response)
            self._hint = None if hint is None else (hint, self._clock())

    def take(self) -> float | None:
        """Seconds still to wait as the server asked (None when it asked nothing); clears it."""
        if self._hint is None:
            return None
        hint, at = self._hint
        self._hint = None
        return max(0.0, hint - (self._clock() - at))
