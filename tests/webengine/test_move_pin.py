"""Move-pin mode on a real QtWebEngine map: drag a pin, the account is saved as placed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fieldcrm.db.models import AccountRecord, OutboxRecord
from fieldcrm.services.accounts import create_account
from fieldcrm.ui.app import stop_runner
from fieldcrm.ui.tasks import TaskRunner
from tests.webengine.conftest import READY_TIMEOUT_MS

pytestmark = pytest.mark.webengine

# Drag the move marker's icon with DOM mouse events, as a user's mouse would (Leaflet's
# Draggable listens to mousedown on the icon, then mousemove/mouseup bubbling to the document).
DRAG_JS = """(function (dx, dy) {
  var el = window.fieldcrm._state.moveMarker.getElement();
  var r = el.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
  function fire(target, type, cx, cy) {
    target = target || document.elementFromPoint(cx, cy) || document.body;  // as a real mouse
    target.dispatchEvent(new MouseEvent(type, { bubbles: true, cancelable: true, view: window,
      button: 0, buttons: type === "mouseup" ? 0 : 1, clientX: cx, clientY: cy }));
  }
  fire(el, "mousedown", x, y);
  for (var k = 1; k <= 5; k++) fire(null, "mousemove", x + dx * k / 5, y + dy * k / 5);
  fire(null, "mouseup", x + dx, y + dy);
  return true;
})(%d, %d)"""


@pytest.fixture
def runner(db: Any, qtbot: Any) -> Iterator[TaskRunner]:
    runner = TaskRunner(db)
    yield runner
    stop_runner(runner)  # drops results still queued for widgets that are going away


@pytest.fixture
def ids(db: Any) -> dict[str, str]:
    with db.session() as s:
        out = {
            "shop": create_account(session=s, fields={
                "name": "Fyris Blommor", "lat": 59.8586, "lon": 17.6389,
                "geocode_source": "town"}).id,
            "other": create_account(session=s, fields={
                "name": "Gävle Optik", "lat": 60.6749, "lon": 17.1413}).id,
        }
        s.commit()
    return out


@pytest.fixture
def panel(qtbot: Any, runner: TaskRunner, tmp_path: Path, ids: dict) -> Any:
    from fieldcrm.ui.panels.map_panel import MapPanel

    panel = MapPanel(runner, out_root=tmp_path / "map", tile_url="")
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    qtbot.waitUntil(panel.is_ready, timeout=READY_TIMEOUT_MS)
    return panel


def test_drag_pin_saves_manual_position(panel: Any, ids: dict, db: Any, run_js: Any,
                                        qtbot: Any) -> None:
    assert run_js(panel.view, "window.fieldcrm.startMovePin('no-such-id')") is False
    panel.start_move_pin(ids["shop"])
    assert "Fyris Blommor" in panel.status.text()
    qtbot.waitUntil(lambda: run_js(panel.view, "window.fieldcrm._state.moveId") == ids["shop"])
    with qtbot.waitSignal(panel.view.sig_pin_moved, timeout=10_000) as moved:
        assert run_js(panel.view, DRAG_JS % (80, 60)) is True
    account_id, lat, lon = moved.args
    assert account_id == ids["shop"]
    assert lat < 59.8586 and lon > 17.6389  # dragged down (south) and right (east)
    assert abs(lat - 59.8586) < 0.05 and abs(lon - 17.6389) < 0.05  # a street-level nudge
    message = run_js(panel.view, "window.fieldcrm.messages.filter(function (m) {"
                                 " return m.type === 'pin_moved'; }).pop()")
    assert message["id"] == ids["shop"]

    def saved() -> bool:
        with db.session() as s:
            return s.get(AccountRecord, ids["shop"]).geocode_source == "manual"

    qtbot.waitUntil(saved, timeout=10_000)
    with db.session() as s:
        rec = s.get(AccountRecord, ids["shop"])
        assert rec.lat == pytest.approx(lat, abs=1e-6) and rec.lon == pytest.approx(lon, abs=1e-6)
        assert s.get(AccountRecord, ids["other"]).lat == 60.6749  # only the dragged one moved
        patches = [o for o in s.query(OutboxRecord).filter_by(entity_id=ids["shop"], op="patch")]
        assert len(patches) == 1 and '"manual"' in patches[0].fields_json
    # The map is rebuilt from the database with the pin where it was dropped.
    qtbot.waitUntil(lambda: "saved" not in panel.status.text() and panel.is_ready(),
                    timeout=READY_TIMEOUT_MS)


def test_clear_leaves_move_mode(panel: Any, ids: dict, run_js: Any, qtbot: Any) -> None:
    panel.start_move_pin(ids["other"])
    qtbot.waitUntil(lambda: run_js(panel.view, "window.fieldcrm._state.moveId") == ids["other"])
    panel.clear_tool.click()  # the map's Clear also leaves move mode
    qtbot.waitUntil(lambda: run_js(panel.view, "window.fieldcrm._state.moveMarker") is None)
    panel.rebuild()  # a rebuilt page does not come back in move mode
    qtbot.waitUntil(panel.is_ready, timeout=READY_TIMEOUT_MS)
    assert run_js(panel.view, "window.fieldcrm._state.moveId") is None


def test_an_unplaced_account_gets_a_pin_to_drag(panel: Any, db: Any, run_js: Any,
                                                qtbot: Any) -> None:
    with db.session() as s:
        lost = create_account(session=s, fields={"name": "Okänd Kiosk"}).id
    assert run_js(panel.view, f"window.fieldcrm.startMovePin('{lost}')") is False  # no name
    panel.start_move_pin(lost, "Okänd Kiosk")
    assert "Okänd Kiosk" in panel.status.text()
    qtbot.waitUntil(lambda: run_js(panel.view, "window.fieldcrm._state.moveId") == lost)
    with qtbot.waitSignal(panel.view.sig_pin_moved, timeout=10_000) as moved:
        run_js(panel.view, DRAG_JS % (-40, -30))
    assert moved.args[0] == lost

    def placed() -> bool:
        with db.session() as s:
            rec = s.get(AccountRecord, lost)
            return rec.lat is not None and rec.geocode_source == "manual"

    qtbot.waitUntil(placed, timeout=10_000)
    with db.session() as s:
        assert s.get(AccountRecord, lost).lat == pytest.approx(moved.args[1], abs=1e-6)


def test_account_panel_button_opens_move_mode_on_the_map(qtbot: Any, runner: TaskRunner,
                                                         ids: dict, run_js: Any) -> None:
    from fieldcrm.ui.main_window import MainWindow
    from fieldcrm.ui.shell_tabs import Tab

    window = MainWindow(runner, restore_state=False)
    qtbot.addWidget(window)
    window.show()
    window.show_account(ids["shop"])
    account = window.tabs.panel(Tab.ACCOUNT)
    qtbot.waitUntil(lambda: account.name_label.text() == "Fyris Blommor", timeout=10_000)
    assert account.buttons["pin"].text() == "Correct p&osition…"
    account.buttons["pin"].click()
    assert window.tabs.currentIndex() == Tab.MAP
    map_panel = window.tabs.made(Tab.MAP)
    qtbot.waitUntil(map_panel.is_ready, timeout=READY_TIMEOUT_MS)
    qtbot.waitUntil(lambda: run_js(map_panel.view, "window.fieldcrm._state.moveId") == ids["shop"],
                    timeout=10_000)
    window.tabs.setCurrentIndex(Tab.ANALYSIS)  # made through the same helper as Account
    assert type(window.tabs.made(Tab.ANALYSIS)).__name__ == "AnalysisPanel"
    window.close()
