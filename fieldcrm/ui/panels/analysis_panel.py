"""The Analysis tab: sales, visits, coverage and pipeline by territory, rep or region vs before."""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCharts import QChart, QChartView
from PySide6.QtCore import QDate, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from fieldcrm.config import cache_dir
from fieldcrm.dataio.writers import write_rows
from fieldcrm.domain.records import Territory
from fieldcrm.geo.maps import MapPoints, MapTerritory, build_account_map
from fieldcrm.geo.standalone import ChoroplethItem, build_standalone_map, choropleth_layer
from fieldcrm.services.analytics import AnalyticsReport, GroupStats, Period, sales_report
from fieldcrm.services.mapping import list_territories
from fieldcrm.services.trends import monthly_series
from fieldcrm.ui.models.analysis_table_model import SORT_ROLE, AnalysisTableModel
from fieldcrm.ui.models.total_last_proxy import TotalLastProxy
from fieldcrm.ui.panels.analysis_charts import (
    METRIC_BY_KEY,
    METRICS,
    Metric,
    antialias,
    axis_scale,
    bar_chart,
    trend_chart,
    value_text,
)
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.form import if_alive

PERIODS = (("this_month", "This month"), ("this_quarter", "This quarter"),
           ("this_year", "This year"), ("last_12", "Last 12 months"), ("custom", "Custom…"))  # fmt: skip
GROUPS = (("territory", "Territory"), ("rep", "Rep"), ("region", "Region"))
TREND_MONTHS = 12
# The account map's status legend and pin tools mean nothing on a map without pins.
HIDE_PIN_CONTROLS_JS = (
    "(function () { var s = document.createElement('style');"
    " s.textContent = '#fc-legend, .fc-tools { display: none !important; }';"
    " document.head.appendChild(s); })()"
)


def choose_period(kind: str, today: date, first: date | None = None,
                  last: date | None = None) -> Period:  # fmt: skip
    """The period a choice means; "this …" and "last 12 months" run up to today included."""
    end = today + timedelta(days=1)
    if kind == "custom":
        if first is None or last is None:
            raise ValueError("a custom period needs both dates")
        return Period(first, last + timedelta(days=1))
    if kind == "this_month":
        return Period(today.replace(day=1), end)
    if kind == "this_quarter":
        return Period(date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), end)
    if kind == "this_year":
        return Period(date(today.year, 1, 1), end)
    year_ago = end.replace(year=end.year - 1, day=min(end.day, 28) if end.month == 2 else end.day)
    return Period(year_ago, end)


def period_text(p: Period) -> str:
    """``1 Jan 2026 – 22 Nov 2026`` (the end day included)."""
    last = p.end - timedelta(days=1)
    return f"{p.start.day} {p.start:%b %Y} – {last.day} {last:%b %Y}"


def month_periods(end: date, months: int = TREND_MONTHS) -> list[tuple[str, Period]]:
    """The ``months`` calendar months up to the one holding the day before ``end``."""
    y, m = (end - timedelta(days=1)).year, (end - timedelta(days=1)).month
    out = []
    for _ in range(months):
        last = calendar.monthrange(y, m)[1]
        out.append((f"{calendar.month_abbr[m]} {y % 100:02d}",
                    Period(date(y, m, 1), date(y, m, last) + timedelta(days=1))))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


@dataclass(frozen=True, slots=True)
class AnalysisData:
    """What one refresh loads: the table's report, the territory report for the map, shapes."""

    report: AnalyticsReport
    by_territory: AnalyticsReport
    territories: tuple[Territory, ...]
    page: Path | None = None  # a new map page with the territory outlines, when asked for


def load_analysis(session: Session, group_by: str, period: Period,
                  page_dir: Path | None = None) -> AnalysisData:  # fmt: skip
    """Op: the report grouped as asked, the one by territory for the map, and the map page."""
    report = sales_report(session=session, group_by=group_by, period=period)
    by_territory = report if group_by == "territory" else sales_report(
        session=session, group_by="territory", period=period)  # fmt: skip
    territories = tuple(list_territories(session=session))
    page = None
    if page_dir is not None:
        outlines = [MapTerritory(t.id, t.name, t.color, t.geojson) for t in territories]
        page = build_account_map(points=MapPoints.empty(), territories=outlines, out_dir=page_dir)
    return AnalysisData(report, by_territory, territories, page)


def load_trend(session: Session, group_by: str, end: date,
               with_coverage: bool = False) -> tuple[list[str], list[tuple]]:  # fmt: skip
    """Op: each of the last months' figures per group (coverage costs a report per month)."""
    months = month_periods(end)
    return ([label for label, _ in months],
            monthly_series(session=session, group_by=group_by, months=[p for _, p in months],
                           with_coverage=with_coverage))  # fmt: skip


def choropleth_items(data: AnalysisData, metric: Metric) -> list[ChoroplethItem]:
    """Each territory's value of ``metric`` (territories with no accounts count as 0)."""
    rows = {g.key: g for g in data.by_territory.rows}
    out = []
    for t in data.territories:
        g = rows.get(t.id) or GroupStats(t.id, t.name)
        value = metric.current(g)
        out.append(ChoroplethItem(t.id, t.name, t.geojson, value,
                                  value_text(metric, value, data.report.currency)))
    return out


