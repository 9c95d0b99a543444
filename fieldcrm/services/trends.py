"""Monthly series of sales, visits and new pipeline per territory, rep or region (one pass each)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldcrm.errors import InvalidInput
from fieldcrm.services.analytics import GROUPS, GroupStats, Period, sales_report
from fieldcrm.services.settings import load_settings

_SERIES = {
    "sales_minor": (
        "SELECT {g}, substr(s.sold_on, 1, 7), SUM(s.amount_minor) FROM sale s "
        "JOIN account a ON a.id = s.account_id WHERE s.deleted = 0 AND a.deleted = 0 "
        "AND s.currency = :cur AND s.sold_on >= :start AND s.sold_on < :end GROUP BY 1, 2"
    ),
    "visits": (
        "SELECT {g}, substr(v.checked_in_at, 1, 7), COUNT(*) FROM visit v "
        "JOIN account a ON a.id = v.account_id WHERE v.deleted = 0 AND a.deleted = 0 "
        "AND v.status = 'completed' AND v.checked_in_at >= :start AND v.checked_in_at < :end "
        "GROUP BY 1, 2"
    ),
    "pipeline_new_minor": (
        "SELECT {g}, substr(o.created_at, 1, 7), SUM(o.amount_minor) FROM opportunity o "
        "JOIN account a ON a.id = o.account_id WHERE o.deleted = 0 AND a.deleted = 0 "
        "AND o.currency = :cur AND o.created_at >= :start AND o.created_at < :end GROUP BY 1, 2"
    ),
}
_NONE_LABEL = {"territory": "(no territory)", "rep": "(no owner)", "region": "(no region)"}


def _labels(session: Session, group_by: str) -> dict[Any, str]:
    table = {"territory": "territory", "rep": '"user"'}.get(group_by)
    rows = session.execute(text(f"SELECT id, name FROM {table}")).all() if table else []
    return {r[0]: r[1] for r in rows}


def _label(key: Any, labels: dict[Any, str], group_by: str) -> str:
    if key is None or key == "":
        return _NONE_LABEL[group_by]
    return labels.get(key, str(key))


def monthly_series(
    *, session: Session, group_by: str, months: list[Period], with_coverage: bool = False
) -> list[tuple[GroupStats, ...]]:
    """For each calendar month in ``months``, one `GroupStats` per group with sales, visits
    and new pipeline filled in (coverage too, month by month, when ``with_coverage``).

    Amounts are in the settings' currency, as in `sales_report`; other figures stay 0.

    Raises
    ------
    InvalidInput
        If ``group_by`` is unknown or a period is not a calendar month.
    """
    if group_by not in GROUPS:
        raise InvalidInput(f"Group by one of: {', '.join(GROUPS)}.", {"group_by": group_by})
    if any(p.start.day != 1 or p.end.day != 1 for p in months):
        raise InvalidInput("Trend periods must be calendar months.", {"months": str(months)})
    if not months:
        return []
    cur = load_settings(session=session).currency.upper()
    params = {"cur": cur, "start": months[0].start.isoformat(), "end": months[-1].end.isoformat()}
    values: dict[str, dict[tuple[Any, str], int]] = {}
    for field, sql in _SERIES.items():
        rows = session.execute(text(sql.format(g=GROUPS[group_by])), params).all()
        values[field] = {(r[0], r[1]): int(r[2] or 0) for r in rows}
    labels = _labels(session, group_by)
    keys = {k for v in values.values() for k, _ in v}
    out = []
    for p in months:
        month = _month(p.start)
        figures: dict[Any, dict[str, Any]] = defaultdict(dict)
        for field, by_key in values.items():
            for key in keys:
                if (key, month) in by_key:
                    figures[key][field] = by_key[(key, month)]
        if with_coverage:
            for g in sales_report(session=session, group_by=group_by, period=p).rows:
                figures[g.key] |= {"accounts": g.accounts, "covered": g.covered}
        out.append(tuple(GroupStats(k, _label(k, labels, group_by), **f)
                         for k, f in figures.items()))  # fmt: skip
    return out


def _month(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"
