"""Create, per-field 3-way merge and soft delete of the mutable entities (SYNC.md conflict rules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from fieldcrm.domain.ids import new_id
from fieldcrm.errors import InvalidInput
from fieldcrm.sync.protocol import (
    Applied,
    ChangeOp,
    FieldConflict,
    Merged,
    Mutation,
    Op,
    RejectCode,
    scope_of_territory,
    scope_of_user,
)
from fieldcrm.sync.server import placement  # module import: placement uses merge too
from fieldcrm.sync.server.fields import SERVER_ONLY, SPECS, clean_fields
from fieldcrm.sync.server.models import (
    Account,
    Conflict,
    Contact,
    Opportunity,
    Sale,
    Territory,
    Visit,
    VisitAmendment,
)
from fieldcrm.sync.server.scopes import Actor, IndexWrites, account_scopes, current_version

MODELS: dict[str, type[Any]] = {
    "account": Account,
    "contact": Contact,
    "opportunity": Opportunity,
    "sale": Sale,
    "territory": Territory,
}
CHILDREN: tuple[tuple[str, type[Any]], ...] = (
    ("contact", Contact),
    ("opportunity", Opportunity),
    ("sale", Sale),
)

Finish = Callable[[dict[str, int]], Applied | Merged]
"""A mutation's result, completed once the scope versions are taken."""


