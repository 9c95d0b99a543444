"""Sales, visits, coverage and pipeline by territory, rep or region: a period vs the one before."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldcrm.errors import InvalidInput
from fieldcrm.services.settings import load_settings

GROUPS = {"territory": "a.territory_id", "rep": "a.owner_id", "region": "a.region"}
"""What a report can be grouped by; every figure follows the account (its territory, its
owner, its region), so a rep's figures are those of the accounts the rep owns."""
_TS = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True, slots=True)
class Period:
    """Calendar days ``start`` (included) to ``end`` (excluded), in UTC."""

    start: date
    end: date

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - (self.end - self.start), self.start)


@dataclass(frozen=True, slots=True)
class GroupStats:
    """One territory's, rep's or region's figures in the period and the previous one."""

    key: str | None
    label: str
    accounts: int = 0  # live accounts that existed at the period's end
    accounts_prev: int = 0
    covered: int = 0  # of those, visited within their tier's cadence before the end
    covered_prev: int = 0
    sales_minor: int = 0
    sales_prev_minor: int = 0
    sales_count: int = 0
    sales_prev_count: int = 0
    visits: int = 0  # completed visits checked in during the period
    visits_prev: int = 0
    pipeline_open_minor: int = 0  # open opportunities now (won and lost excluded)
    pipeline_new_minor: int = 0  # opportunities created in the period
    pipeline_new_prev_minor: int = 0

    @property
    def coverage(self) -> float | None:
        return self.covered / self.accounts if self.accounts else None

    @property
    def coverage_prev(self) -> float | None:
        return self.covered_prev / self.accounts_prev if self.accounts_prev else None

    @property
    def sales_change(self) -> float | None:
        """Relative change of sales against the previous period (None if it had none)."""
        if not self.sales_prev_minor:
            return None
        return (self.sales_minor - self.sales_prev_minor) / self.sales_prev_minor


@dataclass(frozen=True, slots=True)
class AnalyticsReport:
    group_by: str
    period: Period
    previous: Period
    currency: str
    rows: tuple[GroupStats, ...]  # by label
    total: GroupStats


def _ts(d: date) -> str:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).strftime(_TS)


def _cutoffs(cadence: dict[str, int], end: date, prefix: str) -> tuple[str, dict[str, str]]:
    """SQL CASE giving each account's 'visited since' cut-off for its tier, and its params."""
    params, whens = {}, []
    for k, (tier, days) in enumerate(sorted(cadence.items())):
        params[f"{prefix}t{k}"] = tier
        params[f"{prefix}c{k}"] = _ts(end - timedelta(days=days))
        whens.append(f"WHEN :{prefix}t{k} THEN :{prefix}c{k}")
    params[f"{prefix}d"] = _ts(end - timedelta(days=30))
    return f"(CASE a.tier {' '.join(whens)} ELSE :{prefix}d END)", params


def _accounts_sql(
    g: str, cadence: dict[str, int], p: Period, q: Period, vfrom: str, vd: str
) -> tuple[str, dict]:
    """Accounts, covered accounts and completed visits per group, both periods, one pass.

    Visits are summed per account first (last visit before each period's end, visits in
    each period); every live account then meets its own row, covered when its last visit
    is on or after its tier's cut-off.
    """
    case, params = _cutoffs(cadence, p.end, "x")
    case_prev, params_prev = _cutoffs(cadence, q.end, "y")
    sql = (
        f"SELECT {g} AS k, SUM(a.created_at < :end_ts), SUM(a.created_at < :pend_ts),"
        f" SUM(a.created_at < :end_ts AND x.last >= {case}),"
        f" SUM(a.created_at < :pend_ts AND x.last_prev >= {case_prev}),"
        " SUM(x.cur), SUM(x.both) - SUM(x.cur)"
        # A plain scan reads the table in order; the territory index would look each row up.
        " FROM account a NOT INDEXED LEFT JOIN ("
        "  SELECT account_id, MAX(checked_in_at) AS last,"
        "  MAX(CASE WHEN checked_in_at < :pend_ts THEN checked_in_at END) AS last_prev,"
        "  SUM(checked_in_at >= :start_ts) AS cur,"
        "  SUM(checked_in_at >= :pstart_ts) AS both"
        f"  FROM {vfrom} WHERE deleted = 0 AND status = 'completed'"
        f"  AND {vd} >= :visits_from AND {vd} < :end_ts"
        "  GROUP BY account_id) x ON x.account_id = a.id"
        " WHERE a.deleted = 0 GROUP BY k"
    )
    oldest = min(q.start, q.end - timedelta(days=max([30, *cadence.values()])))
    return sql, params | params_prev | {"visits_from": _ts(oldest)}


