"""Scopes: who holds what, per-scope version counters and the sync index."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from fieldcrm.domain.enums import Role
from fieldcrm.sync.protocol import ChangeOp, scope_of_territory, scope_of_user
from fieldcrm.sync.server.models import (
    Account,
    ScopeCounter,
    SyncIndex,
    Territory,
    TerritoryAssignment,
)


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated caller: user, role, device and the scopes the server grants them."""

    user_id: str
    role: str
    device_id: str
    scopes: frozenset[str]

    @property
    def is_manager(self) -> bool:
        return self.role in (Role.MANAGER, Role.ADMIN)


def insert_for(session: Session) -> Any:
    """The dialect's ``insert`` (both have ``on_conflict_do_nothing/do_update``)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def held_territories(session: Session, *, user_id: str, since: datetime | None = None) -> set[str]:
    """Territories ``user_id`` holds now, or held at any time after ``since`` when given."""
    q = select(TerritoryAssignment.territory_id).where(TerritoryAssignment.user_id == user_id)
    if since is None:
        q = q.where(TerritoryAssignment.valid_to.is_(None))
    else:
        q = q.where(
            or_(TerritoryAssignment.valid_to.is_(None), TerritoryAssignment.valid_to >= since)
        )
    return set(session.scalars(q))


def compute_scopes(session: Session, *, user_id: str, role: str) -> frozenset[str]:
    """The scopes the server grants a user: never anything the client asked for."""
    if role in (Role.MANAGER, Role.ADMIN):
        ids = session.scalars(select(Territory.id).where(Territory.deleted.is_(False)))
    else:
        ids = held_territories(session, user_id=user_id)
    return frozenset({scope_of_territory(t) for t in ids} | {scope_of_user(user_id)})


def account_scopes(account: Account) -> set[str]:
    """An account lives in its territory's scope, plus its creator's while unassigned."""
    scopes: set[str] = set()
    if account.territory_id:
        scopes.add(scope_of_territory(account.territory_id))
    if account.needs_assignment and account.created_by:
        scopes.add(scope_of_user(account.created_by))
    return scopes


def within(days: float, now: datetime) -> datetime:
    return now - timedelta(days=days)


@dataclass
class IndexWrites:
    """Sync-index ops staged by one transaction.

    Each mutation of a push is a *group* (``begin()``) and gets its own version in every scope
    it touches, so a pull page may end between two mutations of one push. Versions are taken
    at the end with one ``UPDATE ... SET last_version = last_version + k ... RETURNING`` per
    scope, in scope-id order (no lock-order deadlocks, one round trip per scope).
    """

    session: Session
    now: datetime
    staged: dict[tuple[str, str, str], tuple[str, int, int]] = field(default_factory=dict)
    touched: dict[int, set[str]] = field(default_factory=dict)
    group: int = 0

    def begin(self) -> int:
        """Start the next mutation's group; returns its number."""
        self.group += 1
        return self.group

    def stage(
        self,
        scopes: set[str] | frozenset[str],
        entity: str,
        entity_id: str,
        op: ChangeOp,
        row_version: int,
    ) -> None:
        for scope in scopes:
            self.staged[(scope, entity, entity_id)] = (op.value, row_version, self.group)
            self.touched.setdefault(self.group, set()).add(scope)

    def flush(self) -> dict[int, dict[str, int]]:
        """Take the versions and write the index; returns ``{group: {scope: version}}``."""
        per_scope: dict[str, list[int]] = {}
        for group, scopes in self.touched.items():
            for scope in scopes:
                per_scope.setdefault(scope, []).append(group)
        versions: dict[int, dict[str, int]] = {g: {} for g in self.touched}
        for scope in sorted(per_scope):
            groups = sorted(per_scope[scope])
            top = take_version(self.session, scope_id=scope, count=len(groups))
            for rank, group in enumerate(groups):
                versions[group][scope] = top - len(groups) + 1 + rank
        if self.staged:
            insert = insert_for(self.session)
            rows = [
                {
                    "scope_id": s,
                    "entity": e,
                    "entity_id": i,
                    "version": versions[g][s],
                    "op": op,
                    "row_version": rv,
                    "changed_at": self.now,
                }
                for (s, e, i), (op, rv, g) in sorted(self.staged.items())
            ]
            stmt = insert(SyncIndex)
            stmt = stmt.on_conflict_do_update(
                index_elements=["scope_id", "entity", "entity_id"],
                set_={k: stmt.excluded[k] for k in ("version", "op", "row_version", "changed_at")},
            )
            self.session.execute(stmt, rows)
        self.staged.clear()
        self.touched.clear()
        return versions


def take_version(session: Session, *, scope_id: str, count: int = 1) -> int:
    """``UPDATE scope_counter ... RETURNING``: the row lock serialises writers per scope.

    Reserves ``count`` consecutive versions and returns the highest.
    """
    stmt = (
        update(ScopeCounter)
        .where(ScopeCounter.scope_id == scope_id)
        .values(last_version=ScopeCounter.last_version + count)
        .returning(ScopeCounter.last_version)
    )
    got = session.execute(stmt).scalar_one_or_none()
    if got is not None:
        return int(got)
    insert = insert_for(session)
    session.execute(
        insert(ScopeCounter)
        .values(scope_id=scope_id, last_version=0, low_water=0, epoch=1)
        .on_conflict_do_nothing(index_elements=["scope_id"])
    )
    return int(session.execute(stmt).scalar_one())


def current_version(session: Session, *, scope_id: str, entity: str, entity_id: str) -> int:
    """The version at which an entity's latest op sits in a scope (0 when absent)."""
    got = session.scalar(
        select(SyncIndex.version).where(
            SyncIndex.scope_id == scope_id,
            SyncIndex.entity == entity,
            SyncIndex.entity_id == entity_id,
        )
    )
    return int(got or 0)
