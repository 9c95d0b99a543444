"""Admin and manager operations: users, devices, territories, assignments and conflicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from fieldcrm.domain.enums import Role
from fieldcrm.domain.ids import new_id
from fieldcrm.errors import FieldCrmError, InvalidInput, NotFound
from fieldcrm.sync.protocol import (
    ChangeOp,
    TerritoryOut,
    scope_of_territory,
)
from fieldcrm.sync.server.auth import hash_password
from fieldcrm.sync.server.fields import clean_geometry
from fieldcrm.sync.server.merge import write_fields
from fieldcrm.sync.server.models import (
    Device,
    RefreshToken,
    Territory,
    TerritoryAssignment,
    User,
    utcnow,
)
from fieldcrm.sync.server.placement import (
    BoundaryChange,
    Replacement,
    checked_geometry,
    plain_geometry,
    replace_accounts,
)
from fieldcrm.sync.server.scopes import Actor, IndexWrites

MIN_PASSWORD = 8


class Forbidden(FieldCrmError):
    """The caller's role may not do this (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: str
    username: str
    name: str
    email: str
    role: str
    disabled: bool


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: str
    user_id: str
    username: str
    name: str
    revoked: bool
    last_seen: datetime | None


def _user_info(u: User) -> UserInfo:
    return UserInfo(
        id=u.id, username=u.username, name=u.name, email=u.email, role=u.role, disabled=u.disabled
    )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"password must have at least {MIN_PASSWORD} characters", {"password": "too short"}
        )


