"""The route planner panel: plan chosen accounts, see what did not fit, save and export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QGuiApplication

from fieldcrm.services.accounts import create_account
from fieldcrm.services.visits import agenda
from fieldcrm.ui.app import pin_refcounts
from fieldcrm.ui.panels.route_panel import RoutePanel
from fieldcrm.ui.tasks import TaskRunner

pin_refcounts()
DAY = date(2026, 11, 25)


@pytest.fixture
def runner(db: Any) -> Iterator[TaskRunner]:
    r = TaskRunner(db)
    yield r
    r.shutdown()


@pytest.fixture
def panel(qtbot: Any, runner: TaskRunner, db: Any) -> RoutePanel:
    with db.session() as s:
        ids = [create_account(session=s, fields={
            "name": f"Shop {k}", "lat": 59.33 + 0.01 * k, "lon": 18.06 + 0.02 * k}).id
            for k in range(4)]
        ids.append(create_account(session=s, fields={"name": "No Address"}).id)
    p = RoutePanel(runner)
    qtbot.addWidget(p)
    p.set_accounts(ids)
    p.date_edit.setDate(QDate(DAY.year, DAY.month, DAY.day))
    return p


def test_plan_save_and_export(panel: RoutePanel, qtbot: Any, db: Any, tmp_path: Path) -> None:
    with qtbot.waitSignal(panel.sig_planned, timeout=20_000):
        qtbot.mouseClick(panel.plan_button, Qt.MouseButton.LeftButton)
    assert panel.table.rowCount() == 4
    assert panel.unscheduled.count() == 1
    assert "No Address" in panel.unscheduled.item(0).text()
    assert "4 visits" in panel.summary.text()
    qtbot.mouseClick(panel.links_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text().startswith("https://www.google.com/maps/dir/")
    gpx = tmp_path / "day.gpx"
    panel.export_gpx(gpx)
    assert len(ET.parse(gpx).getroot().findall("{http://www.topografix.com/GPX/1/1}wpt")) == 4
    with qtbot.waitSignal(panel.sig_saved, timeout=10_000) as saved:
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert saved.args == [4]
    with db.session() as s:
        assert len(agenda(session=s, day=DAY, tz=ZoneInfo("Europe/Stockholm")).planned) == 4