class AnalysisPanel(QWidget):
    """Period and grouping choosers, the metric table, bar and trend charts, a choropleth map."""

    sig_loaded = Signal()
    """A new report is on screen."""
    sig_status = Signal(str)
    """A short message for the status bar."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None, *,
                 with_map: bool = True, out_root: Path | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self._runner = runner
        self._data: AnalysisData | None = None
        self._trend: tuple[list[str], list[tuple]] | None = None
        self._trend_coverage = False
        self._out_root = out_root or cache_dir() / "analysis-map"
        self._map_stale = True
        self._reload = QTimer(self, singleShot=True, interval=250)
        self.view: Any = None
        if with_map:
            from fieldcrm.ui.map_view import MapView

            self.view = MapView()
        self._build()
        self._connect()
        self.refresh()

    # -- building ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.period = self._combo(PERIODS)
        self.period.setCurrentIndex(3)
        self.first, self.last = QDateEdit(), QDateEdit()
        for w, d in ((self.first, date.today().replace(day=1)), (self.last, date.today())):
            w.setCalendarPopup(True)
            w.setDisplayFormat("yyyy-MM-dd")
            w.setDate(QDate(d.year, d.month, d.day))
            w.setVisible(False)
        self.group_by = self._combo(GROUPS)
        self.metric_box = self._combo(tuple((m.key, m.title) for m in METRICS))
        self.compared = QLabel("")
        self.status = QLabel("")
        self.status.setStyleSheet("color: #1b7f3b;")
        self.export_table = QPushButton("Export table…")
        self.export_map = QPushButton("Export map…")
        self.export_map.setToolTip("Save the map as one HTML file that opens in any browser, offline")
        self.model = AnalysisTableModel(self)
        proxy = TotalLastProxy(self, sort_role=SORT_ROLE)
        proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.bars, self.trend = QChartView(), QChartView()
        antialias(self.trend)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.bars, "Compared with before")
        self.tabs.addTab(self.trend, "Trend")
        self._layout()

    @staticmethod
    def _combo(items: tuple[tuple[str, str], ...]) -> QComboBox:
        box = QComboBox()
        for key, label in items:
            box.addItem(label, key)
        return box

    def _layout(self) -> None:
        bar = QHBoxLayout()
        for text, w in (("Period:", self.period), ("", self.first), ("", self.last),
                        ("By:", self.group_by), ("Chart and map:", self.metric_box)):
            if text:
                bar.addWidget(QLabel(text))
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.export_table)
        bar.addWidget(self.export_map)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.table)
        if self.view is not None:
            # Always on screen: a map loaded while hidden cannot fit its territories.
            left.addWidget(self.view)
            left.setSizes([420, 400])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setSizes([860, 540])
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.addLayout(bar)
        info = QHBoxLayout()
        info.addWidget(self.compared, 1)
        info.addWidget(self.status)
        box.addLayout(info)
        box.addWidget(split, 1)

    def _connect(self) -> None:
        self._reload.timeout.connect(self.refresh)
        for w in (self.period, self.group_by):
            w.currentIndexChanged.connect(self._on_choice_changed)
        for w in (self.first, self.last):
            w.dateChanged.connect(self._on_choice_changed)
        self.metric_box.currentIndexChanged.connect(self._on_metric_changed)
        self.export_table.clicked.connect(self._on_export_table_clicked)
        self.export_map.clicked.connect(self._on_export_map_clicked)
        self._runner.sig_changes_applied.connect(self._on_runner_changes_applied)
        if self.view is not None:
            self.view.sig_ready.connect(self._on_view_ready)

    # -- loading ----------------------------------------------------------------------------
    def current_period(self) -> Period:
        kind = self.period.currentData()
        first, last = (w.date().toPython() for w in (self.first, self.last))
        return choose_period(kind, date.today(), first, last)

    def current_metric(self) -> Metric:
        return METRIC_BY_KEY[self.metric_box.currentData()]

    def refresh(self) -> None:
        """Recompute the report and the trend off the GUI thread."""
        custom = self.period.currentData() == "custom"
        self.first.setVisible(custom)
        self.last.setVisible(custom)
        if custom and self.last.date() < self.first.date():
            self.compared.setText("<b>The period ends before it starts.</b> Pick the dates again.")
            return
        period, group_by = self.current_period(), self.group_by.currentData()
        self.compared.setText(f"{period_text(period)} — computing…")
        key = f"analysis-{id(self)}"
        page_dir = None
        if self.view is not None and self._map_stale:
            page_dir = self._out_root / f"build-{time.time_ns()}"
        self._runner.query(lambda s: load_analysis(s, group_by, period, page_dir),
                           if_alive(self, self._on_loaded), parent=self, key=key)
        self._load_trend(group_by, period)

    def _load_trend(self, group_by: str, period: Period) -> None:
        coverage = self.current_metric().key == "coverage"
        self._trend, self._trend_coverage = None, coverage
        self.trend.setChart(QChart())
        self.trend.chart().setTitle("Computing the monthly trend…")
        self._runner.query(lambda s: load_trend(s, group_by, period.end, coverage),
                           if_alive(self, self._on_trend_loaded), parent=self,
                           key=f"analysis-{id(self)}-trend")  # fmt: skip

    def _on_loaded(self, data: AnalysisData) -> None:
        self._data = data
        if data.page is not None and self.view is not None:
            self._map_stale = False
            self.view.load_map(data.page)
        r = data.report
        self.model.set_report(r, self.group_by.currentText())
        self.compared.setText(f"{period_text(r.period)}, compared with the same number of days "
                              f"before: {period_text(r.previous)}. Amounts in {r.currency}.")
        self._draw_bars()
        self._draw_map()
        self.sig_loaded.emit()

    def _on_trend_loaded(self, trend: tuple[list[str], list[tuple]]) -> None:
        self._trend = trend
        self._draw_trend()

    def _draw_bars(self) -> None:
        if self._data is None:
            return
        r, m = self._data.report, self.current_metric()
        self.bars.setChart(bar_chart(r.rows, m, r.currency, self.group_by.currentText().lower(),
                                     period_text(r.period), period_text(r.previous)))  # fmt: skip

    def _draw_trend(self) -> None:
        if self._trend is not None and self._data is not None:
            months, monthly = self._trend
            self.trend.setChart(trend_chart(months, monthly, self.current_metric(),
                                            self._data.report.currency))  # fmt: skip

    def choropleth(self) -> tuple[dict, dict] | None:
        """The map layer and legend of the chosen metric by territory, once loaded."""
        if self._data is None:
            return None
        m = self.current_metric()
        items = choropleth_items(self._data, m)
        div, title = axis_scale(m, self._data.report.currency,
                                max([i.value or 0.0 for i in items] or [0.0]))  # fmt: skip
        fmt = (lambda v: f"{v:.0f} %") if m.unit == "share" else (
            (lambda v: f"{v / div:,.1f}") if div > 1 else "{:,.0f}".format)  # fmt: skip
        return choropleth_layer(items, title=f"{title} by territory", fmt=fmt)

    def _draw_map(self) -> None:
        layer = self.choropleth()
        if self.view is not None and layer is not None:
            self.view.set_choropleth(*layer)

    # -- slots ------------------------------------------------------------------------------
    @Slot()
    def _on_choice_changed(self, *_: Any) -> None:
        self._reload.start()

    @Slot()
    def _on_view_ready(self) -> None:
        self.view.page().runJavaScript(HIDE_PIN_CONTROLS_JS, 0)

    @Slot(int)
    def _on_metric_changed(self, _index: int) -> None:
        self._draw_bars()
        self._draw_map()
        if self.current_metric().key == "coverage" and not self._trend_coverage:
            self._load_trend(self.group_by.currentData(), self.current_period())
        else:
            self._draw_trend()

    @Slot(object)
    def _on_runner_changes_applied(self, changes: ChangeSet) -> None:
        if changes.territories:
            self._map_stale = True
        if changes.accounts or changes.visits or changes.sales or changes.territories:
            self._reload.start()

    @Slot()
    def _on_export_table_clicked(self) -> None:
        headers, rows = self.model.export_rows()
        if not rows:
            return
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export table", f"analysis-by-{self.group_by.currentData()}.xlsx",
            "Excel workbook (*.xlsx);;CSV (*.csv)")  # fmt: skip
        if path:
            self.save_table(path, "csv" if chosen.startswith("CSV") else "xlsx", headers, rows)

    def save_table(self, path: str, fmt: str, headers: list[str], rows: list[list[Any]]) -> None:
        """Write the table as CSV or XLSX off the GUI thread (cells are formula-escaped)."""
        suffix = Path(path).suffix.lower()
        if suffix in (".csv", ".xlsx"):
            fmt = suffix[1:]
        else:
            path += f".{fmt}"
        self._runner.call(lambda: write_rows(path, fmt, headers, rows),
                          if_alive(self, lambda n: self._say(f"Saved {n} rows to {path}.")),
                          parent=self)  # fmt: skip

    @Slot()
    def _on_export_map_clicked(self) -> None:
        path = QFileDialog.getSaveFileName(self, "Export map", "territory-map.html",
                                           "Web page (*.html)")[0]  # fmt: skip
        if path:
            self.save_map(path if path.endswith((".html", ".htm")) else path + ".html")

    def save_map(self, path: str) -> None:
        """Write the choropleth as a standalone offline HTML file, off the GUI thread."""
        layer = self.choropleth()
        if layer is None or self._data is None:
            return
        outlines = [MapTerritory(t.id, t.name, t.color, t.geojson) for t in self._data.territories]
        title, sub = layer[1]["title"], period_text(self._data.report.period)
        self._runner.call(
            lambda: build_standalone_map(out_path=Path(path), territories=outlines,
                                         feature_collection=layer[0], legend=layer[1],
                                         title=title, subtitle=sub),
            if_alive(self, lambda p: self._say(f"Map saved to {p}.")), parent=self)  # fmt: skip

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.sig_status.emit(text)
