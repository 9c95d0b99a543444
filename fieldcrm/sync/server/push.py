"""Push: apply a batch in client_seq order, each mutation atomic and recorded exactly once."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from fieldcrm.sync.protocol import (
    Duplicate,
    Entity,
    Mutation,
    MutationOutcome,
    RejectCode,
    Rejected,
)
from fieldcrm.sync.server.appendonly import append_amendment, append_visit
from fieldcrm.sync.server.engine import Database
from fieldcrm.sync.server.merge import (
    HANDLERS,
    MODELS,
    Batch,
    Finish,
    Reject,
    Tx,
    record_conflict,
)
from fieldcrm.sync.server.models import (
    AppliedMutation,
    Quarantine,
    Visit,
    VisitAmendment,
    utcnow,
)
from fieldcrm.sync.server.scopes import Actor, IndexWrites

log = logging.getLogger(__name__)
_RETRIES = 5


class Busy(Exception):
    """The database kept refusing the transaction (deadlocks, lock timeouts): answer 503."""


def _transient(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return exc.connection_invalidated or any(
        word in text for word in ("deadlock", "locked", "serializ", "could not obtain lock")
    )


def apply_push(
    db: Database, *, actor: Actor, mutations: list[Mutation], grace_days: float
) -> list[MutationOutcome]:
    """Apply a batch; return one outcome per mutation, in ``client_seq`` order.

    The batch is one database transaction: each mutation's effect and its ``applied_mutation``
    row commit together or not at all, a refused mutation leaves no trace but its rejection,
    and the whole batch costs one commit (one fsync) instead of a hundred.
    Each mutation gets its own version per scope, all taken at the end (see IndexWrites).

    Raises
    ------
    Busy
        The transaction failed ``_RETRIES`` times on deadlocks or lock timeouts.
    """
    ordered = sorted(mutations, key=lambda mu: mu.client_seq)
    try:
        return _with_retries(db, actor, ordered, grace_days)
    except Busy:
        raise
    except Exception:
        # Never let one poisonous mutation wedge a device's outbox: isolate it.
        log.exception("push of %d mutations failed; applying them one by one", len(ordered))
    return [_single(db, actor, m, grace_days) for m in ordered]


def _with_retries(
    db: Database, actor: Actor, mutations: list[Mutation], grace_days: float
) -> list[MutationOutcome]:
    last: Exception | None = None
    for attempt in range(_RETRIES):
        try:
            return _apply_batch(db, actor=actor, mutations=mutations, grace_days=grace_days)
        except IntegrityError as exc:
            # Usually a concurrent copy of the same push committed first: the retry sees
            # duplicates. If it keeps failing, the caller isolates the culprit.
            log.info("push of %d mutations hit a constraint; retrying", len(mutations))
            last = exc
        except DBAPIError as exc:
            if not _transient(exc):
                raise
            log.warning("push: transient database error (attempt %d)", attempt + 1)
        time.sleep(0.01 * 2**attempt)
    if last is not None:
        raise last
    raise Busy("the database is busy; retry later")


def _single(db: Database, actor: Actor, m: Mutation, grace_days: float) -> MutationOutcome:
    """Apply one mutation alone; one the server cannot apply is rejected and kept."""
    try:
        return _with_retries(db, actor, [m], grace_days)[0]
    except Busy:
        raise
    except Exception:
        log.exception("mutation %s cannot be applied; rejecting and quarantining it", m.mutation_id)
    rejected = Rejected(
        code=RejectCode.VALIDATION,
        message="the server could not apply this change (internal error); "
        "it is kept for a manager to review",
    )
    with db.write() as session, session.begin():
        if session.get(AppliedMutation, m.mutation_id) is None:
            tx = Tx(session, actor, IndexWrites(session=session, now=utcnow()), m)
            _record_rejection(tx, Reject(rejected.code, rejected.message, keep="quarantine"))
            session.add(_record(m, actor, rejected, tx.index.now))
    return MutationOutcome(mutation_id=m.mutation_id, client_seq=m.client_seq, result=rejected)


def apply_mutation(db: Database, *, actor: Actor, mutation: Mutation, grace_days: float) -> Any:
    """Apply a single mutation (a batch of one); return its result model."""
    return apply_push(db, actor=actor, mutations=[mutation], grace_days=grace_days)[0].result


def _apply_batch(
    db: Database, *, actor: Actor, mutations: list[Mutation], grace_days: float
) -> list[MutationOutcome]:
    with db.write() as session, session.begin():
        done = _already_applied(session, [m.mutation_id for m in mutations])
        index = IndexWrites(session=session, now=utcnow())
        batch = prefetch(session, [m for m in mutations if m.mutation_id not in done])
        pending: list[tuple[Mutation, int, Finish | None, Any]] = []
        for m in mutations:
            if m.mutation_id in done:
                pending.append((m, 0, None, _duplicate(done[m.mutation_id], actor)))
                continue
            group = index.begin()
            finish = _apply_one(Tx(session, actor, index, m, batch), grace_days)
            pending.append((m, group, finish, None))
        session.flush()
        versions = index.flush()
        outcomes, records = [], []
        for m, group, finish, result in pending:
            if finish is not None:
                result = finish(versions.get(group, {}))
                records.append(_record_row(m, actor, result, index.now))
            outcomes.append(
                MutationOutcome(mutation_id=m.mutation_id, client_seq=m.client_seq, result=result)
            )
        if records:  # one executemany (cached statement, pipelined), same transaction
            session.execute(insert(AppliedMutation), records)
    return outcomes


def _already_applied(session: Session, ids: list[str]) -> dict[str, AppliedMutation]:
    rows = session.scalars(select(AppliedMutation).where(AppliedMutation.mutation_id.in_(ids)))
    return {r.mutation_id: r for r in rows}


def _duplicate(done: AppliedMutation, actor: Actor) -> Any:
    if done.user_id != actor.user_id:
        return Rejected(code=RejectCode.VALIDATION, message="mutation_id already used")
    return Duplicate(original_result=done.result)


def _record_row(m: Mutation, actor: Actor, result: Any, now: Any) -> dict[str, Any]:
    return {
        "mutation_id": m.mutation_id,
        "device_id": actor.device_id,
        "user_id": actor.user_id,
        "client_seq": m.client_seq,
        "status": result.status,
        "result": _storable(result.model_dump(mode="json")),
        "applied_at": now,
    }


def _record(m: Mutation, actor: Actor, result: Any, now: Any) -> AppliedMutation:
    return AppliedMutation(**_record_row(m, actor, result, now))


def _apply_one(tx: Tx, grace_days: float) -> Finish:
    """Run one mutation; a Reject leaves no effect, only its rejection and kept payload.

    Every handler checks everything before it writes anything (a rule of merge.py and
    appendonly.py), so a Reject needs no SAVEPOINT: dropping the index ops it staged is
    enough. New rows are flushed with the batch (multi-row INSERTs); any other error aborts
    the whole batch, which is then retried or answered with an error, never half-applied.
    """
    index = tx.index
    mark = dict(index.staged)
    try:
        return _dispatch(tx, grace_days)
    except Reject as rej:
        index.staged = mark
        index.touched.pop(index.group, None)
        rejected = _record_rejection(tx, rej)
        return lambda _versions: rejected


def prefetch(session: Session, mutations: list[Mutation]) -> Batch:
    """Lock every row the batch names, in table then id order, with one SELECT per table.

    The handlers then find them in the identity map (no round trip per mutation), and two
    pushes always lock rows in the same order.
    """
    wanted: dict[str, set[str]] = {}
    for m in mutations:
        wanted.setdefault(m.entity.value, set()).add(m.entity_id)
        account = m.fields.get("account_id")
        if isinstance(account, str) and m.entity != Entity.ACCOUNT:
            wanted.setdefault("account", set()).add(account)
    batch = Batch()
    for entity, model in (*MODELS.items(), ("visit", Visit), ("visit_amendment", VisitAmendment)):
        ids = sorted(wanted.get(entity, ()))
        if not ids:
            continue
        if entity in MODELS:
            q = select(model).where(model.id.in_(ids)).order_by(model.id).with_for_update()
            batch.held.extend(session.scalars(q))
            found = {row.id for row in batch.held if isinstance(row, model)}
        else:
            found = set(session.scalars(select(model.id).where(model.id.in_(ids))))
        batch.absent |= {(entity, i) for i in ids if i not in found}
    return batch


def _dispatch(tx: Tx, grace_days: float) -> Finish:
    entity = tx.mutation.entity
    if entity == Entity.VISIT:
        return append_visit(tx, grace_days)
    if entity == Entity.VISIT_AMENDMENT:
        return append_amendment(tx)
    if entity == Entity.CONFLICT:
        raise Reject(
            RejectCode.VALIDATION, "conflicts are resolved through /v1/conflicts, not pushed"
        )
    handler = HANDLERS.get(tx.mutation.op)
    if handler is None:
        raise Reject(RejectCode.VALIDATION, f"{entity} takes create, patch or delete, not append")
    return handler(tx)


def _record_rejection(tx: Tx, rej: Reject) -> Rejected:
    """Keep a refused edit's payload: quarantine (scope) or a ``gone`` conflict (deleted row)."""
    m = tx.mutation
    payload = _storable(m.model_dump(mode="json"))
    if rej.keep == "quarantine":
        tx.session.add(
            Quarantine(
                mutation_id=m.mutation_id,
                user_id=tx.actor.user_id,
                device_id=tx.actor.device_id,
                reason=rej.message[:300],
                payload=payload,
                created_at=tx.index.now,
            )
        )
    elif rej.keep == "conflict":
        record_conflict(tx, None, "*", None, payload, kind="gone")
    return Rejected(code=rej.code, message=rej.message)


def _storable(value: Any) -> Any:
    """A JSON value PostgreSQL accepts: NUL characters (refused by jsonb) become U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value