def add_user(
    session: Session, *, username: str, password: str, role: str, name: str = "", email: str = ""
) -> UserInfo:
    """Create a user; raises InvalidInput for a taken name, bad role or short password."""
    username = username.strip()
    if not username:
        raise InvalidInput("username must not be empty", {"username": "empty"})
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"role must be rep, manager or admin, not {role!r}", {"role": "unknown"})
    _check_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InvalidInput(f"user {username!r} already exists", {"username": "taken"})
    user = User(
        id=new_id(),
        username=username,
        name=name or username,
        email=email,
        role=role,
        password_hash=hash_password(password),
        disabled=False,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return _user_info(user)


def get_user(session: Session, *, ref: str) -> User:
    """A user by username or id; raises NotFound."""
    user = session.scalar(select(User).where(or_(User.username == ref, User.id == ref)))
    if user is None:
        raise NotFound(f"no user {ref!r}")
    return user


def list_users(session: Session) -> list[UserInfo]:
    return [_user_info(u) for u in session.scalars(select(User).order_by(User.username))]


def set_disabled(session: Session, *, username: str, disabled: bool = True) -> UserInfo:
    user = get_user(session, ref=username)
    user.disabled = disabled
    _burn_tokens(session, user_id=user.id)
    return _user_info(user)


def reset_password(session: Session, *, username: str, password: str) -> UserInfo:
    _check_password(password)
    user = get_user(session, ref=username)
    user.password_hash = hash_password(password)
    _burn_tokens(session, user_id=user.id)
    return _user_info(user)


def _burn_tokens(
    session: Session, *, user_id: str | None = None, device_id: str | None = None
) -> None:
    q = update(RefreshToken).where(RefreshToken.used_at.is_(None)).values(used_at=utcnow())
    q = (
        q.where(RefreshToken.user_id == user_id)
        if user_id
        else q.where(RefreshToken.device_id == device_id)
    )
    session.execute(q)


def register_device(session: Session, *, user_id: str, device_id: str | None, name: str) -> Device:
    """Bind a (client-made) device id to a user, registering it when new."""
    device_id = device_id or new_id()
    device = session.get(Device, device_id)
    if device is None:
        device = Device(id=device_id, user_id=user_id, name=name, created_at=utcnow())
        session.add(device)
    elif device.user_id != user_id:
        raise Forbidden("this device id belongs to another user")
    elif name:
        device.name = name
    device.last_seen = utcnow()
    session.flush()
    return device


def list_devices(session: Session, *, username: str | None = None) -> list[DeviceInfo]:
    q = select(Device, User.username).join(User, User.id == Device.user_id).order_by(User.username)
    if username:
        q = q.where(User.username == username)
    return [
        DeviceInfo(
            id=d.id,
            user_id=d.user_id,
            username=u,
            name=d.name,
            revoked=d.revoked_at is not None,
            last_seen=d.last_seen,
        )
        for d, u in session.execute(q)
    ]


def revoke_device(session: Session, *, device_id: str) -> None:
    """Revoke a device: its tokens stop working at once (401); its user stays enabled."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id!r}")
    device.revoked_at = device.revoked_at or utcnow()
    _burn_tokens(session, device_id=device_id)


def territory_out(t: Territory) -> TerritoryOut:
    return TerritoryOut(
        id=t.id,
        name=t.name,
        geojson=t.geojson,
        color=t.color,
        rep_id=t.rep_id,
        row_version=t.row_version,
    )


def find_territory(session: Session, *, ref: str) -> Territory:
    t = session.scalar(
        select(Territory).where(
            or_(Territory.id == ref, Territory.name == ref), Territory.deleted.is_(False)
        )
    )
    if t is None:
        raise NotFound(f"no territory {ref!r}")
    return t


def _existing(session: Session, territory_id: str | None, name: str) -> Territory | None:
    """The territory an import line names: by id, else by name (a live one first)."""
    if territory_id:
        return session.get(Territory, territory_id)
    q = select(Territory).where(Territory.name == name).order_by(Territory.deleted)
    return session.scalars(q).first()


def upsert_territory(
    session: Session,
    *,
    index: IndexWrites,
    territory_id: str | None,
    name: str,
    geojson: Any,
    color: str = "#3388ff",
) -> Territory:
    """Create or update a territory (by id, else by live name) and index it in its scope.

    Importing the id of a deleted territory restores it. Accounts are not re-placed here:
    `import_territories_report` does that once for the whole file.
    """
    try:
        geometry = plain_geometry(clean_geometry(geojson))
    except ValueError as exc:
        raise InvalidInput(f"territory {name!r}: geometry {exc}", {"geometry": str(exc)}) from None
    t = _existing(session, territory_id, name)
    if t is None:
        t = Territory(
            id=territory_id or new_id(),
            name=name,
            geojson=geometry,
            color=color,
            row_version=1,
            field_versions={"name": 1, "geojson": 1, "color": 1},
            deleted=False,
            created_at=index.now,
            updated_at=index.now,
        )
        session.add(t)
    else:
        changes = {
            k: v
            for k, v in (
                ("name", name),
                ("geojson", geometry),
                ("color", color),
                ("deleted", False),
            )
            if getattr(t, k) != v
        }
        if not changes:
            return t  # the same again: no new version anywhere
        write_fields(t, changes, index.now)
    index.stage({scope_of_territory(t.id)}, "territory", t.id, ChangeOp.UPSERT, t.row_version)
    return t


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The territories a file created or updated, and what their boundaries did to accounts."""

    territories: list[TerritoryOut]
    placement: Replacement


def _read_feature(n: int, feature: Any) -> tuple[str, str, str | None, dict[str, Any]]:
    """``(name, color, id, geometry)`` of feature ``n`` (1-based); raises InvalidInput."""
    if not isinstance(feature, dict):
        raise InvalidInput(f"feature {n}: is not a GeoJSON Feature object")
    props = feature.get("properties") or {}
    name = props.get("name") if isinstance(props, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"feature {n}: properties.name is missing")
    color = props.get("color") if isinstance(props.get("color"), str) else "#3388ff"
    ident = props.get("id") if isinstance(props.get("id"), str) and props.get("id") else None
    try:
        geometry = checked_geometry(feature.get("geometry"))
    except ValueError as exc:
        raise InvalidInput(
            f"feature {n} {name.strip()!r}: geometry {exc}", {"geometry": str(exc)}
        ) from None
    return name.strip(), color, ident, geometry


def import_territories_report(session: Session, *, collection: Any) -> ImportResult:
    """Import a GeoJSON FeatureCollection (each feature needs ``properties.name``).

    Every feature is checked before anything is written; then the accounts whose containing
    territory changed move with their children (`placement.replace_accounts`), all in the
    caller's transaction.

    Raises
    ------
    InvalidInput
        Not a FeatureCollection, or a feature (named by number and name) is unusable.
    """
    features = collection.get("features", []) if isinstance(collection, dict) else None
    if not isinstance(features, list) or collection.get("type") != "FeatureCollection":
        raise InvalidInput("expected a GeoJSON FeatureCollection (with a list of features)")
    read = [_read_feature(n, f) for n, f in enumerate(features, start=1)]
    index = IndexWrites(session=session, now=utcnow())
    done: list[Territory] = []
    before: dict[str, dict[str, Any] | None] = {}
    for name, color, ident, geometry in read:
        found = _existing(session, ident, name)
        old = None if found is None or found.deleted else plain_geometry(found.geojson)
        t = upsert_territory(
            session, index=index, territory_id=ident, name=name, geojson=geometry, color=color
        )
        before.setdefault(t.id, old)
        done.append(t)
    session.flush()
    last = {t.id: t for t in done}
    changes = [BoundaryChange(i, old, last[i].geojson) for i, old in before.items()]
    placed = replace_accounts(session, index, changes)
    session.flush()
    index.flush()
    return ImportResult([territory_out(t) for t in done], placed)


def import_territories(session: Session, *, collection: Any) -> list[TerritoryOut]:
    """`import_territories_report` without the placement figures."""
    return import_territories_report(session, collection=collection).territories


def delete_territory(session: Session, *, ref: str) -> tuple[TerritoryOut, Replacement]:
    """Soft-delete a territory (a tombstone; assignments kept); its accounts follow the map.

    Accounts another territory covers move there; the others stay, flagged for a manager.
    """
    t = find_territory(session, ref=ref)
    index = IndexWrites(session=session, now=utcnow())
    old = plain_geometry(t.geojson)
    write_fields(t, {"deleted": True}, index.now)
    index.stage({scope_of_territory(t.id)}, "territory", t.id, ChangeOp.DELETE, t.row_version)
    session.flush()
    placed = replace_accounts(session, index, [BoundaryChange(t.id, old, None)])
    session.flush()
    index.flush()
    return territory_out(t), placed


def export_territories(session: Session) -> dict[str, Any]:
    rows = session.scalars(
        select(Territory).where(Territory.deleted.is_(False)).order_by(Territory.name)
    )
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": t.geojson,
                "properties": {"id": t.id, "name": t.name, "color": t.color, "rep_id": t.rep_id},
            }
            for t in rows
        ],
    }


