"""Accounts follow territory boundaries: re-placement after a territory is reshaped or deleted."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from fieldcrm.sync.protocol import ChangeOp
from fieldcrm.sync.server import merge
from fieldcrm.sync.server.fields import clean_geometry
from fieldcrm.sync.server.models import Account, Territory
from fieldcrm.sync.server.scopes import IndexWrites, account_scopes

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

_MAX_BOXES = 8
"""Above this many changed bounding boxes the candidate query uses their common box."""
_LOCK_CHUNK = 500


@dataclass(frozen=True, slots=True)
class BoundaryChange:
    """One territory's geometry before and after a change (GeoJSON; None: absent or deleted)."""

    territory_id: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Replacement:
    """What a boundary change did to the accounts.

    ``moved`` holds ``(account_id, from_territory, to_territory)``; ``outside`` the accounts
    that now lie in no territory (kept in their territory, flagged ``needs_assignment``);
    ``by_hand`` counts accounts a manager placed against the map, left where they are;
    ``examined`` counts the accounts inside the changed polygons' bounding boxes.
    """

    examined: int = 0
    moved: tuple[tuple[str, str | None, str], ...] = ()
    outside: tuple[str, ...] = ()
    by_hand: int = 0


@dataclass
class _Writes:
    """What ``merge.move_account_tree`` uses of a push's Tx: the session and its index writes."""

    session: Session
    index: IndexWrites


