"""Manager views of territories: summaries, unassigned accounts, import review, balance and moves."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldcrm.errors import InvalidInput
from fieldcrm.geo.balance import (
    AccountsFrame,
    BalanceParams,
    Move,
    MovePlan,
    TerritoryFigures,
    balance_report,
    suggest_moves,
)
from fieldcrm.geo.territory_check import ImportPreview
from fieldcrm.services.settings import load_settings
from fieldcrm.services.territories import move_accounts, preview_import

BALANCE_METRICS = ("accounts", "sales_minor", "pipeline_minor", "visits_per_month",
                   "drive_hours", "workload_hours")  # fmt: skip
"""The balance figures, in the order the balance table shows them."""


@dataclass(frozen=True, slots=True)
class TerritorySummary:
    """One line of the territory list."""

    id: str
    name: str
    color: str
    rep_id: str | None
    rep_name: str
    accounts: int


@dataclass(frozen=True, slots=True)
class OutsideAccount:
    """A live account that is in no territory; ``located`` is False when it has no position."""

    id: str
    name: str
    city: str
    located: bool


@dataclass(frozen=True, slots=True)
class ImportReview:
    """An import preview plus the names of the accounts its coverage report points at."""

    preview: ImportPreview
    account_names: tuple[str, ...]  # indexed like the preview's coverage account indices
    updates: tuple[str, ...]  # names of existing territories the file would replace


@dataclass(frozen=True, slots=True)
class BalanceRow:
    """One territory's monthly workload figures, each with its deviation from the mean."""

    territory_id: str
    name: str
    color: str
    rep_name: str
    figures: TerritoryFigures
    pct: dict[str, float]  # metric -> (value - mean) / mean
    flags: dict[str, str]  # metric -> "heavy" | "light" | ""


@dataclass(frozen=True, slots=True)
class SuggestedMove:
    """Move one boundary account to a lighter neighbouring territory."""

    account_id: str
    account_name: str
    source_id: str
    source_name: str
    target_id: str
    target_name: str
    distance_km: float
    source_hours_after: float
    target_hours_after: float


@dataclass(frozen=True, slots=True)
class BalanceView:
    """The balance table, the suggested moves and how uneven workload is before and after."""

    start: date
    end: date
    currency: str
    rows: tuple[BalanceRow, ...]
    moves: tuple[SuggestedMove, ...]
    spread_before: float  # largest |workload - mean| / mean
    spread_after: float
    limit: float


def territory_summaries(*, session: Session) -> list[TerritorySummary]:
    """Live territories by name, with their rep and how many live accounts each holds."""
    rows = session.execute(text(
        'SELECT t.id, t.name, t.color, t.rep_id, COALESCE(u.name, \'\'), '
        "(SELECT COUNT(*) FROM account a WHERE a.territory_id = t.id AND a.deleted = 0) "
        'FROM territory t LEFT JOIN "user" u ON u.id = t.rep_id '
        "WHERE t.deleted = 0 ORDER BY t.name COLLATE NOCASE")).all()  # fmt: skip
    return [TerritorySummary(r[0], r[1], r[2], r[3], r[4], int(r[5])) for r in rows]


def accounts_outside(*, session: Session) -> list[OutsideAccount]:
    """Live accounts that belong to no territory, located ones first, by name."""
    rows = session.execute(text(
        "SELECT id, name, city, lat IS NOT NULL AND lon IS NOT NULL FROM account "
        "WHERE deleted = 0 AND territory_id IS NULL")).all()  # fmt: skip
    out = [OutsideAccount(r[0], r[1], r[2] or "", bool(r[3])) for r in rows]
    return sorted(out, key=lambda a: (not a.located, a.name.casefold()))


def review_import(*, session: Session, path: str | Path) -> ImportReview:
    """Read and validate a territory file (nothing is written) with the names it affects.

    Raises
    ------
    ImportFileError
        If the file cannot be read at all.
    """
    preview = preview_import(session=session, path=path)
    # Same accounts, same order as the preview's coverage indices (one read transaction).
    names = session.execute(text(
        "SELECT name FROM account WHERE deleted = 0 AND lat IS NOT NULL AND lon IS NOT NULL "
        "ORDER BY id")).scalars().all()  # fmt: skip
    fids = [f.fid for f in preview.features if f.fid]
    updates: list[str] = []
    if fids:
        marks = ", ".join(f":f{i}" for i in range(len(fids)))
        updates = list(session.execute(
            text(f"SELECT name FROM territory WHERE deleted = 0 AND id IN ({marks})"),
            {f"f{i}": v for i, v in enumerate(fids)}).scalars())  # fmt: skip
    return ImportReview(preview, tuple(names), tuple(updates))


