"""Territory use cases: import with an accept step, edit, delete, reps, moving accounts."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from fieldcrm.db.models import AccountRecord, OutboxRecord, TerritoryRow, UserRow
from fieldcrm.db.outbox import enqueue
from fieldcrm.db.types import utcnow
from fieldcrm.domain.enums import Role
from fieldcrm.domain.ids import new_id
from fieldcrm.domain.records import Territory
from fieldcrm.errors import InvalidInput, NotFound
from fieldcrm.geo.territory import assign_points
from fieldcrm.geo.territory_check import (
    FeatureReport,
    ImportPreview,
    accept_import,
    check_geometry,
    expected_bbox_from_points,
    prepare_import,
)
from fieldcrm.geo.territory_io import (
    TerritoryFeature,
    read_geojson,
    read_territory_file,
    write_territory_file,
)

Shapes = list[tuple[str, BaseGeometry]]
PALETTE = ("#3388ff", "#e6194b", "#3cb44b", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
           "#bcf60c", "#008080", "#9a6324", "#800000", "#808000", "#000075")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What an accepted import did."""

    created: tuple[Territory, ...]
    updated: tuple[Territory, ...]
    accounts_moved: int


@dataclass(frozen=True, slots=True)
class _Accounts:
    ids: list[str]
    lons: np.ndarray
    lats: np.ndarray
    territory: list[str | None]
    versions: list[int]


def _dto(row: TerritoryRow, rep_name: str = "") -> Territory:
    return Territory(row.id, row.name, json.loads(row.geojson), row.color, row.rep_id, rep_name)


def _live(session: Session, territory_id: str) -> TerritoryRow:
    row = session.get(TerritoryRow, territory_id)
    if row is None or row.deleted:
        raise NotFound("That territory does not exist or was deleted.")
    return row


def _shapes(session: Session) -> Shapes:
    rows = session.execute(select(TerritoryRow.id, TerritoryRow.geojson)
                           .where(TerritoryRow.deleted.is_(False))).all()  # fmt: skip
    return [(r[0], shape(json.loads(r[1]))) for r in rows]


def _accounts(session: Session) -> _Accounts:
    rows = session.execute(text(
        "SELECT id, lon, lat, territory_id, row_version FROM account "
        "WHERE deleted = 0 AND lat IS NOT NULL AND lon IS NOT NULL ORDER BY id")).all()  # fmt: skip
    return _Accounts(
        [r[0] for r in rows],
        np.array([r[1] for r in rows], dtype=float),
        np.array([r[2] for r in rows], dtype=float),
        [r[3] for r in rows],
        [int(r[4]) for r in rows],
    )


def _patch_accounts(session: Session, changes: dict[str, dict[str, Any]],
                    versions: dict[str, int]) -> None:  # fmt: skip
    """Bulk-apply per-account field changes and their outbox patches (no commit)."""
    if not changes:
        return
    now = utcnow()
    # ORM bulk UPDATE by primary key: one executemany per distinct set of keys.
    session.execute(update(AccountRecord),
                    [{"id": aid, **f, "updated_at": now} for aid, f in changes.items()])  # fmt: skip
    session.execute(insert(OutboxRecord), [
        {"mutation_id": new_id(), "entity": "account", "entity_id": aid, "op": "patch",
         "base_version": versions.get(aid, 0), "fields_json": json.dumps(f, sort_keys=True),
         "state": "pending", "created_at": now}
        for aid, f in changes.items()
    ])  # fmt: skip


def _reassign(session: Session, before: Shapes, after: Shapes) -> int:
    """Give accounts whose computed territory changed between two sets of shapes the new one.

    Accounts whose computed territory did not change keep what they have, so a manual move
    (`move_accounts`) survives edits elsewhere. An account that lands in a territory with a
    rep gets that rep as owner.
    """
    acc = _accounts(session)
    if not acc.ids:
        return 0
    old = _territory_ids(acc, before)
    new = _territory_ids(acc, after)
    reps = dict(session.execute(select(TerritoryRow.id, TerritoryRow.rep_id)).all())
    changes: dict[str, dict[str, Any]] = {}
    for i, aid in enumerate(acc.ids):
        if old[i] != new[i] and acc.territory[i] != new[i]:
            fields: dict[str, Any] = {"territory_id": new[i]}
            if new[i] is not None and reps.get(new[i]):
                fields["owner_id"] = reps[new[i]]
            changes[aid] = fields
    _patch_accounts(session, changes, dict(zip(acc.ids, acc.versions, strict=True)))
    return len(changes)


def _territory_ids(acc: _Accounts, shapes: Shapes) -> list[str | None]:
    index = assign_points(acc.lons, acc.lats, shapes)
    return [shapes[i][0] if i >= 0 else None for i in index.tolist()]


def preview_import(*, session: Session, path: str | Path) -> ImportPreview:
    """Read and validate a territory file against the accounts; nothing is written."""
    acc = _accounts(session)
    return prepare_import(read_territory_file(path), account_lons=acc.lons, account_lats=acc.lats)


