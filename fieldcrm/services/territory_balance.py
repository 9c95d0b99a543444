"""Territory balance use case: workload figures from the database, deviations, suggested moves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldcrm.geo.balance import (
    AccountsFrame,
    BalanceParams,
    Deviation,
    Move,
    MovePlan,
    balance_report,
    suggest_moves,
)
from fieldcrm.services.analytics import Period
from fieldcrm.services.settings import load_settings
from fieldcrm.services.territories import move_accounts


@dataclass(frozen=True, slots=True)
class BalanceView:
    """Everything the balance panel shows; territory ``i`` is ``ids[i]`` / ``names[i]``."""

    ids: tuple[str, ...]
    names: tuple[str, ...]
    plan: MovePlan  # figures before/after and the suggested moves
    deviations: dict[str, tuple[Deviation, ...]]  # per metric, of the current figures


def _sums(session: Session, sql: str, params: dict) -> dict[str, int]:
    return {r[0]: int(r[1] or 0) for r in session.execute(text(sql), params)}


def territory_balance(
    *,
    session: Session,
    period: Period,
    params: BalanceParams | None = None,
    max_moves: int = 50,
) -> BalanceView:
    """Balance figures of the live territories over their positioned accounts, and moves.

    Sales are those of ``period`` in the settings' currency; pipeline is open now; visits
    needed come from each account's tier cadence.
    """
    settings = load_settings(session=session)
    rows = session.execute(text(
        "SELECT id, name, geojson FROM territory WHERE deleted = 0 ORDER BY id")).all()  # fmt: skip
    index = {r[0]: i for i, r in enumerate(rows)}
    accounts = session.execute(text(
        "SELECT id, lon, lat, territory_id, tier FROM account WHERE deleted = 0 "
        "AND lat IS NOT NULL AND lon IS NOT NULL ORDER BY id")).all()  # fmt: skip
    sales = _sums(session,
                  "SELECT account_id, SUM(amount_minor) FROM sale WHERE deleted = 0 "
                  "AND currency = :c AND sold_on >= :s AND sold_on < :e GROUP BY account_id",
                  {"c": settings.currency, "s": period.start.isoformat(),
                   "e": period.end.isoformat()})  # fmt: skip
    pipeline = _sums(session,
                     "SELECT account_id, SUM(amount_minor) FROM opportunity WHERE deleted = 0 "
                     "AND currency = :c AND stage NOT IN ('won', 'lost') GROUP BY account_id",
                     {"c": settings.currency})  # fmt: skip
    ids = [a[0] for a in accounts]
    frame = AccountsFrame(
        ids=ids,
        lons=np.array([a[1] for a in accounts], dtype=float),
        lats=np.array([a[2] for a in accounts], dtype=float),
        territory=np.array([index.get(a[3], -1) for a in accounts], dtype=np.int64),
        cadence_days=np.array([settings.cadence.get(a[4], 30) for a in accounts], dtype=float),
        sales_minor=np.array([sales.get(i, 0) for i in ids], dtype=np.int64),
        pipeline_minor=np.array([pipeline.get(i, 0) for i in ids], dtype=np.int64),
    )
    p = params or BalanceParams()
    geoms = [shape(json.loads(r[2])) for r in rows]
    plan = suggest_moves(frame, geoms, p, max_moves=max_moves)
    return BalanceView(
        tuple(r[0] for r in rows),
        tuple(r[1] for r in rows),
        plan,
        balance_report(plan.before, p.limit),
    )


def apply_moves(*, session: Session, view: BalanceView, moves: Sequence[Move]) -> int:
    """Move the accounts of the chosen suggested moves; returns how many changed; commits."""
    changed = 0
    by_target: dict[int, list[str]] = {}
    for m in moves:
        by_target.setdefault(m.target, []).append(m.account_id)
    for target, account_ids in sorted(by_target.items()):
        changed += move_accounts(
            session=session, account_ids=account_ids, territory_id=view.ids[target]
        )
    return changed
