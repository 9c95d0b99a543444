"""Sales/visits/coverage/pipeline report on a small dataset whose figures are worked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from fieldcrm.db.models import (
    AccountRecord,
    OpportunityRecord,
    SaleRecord,
    TerritoryRow,
    UserRow,
    VisitRecord,
)
from fieldcrm.errors import InvalidInput
from fieldcrm.services.analytics import Period, sales_report

OCT = Period(date(2026, 10, 1), date(2026, 11, 1))  # previous: 31 days, Aug 31 .. Oct 1


def _t(y, m, d):
    return datetime(y, m, d, 12, tzinfo=UTC)


@pytest.fixture
def s(db):
    old = _t(2026, 1, 1)
    with db.session() as s:
        s.add_all([UserRow(id="anna", name="Anna"), UserRow(id="bo", name="Bo")])
        s.flush()
        s.add_all([
            TerritoryRow(id="t1", name="North", geojson="{}", rep_id="anna"),
            TerritoryRow(id="t2", name="South", geojson="{}", rep_id="bo"),
        ])  # fmt: skip
        s.flush()
        s.add_all([
            AccountRecord(id="a1", name="A1", tier="A", territory_id="t1", owner_id="anna",
                          region="Norrbotten", created_at=old),
            AccountRecord(id="a2", name="A2", tier="C", territory_id="t1", owner_id="anna",
                          region="Norrbotten", created_at=old),
            AccountRecord(id="a3", name="A3", tier="B", territory_id="t2", owner_id="bo",
                          region="Skåne", created_at=_t(2026, 10, 10)),
            AccountRecord(id="a4", name="A4", tier="B", created_at=old),
            AccountRecord(id="a5", name="gone", tier="A", territory_id="t1", deleted=True,
                          created_at=old),
        ])  # fmt: skip
        s.flush()
        sales = [("a1", date(2026, 10, 5), 1000, "SEK"), ("a1", date(2026, 9, 20), 500, "SEK"),
                 ("a1", date(2026, 8, 1), 700, "SEK"), ("a1", date(2026, 10, 6), 300, "EUR"),
                 ("a3", date(2026, 10, 31), 200, "SEK"), ("a3", date(2026, 11, 1), 999, "SEK"),
                 ("a5", date(2026, 10, 2), 5000, "SEK")]  # fmt: skip
        for k, (a, d, amount, cur) in enumerate(sales):
            s.add(SaleRecord(id=f"s{k}", account_id=a, sold_on=d, amount_minor=amount, currency=cur))
        visits = [("a1", "completed", _t(2026, 10, 25)), ("a1", "completed", _t(2026, 9, 10)),
                  ("a1", "planned", _t(2026, 10, 28)), ("a2", "completed", _t(2026, 8, 15))]  # fmt: skip
        for k, (a, status, at) in enumerate(visits):
            s.add(VisitRecord(id=f"v{k}", account_id=a, status=status, checked_in_at=at))
        opps = [("a1", "proposal", 10_000, _t(2026, 10, 3)), ("a2", "won", 4_000, _t(2026, 9, 5)),
                ("a3", "qualify", 2_500, old)]  # fmt: skip
        for k, (a, stage, amount, at) in enumerate(opps):
            s.add(OpportunityRecord(id=f"o{k}", account_id=a, name="Deal", stage=stage,
                                    amount_minor=amount, currency="SEK", created_at=at))  # fmt: skip
        s.commit()
        yield s


def test_by_territory_by_hand(s):
    report = sales_report(session=s, group_by="territory", period=OCT)
    assert report.previous == Period(date(2026, 8, 31), date(2026, 10, 1))
    assert report.currency == "SEK"
    north, south, none = report.rows
    assert (north.label, south.label, none.label) == ("North", "South", "(no territory)")
    # a1 visited Oct 25 (within 14 days of Nov 1) and a2 Aug 15 (within 90); at Oct 1 only a2.
    assert (north.accounts, north.covered, north.accounts_prev, north.covered_prev) == (2, 2, 2, 1)
    assert (north.coverage, north.coverage_prev) == (1.0, 0.5)
    # SEK sales of live accounts: Oct 5 in the period, Sep 20 in the previous one.
    assert (north.sales_minor, north.sales_prev_minor, north.sales_count) == (1000, 500, 1)
    assert north.sales_change == 1.0
    assert (north.visits, north.visits_prev) == (1, 1)  # the planned one does not count
    assert (north.pipeline_open_minor, north.pipeline_new_minor) == (10_000, 10_000)
    assert north.pipeline_new_prev_minor == 4_000
    # a3 was created on Oct 10: not in the previous period's accounts; Nov 1 is excluded.
    assert (south.accounts, south.accounts_prev, south.covered, south.coverage) == (1, 0, 0, 0.0)
    assert (south.sales_minor, south.sales_prev_minor, south.sales_change) == (200, 0, None)
    assert (south.pipeline_open_minor, south.pipeline_new_minor) == (2_500, 0)
    assert (none.accounts, none.sales_minor) == (1, 0)
    total = report.total
    assert (total.accounts, total.covered, total.sales_minor, total.visits) == (4, 2, 1200, 1)


def test_by_rep_and_region_and_other_currency(s):
    reps = sales_report(session=s, group_by="rep", period=OCT)
    assert [(r.label, r.sales_minor) for r in reps.rows] == [
        ("Anna", 1000), ("Bo", 200), ("(no owner)", 0)
    ]  # fmt: skip
    regions = sales_report(session=s, group_by="region", period=OCT)
    assert [(r.label, r.accounts) for r in regions.rows] == [
        ("Norrbotten", 2), ("Skåne", 1), ("(no region)", 1)
    ]  # fmt: skip
    eur = sales_report(session=s, group_by="territory", period=OCT, currency="eur")
    assert eur.total.sales_minor == 300 and eur.total.pipeline_open_minor == 0


def test_bad_group_or_period(s):
    with pytest.raises(InvalidInput, match="Group by one of"):
        sales_report(session=s, group_by="planet", period=OCT)
    with pytest.raises(InvalidInput, match="end after it starts"):
        sales_report(session=s, group_by="rep", period=Period(date(2026, 1, 2), date(2026, 1, 2)))


def test_same_figures_with_and_without_the_covering_indexes(s):
    from sqlalchemy import text

    with_indexes = sales_report(session=s, group_by="territory", period=OCT)
    s.execute(text("DROP INDEX ix_sale_account_date_amount"))  # migration 0004 made them
    s.execute(text("DROP INDEX ix_visit_account_time_status"))
    s.commit()
    assert sales_report(session=s, group_by="territory", period=OCT) == with_indexes


def test_a_narrow_period_reads_sales_through_the_date_index(s):
    day = Period(date(2026, 10, 5), date(2026, 10, 6))  # 2 of 92 days of sales: narrow
    report = sales_report(session=s, group_by="territory", period=day)
    assert (report.total.sales_minor, report.total.sales_count) == (1000, 1)
    assert report.total.sales_prev_minor == 0