# Sales are first summed per account, then joined to their account's group.
# With the covering indexes below, the per-account sums are one ordered index-only scan
# (no sort, no table lookups); a unary + on the date keeps the planner off the date-only
# index, whose range scan would look every row up in the table. Without them the date
# index is the better plan, so the hint is only given when the covering index exists.
SALE_COVERING_INDEX = "ix_sale_account_date_amount"
VISIT_COVERING_INDEX = "ix_visit_account_time_status"
_SALES = (  # per account: the sum over both periods and the current one (prev = all - cur)
    "SELECT {g} AS k, SUM(x.cur), SUM(x.all_) - SUM(x.cur), SUM(x.ncur), SUM(x.n) - SUM(x.ncur)"
    " FROM (SELECT account_id, SUM(amount_minor) AS all_, COUNT(*) AS n,"
    " SUM(CASE WHEN sold_on >= :start THEN amount_minor ELSE 0 END) AS cur,"
    " SUM(sold_on >= :start) AS ncur"
    " FROM {sfrom} WHERE deleted = 0 AND currency = :cur AND {sd} >= :pstart AND {sd} < :end"
    " GROUP BY account_id) x JOIN account a ON a.id = x.account_id WHERE a.deleted = 0"
    " GROUP BY k"
)
_PIPELINE = (
    "SELECT {g} AS k, SUM(x.open), SUM(x.cur), SUM(x.prev) FROM ("
    " SELECT account_id,"
    " SUM(CASE WHEN stage NOT IN ('won', 'lost') THEN amount_minor ELSE 0 END) AS open,"
    " SUM(CASE WHEN created_at >= :start_ts AND created_at < :end_ts"
    "     THEN amount_minor ELSE 0 END) AS cur,"
    " SUM(CASE WHEN created_at >= :pstart_ts AND created_at < :start_ts"
    "     THEN amount_minor ELSE 0 END) AS prev"
    " FROM opportunity NOT INDEXED WHERE deleted = 0 AND currency = :cur GROUP BY account_id) x"
    " JOIN account a ON a.id = x.account_id WHERE a.deleted = 0 GROUP BY k"
)


def _has_index(session: Session, name: str) -> bool:
    found = session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :n"), {"n": name}
    ).first()
    return found is not None


def _access_paths(session: Session, first: date, end: date) -> dict[str, str]:
    """How to read sales and visits, chosen from the indexes present and the period's width.

    With the covering indexes: ordered index-only scans. Without them, a plain table scan
    (and a sort) beats the date index once the periods cover more than a fifth of all
    sales, because the date index would look every row up in the table at random.
    """
    if _has_index(session, VISIT_COVERING_INDEX):
        paths = {"vfrom": "visit", "vd": "+checked_in_at"}
    else:
        paths = {"vfrom": "visit NOT INDEXED", "vd": "checked_in_at"}
    if _has_index(session, SALE_COVERING_INDEX):
        return paths | {"sfrom": "sale", "sd": "+sold_on"}
    lo, hi = session.execute(text("SELECT MIN(sold_on), MAX(sold_on) FROM sale")).one()
    if lo is None:
        return paths | {"sfrom": "sale", "sd": "sold_on"}
    span = (date.fromisoformat(hi) - date.fromisoformat(lo)).days + 1
    inside = (min(end, date.fromisoformat(hi)) - max(first, date.fromisoformat(lo))).days + 1
    wide = inside > 0.2 * span
    return paths | {"sfrom": "sale NOT INDEXED" if wide else "sale", "sd": "sold_on"}