def _color(props: dict[str, Any], k: int) -> str:
    value = props.get("color")
    ok = isinstance(value, str) and len(value) == 7 and value.startswith("#")
    return value if ok else PALETTE[k % len(PALETTE)]  # type: ignore[return-value]


def import_territories(
    *, session: Session, preview: ImportPreview, accepted: Collection[int] | None = None
) -> ImportOutcome:
    """Store an accepted import in one transaction and reassign the affected accounts.

    A feature whose id is a live territory's id (as in our own exports) updates it; every
    other feature creates a territory.

    Raises
    ------
    InvalidInput
        If the preview has errors or a proposed repair was not accepted; nothing is written.
    """
    features = accept_import(preview, accepted=accepted)
    before = _shapes(session)
    created, updated = [], []
    for k, f in enumerate(features):
        row = session.get(TerritoryRow, f.fid) if f.fid else None
        gj = json.dumps(mapping(f.geometry))
        if row is not None and not row.deleted:
            changed = {"name": f.name, "geojson": gj, "color": _color(f.properties, k)}
            _apply(session, row, changed)
            updated.append(row)
        else:
            row = TerritoryRow(id=new_id(), name=f.name, geojson=gj, color=_color(f.properties, k))
            session.add(row)
            session.flush()
            enqueue(session, entity="territory", entity_id=row.id, op="create",
                    fields={"name": row.name, "geojson": gj, "color": row.color})  # fmt: skip
            created.append(row)
    session.flush()
    moved = _reassign(session, before, _shapes(session))
    session.commit()
    return ImportOutcome(tuple(map(_dto, created)), tuple(map(_dto, updated)), moved)


def _apply(session: Session, row: TerritoryRow, fields: dict[str, Any]) -> dict[str, Any]:
    changed = {k: v for k, v in fields.items() if getattr(row, k) != v}
    synced = {k: v for k, v in changed.items() if k in ("name", "geojson", "color")}
    for key, value in changed.items():
        setattr(row, key, value)
    if changed:
        row.updated_at = utcnow()
    if synced:
        enqueue(session, entity="territory", entity_id=row.id, op="patch", fields=synced,
                base_version=row.row_version)  # fmt: skip
    return changed


def check_territory_geometry(*, session: Session, geojson: dict[str, Any]) -> FeatureReport:
    """Validate a drawn or edited GeoJSON geometry; the report says what a repair changes.

    Raises
    ------
    InvalidInput
        If the geometry cannot be read at all (the message says what is wrong).
    """
    doc = json.dumps({"type": "Feature", "properties": {"name": "drawn"}, "geometry": geojson})
    parsed = read_geojson(doc)
    if parsed.errors:
        raise InvalidInput(parsed.errors[0].split(": ", 1)[-1], {"geometry": parsed.errors[0]})
    acc = _accounts(session)
    bbox = expected_bbox_from_points(acc.lons, acc.lats)
    return check_geometry(parsed.features[0].feature.geometry, expected_bbox=bbox)


def _accepted_geometry(session: Session, geojson: dict[str, Any], accept_repair: bool) -> str:
    report = check_territory_geometry(session=session, geojson=geojson)
    messages = "; ".join(p.message for p in report.problems)
    if report.fatal:
        raise InvalidInput(messages, {"geometry": messages})
    if report.needs_acceptance and not accept_repair:
        raise InvalidInput(f"The shape needs a repair first: {messages}", {"geometry": messages})
    assert report.proposed is not None
    return json.dumps(mapping(report.proposed))


def _clean_name(name: str) -> str:
    value = str(name or "").strip()
    if not value or len(value) > 200:
        msg = "Name is required." if not value else "Name is longer than 200 characters."
        raise InvalidInput(msg, {"name": msg})
    return value


def create_territory(*, session: Session, name: str, geojson: dict[str, Any],
                     color: str | None = None, accept_repair: bool = False) -> Territory:  # fmt: skip
    """Create a territory from a drawn shape, reassign the accounts inside it; commits.

    Raises
    ------
    InvalidInput
        If the name is empty or the shape is unusable, or needs a repair not accepted.
    """
    clean = _clean_name(name)
    before = _shapes(session)
    gj = _accepted_geometry(session, geojson, accept_repair)
    row = TerritoryRow(
        id=new_id(), name=clean, geojson=gj, color=color or PALETTE[len(before) % 13]
    )
    session.add(row)
    session.flush()
    enqueue(session, entity="territory", entity_id=row.id, op="create",
            fields={"name": row.name, "geojson": gj, "color": row.color})  # fmt: skip
    _reassign(session, before, _shapes(session))
    session.commit()
    return _dto(row)


def update_territory(*, session: Session, territory_id: str, name: str | None = None,
                     color: str | None = None, geojson: dict[str, Any] | None = None,
                     accept_repair: bool = False) -> Territory:  # fmt: skip
    """Rename, recolour or reshape a territory; a new shape reassigns accounts; commits.

    Raises
    ------
    NotFound
        If the territory does not exist.
    InvalidInput
        If the name or shape is unusable, or a needed repair was not accepted.
    """
    row = _live(session, territory_id)
    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = _clean_name(name)
    if color is not None:
        fields["color"] = str(color)
    before = _shapes(session)
    if geojson is not None:
        fields["geojson"] = _accepted_geometry(session, geojson, accept_repair)
    changed = _apply(session, row, fields)
    if "geojson" in changed:
        session.flush()
        _reassign(session, before, _shapes(session))
    session.commit()
    return _dto(row)


