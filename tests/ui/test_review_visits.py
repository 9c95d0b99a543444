"""Team tab's visits to review against a real in-process server: list, accept, dismiss."""

from __future__ import annotations

import gc
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import keyring
import pytest
from PySide6.QtWidgets import QApplication
from sqlalchemy import select, update

from fieldcrm.domain.ids import new_id
from fieldcrm.errors import SyncError
from fieldcrm.services.sync_review import DELETED, NOT_ON_SERVER, list_review_visits
from fieldcrm.sync.client import RetryPolicy, SyncClient
from fieldcrm.ui.app import pin_refcounts
from fieldcrm.ui.panels.login_dialog import LoginDialog
from fieldcrm.ui.panels.review_visits import DECISION, ReviewVisitsPanel
from fieldcrm.ui.panels.sync_panel import SyncPanel
from fieldcrm.ui.sync_controller import Backoff, SyncController
from fieldcrm.ui.tasks import TaskRunner
from tests.sync.client_helpers import MemoryKeyring
from tests.sync.conftest import PASSWORD, Harness

pin_refcounts()
URL = "http://testserver"
WAIT = 15_000
CHECKED_IN = "2026-11-20T09:30:00+00:00"
_KEPT: list[Any] = []


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread() -> Iterator[None]:
    gc.collect()
    yield
    gc.collect()


@pytest.fixture(scope="module")
def _server_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fieldcrm.sync.server.auth import configure_hasher
    from fieldcrm.sync.server.engine import make_database, migrate

    configure_hasher(time_cost=1, memory_cost_kib=1024)
    path = tmp_path_factory.mktemp("review-ui-server") / "template.db"
    db = make_database(f"sqlite:///{path}", pool_size=1)
    migrate(db.engine)
    db.engine.dispose()
    return path


@pytest.fixture
def server(_server_template: Path, tmp_path: Path) -> Iterator[Harness]:
    target = tmp_path / "server.db"
    shutil.copyfile(_server_template, target)
    h = Harness(f"sqlite:///{target}")
    yield h
    h.close()


@pytest.fixture
def runner(db: Any) -> Iterator[TaskRunner]:
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    r = TaskRunner(db)
    yield r
    r.shutdown()
    keyring.set_keyring(previous)
    _KEPT.clear()
    gc.collect()


@pytest.fixture
def controller(runner: TaskRunner, server: Harness) -> Iterator[SyncController]:
    def factory(_url: str) -> SyncClient:
        return SyncClient(server.client, "", seed=1,
                          retry=RetryPolicy(attempts=1, base_s=0.01, max_wait_s=0.05))

    c = SyncController(runner, client_factory=factory, backoff=Backoff(base_s=60), seed=1)
    yield c
    c.stop()


def _hold(qtbot: Any, widget: Any) -> Any:
    qtbot.addWidget(widget)
    _KEPT.append(widget)
    return widget


def _login(qtbot: Any, controller: SyncController, user: str) -> None:
    dialog = _hold(qtbot, LoginDialog(controller))
    dialog.show()
    dialog.server.setText(URL)
    dialog.user.setText(user)
    dialog.password.setText(PASSWORD)
    with qtbot.waitSignal(controller.sig_synced, timeout=WAIT):
        dialog.ok.click()


def _world(server: Harness) -> dict[str, Any]:
    """anna lost North to bob 40 days ago, then logged a visit there and one on a ghost account."""
    from fieldcrm.sync.server.models import TerritoryAssignment

    for name in ("anna", "bob"):
        server.add_user(name)
    server.add_user("boss", role="manager")
    north = server.territory("North")
    server.assign(north, "anna")
    boss = server.login("boss")
    acc = new_id()
    boss.push(boss.mutation("account", acc, "create", {"name": "Kafé Norr", "territory_id": north}))
    server.assign(north, "bob")
    with server.db.write() as s, s.begin():
        for a in s.scalars(select(TerritoryAssignment)
                           .where(TerritoryAssignment.valid_to.is_not(None))):
            a.valid_from -= timedelta(days=40)
            a.valid_to -= timedelta(days=40)
    anna = server.login("anna")
    visit, ghost = new_id(), new_id()
    anna.push(anna.mutation("visit", visit, "append", {
        "account_id": acc, "status": "completed", "checked_in_at": CHECKED_IN,
        "outcome": "Ordered 3 cases"}))
    anna.push(anna.mutation("visit", ghost, "append", {"account_id": "gone-" + new_id()}))
    return {"acc": acc, "visit": visit, "ghost": ghost, "north": north, "anna": anna}