def _labels(session: Session, group_by: str) -> dict[str | None, str]:
    if group_by == "territory":
        rows = session.execute(text("SELECT id, name FROM territory")).all()
    elif group_by == "rep":
        rows = session.execute(text('SELECT id, name FROM "user"')).all()
    else:
        rows = []
    labels: dict[str | None, str] = {r[0]: r[1] for r in rows}
    labels[None] = {"territory": "(no territory)", "rep": "(no owner)"}.get(group_by, "")
    labels[""] = "(no region)"
    return labels


def _merge(rows: list[Any], names: tuple[str, ...], acc: dict[str | None, dict[str, Any]]) -> None:
    for row in rows:
        slot = acc.setdefault(row[0], {})
        for name, value in zip(names, row[1:], strict=True):
            slot[name] = int(value or 0)


def _run_parallel(session: Session, queries: list[tuple[str, dict, tuple[str, ...]]]) -> list[list[Any]]:
    """Run independent read queries side by side, each on its own connection.

    SQLite in WAL mode lets readers run together and releases the GIL while it works, so on
    two cores the report takes about as long as its slowest query instead of their sum. The
    report therefore reads committed data only (it is a read-only use case). An in-memory or
    non-SQLite database (one shared connection) runs them one after another.
    """
    bind = session.get_bind()
    url = str(getattr(bind, "url", ""))
    if not url.startswith("sqlite") or ":memory:" in url or url.rstrip("/") == "sqlite:":
        return [list(session.execute(text(q), p)) for q, p, _ in queries]

    def one(query: tuple[str, dict, tuple[str, ...]]) -> list[Any]:
        with Session(bind) as own:
            return list(own.execute(text(query[0]), query[1]))

    with ThreadPoolExecutor(max_workers=min(3, len(queries))) as pool:
        return list(pool.map(one, queries))


def sales_report(
    *, session: Session, group_by: str, period: Period, currency: str | None = None
) -> AnalyticsReport:
    """Sales, visits, coverage and pipeline per group for ``period`` and the one before.

    Coverage is the share of the accounts that existed at a period's end whose last
    completed visit lies within their tier's cadence before that end. Amounts are integer
    minor units of one currency (the settings' currency unless given); others are left out.

    Raises
    ------
    InvalidInput
        If ``group_by`` is unknown or the period is empty.
    """
    if group_by not in GROUPS:
        raise InvalidInput(f"Group by one of: {', '.join(GROUPS)}.", {"group_by": group_by})
    if period.end <= period.start:
        raise InvalidInput("The period must end after it starts.", {"period": str(period)})
    settings = load_settings(session=session)
    cur = (currency or settings.currency).upper()
    prev = period.previous()
    g = GROUPS[group_by]
    params = {
        "start": period.start.isoformat(), "end": period.end.isoformat(),
        "pstart": prev.start.isoformat(), "cur": cur, "start_ts": _ts(period.start),
        "end_ts": _ts(period.end), "pstart_ts": _ts(prev.start), "pend_ts": _ts(prev.end),
    }  # fmt: skip
    acc: dict[str | None, dict[str, Any]] = {}
    plan = _access_paths(session, prev.start, period.end)
    sql, extra = _accounts_sql(g, settings.cadence, period, prev, plan["vfrom"], plan["vd"])
    names = ("accounts", "accounts_prev", "covered", "covered_prev", "visits", "visits_prev")
    queries = [
        (sql, params | extra, names),
        (_SALES.format(g=g, sfrom=plan["sfrom"], sd=plan["sd"]), params,
         ("sales_minor", "sales_prev_minor", "sales_count", "sales_prev_count")),
        (_PIPELINE.format(g=g), params,
         ("pipeline_open_minor", "pipeline_new_minor", "pipeline_new_prev_minor")),
    ]  # fmt: skip
    for rows, names_ in zip(_run_parallel(session, queries), (q[2] for q in queries), strict=True):
        _merge(rows, names_, acc)
    labels = _labels(session, group_by)
    rows = sorted(
        (GroupStats(k, labels.get(k, k or ""), **v) for k, v in acc.items()),
        key=lambda r: (r.key is None or r.key == "", r.label.casefold()),
    )
    sums = {f.name: sum(getattr(r, f.name) for r in rows) for f in fields(GroupStats)[2:]}
    return AnalyticsReport(
        group_by, period, prev, cur, tuple(rows), GroupStats(None, "Total", **sums)
    )
