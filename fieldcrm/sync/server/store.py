"""Sync store: push (one transaction per mutation), pull pages, verify digests, tombstone GC."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_json
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from fieldcrm.sync.protocol import (
    MAX_PULL_BYTES,
    Change,
    ChangeOp,
    Cursor,
    Entity,
    PullRequest,
    PullResponse,
    ScopeInfo,
    ScopeState,
    VerifyRequest,
    VerifyResponse,
    digest_add,
    digest_item,
)
from fieldcrm.sync.server.engine import Database
from fieldcrm.sync.server.models import (
    AppliedMutation,
    LoginAttempt,
    RefreshToken,
    ScopeCounter,
    SyncIndex,
    TerritoryAssignment,
    utcnow,
)
from fieldcrm.sync.server.push import Busy, apply_mutation, apply_push
from fieldcrm.sync.server.scopes import Actor, compute_scopes
from fieldcrm.sync.server.serialize import load_data

log = logging.getLogger(__name__)
__all__ = ["Busy", "apply_mutation", "apply_push", "gc", "pull", "verify"]


def _epochs(session: Session, actor: Actor, counters: dict[str, ScopeCounter]) -> dict[str, int]:
    """Epoch per scope for this user: the scope's epoch plus how often it was granted to them."""
    grants = dict(
        session.execute(
            select(TerritoryAssignment.territory_id, func.count())
            .where(TerritoryAssignment.user_id == actor.user_id)
            .group_by(TerritoryAssignment.territory_id)
        ).all()
    )
    epochs = {}
    for scope in actor.scopes:
        base = counters[scope].epoch if scope in counters else 1
        kind, _, ident = scope.partition(":")
        epochs[scope] = base + (int(grants.get(ident, 0)) if kind == "territory" else 0)
    return epochs


def pull(db: Database, *, actor: Actor, request: PullRequest) -> PullResponse:
    """One pull page: changes after each cursor, ending on transaction (version) boundaries."""
    with db.read() as session, session.begin():
        actor = _refresh_scopes(session, actor)
        counters = {
            c.scope_id: c
            for c in session.scalars(
                select(ScopeCounter).where(ScopeCounter.scope_id.in_(sorted(actor.scopes)))
            )
        }
        epochs = _epochs(session, actor, counters)
        infos = [
            ScopeInfo(id=s, epoch=0, state=ScopeState.REVOKED)
            for s in sorted(set(request.cursors) - actor.scopes)
        ]
        next_cursors: dict[str, Cursor] = {}
        starts: dict[str, int] = {}
        for scope in sorted(actor.scopes):
            counter = counters.get(scope)
            last, low = (counter.last_version, counter.low_water) if counter else (0, 0)
            cur = request.cursors.get(scope) or Cursor()
            bad = cur.version > 0 and (
                cur.epoch != epochs[scope] or cur.version > last or cur.version < low
            )
            state = ScopeState.RESYNC if bad else ScopeState.ACTIVE
            infos.append(ScopeInfo(id=scope, epoch=epochs[scope], state=state))
            next_cursors[scope] = Cursor(epoch=epochs[scope], version=0 if bad else cur.version)
            if not bad:
                starts[scope] = cur.version
        changes, has_more = _page(session, starts, counters, next_cursors, request.limit)
        changes, cut = _cap_bytes(changes, starts, next_cursors)
        has_more = has_more or cut
        return PullResponse(
            scopes=infos, changes=changes, next_cursors=next_cursors, has_more=has_more
        )


def _refresh_scopes(session: Session, actor: Actor) -> Actor:
    scopes = compute_scopes(session, user_id=actor.user_id, role=actor.role)
    return Actor(user_id=actor.user_id, role=actor.role, device_id=actor.device_id, scopes=scopes)


def _page(
    session: Session,
    starts: dict[str, int],
    counters: dict[str, ScopeCounter],
    next_cursors: dict[str, Cursor],
    limit: int,
) -> tuple[list[Change], bool]:
    budget, picked, has_more = limit, [], False
    for scope, start in sorted(starts.items()):
        last = counters[scope].last_version if scope in counters else 0
        if start >= last:
            continue
        if budget <= 0:
            has_more = True
            continue
        rows = _scope_rows(session, scope, start, last, budget)
        more = len(rows) > budget
        if more:
            cut = rows[budget].version
            rows = [r for r in rows[:budget] if r.version < cut] or _scope_rows(
                session, scope, rows[0].version - 1, rows[0].version, None
            )
            has_more = True
        picked.extend(rows)
        budget -= len(rows)
        end = rows[-1].version if more else last
        next_cursors[scope] = Cursor(epoch=next_cursors[scope].epoch, version=end)
    return _with_data(session, picked), has_more


def _first_over_cap(changes: list[Change]) -> int | None:
    """Index of the first change past MAX_PULL_BYTES of JSON (pydantic-core sizes each row's
    data as the response will encode it, several times faster than ``json.dumps``)."""
    datas = [c.data for c in changes if c.data]
    if 80 * len(changes) + len(to_json(datas, fallback=str)) <= MAX_PULL_BYTES:
        return None  # the usual case: one encoding of the whole page
    total = 0
    for idx, change in enumerate(changes):
        total += 80 + (len(to_json(change.data, fallback=str)) if change.data else 0)
        if total > MAX_PULL_BYTES:
            return idx
    return None


