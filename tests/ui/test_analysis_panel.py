"""Analysis panel on a real demo database: periods, grouping, table, charts, choropleth, exports."""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import text

from fieldcrm.services.analytics import Period
from fieldcrm.services.territories import update_territory
from fieldcrm.ui.app import stop_runner
from fieldcrm.ui.panels.analysis_panel import AnalysisPanel, choose_period, month_periods
from fieldcrm.ui.tasks import TaskRunner

WAIT = 15_000
TRICKY = "=SUM(A1:A9)"


@pytest.fixture
def db(demo_db: Any) -> Any:
    """The shared 200-account demo (a private copy) instead of the empty database."""
    return demo_db


@pytest.fixture
def panel(qtbot: Any, db: Any, tmp_path: Path) -> Any:
    with db.session() as s:
        first = s.execute(text("SELECT id FROM territory ORDER BY name LIMIT 1")).scalar_one()
        update_territory(session=s, territory_id=first, name=TRICKY)
    runner = TaskRunner(db)
    p = AnalysisPanel(runner, with_map=False, out_root=tmp_path / "map")
    qtbot.addWidget(p)
    qtbot.waitUntil(lambda: p.model.rowCount() > 0, timeout=WAIT)
    yield p
    stop_runner(runner)


def test_periods_and_months() -> None:
    today = date(2026, 5, 17)
    assert choose_period("this_month", today) == Period(date(2026, 5, 1), date(2026, 5, 18))
    assert choose_period("this_quarter", today) == Period(date(2026, 4, 1), date(2026, 5, 18))
    assert choose_period("this_year", today) == Period(date(2026, 1, 1), date(2026, 5, 18))
    assert choose_period("last_12", today) == Period(date(2025, 5, 18), date(2026, 5, 18))
    assert choose_period("custom", today, date(2026, 2, 1), date(2026, 2, 28)) == Period(
        date(2026, 2, 1), date(2026, 3, 1))
    months = month_periods(date(2026, 1, 10))
    assert len(months) == 12 and months[-1] == ("Jan 26", Period(date(2026, 1, 1), date(2026, 2, 1)))
    assert months[0][1].start == date(2025, 2, 1)


def _column(panel: AnalysisPanel, title: str) -> int:
    m = panel.model
    return next(c for c in range(m.columnCount()) if m.headerData(c, _h(), _d()) == title)


def _h() -> Any:
    from PySide6.QtCore import Qt

    return Qt.Orientation.Horizontal


def _d() -> Any:
    from PySide6.QtCore import Qt

    return Qt.ItemDataRole.DisplayRole


def test_table_by_territory_then_by_rep_with_total_last(qtbot: Any, panel: AnalysisPanel,
                                                        db: Any) -> None:  # fmt: skip
    report = panel.model.report()
    with db.session() as s:
        n_territories = s.execute(text("SELECT COUNT(*) FROM territory WHERE deleted = 0")).scalar()
        accounts = s.execute(text("SELECT COUNT(*) FROM account WHERE deleted = 0")).scalar()
    assert len(report.rows) >= n_territories
    assert report.total.accounts == accounts
    proxy = panel.table.model()
    last = proxy.rowCount() - 1
    assert proxy.data(proxy.index(last, 0)) == "Total"
    panel.table.sortByColumn(1, panel.table.horizontalHeader().sortIndicatorOrder().DescendingOrder)
    assert proxy.data(proxy.index(last, 0)) == "Total"  # still last when sorted the other way
    assert re.fullmatch(r"[\d\u2009]+", panel.model.data(panel.model.index(0, 2)))  # whole SEK
    assert "compared with" in panel.compared.text()
    with qtbot.waitSignal(panel.sig_loaded, timeout=WAIT):
        panel.group_by.setCurrentIndex(panel.group_by.findData("rep"))
    assert panel.model.headerData(0, _h(), _d()) == "Rep"
    assert panel.model.report().group_by == "rep"
    assert panel.bars.chart() is not None and panel.bars.chart().series()
    qtbot.waitUntil(lambda: panel.trend.chart() is not None and bool(panel.trend.chart().series()),
                    timeout=WAIT)


