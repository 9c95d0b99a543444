"""Real QtWebEngine: the analysis choropleth, a drawn territory, and the exported offline map."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fieldcrm.geo.standalone import PALETTE
from fieldcrm.ui.app import stop_runner
from fieldcrm.ui.tasks import TaskRunner
from tests.webengine.conftest import READY_TIMEOUT_MS

pytestmark = pytest.mark.webengine
WAIT = 20_000
FILLS = "window.fieldcrm._state.choropleth.getLayers().map(function (l) { return l.options.fillColor; })"


@pytest.fixture
def db(demo_db: Any) -> Any:
    """The shared 200-account demo (a private copy) instead of the empty database."""
    return demo_db


@pytest.fixture
def runner(db: Any, qtbot: Any) -> Iterator[TaskRunner]:
    runner = TaskRunner(db)
    yield runner
    stop_runner(runner)


def _js_until(qtbot: Any, view: Any, js: str, ok: Any, timeout: int = WAIT) -> Any:
    """Evaluate ``js`` in the page again and again until ``ok(value)``; return the value."""
    box: dict[str, Any] = {"value": None, "pending": False}

    def ask() -> None:
        box["pending"] = True

        def got(text: Any) -> None:
            box["value"] = json.loads(text) if text else None
            box["pending"] = False

        view.page().runJavaScript(f"JSON.stringify((function () {{ try {{ return {js}; }} "
                                  "catch (e) { return null; } })())", 0, got)

    def check() -> bool:
        if not box["pending"]:
            if box["value"] is not None and ok(box["value"]):
                return True
            ask()
        return False

    qtbot.waitUntil(check, timeout=timeout)
    return box["value"]


def test_choropleth_of_the_chosen_metric_appears_with_its_legend(
    qtbot: Any, runner: TaskRunner, tmp_path: Path
) -> None:
    from fieldcrm.ui.panels.analysis_panel import AnalysisPanel

    panel = AnalysisPanel(runner, out_root=tmp_path / "map")
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    qtbot.waitUntil(lambda: panel.view.is_ready, timeout=READY_TIMEOUT_MS)
    n = len(panel.choropleth()[0]["features"])
    fills = _js_until(qtbot, panel.view, FILLS, lambda v: len(v) == n)
    assert set(fills) <= set(PALETTE) | {"#d9d9d9"} and len(set(fills)) > 1
    legend = _js_until(qtbot, panel.view, "Array.from(document.querySelectorAll('.fc-legend b'))"
                       ".map(function (b) { return b.textContent; })", lambda v: bool(v))
    assert any(t.startswith("Sales (") and t.endswith("by territory") for t in legend)
    # The pin legend and pin tools are hidden on a map without pins.
    hidden = _js_until(qtbot, panel.view, "getComputedStyle(document.getElementById('fc-legend'))"
                       ".display", lambda v: True)
    assert hidden == "none"
    panel.metric_box.setCurrentIndex(panel.metric_box.findData("coverage"))
    _js_until(qtbot, panel.view, "document.querySelector('.leaflet-bottom.leaflet-left .fc-legend b')"
              ".textContent", lambda v: v.startswith("Coverage"))
    assert panel.view.blocked_requests == []


def test_a_polygon_drawn_on_the_map_becomes_a_territory_on_the_map(
    qtbot: Any, runner: TaskRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fieldcrm.ui.panels.territories_panel import TerritoriesPanel

    panel = TerritoriesPanel(runner, out_root=tmp_path / "map")
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    qtbot.waitUntil(lambda: panel.view.is_ready and panel.model.rowCount() > 0,
                    timeout=READY_TIMEOUT_MS)
    before = _js_until(qtbot, panel.view, "window.fieldcrm.stats().territories", lambda v: v > 0)
    monkeypatch.setattr(panel, "ask_text", lambda *a: "Drawn on the map")
    panel.buttons["draw"].click()  # Leaflet.draw's polygon tool is now active
    # Finish a drawing as Leaflet.draw does: a "draw:created" event with the polygon layer.
    _js_until(qtbot, panel.view, "(function () { var S = window.fieldcrm._state;"
              " if (S.drawMode !== 'territory') return null;"
              " S.map.fire(L.Draw.Event.CREATED, {layer: L.polygon("
              "[[66.0, 19.0], [66.0, 21.0], [67.0, 21.0], [67.0, 19.0]])}); return true; })()",
              lambda v: v is True)
    qtbot.waitUntil(lambda: "Drawn on the map" in [t.name for t in panel.model.rows()],
                    timeout=WAIT)
    # The page is rebuilt with the new territory outlined and labelled.
    _js_until(qtbot, panel.view, "window.fieldcrm.stats().territories", lambda v: v == before + 1)
    labels = _js_until(qtbot, panel.view, "Array.from(document.querySelectorAll("
                       "'.fc-territory-label')).map(function (e) { return e.textContent; })",
                       lambda v: "Drawn on the map" in v)
    assert len(labels) == before + 1
    assert panel.view.blocked_requests == []


def test_exported_map_opens_offline_with_the_choropleth(
    qtbot: Any, runner: TaskRunner, tmp_path: Path
) -> None:
    from fieldcrm.ui.map_view import MapView
    from fieldcrm.ui.panels.analysis_panel import AnalysisPanel

    panel = AnalysisPanel(runner, with_map=False, out_root=tmp_path / "map")
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.choropleth() is not None, timeout=WAIT)
    out = tmp_path / "export" / "sales.html"
    out.parent.mkdir()
    panel.save_map(str(out))
    qtbot.waitUntil(lambda: "Map saved" in panel.status.text(), timeout=READY_TIMEOUT_MS)
    view = MapView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    view.load_map(out)
    qtbot.waitUntil(lambda: view.is_ready, timeout=READY_TIMEOUT_MS)
    n = len(panel.choropleth()[0]["features"])
    _js_until(qtbot, view, FILLS, lambda v: len(v) == n)
    title = _js_until(qtbot, view, "document.getElementById('fc-title').textContent", bool)
    assert "by territory" in title
    assert view.blocked_requests == []
    # Known, not this page's: fieldcrm-map.js may open two QWebChannels on one transport
    # (connectBridge runs on DOMContentLoaded, load and init before the first one answers).
    assert [e for e in view.page().js_errors if "qwebchannel" not in e] == []
