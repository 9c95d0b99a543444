"""Metrics of the analysis tab and the QtCharts it draws: period vs previous bars, monthly trend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSet,
    QChart,
    QHorizontalBarSeries,
    QLineSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QColor, QPainter

from fieldcrm.services.analytics import GroupStats

Value = Callable[[GroupStats], float | None]
NOW_COLOUR, PREV_COLOUR = QColor("#2c7fb8"), QColor("#b9c7d3")
LINE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#555555")
MAX_BARS = 15
MAX_LINES = 6


@dataclass(frozen=True, slots=True)
class Metric:
    """One figure the charts and the map can show; ``previous`` is None when it has none."""

    key: str
    title: str
    unit: str  # "money", "count" or "share"
    current: Value
    previous: Value | None


def _cov(v: float | None) -> float | None:
    return None if v is None else v * 100


METRICS: tuple[Metric, ...] = (
    Metric("sales", "Sales", "money", lambda g: g.sales_minor / 100,
           lambda g: g.sales_prev_minor / 100),
    Metric("visits", "Visits", "count", lambda g: float(g.visits), lambda g: float(g.visits_prev)),
    Metric("coverage", "Coverage", "share", lambda g: _cov(g.coverage),
           lambda g: _cov(g.coverage_prev)),
    Metric("pipeline_new", "New pipeline", "money", lambda g: g.pipeline_new_minor / 100,
           lambda g: g.pipeline_new_prev_minor / 100),
    Metric("pipeline_open", "Open pipeline", "money", lambda g: g.pipeline_open_minor / 100, None),
)  # fmt: skip
METRIC_BY_KEY = {m.key: m for m in METRICS}


def value_text(metric: Metric, value: float | None, currency: str) -> str:
    """A metric's value as the user reads it."""
    if value is None:
        return "no data"
    if metric.unit == "share":
        return f"{value:.0f} %"
    text = f"{value:,.0f}".replace(",", "\u2009")
    return f"{text} {currency}" if metric.unit == "money" else text


def axis_scale(metric: Metric, currency: str, high: float) -> tuple[float, str]:
    """Divisor and axis title so that axis labels stay short (thousands, millions)."""
    if metric.unit == "share":
        return 1.0, f"{metric.title} (%)"
    div, word = (1e6, "million ") if high >= 1e6 else (1e3, "thousand ") if high >= 1e4 else (1.0, "")
    unit = f"{word}{currency}" if metric.unit == "money" else word.strip()
    return div, f"{metric.title} ({unit})" if unit else metric.title


def _chart(title: str) -> QChart:
    chart = QChart()
    chart.setTitle(title)
    chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
    chart.setMargins(QMargins(4, 4, 4, 4))
    chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
    return chart


def bar_chart(rows: Sequence[GroupStats], metric: Metric, currency: str, group: str,
              period_label: str, previous_label: str) -> QChart:  # fmt: skip
    """Horizontal bars per group: the period and (if the metric has one) the previous period.

    Shows the ``MAX_BARS`` largest groups, largest at the top.
    """
    ranked = sorted(rows, key=lambda g: metric.current(g) or 0.0, reverse=True)[:MAX_BARS]
    ranked.reverse()  # QHorizontalBarSeries draws the first category at the bottom
    chart = _chart(f"{metric.title} by {group}" + (f" (largest {MAX_BARS})"
                                                   if len(rows) > MAX_BARS else ""))
    now_values = [metric.current(g) or 0.0 for g in ranked]
    prev_values = [metric.previous(g) or 0.0 for g in ranked] if metric.previous else []
    div, title = axis_scale(metric, currency, max([*now_values, *prev_values, 0.0]))
    series = QHorizontalBarSeries()
    now = QBarSet(period_label)
    now.setColor(NOW_COLOUR)
    now.append([v / div for v in now_values])
    if prev_values:
        before = QBarSet(f"previous: {previous_label}")
        before.setColor(PREV_COLOUR)
        before.append([v / div for v in prev_values])
        series.append(before)
    series.append(now)
    chart.addSeries(series)
    names = QBarCategoryAxis()
    names.append([g.label or "(none)" for g in ranked])
    values = QValueAxis()
    values.setLabelFormat("%.0f" if div == 1 else "%.1f")
    values.setTitleText(title)
    chart.addAxis(names, Qt.AlignmentFlag.AlignLeft)
    chart.addAxis(values, Qt.AlignmentFlag.AlignBottom)
    series.attachAxis(names)
    series.attachAxis(values)
    values.setRange(0, max([*now_values, *prev_values, 0.0]) / div or 1)
    values.applyNiceNumbers()
    return chart


def trend_chart(months: Sequence[str], monthly: Sequence[Sequence[GroupStats]],
                metric: Metric, currency: str) -> QChart:  # fmt: skip
    """One line per group (the largest ``MAX_LINES`` over the months) across ``months``."""
    totals: dict[str, float] = {}
    for stats in monthly:
        for g in stats:
            totals[g.label] = totals.get(g.label, 0.0) + (metric.current(g) or 0.0)
    top = sorted(totals, key=lambda k: totals[k], reverse=True)[:MAX_LINES]
    chart = _chart(f"{metric.title} per month" + (f" (largest {MAX_LINES})"
                                                  if len(totals) > MAX_LINES else ""))
    values = {label: [next((metric.current(g) for g in stats if g.label == label), 0.0) or 0.0
                      for stats in monthly] for label in top}  # fmt: skip
    div, title = axis_scale(metric, currency, max([v for vs in values.values() for v in vs] or [0]))
    x = QBarCategoryAxis()
    x.append(list(months))
    x.setLabelsAngle(-60)
    x.setTruncateLabels(False)
    y = QValueAxis()
    y.setLabelFormat("%.0f" if div == 1 else "%.1f")
    y.setTitleText(title)
    chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
    chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
    high = 0.0
    for k, label in enumerate(top):
        line = QLineSeries()
        line.setName(label or "(none)")
        line.setColor(QColor(LINE_COLOURS[k % len(LINE_COLOURS)]))
        for i, v in enumerate(values[label]):
            line.append(float(i), v / div)
            high = max(high, v / div)
        chart.addSeries(line)
        line.attachAxis(x)
        line.attachAxis(y)
    y.setRange(0, high or 1)
    y.applyNiceNumbers()
    return chart


def antialias(view: object) -> None:
    """Smooth lines in a QChartView."""
    view.setRenderHint(QPainter.RenderHint.Antialiasing)  # type: ignore[attr-defined]