class Reject(Exception):
    """A mutation the server refuses; ``keep`` says where its payload is kept."""

    def __init__(self, code: RejectCode, message: str, *, keep: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.keep = keep  # "" | "quarantine" | "conflict"


@dataclass
class Batch:
    """What a push learnt up front: rows it locked (in the identity map) and ids it found absent."""

    absent: set[tuple[str, str]] = field(default_factory=set)
    held: list[Any] = field(default_factory=list)  # the identity map only holds weak refs


@dataclass
class Tx:
    """One mutation's transaction: session, caller and staged sync-index writes."""

    session: Session
    actor: Actor
    index: IndexWrites
    mutation: Mutation
    batch: Batch = field(default_factory=Batch)

    def get(self, entity: str, model: type[Any], ident: str, *, lock: bool = False) -> Any:
        """A row by id: free when prefetched (locked) or known absent, else one SELECT."""
        if (entity, ident) in self.batch.absent:
            return None
        found = self.session.identity_map.get(identity_key(model, ident))
        if found is not None:
            return found
        return self.session.get(model, ident, with_for_update=lock or None)


def indexed_version(tx: Tx, *, scope_id: str, entity: str, entity_id: str) -> int:
    """The version of an entity's latest op in a scope, without flushing the batch first.

    The sync index is written only at the end of the batch (``IndexWrites.flush``), so an
    autoflush here would only break the batch's multi-row INSERTs into single ones.
    """
    with tx.session.no_autoflush:
        return current_version(tx.session, scope_id=scope_id, entity=entity, entity_id=entity_id)


def cleaned(entity: str, fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    try:
        return clean_fields(entity, fields, creating=creating)
    except InvalidInput as exc:
        raise Reject(RejectCode.VALIDATION, str(exc)) from None


def row_scopes(session: Session, entity: str, row: Any) -> set[str]:
    if entity == "account":
        return account_scopes(row)
    if entity == "territory":
        return {scope_of_territory(row.id)}
    account = session.get(Account, row.account_id)
    return account_scopes(account) if account is not None else set()


def authorize(actor: Actor, scopes: set[str], what: str) -> None:
    if actor.is_manager or scopes & actor.scopes:
        return
    raise Reject(RejectCode.FORBIDDEN_SCOPE, f"{what} is not in your scopes", keep="quarantine")


def _version_of(versions: dict[str, int], scopes: set[str]) -> int:
    return versions.get(min(scopes), 0) if scopes else 0


def create_row(tx: Tx) -> Finish:
    m, s = tx.mutation, tx.session
    model = MODELS[m.entity]
    fields = cleaned(m.entity, m.fields, creating=True)
    if m.entity == "territory" and not tx.actor.is_manager:
        raise Reject(RejectCode.FORBIDDEN_SCOPE, "only managers create territories")
    if tx.get(m.entity, model, m.entity_id) is not None:
        raise Reject(RejectCode.VALIDATION, f"{m.entity} {m.entity_id} already exists")
    extra: dict[str, Any] = {}
    if m.entity == "account":
        extra = place_account(s, tx.actor, fields)
    row = model(id=m.entity_id, **fields, **extra)
    if m.entity != "account" and m.entity != "territory":
        account = tx.get("account", Account, fields["account_id"])
        if account is None:
            raise Reject(RejectCode.VALIDATION, f"account {fields['account_id']} not found")
        authorize(tx.actor, account_scopes(account), f"account {account.id}")
        if account.deleted:
            raise Reject(RejectCode.GONE, f"account {account.id} was deleted", keep="conflict")
    row.created_by = tx.actor.user_id
    scopes = row_scopes(s, m.entity, row)
    row.row_version = 1
    row.field_versions = {f: 1 for f in fields}
    row.created_at = row.updated_at = tx.index.now
    s.add(row)
    if m.entity == "territory":
        placement.follow_territory(tx, row.id, old=None, new=row.geojson)
    tx.batch.absent.discard((m.entity, m.entity_id))
    tx.index.stage(scopes, m.entity, m.entity_id, ChangeOp.UPSERT, 1)
    return lambda versions: Applied(version=_version_of(versions, scopes), row_version=1)


def place_account(session: Session, actor: Actor, fields: dict[str, Any]) -> dict[str, Any]:
    """Put a new account in the territory containing it; flag it when that is not the rep's."""
    asked = fields.pop("territory_id", None)
    owner = fields.pop("owner_id", None)
    if not actor.is_manager and (asked is not None or owner not in (None, actor.user_id)):
        bad = "territory_id" if asked is not None else "owner_id"
        raise Reject(RejectCode.VALIDATION, f"invalid account: {bad} can only be set on the server")
    if asked is not None and session.get(Territory, asked) is None:
        raise Reject(RejectCode.VALIDATION, f"invalid account: territory {asked} not found")
    territory = asked or containing_territory(session, fields.get("lon"), fields.get("lat"))
    if actor.is_manager:
        flagged = territory is None
    else:
        flagged = territory is None or scope_of_territory(territory) not in actor.scopes
    return {
        "territory_id": territory,
        "owner_id": owner if actor.is_manager else actor.user_id,
        "needs_assignment": flagged,
    }


def containing_territory(session: Session, lon: float | None, lat: float | None) -> str | None:
    """The id of the first live territory whose polygon contains the point, if any."""
    if lon is None or lat is None:
        return None
    import shapely
    from shapely.geometry import shape

    rows = session.execute(
        select(Territory.id, Territory.geojson)
        .where(Territory.deleted.is_(False))
        .order_by(Territory.id)
    )
    for territory_id, geojson in rows:
        if shapely.contains_xy(shape(geojson), lon, lat):
            return str(territory_id)
    return None


def patch_row(tx: Tx) -> Finish:
    m, s, actor = tx.mutation, tx.session, tx.actor
    if m.base_version is None:
        raise Reject(RejectCode.VALIDATION, "a patch needs base_version (the row_version edited)")
    fields = cleaned(m.entity, m.fields, creating=False)
    row = _locked_row(tx)
    scopes = row_scopes(s, m.entity, row)
    authorize(actor, scopes, f"{m.entity} {m.entity_id}")
    if m.entity == "territory" and not actor.is_manager:
        raise Reject(RejectCode.FORBIDDEN_SCOPE, "only managers edit territories")
    if row.deleted:
        raise Reject(RejectCode.GONE, f"{m.entity} {m.entity_id} was deleted", keep="conflict")
    server_only = sorted(set(fields) & SERVER_ONLY.get(m.entity, frozenset()))
    if server_only and not actor.is_manager:
        raise Reject(
            RejectCode.VALIDATION, f"{', '.join(server_only)} can only be changed on the server"
        )
    if m.base_version > row.row_version:
        raise Reject(
            RejectCode.VALIDATION,
            f"base_version {m.base_version} is ahead of the server ({row.row_version})",
        )
    applied, conflicts = merge_fields(m.entity, row, fields, m.base_version)
    target = fields.get("territory_id") if actor.is_manager else None
    if target is not None and s.get(Territory, target) is None:
        raise Reject(RejectCode.VALIDATION, f"territory {target} not found")
    new_scopes = scopes
    # A manager naming the territory of a flagged account confirms its placement.
    placing = m.entity == "account" and row.needs_assignment and target is not None
    moving = m.entity == "account" and ("territory_id" in applied or placing)
    if applied or moving:
        if m.entity == "territory" and "geojson" in applied:
            placement.follow_territory(tx, row.id, old=row.geojson, new=applied["geojson"])
        write_fields(row, applied, tx.index.now)
        if moving:
            row.needs_assignment = row.territory_id is None
            new_scopes = account_scopes(row)
            move_account_tree(tx, row, scopes, new_scopes)
        tx.index.stage(new_scopes, m.entity, row.id, ChangeOp.UPSERT, row.row_version)
    made = [record_conflict(tx, row, f, kept, mine) for f, kept, mine in conflicts]
    return _finish(tx, row, new_scopes, bool(applied) or moving, made)


def _finish(tx: Tx, row: Any, scopes: set[str], changed: bool, made: list[FieldConflict]) -> Finish:
    entity = tx.mutation.entity
    if not changed and scopes:
        now_at = indexed_version(tx, scope_id=min(scopes), entity=entity, entity_id=row.id)
    rv = row.row_version

    def finish(versions: dict[str, int]) -> Applied | Merged:
        version = _version_of(versions, scopes) if changed else now_at if scopes else 0
        if made:
            return Merged(version=version, row_version=rv, conflicts=made)
        return Applied(version=version, row_version=rv)

    return finish


def _locked_row(tx: Tx) -> Any:
    m = tx.mutation
    row = tx.get(m.entity, MODELS[m.entity], m.entity_id, lock=True)
    if row is None:
        raise Reject(RejectCode.VALIDATION, f"{m.entity} {m.entity_id} not found")
    return row


def merge_fields(
    entity: str, row: Any, fields: dict[str, Any], base: int
) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """Split a patch into fields to apply and same-field conflicts ``(field, kept, rejected)``."""
    specs = SPECS[entity]
    versions = row.field_versions or {}
    applied: dict[str, Any] = {}
    conflicts: list[tuple[str, Any, Any]] = []
    for name, value in fields.items():
        current = getattr(row, name)
        merge = specs[name].merge
        if merge == "max":
            value = value if current is None or (value is not None and value > current) else current
        elif merge == "set" and isinstance(value, dict):
            value = sorted((set(current or []) | set(value["add"])) - set(value["remove"]))
        elif versions.get(name, 0) > base and value != current:
            conflicts.append((name, current, value))
            continue
        if value != current:
            applied[name] = value
    return applied, conflicts


def write_fields(row: Any, applied: dict[str, Any], now: Any) -> None:
    row.row_version += 1
    versions = dict(row.field_versions or {})
    for name, value in applied.items():
        setattr(row, name, value)
        versions[name] = row.row_version
    row.field_versions = versions
    row.updated_at = now


def record_conflict(
    tx: Tx, row: Any, field: str, kept: Any, rejected: Any, kind: str = "field"
) -> FieldConflict:
    """Keep the losing value in a conflict row the rep (via pull) and the managers can see."""
    conflict = Conflict(
        id=new_id(),
        entity=tx.mutation.entity,
        entity_id=row.id if row is not None else tx.mutation.entity_id,
        field=field,
        kind=kind,
        kept_value=kept,
        rejected_value=rejected,
        rejected_mutation_id=tx.mutation.mutation_id,
        user_id=tx.actor.user_id,
        status="open",
        row_version=1,
        created_at=tx.index.now,
    )
    tx.session.add(conflict)
    tx.index.stage({scope_of_user(tx.actor.user_id)}, "conflict", conflict.id, ChangeOp.UPSERT, 1)
    return FieldConflict(
        conflict_id=conflict.id, field=field, kept_value=kept, rejected_value=rejected
    )


def delete_row(tx: Tx) -> Finish:
    m, actor = tx.mutation, tx.actor
    row = _locked_row(tx)
    scopes = row_scopes(tx.session, m.entity, row)
    authorize(actor, scopes, f"{m.entity} {m.entity_id}")
    if m.entity in ("account", "territory") and not actor.is_manager:
        raise Reject(
            RejectCode.FORBIDDEN_SCOPE, f"only managers delete a {m.entity}", keep="quarantine"
        )
    if row.deleted:
        return _finish(tx, row, scopes, False, [])
    if m.entity == "territory":
        placement.follow_territory(tx, row.id, old=row.geojson, new=None)
    write_fields(row, {"deleted": True}, tx.index.now)
    tx.index.stage(scopes, m.entity, row.id, ChangeOp.DELETE, row.row_version)
    return _finish(tx, row, scopes, True, [])


def move_account_tree(tx: Tx, account: Account, old: set[str], new: set[str]) -> None:
    """Moving an account writes ``remove`` in the scopes it left and ``upsert`` in the new ones."""
    gone, added = old - new, new - old
    index, s = tx.index, tx.session
    index.stage(gone, "account", account.id, ChangeOp.REMOVE, account.row_version)
    for entity, model in CHILDREN:
        for child in s.scalars(select(model).where(model.account_id == account.id)):
            index.stage(gone, entity, child.id, ChangeOp.REMOVE, child.row_version)
            if not child.deleted:
                index.stage(added, entity, child.id, ChangeOp.UPSERT, child.row_version)
    for visit in s.scalars(select(Visit).where(Visit.account_id == account.id)):
        if visit.review != "accepted":  # under review or dismissed: only in user:<rep>
            continue
        keep = {scope_of_user(visit.rep_id)}
        index.stage(gone - keep, "visit", visit.id, ChangeOp.REMOVE, 1)
        index.stage(added - keep, "visit", visit.id, ChangeOp.UPSERT, 1)
        for amend in s.scalars(select(VisitAmendment).where(VisitAmendment.visit_id == visit.id)):
            index.stage(gone - keep, "visit_amendment", amend.id, ChangeOp.REMOVE, 1)
            index.stage(added - keep, "visit_amendment", amend.id, ChangeOp.UPSERT, 1)


HANDLERS: dict[Op, Callable[[Tx], Finish]] = {
    Op.CREATE: create_row,
    Op.PATCH: patch_row,
    Op.DELETE: delete_row,
}