def delete_territory(*, session: Session, territory_id: str, actor_role: Role) -> int:
    """Soft-delete a territory; its accounts go to whichever territory now covers them.

    Returns the number of accounts whose territory changed.

    Raises
    ------
    InvalidInput
        If the actor is not a manager or admin.
    """
    if actor_role not in (Role.MANAGER, Role.ADMIN):
        raise InvalidInput("Only a manager can delete a territory.")
    row = _live(session, territory_id)
    before = _shapes(session)
    row.deleted = True
    row.updated_at = utcnow()
    enqueue(session, entity="territory", entity_id=row.id, op="delete", fields={},
            base_version=row.row_version)  # fmt: skip
    session.flush()
    moved = _reassign(session, before, _shapes(session))
    # Accounts put in it by hand (outside its shape) lose it too.
    stale = session.execute(select(AccountRecord.id, AccountRecord.row_version).where(
        AccountRecord.territory_id == territory_id, AccountRecord.deleted.is_(False))).all()  # fmt: skip
    _patch_accounts(session, {r[0]: {"territory_id": None} for r in stale},
                    {r[0]: r[1] for r in stale})  # fmt: skip
    session.commit()
    return moved + len(stale)


def assign_rep(*, session: Session, territory_id: str, rep_id: str | None,
               update_owners: bool = True) -> Territory:  # fmt: skip
    """Give a territory to a rep (None: to nobody); by default its accounts' owner follows.

    Raises
    ------
    NotFound
        If the territory or the user does not exist.
    """
    row = _live(session, territory_id)
    rep_name = ""
    if rep_id is not None:
        user = session.get(UserRow, rep_id)
        if user is None or user.deleted:
            raise NotFound("That user does not exist.")
        rep_name = user.name
    _apply(session, row, {"rep_id": rep_id})
    if update_owners and rep_id is not None:
        rows = session.execute(select(AccountRecord.id, AccountRecord.row_version).where(
            AccountRecord.territory_id == territory_id, AccountRecord.deleted.is_(False),
            AccountRecord.owner_id.is_distinct_from(rep_id))).all()  # fmt: skip
        _patch_accounts(session, {r[0]: {"owner_id": rep_id} for r in rows},
                        {r[0]: r[1] for r in rows})  # fmt: skip
    session.commit()
    return _dto(row, rep_name)


def move_accounts(*, session: Session, account_ids: Sequence[str],
                  territory_id: str | None) -> int:  # fmt: skip
    """Put lasso-selected accounts in a territory (None: in none); returns how many changed.

    The move holds until the territory's shape is edited around them.

    Raises
    ------
    NotFound
        If the territory or one of the accounts does not exist.
    """
    rep = _live(session, territory_id).rep_id if territory_id is not None else None
    rows = session.execute(select(AccountRecord.id, AccountRecord.territory_id,
                                  AccountRecord.row_version)
                           .where(AccountRecord.id.in_(list(account_ids)),
                                  AccountRecord.deleted.is_(False))).all()  # fmt: skip
    if len(rows) != len(set(account_ids)):
        raise NotFound("Some of the selected accounts no longer exist; refresh and try again.")
    changes: dict[str, dict[str, Any]] = {}
    for aid, current, _ in rows:
        if current != territory_id:
            changes[aid] = {"territory_id": territory_id} | ({"owner_id": rep} if rep else {})
    _patch_accounts(session, changes, {r[0]: r[2] for r in rows})
    session.commit()
    return len(changes)


def reassign_all(*, session: Session) -> int:
    """Recompute every account's territory from the shapes (manual moves are undone); commits."""
    acc = _accounts(session)
    new = _territory_ids(acc, _shapes(session))
    reps = dict(session.execute(select(TerritoryRow.id, TerritoryRow.rep_id)).all())
    changes = {
        aid: {"territory_id": t} | ({"owner_id": reps[t]} if t and reps.get(t) else {})
        for aid, cur, t in zip(acc.ids, acc.territory, new, strict=True)
        if cur != t
    }
    _patch_accounts(session, changes, dict(zip(acc.ids, acc.versions, strict=True)))
    session.commit()
    return len(changes)


def export_territories(*, session: Session, path: str | Path) -> int:
    """Write every live territory to a GeoJSON or KML file (by suffix); returns how many."""
    rows = session.execute(select(TerritoryRow, UserRow.name)
                           .outerjoin(UserRow, UserRow.id == TerritoryRow.rep_id)
                           .where(TerritoryRow.deleted.is_(False))
                           .order_by(TerritoryRow.name)).all()  # fmt: skip
    features = [
        TerritoryFeature(t.name, shape(json.loads(t.geojson)),
                         {"color": t.color, "rep": rep or "", "region": t.region}, t.id)
        for t, rep in rows
    ]  # fmt: skip
    write_territory_file(path, features)
    return len(features)