def test_choropleth_colours_every_territory_with_a_legend(panel: AnalysisPanel) -> None:
    panel.metric_box.setCurrentIndex(panel.metric_box.findData("coverage"))
    fc, legend = panel.choropleth()
    names = {f["properties"]["name"] for f in fc["features"]}
    assert TRICKY in names and len(names) == len(panel.model.report().rows) - (
        1 if any(r.key is None for r in panel.model.report().rows) else 0)
    assert all(f["properties"]["color"].startswith("#") for f in fc["features"])
    assert legend["title"].startswith("Coverage") and legend["items"]
    assert all("%" in f["properties"]["label"] for f in fc["features"])


def test_custom_period_ending_before_it_starts_is_explained(qtbot: Any, panel: AnalysisPanel) -> None:
    from PySide6.QtCore import QDate

    panel.period.setCurrentIndex(panel.period.findData("custom"))
    panel.first.setDate(QDate(2026, 5, 1))
    panel.last.setDate(QDate(2026, 4, 1))
    qtbot.waitUntil(lambda: "ends before it starts" in panel.compared.text(), timeout=WAIT)


def test_exports_csv_and_xlsx_with_formula_cells_escaped(qtbot: Any, panel: AnalysisPanel,
                                                         tmp_path: Path) -> None:  # fmt: skip
    headers, rows = panel.model.export_rows()
    csv_path, xlsx_path = tmp_path / "t.csv", tmp_path / "t.xlsx"
    panel.save_table(str(csv_path), "csv", headers, rows)
    panel.save_table(str(tmp_path / "t"), "xlsx", headers, rows)
    qtbot.waitUntil(lambda: csv_path.exists() and xlsx_path.exists(), timeout=WAIT)
    qtbot.waitUntil(lambda: "Saved" in panel.status.text(), timeout=WAIT)
    with csv_path.open(encoding="utf-8-sig") as f:
        table = list(csv.reader(f))
    assert table[0][:3] == ["Territory", "Accounts", "Sales (SEK)"]
    assert [r[0] for r in table if TRICKY in r[0]] == ["'" + TRICKY]
    assert table[-1][0] == "Total" and int(table[-1][1]) == panel.model.report().total.accounts
    sheet = openpyxl.load_workbook(xlsx_path).active
    cells = [c.value for c in sheet["A"]]
    assert cells[0] == "Territory" and cells[-1] == "Total"
    tricky = next(c for c in sheet["A"] if c.value and TRICKY in str(c.value))
    assert tricky.data_type != "f"  # stored as text, never as a formula


def test_map_export_is_one_offline_file(qtbot: Any, panel: AnalysisPanel, tmp_path: Path) -> None:
    out = tmp_path / "map.html"
    panel.save_map(str(out))
    qtbot.waitUntil(lambda: "Map saved" in panel.status.text(), timeout=WAIT)
    html = out.read_text("utf-8")
    assert not re.search(r"<script[^>]*\bsrc=|<link[^>]*\bhref=", html)
    assert "Sales (" in html and "by territory" in html


def test_monthly_trend_matches_the_report_of_each_month(db: Any) -> None:
    from fieldcrm.services.analytics import sales_report
    from fieldcrm.ui.panels.analysis_panel import load_trend

    with db.session() as s:
        months, series = load_trend(s, "rep", date.today() + timedelta(days=1), True)
        periods = [p for _, p in month_periods(date.today() + timedelta(days=1))]
        for k in (0, 6, 11):
            ref = {g.label: (g.sales_minor, g.visits, g.pipeline_new_minor, g.covered)
                   for g in sales_report(session=s, group_by="rep", period=periods[k]).rows}
            got = {g.label: (g.sales_minor, g.visits, g.pipeline_new_minor, g.covered)
                   for g in series[k]}
            assert {k_: v for k_, v in got.items() if any(v)} == {
                k_: v for k_, v in ref.items() if any(v)}
    assert len(months) == 12 and sum(g.visits for m in series for g in m) > 0
