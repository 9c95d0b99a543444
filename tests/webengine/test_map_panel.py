"""The Map tab on a real database: build off the GUI thread, filter, radius, picking, clicks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fieldcrm.domain.enums import AccountStatus
from fieldcrm.domain.records import AccountFilter
from fieldcrm.services.accounts import create_account
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from tests.webengine.conftest import READY_TIMEOUT_MS

pytestmark = pytest.mark.webengine


@pytest.fixture
def runner(db: Any, qtbot: Any) -> Iterator[TaskRunner]:
    runner = TaskRunner(db)
    yield runner
    runner.shutdown()


@pytest.fixture
def seeded(db: Any) -> dict[str, str]:
    """Uppsala (customer), a vet 5 km north (lead), Gävle far away (prospect), one unplaced."""
    with db.session() as s:
        ids = {
            "main": create_account(session=s, fields={
                "name": "Nordic Dental", "status": "customer", "lat": 59.8586, "lon": 17.6389}).id,
            "near": create_account(session=s, fields={
                "name": "Fyris Vet", "status": "lead", "lat": 59.9036, "lon": 17.6389}).id,
            "far": create_account(session=s, fields={
                "name": "Gävle Optik", "status": "prospect", "lat": 60.6749, "lon": 17.1413}).id,
            "nowhere": create_account(session=s, fields={"name": "No Address AB"}).id,
        }
        s.commit()
    return ids


@pytest.fixture
def panel(qtbot: Any, runner: TaskRunner, tmp_path: Path, seeded: dict) -> Any:
    from fieldcrm.ui.panels.map_panel import MapPanel

    panel = MapPanel(runner, out_root=tmp_path / "map", tile_url="")
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    qtbot.waitUntil(panel.is_ready, timeout=READY_TIMEOUT_MS)
    return panel


def _stats(run_js: Any, panel: Any) -> dict:
    return run_js(panel.view, "window.fieldcrm.stats()")


def test_panel_builds_filters_circles_and_picks(panel: Any, seeded: dict, run_js: Any,
                                                qtbot: Any) -> None:
    # Built off the GUI thread from the database: every placed account, nothing remote.
    assert _stats(run_js, panel)["total"] == 3
    assert panel.status.text() == "3 accounts on the map"
    assert panel.view.blocked_requests == []
    assert not panel.side.isVisible()  # the picked list appears only once something is picked

    # The list's filter hides pins without a rebuild.
    panel.set_filter(AccountFilter(statuses=frozenset({AccountStatus.CUSTOMER})))
    qtbot.waitUntil(lambda: _stats(run_js, panel)["visible"] == 1)
    panel.set_filter(AccountFilter())
    qtbot.waitUntil(lambda: _stats(run_js, panel)["visible"] == 3)

    # "Within 10 km" of the selected account: listed (computed in Python) and circled.
    panel.select_account(seeded["main"])
    panel.km.setValue(10.0)
    panel.within.click()
    qtbot.waitUntil(lambda: panel.picked_ids() == [seeded["near"]])
    assert panel.picked_label.text() == "Within 10 km: 1"
    assert panel.side.isVisible()
    qtbot.waitUntil(lambda: _stats(run_js, panel)["highlighted"] == 1)

    # A rectangle pick fills the list by name; double-click opens the account.
    with qtbot.waitSignal(panel.sig_selection_changed, timeout=5000) as blocker:
        panel.view.call("selectInBounds", 59.5, 17.0, 60.0, 18.0)
    assert sorted(blocker.args[0]) == sorted([seeded["main"], seeded["near"]])
    texts = sorted(panel.picked.item(i).text() for i in range(panel.picked.count()))
    assert texts == ["Fyris Vet", "Nordic Dental"]
    with qtbot.waitSignal(panel.sig_account_clicked, timeout=5000) as clicked:
        panel.picked.itemDoubleClicked.emit(panel.picked.item(0))
    assert clicked.args[0] in (seeded["main"], seeded["near"])

    # Colour mode switches in the page without a rebuild.
    panel.color_mode.setCurrentIndex(1)
    qtbot.waitUntil(lambda: _stats(run_js, panel)["colorMode"] == "overdue")


def test_writes_rebuild_the_page(panel: Any, seeded: dict, runner: TaskRunner, db: Any,
                                 run_js: Any, qtbot: Any) -> None:
    with db.session() as s:
        create_account(session=s, fields={"name": "New Shop", "lat": 59.0, "lon": 18.0})
        s.commit()
    panel.view.call("setView", 59.86, 17.64, 11)  # the user is looking at Uppsala
    qtbot.waitUntil(lambda: panel.view.last_view is not None
                    and panel.view.last_view[2] == 11
                    and abs(panel.view.last_view[0] - 59.86) < 1e-3)
    runner.sig_changes_applied.emit(ChangeSet(accounts=True))
    qtbot.waitUntil(lambda: not panel.is_ready(), timeout=5000)
    qtbot.waitUntil(panel.is_ready, timeout=READY_TIMEOUT_MS)
    assert _stats(run_js, panel)["total"] == 4
    # The rebuilt page opens where the user was, not on the whole country.
    qtbot.waitUntil(lambda: run_js(panel.view, "window.fieldcrm._state.map.getZoom()") == 11)
    builds = list((panel._out_root).glob("build-*"))
    assert len(builds) == 1  # the old page's folder was removed