class _Map:
    """Live territories prepared for point tests, in claim order (smallest id first)."""

    def __init__(self, territories: Iterable[tuple[str, BaseGeometry]]) -> None:
        import shapely

        pairs = sorted(territories, key=lambda p: p[0])
        self.ids = [t for t, _ in pairs]
        self.geoms = [g for _, g in pairs]
        for g in self.geoms:
            shapely.prepare(g)
        self.bounds = [g.bounds for g in self.geoms]

    def assign(self, x: np.ndarray, y: np.ndarray) -> list[str | None]:
        """The territory covering each point (boundary included), smallest id first; else None.

        The same rule as the desktop app (``fieldcrm.geo.territory.TerritoryIndex``): a point
        on a shared edge, vertex or in an overlap goes to the territory with the smallest id.
        """
        import shapely

        out = np.full(len(x), -1, dtype=np.int64)
        for i, (geom, (x0, y0, x1, y1)) in enumerate(zip(self.geoms, self.bounds, strict=True)):
            cand = np.flatnonzero((out < 0) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
            if len(cand):
                out[cand[shapely.intersects_xy(geom, x[cand], y[cand])]] = i
        return [self.ids[i] if i >= 0 else None for i in out.tolist()]


def plain_geometry(geometry: dict[str, Any]) -> dict[str, Any]:
    """The geometry as the database gives it back (lists, not tuples), so equal means equal."""
    return dict(json.loads(json.dumps(geometry)))


def checked_geometry(value: Any) -> dict[str, Any]:
    """A GeoJSON Polygon/MultiPolygon for an import: checked, never silently repaired.

    Raises
    ------
    ValueError
        Not a (Multi)Polygon, bad coordinates, or an invalid polygon (self-intersection...).
    """
    import shapely
    from shapely.geometry import shape

    geometry = clean_geometry(value)
    reason = shapely.is_valid_reason(shape(value))
    if reason != "Valid Geometry":
        raise ValueError(
            f"is not a valid polygon ({reason}); repair it (the desktop app's territory "
            "import proposes a fix) and import again"
        )
    return plain_geometry(geometry)


def _shape(geojson: dict[str, Any] | None) -> BaseGeometry | None:
    if geojson is None:
        return None
    from shapely.geometry import shape

    return shape(geojson)


def _changed(changes: Sequence[BoundaryChange]) -> dict[str, tuple[Any, Any]]:
    """Territory id -> (old, new) shapely geometry, for real changes only."""
    out: dict[str, tuple[Any, Any]] = {}
    for c in changes:
        if c.old == c.new:
            continue
        old, new = _shape(c.old), _shape(c.new)
        if old is not None and new is not None and old.equals(new):
            continue
        out[c.territory_id] = (old, new)
    return out


def _candidates(
    session: Session, boxes: list[tuple[float, float, float, float]], deleted: set[str]
) -> list[Any]:
    """Live accounts with coordinates inside the boxes, or in a deleted territory."""
    if len(boxes) > _MAX_BOXES:
        b = np.array(boxes)
        boxes = [(b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())]
    terms: list[Any] = [
        and_(Account.lon >= x0, Account.lon <= x1, Account.lat >= y0, Account.lat <= y1)
        for x0, y0, x1, y1 in boxes
    ]
    if deleted:
        terms.append(Account.territory_id.in_(sorted(deleted)))
    q = select(Account.id, Account.lon, Account.lat, Account.territory_id).where(
        Account.deleted.is_(False), Account.lon.is_not(None), Account.lat.is_not(None), or_(*terms)
    )
    return list(session.execute(q))


def _maps(session: Session, changed: dict[str, tuple[Any, Any]]) -> tuple[_Map, _Map]:
    """The live territories before and after the change."""
    from shapely.geometry import shape

    others = [
        (str(tid), shape(geojson))
        for tid, geojson in session.execute(
            select(Territory.id, Territory.geojson).where(Territory.deleted.is_(False))
        )
        if tid not in changed
    ]
    before = [(t, old) for t, (old, _new) in changed.items() if old is not None]
    after = [(t, new) for t, (_old, new) in changed.items() if new is not None]
    return _Map(others + before), _Map(others + after)


def _decide(current: str | None, old: str | None, new: str | None, deleted: set[str]) -> str | None:
    """``"move"``, ``"outside"``, ``"by_hand"`` or None (nothing to do); see `replace_accounts`."""
    if old == new:
        return None
    follows = current is None or old is None or current == old or current in deleted
    if not follows:
        return "by_hand"
    if new is not None:
        return "move" if new != current else None
    return "outside" if current is not None else None


def replace_accounts(
    session: Session, index: IndexWrites, changes: Sequence[BoundaryChange]
) -> Replacement:
    """Move the accounts whose containing territory changes, in the caller's transaction.

    Only accounts inside the changed polygons' old or new bounding boxes (or in a deleted
    territory) are examined; each is placed by point in polygon over every live territory,
    before and after the change. An account whose containing territory changes moves exactly
    as a manager's move does: ``remove`` in the scopes it left, ``upsert`` in the new ones,
    for the account, its contacts, opportunities, sales, visits and amendments.

    * An account a manager placed against the map (its territory is not the one containing
      it before the change) stays where it is (``by_hand``).
    * An account that now lies in no territory keeps its territory and is flagged
      ``needs_assignment`` for a manager (``outside``).
    * Accounts without coordinates, and flags, are left alone (only a manager clears a flag).
    """
    changed = _changed(changes)
    if not changed:
        return Replacement()
    boxes = [g.bounds for pair in changed.values() for g in pair if g is not None]
    deleted = {t for t, (_old, new) in changed.items() if new is None}
    rows = _candidates(session, boxes, deleted)
    if not rows:
        return Replacement()
    before, after = _maps(session, changed)
    x = np.fromiter((r.lon for r in rows), dtype=float, count=len(rows))
    y = np.fromiter((r.lat for r in rows), dtype=float, count=len(rows))
    olds, news = before.assign(x, y), after.assign(x, y)
    todo: dict[str, tuple[str, str | None, str | None, tuple[Any, ...]]] = {}
    by_hand = 0
    for r, old, new in zip(rows, olds, news, strict=True):
        what = _decide(r.territory_id, old, new, deleted)
        if what == "by_hand":
            by_hand += 1
        elif what is not None:
            todo[r.id] = (what, r.territory_id, new, (r.territory_id, r.lon, r.lat))
    moved, outside = _apply(session, index, todo, (before, after, deleted))
    return Replacement(examined=len(rows), moved=moved, outside=outside, by_hand=by_hand)


def _apply(
    session: Session,
    index: IndexWrites,
    todo: dict[str, tuple[str, str | None, str | None, tuple[Any, ...]]],
    maps: tuple[_Map, _Map, set[str]],
) -> tuple[tuple[tuple[str, str | None, str], ...], tuple[str, ...]]:
    """Lock the accounts to change (id order), re-check them, move or flag them."""
    moved: list[tuple[str, str | None, str]] = []
    outside: list[str] = []
    ids = sorted(todo)
    for start in range(0, len(ids), _LOCK_CHUNK):
        chunk = ids[start : start + _LOCK_CHUNK]
        q = select(Account).where(Account.id.in_(chunk)).order_by(Account.id).with_for_update()
        for account in session.scalars(q).all():
            what, seen, new, snapshot = todo[account.id]
            if account.deleted or (account.territory_id, account.lon, account.lat) != snapshot:
                what, new = _recheck(account, maps)  # changed by a concurrent writer
            if what == "move" and new is not None:
                _move(session, index, account, new)
                moved.append((account.id, seen, new))
            elif what == "outside" and not account.needs_assignment:
                _move(session, index, account, None)
                outside.append(account.id)
    return tuple(moved), tuple(outside)


def _recheck(account: Account, maps: tuple[_Map, _Map, set[str]]) -> tuple[str | None, Any]:
    if account.deleted or account.lon is None or account.lat is None:
        return None, None
    before, after, deleted = maps
    x, y = np.array([account.lon]), np.array([account.lat])
    new = after.assign(x, y)[0]
    return _decide(account.territory_id, before.assign(x, y)[0], new, deleted), new


def _move(session: Session, index: IndexWrites, account: Account, to: str | None) -> None:
    """Move ``account`` to territory ``to`` (None: keep its territory, flag it) with its tree."""
    old_scopes = account_scopes(account)
    if to is None:
        merge.write_fields(account, {}, index.now)
        account.needs_assignment = True
    else:
        merge.write_fields(account, {"territory_id": to}, index.now)
    new_scopes = account_scopes(account)
    merge.move_account_tree(
        cast(merge.Tx, _Writes(session, index)), account, old_scopes, new_scopes
    )
    index.stage(new_scopes, "account", account.id, ChangeOp.UPSERT, account.row_version)


def follow_territory(
    tx: merge.Tx, territory_id: str, *, old: dict[str, Any] | None, new: dict[str, Any] | None
) -> Replacement:
    """merge.py's hook: accounts follow a territory a push creates, reshapes or deletes.

    Call it once the mutation has passed every check (a Reject after it would leave the
    account moves in place): with ``old=None`` on create, ``new=None`` on delete.
    """
    if old == new:
        return Replacement()
    return replace_accounts(tx.session, tx.index, [BoundaryChange(territory_id, old, new)])