def _cap_bytes(
    changes: list[Change], starts: dict[str, int], next_cursors: dict[str, Cursor]
) -> tuple[list[Change], bool]:
    """Trim a page to about MAX_PULL_BYTES of data, at a version boundary; rewind cursors."""
    idx = _first_over_cap(changes)
    if idx is None:
        return changes, False
    group = (changes[idx].scope, changes[idx].version)
    keep = idx
    while keep > 0 and (changes[keep - 1].scope, changes[keep - 1].version) == group:
        keep -= 1
    if keep == 0:  # one version bigger than the cap on its own: it goes whole
        keep = idx + 1
        while keep < len(changes) and (changes[keep].scope, changes[keep].version) == group:
            keep += 1
    kept, dropped = changes[:keep], changes[keep:]
    last_kept = {c.scope: c.version for c in kept}
    for scope in {c.scope for c in dropped}:
        version = last_kept.get(scope, starts[scope])
        next_cursors[scope] = Cursor(epoch=next_cursors[scope].epoch, version=version)
    return kept, bool(dropped)


_INDEX_COLUMNS = (
    SyncIndex.scope_id,
    SyncIndex.version,
    SyncIndex.entity,
    SyncIndex.entity_id,
    SyncIndex.op,
)
"""Plain rows, not ORM objects: a first download reads hundreds of thousands of them."""


def _scope_rows(
    session: Session, scope: str, after: int, upto: int, budget: int | None
) -> list[Any]:
    q = (
        select(*_INDEX_COLUMNS)
        .where(SyncIndex.scope_id == scope, SyncIndex.version > after, SyncIndex.version <= upto)
        .order_by(SyncIndex.version, SyncIndex.entity, SyncIndex.entity_id)
    )
    if after == 0:
        q = q.where(SyncIndex.op == ChangeOp.UPSERT.value)  # a fresh replica needs no tombstones
    if budget is not None:
        q = q.limit(budget + 1)
    return session.execute(q).all()


def _with_data(session: Session, rows: list[Any]) -> list[Change]:
    wanted: dict[str, set[str]] = {}
    for r in rows:
        if r.op == ChangeOp.UPSERT.value:
            wanted.setdefault(r.entity, set()).add(r.entity_id)
    data = {e: load_data(session, e, sorted(ids)) for e, ids in wanted.items()}
    # built without re-validation: every field comes from our own tables, typed as below
    return [
        Change.model_construct(
            scope=r.scope_id,
            version=r.version,
            entity=_ENTITIES[r.entity],
            id=r.entity_id,
            op=_OPS[r.op],
            data=data[r.entity].get(r.entity_id) if r.op == _UPSERT else None,
        )
        for r in rows
    ]


_ENTITIES = {e.value: e for e in Entity}
_OPS = {o.value: o for o in ChangeOp}
_UPSERT = ChangeOp.UPSERT.value


def verify(db: Database, *, actor: Actor, request: VerifyRequest) -> VerifyResponse:
    """Compare the client's (count, digest) per scope with the server's at the same version."""
    mismatched, behind, revoked = [], [], []
    with db.read() as session, session.begin():
        actor = _refresh_scopes(session, actor)
        for scope, claim in sorted(request.scopes.items()):
            if scope not in actor.scopes:
                revoked.append(scope)
                continue
            last = (
                session.scalar(
                    select(ScopeCounter.last_version).where(ScopeCounter.scope_id == scope)
                )
                or 0
            )
            if claim.version < last:
                behind.append(scope)
                continue
            count, digest = 0, 0
            rows = session.execute(
                select(SyncIndex.entity, SyncIndex.entity_id, SyncIndex.row_version).where(
                    SyncIndex.scope_id == scope, SyncIndex.op == ChangeOp.UPSERT.value
                )
            )
            for entity, entity_id, row_version in rows:
                count += 1
                digest = digest_add(digest, digest_item(entity, entity_id, row_version))
            if claim.version > last or (count, digest) != (claim.count, claim.digest):
                mismatched.append(scope)
    return VerifyResponse(mismatched=mismatched, behind=behind, revoked=revoked)


def gc(db: Database, *, retention_days: float, now: datetime | None = None) -> dict[str, int]:
    """Drop tombstones older than R, raising each scope's ``low_water``; prune old bookkeeping."""
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    tomb = SyncIndex.op.in_([ChangeOp.DELETE.value, ChangeOp.REMOVE.value])
    with db.write() as session, session.begin():
        highs = session.execute(
            select(SyncIndex.scope_id, func.max(SyncIndex.version))
            .where(tomb, SyncIndex.changed_at < cutoff)
            .group_by(SyncIndex.scope_id)
        ).all()
        for scope, high in highs:
            session.execute(
                update(ScopeCounter)
                .where(ScopeCounter.scope_id == scope, ScopeCounter.low_water < high)
                .values(low_water=high)
            )
        dropped = session.execute(delete(SyncIndex).where(tomb, SyncIndex.changed_at < cutoff))
        applied = session.execute(
            delete(AppliedMutation).where(AppliedMutation.applied_at < cutoff)
        )
        session.execute(delete(RefreshToken).where(RefreshToken.expires_at < now))
        session.execute(
            delete(LoginAttempt).where(LoginAttempt.window_start < now - timedelta(days=1))
        )
    return {
        "tombstones": dropped.rowcount,
        "scopes": len(highs),
        "applied_mutations": applied.rowcount,
    }