def test_manager_accepts_a_visit_and_the_territory_rep_receives_it(
        controller: SyncController, server: Harness, runner: TaskRunner, qtbot: Any) -> None:
    w = _world(server)
    _login(qtbot, controller, "boss")
    panel = _hold(qtbot, ReviewVisitsPanel(runner, controller))
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2, timeout=WAIT)
    rows = panel.model.csv_rows()
    assert [r[1:5] for r in rows] == [
        ["anna", rows[0][2], "", "Account not on the server"],
        ["anna", "Kafé Norr", "North", "anna no longer held North"],
    ]
    assert rows[0][2].startswith("(unknown") and rows[1][5] == "Ordered 3 cases"
    assert "2 visits to review" in panel.status.text()
    assert panel.table.isColumnHidden(DECISION) and rows[0][DECISION] == ""
    assert not panel.accept_button.isEnabled() and not panel.dismiss_button.isEnabled()

    panel.table.selectRow(0)  # the ghost account: cannot be accepted, only dismissed
    assert not panel.accept_button.isEnabled() and panel.dismiss_button.isEnabled()
    assert panel.accept_button.toolTip() == NOT_ON_SERVER
    panel.note.setText("test visit from training")
    with qtbot.waitSignal(panel.sig_loaded, timeout=WAIT):
        panel.dismiss_button.click()
    assert [r[2] for r in panel.model.csv_rows()] == ["Kafé Norr"]
    assert "Dismissed anna's visit" in panel.status.text() and panel.note.text() == ""

    panel.table.selectRow(0)
    assert panel.accept_button.isEnabled()
    with qtbot.waitSignal(panel.sig_reviewed, timeout=WAIT) as got:
        panel.accept_button.click()
    assert got.args == ["accepted"]
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0 and "Accepted" in panel.status.text(),
                    timeout=WAIT)
    assert "reps of North receive it" in panel.status.text()
    qtbot.waitUntil(lambda: not controller.is_running(), timeout=WAIT)
    with qtbot.waitSignal(panel.sig_loaded, timeout=WAIT):
        panel.show_dismissed.setChecked(True)
    assert [r.id for r in panel.model.rows()] == [w["ghost"]]
    assert panel.status.text() == "1 dismissed visit, kept aside."
    [row] = panel.model.csv_rows()
    assert row[4] == "Account not on the server"  # why it was flagged, kept
    assert row[DECISION].startswith("Dismissed by boss on 20"), row
    assert row[DECISION].endswith(": test visit from training")
    assert not panel.table.isColumnHidden(DECISION)
    panel.table.selectRow(0)
    assert not panel.dismiss_button.isEnabled() and not panel.accept_button.isEnabled()

    bob = server.login("bob")
    pulled = {c["id"]: c for c in bob.pull_all() if c["entity"] == "visit"}
    assert set(pulled) == {w["visit"]} and pulled[w["visit"]]["data"]["review"] == "accepted"
    from fieldcrm.sync.server.models import Visit

    with server.db.read() as s:
        ghost = s.get(Visit, w["ghost"])
        assert (ghost.review, ghost.review_reason) == ("dismissed", "unknown account")
        assert (ghost.reviewed_by, ghost.review_note) == (
            server.users["boss"], "test visit from training")
        assert ghost.reviewed_at is not None
    QApplication.processEvents()


def test_team_tab_embeds_the_queue_and_reps_are_refused(
        controller: SyncController, server: Harness, runner: TaskRunner, qtbot: Any) -> None:
    w = _world(server)
    with server.db.write() as s, s.begin():  # a deleted account: Accept is disabled
        from fieldcrm.sync.server.models import Account

        s.execute(update(Account).where(Account.id == w["acc"]).values(deleted=True))
    _login(qtbot, controller, "boss")
    panel = _hold(qtbot, SyncPanel(runner, controller))
    qtbot.waitUntil(lambda: panel.team is not None, timeout=WAIT)
    queue = panel.team.review_visits
    qtbot.waitUntil(lambda: queue.model.rowCount() == 2, timeout=WAIT)
    queue.table.selectRow(1)
    assert queue.selected().account == "Kafé Norr (deleted)"
    assert not queue.accept_button.isEnabled() and queue.accept_button.toolTip() == DELETED

    rep = SyncClient(server.client, "", seed=1)
    rep.login("anna", PASSWORD)
    with pytest.raises(SyncError) as refused:
        list_review_visits(rep)
    assert refused.value.kind == "forbidden"
    with server.db.read() as s:
        from fieldcrm.sync.server.models import Visit

        assert {v.review for v in s.scalars(select(Visit))} == {"needs_review"}
    QApplication.processEvents()