def assign_territory(session: Session, *, territory_ref: str, user_ref: str | None) -> TerritoryOut:
    """Give a territory to one rep (or nobody), keeping the assignment history."""
    t = find_territory(session, ref=territory_ref)
    user = get_user(session, ref=user_ref) if user_ref else None
    now = utcnow()
    if user is not None and t.rep_id == user.id:
        return territory_out(t)
    session.execute(
        update(TerritoryAssignment)
        .where(TerritoryAssignment.territory_id == t.id, TerritoryAssignment.valid_to.is_(None))
        .values(valid_to=now)
    )
    if user is not None:
        session.add(TerritoryAssignment(user_id=user.id, territory_id=t.id, valid_from=now))
    index = IndexWrites(session=session, now=now)
    write_fields(t, {"rep_id": user.id if user else None}, now)
    index.stage({scope_of_territory(t.id)}, "territory", t.id, ChangeOp.UPSERT, t.row_version)
    session.flush()
    index.flush()
    return territory_out(t)


def list_territories(session: Session, *, actor: Actor) -> list[TerritoryOut]:
    rows = session.scalars(
        select(Territory).where(Territory.deleted.is_(False)).order_by(Territory.name)
    )
    return [
        territory_out(t)
        for t in rows
        if actor.is_manager or scope_of_territory(t.id) in actor.scopes
    ]