def _frame(session: Session, ids: list[str], start: date, end: date,
           currency: str, cadence: dict[str, int]) -> tuple[AccountsFrame, list[str]]:  # fmt: skip
    rows = session.execute(text(
        "SELECT id, name, lon, lat, territory_id, tier, status FROM account WHERE deleted = 0 "
        "AND lat IS NOT NULL AND lon IS NOT NULL ORDER BY id")).all()  # fmt: skip
    sales = dict(session.execute(text(
        "SELECT account_id, SUM(amount_minor) FROM sale WHERE deleted = 0 AND currency = :c "
        "AND sold_on >= :s AND sold_on < :e GROUP BY account_id"),
        {"c": currency, "s": start.isoformat(), "e": end.isoformat()}).all())  # fmt: skip
    pipe = dict(session.execute(text(
        "SELECT account_id, SUM(amount_minor) FROM opportunity WHERE deleted = 0 AND "
        "currency = :c AND stage NOT IN ('won', 'lost') GROUP BY account_id"),
        {"c": currency}).all())  # fmt: skip
    where = {tid: i for i, tid in enumerate(ids)}
    frame = AccountsFrame(
        ids=[r[0] for r in rows],
        lons=np.array([r[2] for r in rows], dtype=float),
        lats=np.array([r[3] for r in rows], dtype=float),
        territory=np.array([where.get(r[4], -1) for r in rows], dtype=np.int64),
        # Former customers are not visited any more: no cadence, no workload.
        cadence_days=np.array([0 if r[6] == "former" else cadence.get(r[5], 30) for r in rows],
                              dtype=float),  # fmt: skip
        sales_minor=np.array([int(sales.get(r[0]) or 0) for r in rows], dtype=np.int64),
        pipeline_minor=np.array([int(pipe.get(r[0]) or 0) for r in rows], dtype=np.int64),
    )
    return frame, [r[1] for r in rows]


def territory_balance(*, session: Session, start: date, end: date,
                      params: BalanceParams | None = None, max_moves: int = 25) -> BalanceView:  # fmt: skip
    """Workload balance of the live territories, sales over ``start``..``end`` (end excluded).

    Workload per month = visits needed (from each account's tier cadence) × visit time plus
    an estimated drive time (see `fieldcrm.geo.balance.drive_km`). Moves are suggested only
    between neighbouring territories and only while they lower the heavier one's workload.

    Raises
    ------
    InvalidInput
        If the period is empty.
    """
    if end <= start:
        raise InvalidInput("The period must end after it starts.", {"period": f"{start}..{end}"})
    p = params or BalanceParams()
    settings = load_settings(session=session)
    terrs = territory_summaries(session=session)
    by_id = dict(session.execute(text("SELECT id, geojson FROM territory WHERE deleted = 0")).all())
    geoms = [shape(json.loads(by_id[t.id])) for t in terrs]
    frame, names = _frame(session, [t.id for t in terrs], start, end, settings.currency,
                          settings.cadence)  # fmt: skip
    plan = suggest_moves(frame, geoms, p, max_moves=max_moves) if terrs else None
    figures = plan.before if plan else ()
    devs = balance_report(figures, p.limit)
    rows = tuple(
        BalanceRow(t.id, t.name, t.color, t.rep_name, f,
                   {m: devs[m][i].pct for m in BALANCE_METRICS},
                   {m: devs[m][i].flag for m in BALANCE_METRICS})
        for i, (t, f) in enumerate(zip(terrs, figures, strict=True))
    )  # fmt: skip
    moves = tuple(_move(m, terrs, names) for m in plan.moves) if plan else ()
    return BalanceView(start, end, settings.currency, rows, moves, _spread(plan, True),
                       _spread(plan, False), p.limit)  # fmt: skip


def _move(m: Move, terrs: Sequence[TerritorySummary], names: Sequence[str]) -> SuggestedMove:
    src, dst = terrs[m.source], terrs[m.target]
    return SuggestedMove(m.account_id, names[m.account], src.id, src.name, dst.id, dst.name,
                         m.distance_km, m.source_workload_after, m.target_workload_after)


def _spread(plan: MovePlan | None, before: bool) -> float:
    if plan is None:
        return 0.0
    return plan.spread(plan.before if before else plan.after)


def apply_moves(*, session: Session, moves: Sequence[tuple[str, str]]) -> int:
    """Move accounts to territories (``(account_id, territory_id)`` pairs); returns how many.

    Each target territory's accounts move in one `move_accounts` call (each commits).

    Raises
    ------
    NotFound
        If a territory or an account no longer exists.
    """
    by_target: dict[str, list[str]] = defaultdict(list)
    for account_id, territory_id in moves:
        by_target[territory_id].append(account_id)
    return sum(move_accounts(session=session, account_ids=ids, territory_id=tid)
               for tid, ids in by_target.items())  # fmt: skip
