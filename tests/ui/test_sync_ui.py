"""Sync screens against a real in-process server: login, status, outbox, conflicts, 426, team."""

from __future__ import annotations

import gc
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import keyring
import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from fieldcrm.services.sync_login import NO_KEYRING
from fieldcrm.sync.client import RetryPolicy, SyncClient
from fieldcrm.ui.app import pin_refcounts
from fieldcrm.ui.panels.login_dialog import WRONG_PASSWORD, LoginDialog
from fieldcrm.ui.panels.sync_panel import SyncPanel
from fieldcrm.ui.sync_controller import TOO_OLD, Backoff, SyncController
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.sync_status import SyncStatusWidget
from tests.sync.client_helpers import Laptop, MemoryKeyring, rep_with_territory
from tests.sync.conftest import PASSWORD, Harness

pin_refcounts()
URL = "http://testserver"
_KEPT: list[Any] = []


def _hold(qtbot: Any, widget: Any) -> Any:
    qtbot.addWidget(widget)
    _KEPT.append(widget)
    return widget
WAIT = 15_000


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread() -> Iterator[None]:
    """The controller and the runner refer to each other; collect that cycle here, on the GUI
    thread, before the next test's workers run (a collection on a worker thread would destroy
    QObjects there and crash Qt). Before the test too: pytest-qt drops its widgets late."""
    gc.collect()
    yield
    gc.collect()


@pytest.fixture(scope="module")
def _server_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fieldcrm.sync.server.auth import configure_hasher
    from fieldcrm.sync.server.engine import make_database, migrate

    configure_hasher(time_cost=1, memory_cost_kib=1024)
    path = tmp_path_factory.mktemp("sync-ui-server") / "template.db"
    db = make_database(f"sqlite:///{path}", pool_size=1)
    migrate(db.engine)
    db.engine.dispose()
    return path


def _harness(template: Path, folder: Path, **settings: Any) -> Harness:
    target = folder / "server.db"
    shutil.copyfile(template, target)
    return Harness(f"sqlite:///{target}", **settings)


@pytest.fixture
def server(_server_template: Path, tmp_path: Path) -> Iterator[Harness]:
    h = _harness(_server_template, tmp_path)
    yield h
    h.close()


@pytest.fixture
def ring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(previous)


@pytest.fixture
def keep() -> Iterator[list[Any]]:
    """Widgets of a test, kept alive until the runner's workers are gone: a worker may hold
    the last reference to a callback of a widget, and a QWidget freed on a worker thread
    leaves its timers dangling (a crash in the GUI thread's event loop)."""
    yield _KEPT
    _KEPT.clear()
    gc.collect()


@pytest.fixture
def runner(db: Any, keep: list[Any]) -> Iterator[TaskRunner]:
    r = TaskRunner(db)
    yield r
    r.shutdown()


def _controller(runner: TaskRunner, h: Harness) -> SyncController:
    def factory(_url: str) -> SyncClient:
        return SyncClient(h.client, "", retry=RetryPolicy(attempts=1, base_s=0.01, max_wait_s=0.05),
                          seed=1)

    return SyncController(runner, client_factory=factory, backoff=Backoff(base_s=60), seed=1)


@pytest.fixture
def app_parts(runner: TaskRunner, server: Harness, ring: MemoryKeyring, qtbot: Any) -> Iterator[Any]:
    controller = _controller(runner, server)
    yield controller
    controller.stop()


def _login(qtbot: Any, controller: SyncController, user: str, password: str = PASSWORD,
           expect_sync: bool = True, wait_for: str | None = "failed") -> LoginDialog:
    dialog = LoginDialog(controller)
    _hold(qtbot, dialog)
    dialog.show()
    dialog.server.setText(URL)
    dialog.user.setText(user)
    dialog.password.setText(password)
    if expect_sync:
        with qtbot.waitSignal(controller.sig_synced, timeout=WAIT):
            dialog.ok.click()
    elif wait_for == "failed":
        with qtbot.waitSignal(dialog.sig_failed, timeout=WAIT):
            dialog.ok.click()
    else:
        dialog.ok.click()
    return dialog


def _create_account(runner: TaskRunner, name: str, **fields: Any) -> str:
    from fieldcrm.services.accounts import create_account

    with runner.db.session() as s:
        acc = create_account(session=s, fields={"name": name, "lon": 18.0, "lat": 59.5, **fields},
                             strict=False).id
    runner.sig_changes_applied.emit(ChangeSet(accounts=True))
    return acc


def test_wrong_password_is_said_plainly(app_parts: SyncController, server: Harness,
                                        qtbot: Any) -> None:
    server.add_user("anna")
    dialog = _login(qtbot, app_parts, "anna", "not-the-password", expect_sync=False)
    assert dialog.isVisible()
    assert dialog.form.error("password") == WRONG_PASSWORD
    assert not app_parts.state.logged_in


def test_no_keyring_backend_explains_and_stores_nothing(runner: TaskRunner, server: Harness,
                                                        qtbot: Any, tmp_path: Path) -> None:
    server.add_user("anna")
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    controller = _controller(runner, server)
    try:
        dialog = _login(qtbot, controller, "anna", expect_sync=False)
    finally:
        keyring.set_keyring(previous)
        controller.stop()
    assert dialog.form.summary() == NO_KEYRING
    assert "plain text" in NO_KEYRING
    assert not list(tmp_path.rglob("*token*"))


def test_login_syncs_off_the_gui_thread_and_status_shows_it(
        app_parts: SyncController, server: Harness, runner: TaskRunner, qtbot: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import fieldcrm.ui.sync_controller as sc

    rep_with_territory(server, "anna")
    threads: list[threading.Thread] = []
    real = sc.sync_once

    def spy(**kw: Any) -> Any:
        threads.append(threading.current_thread())
        return real(**kw)

    monkeypatch.setattr(sc, "sync_once", spy)
    status = SyncStatusWidget()
    _hold(qtbot, status)
    app_parts.sig_state_changed.connect(status.set_state)
    _create_account(runner, "Bakery Nord")
    qtbot.waitUntil(lambda: "1 change waiting" in status.text(), timeout=WAIT)
    assert "Never synced" in status.text()
    _login(qtbot, app_parts, "anna")
    assert threads and all(t is not threading.main_thread() for t in threads)
    qtbot.waitUntil(lambda: "All changes sent" in status.text(), timeout=WAIT)
    assert "Last sync " in status.text() and "Online" in status.text()
    assert app_parts.state.status == "online" and app_parts.state.last_sync_at is not None
    assert ring_has_token(app_parts)


def ring_has_token(controller: SyncController) -> bool:
    store = keyring.get_keyring().store  # type: ignore[attr-defined]
    return any(key[1].endswith("|anna") and value for key, value in store.items())


def test_outbox_entry_shows_then_leaves_after_sync(app_parts: SyncController, server: Harness,
                                                   runner: TaskRunner, qtbot: Any,
                                                   tmp_path: Path) -> None:
    rep_with_territory(server, "anna")
    _login(qtbot, app_parts, "anna")
    panel = SyncPanel(runner, app_parts)
    _hold(qtbot, panel)
    with qtbot.waitSignal(panel.sig_loaded, timeout=WAIT):
        _create_account(runner, "Verkstad Öst")
    rows = panel.outbox_model.csv_rows()
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [("Account", "Verkstad Öst", "new",
                                                         "waiting")]
    assert panel.tabs.tabText(0) == "Outbox (1)"
    target = tmp_path / "outbox.csv"
    with qtbot.waitSignal(panel.sig_exported, timeout=WAIT):
        panel.export("outbox", target)
    lines = target.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("Record,Name,Change,When,State") and "Verkstad Öst" in lines[1]
    with qtbot.waitSignal(app_parts.sig_synced, timeout=WAIT):
        panel.sync_button.click()
    qtbot.waitUntil(lambda: panel.outbox_model.rowCount() == 0, timeout=WAIT)
    assert panel.tabs.tabText(0) == "Outbox"


def _conflict_setup(server: Harness, tmp_path: Path) -> tuple[str, Laptop]:
    t = rep_with_territory(server, "anna")
    server.add_user("boss", role="manager")
    boss = Laptop(tmp_path, "boss", server.client)
    boss.sync()
    acc = boss.create_account("Acme", territory_id=t)
    boss.sync()
    return acc, boss


def test_conflict_shows_kept_and_mine_and_accept_override_work(
        app_parts: SyncController, server: Harness, runner: TaskRunner, qtbot: Any,
        tmp_path: Path) -> None:
    from fieldcrm.services.accounts import update_account
    from fieldcrm.sync.server.models import Account

    acc, boss = _conflict_setup(server, tmp_path)
    _login(qtbot, app_parts, "anna")
    boss.update_account(acc, notes="boss notes", city="Boden")
    boss.sync()
    with runner.db.session() as s:
        update_account(session=s, account_id=acc, changes={"notes": "my notes", "city": "Luleå"})
    panel = SyncPanel(runner, app_parts)
    _hold(qtbot, panel)
    with qtbot.waitSignal(app_parts.sig_synced, timeout=WAIT):
        app_parts.sync_now()
    qtbot.waitUntil(lambda: panel.conflicts_model.rowCount() == 2, timeout=WAIT)
    shown = {r[2]: (r[1], r[3], r[4]) for r in panel.conflicts_model.csv_rows()}
    assert shown == {"notes": ("Acme", "boss notes", "my notes"), "city": ("Acme", "Boden", "Luleå")}
    assert panel.tabs.tabText(1) == "Conflicts (2)"
    rows = [r.field for r in panel.conflicts_model.rows()]
    panel.conflicts_view.selectRow(rows.index("city"))
    with qtbot.waitSignal(app_parts.sig_synced, timeout=WAIT):
        panel.accept_button.click()
    qtbot.waitUntil(lambda: panel.conflicts_model.rowCount() == 1, timeout=WAIT)
    panel.conflicts_view.selectRow(0)
    assert panel.override_button.isEnabled()
    with qtbot.waitSignal(app_parts.sig_synced, timeout=WAIT):
        panel.override_button.click()
    qtbot.waitUntil(lambda: panel.conflicts_model.rowCount() == 0, timeout=WAIT)
    qtbot.waitUntil(lambda: not app_parts.is_running(), timeout=WAIT)
    with server.db.read() as s:
        row = s.get(Account, acc)
        assert (row.notes, row.city) == ("my notes", "Boden")
    boss.close()


def test_protocol_426_keeps_the_outbox_and_says_so(_server_template: Path, tmp_path: Path,
                                                   runner: TaskRunner, ring: MemoryKeyring,
                                                   qtbot: Any) -> None:
    h = _harness(_server_template, tmp_path, protocol_min=2, protocol_max=2)
    controller = _controller(runner, h)
    try:
        rep_with_territory(h, "anna")
        _create_account(runner, "Offline AB")
        panel = SyncPanel(runner, controller)
        _hold(qtbot, panel)
        with qtbot.waitSignal(controller.sig_state_changed, timeout=WAIT,
                              check_params_cb=lambda st: st.status == "protocol-too-old"):
            dialog = LoginDialog(controller)
            _hold(qtbot, dialog)
            dialog.server.setText(URL)
            dialog.user.setText("anna")
            dialog.password.setText(PASSWORD)
            dialog.ok.click()
        assert controller.state.last_error == TOO_OLD
        assert controller.state.pending == 1
        assert panel.error_label.text() == TOO_OLD and panel.sync_button.text() == "Try again"
        qtbot.waitUntil(lambda: panel.outbox_model.rowCount() == 1, timeout=WAIT)
        assert not controller._timer.isActive()  # no retry storm against a server that says no
    finally:
        controller.stop()
        h.close()


def test_offline_backs_off_with_jitter_and_honours_retry_after() -> None:
    import random

    b = Backoff(base_s=2, cap_s=300)
    rng = random.Random(3)
    delays = [b.delay(n, rng) for n in range(1, 12)]
    assert all(1.0 <= d <= 300 for d in delays)
    assert max(delays[6:]) > max(delays[:2])  # grows
    assert b.delay(1, rng, hint=120.0) == 120.0  # Retry-After wins over a shorter jitter


def test_manager_assigns_a_territory_and_the_rep_receives_it(
        app_parts: SyncController, server: Harness, runner: TaskRunner, qtbot: Any,
        tmp_path: Path) -> None:
    from sqlalchemy import select

    from fieldcrm.db.models import TerritoryRow

    server.add_user("boss", role="manager")
    server.add_user("anna")
    server.territory("North")
    rep = Laptop(tmp_path, "anna", server.client)
    rep.sync()
    with rep.session() as s:
        assert s.scalars(select(TerritoryRow.name)).all() == []
    _login(qtbot, app_parts, "boss")
    panel = SyncPanel(runner, app_parts)
    _hold(qtbot, panel)
    assert panel.team is not None and panel.tabs.tabText(3) == "Team"
    qtbot.waitUntil(lambda: panel.team.view is not None, timeout=WAIT)
    combo = panel.team.combo("North")
    combo.setEditText("anna")  # anna holds nothing yet: typed by user name
    assert panel.team.pending_assignments() != []
    with qtbot.waitSignal(panel.team.sig_assigned, timeout=WAIT):
        panel.team.apply_button.click()
    qtbot.waitUntil(lambda: panel.team.view is not None
                    and panel.team.view.territories[0].rep_id is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: not app_parts.is_running(), timeout=WAIT)
    rep.sync()
    with rep.session() as s:
        assert s.scalars(select(TerritoryRow.name)).all() == ["North"]
    rep.close()
    QApplication.processEvents()


def test_team_offers_reps_by_name_from_the_server(
        app_parts: SyncController, server: Harness, runner: TaskRunner, qtbot: Any) -> None:
    server.add_user("boss", role="manager")
    anna = server.add_user("anna")
    server.territory("North")
    _login(qtbot, app_parts, "boss")
    panel = SyncPanel(runner, app_parts)
    _hold(qtbot, panel)
    qtbot.waitUntil(lambda: panel.team is not None and panel.team.view is not None, timeout=WAIT)
    combo = panel.team.combo("North")
    assert [combo.itemText(i) for i in range(combo.count())] == ["(nobody)", "anna"]
    combo.setCurrentIndex(1)
    assert panel.team.pending_assignments() == [(panel.team.view.territories[0].id, anna)]
    assert "press Apply" in panel.team.territories.item(0, 2).text()


def test_expired_login_is_said_plainly_and_the_outbox_stays(
        app_parts: SyncController, server: Harness, runner: TaskRunner, qtbot: Any) -> None:
    from fieldcrm.sync.server import admin

    rep_with_territory(server, "anna")
    _login(qtbot, app_parts, "anna")
    with server.db.write() as s, s.begin():  # the office reset the password: tokens are burnt
        admin.reset_password(s, username="anna", password="a-new-password-1")
    app_parts._client.tokens.expires_at = 0.0  # type: ignore[union-attr]  # access token is old
    _create_account(runner, "Kept AB")
    with qtbot.waitSignal(app_parts.sig_state_changed, timeout=WAIT,
                          check_params_cb=lambda st: st.status == "auth-needed"):
        app_parts.sync_now()
    assert "log in again" in app_parts.state.last_error.lower()
    assert app_parts.state.pending == 1
    status = _hold(qtbot, SyncStatusWidget())
    status.set_state(app_parts.state)
    assert status.text().startswith("Log in again")
    with qtbot.waitSignal(status.sig_clicked, timeout=WAIT):
        qtbot.mouseClick(status, Qt.MouseButton.LeftButton)


def test_busy_server_retry_after_sets_the_next_try(
        runner: TaskRunner, server: Harness, ring: MemoryKeyring, qtbot: Any) -> None:
    import httpx

    from tests.sync.client_helpers import fault_client

    rep_with_territory(server, "anna")
    http = fault_client(server)
    busy = [httpx.Response(503, headers={"Retry-After": "120"}) for _ in range(2)]
    http._transport.script["/v1/sync/pull"] = busy  # type: ignore[attr-defined]
    controller = SyncController(
        runner, client_factory=lambda _u: SyncClient(
            http, "", retry=RetryPolicy(attempts=1, base_s=0.01, max_wait_s=0.05), seed=1),
        backoff=Backoff(base_s=2), seed=1)
    try:
        with qtbot.waitSignal(controller.sig_state_changed, timeout=WAIT,
                              check_params_cb=lambda st: st.status == "offline"):
            _login(qtbot, controller, "anna", expect_sync=False, wait_for=None)
        assert "busy" in controller.state.last_error
        assert controller.state.next_try_s is not None and 119 <= controller.state.next_try_s <= 120
        assert controller._timer.isActive()
    finally:
        controller.stop()


class _GatedTransport(httpx.BaseTransport):
    """Holds every pull until ``gate`` opens (so a test can cancel a cycle midway)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.gate, self.waiting = inner, threading.Event(), threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/sync/pull"):
            self.waiting.set()
            self.gate.wait(10)
        return self.inner.handle_request(request)


def test_stop_syncing_cancels_the_cycle_and_keeps_the_schedule(
        runner: TaskRunner, server: Harness, ring: MemoryKeyring, qtbot: Any) -> None:
    rep_with_territory(server, "anna")
    gated = _GatedTransport(server.client._transport)
    http = httpx.Client(transport=gated, base_url="http://testserver")
    controller = SyncController(runner, client_factory=lambda _u: SyncClient(
        http, "", retry=RetryPolicy(attempts=1, base_s=0.01, max_wait_s=0.05), seed=1), seed=1)
    panel = _hold(qtbot, SyncPanel(runner, controller))
    try:
        _login(qtbot, controller, "anna", expect_sync=False, wait_for=None)
        qtbot.waitUntil(lambda: gated.waiting.is_set() and controller.is_running(), timeout=WAIT)
        assert panel.sync_button.text() == "Stop syncing"
        panel.sync_button.click()
        gated.gate.set()
        qtbot.waitUntil(lambda: not controller.is_running(), timeout=WAIT)
        assert controller.state.status != "syncing" and controller._timer.isActive()
        assert panel.sync_button.text() == "Sync now"
    finally:
        gated.gate.set()
        controller.stop()


def test_unreachable_server_is_said_under_the_address(runner: TaskRunner, ring: MemoryKeyring,
                                                      qtbot: Any) -> None:
    from tests.sync.client_helpers import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    controller = SyncController(runner, client_factory=lambda u: SyncClient(
        httpx.Client(timeout=5), u, retry=RetryPolicy(attempts=0), seed=1))
    dialog = _hold(qtbot, LoginDialog(controller))
    dialog.server.setText(url)
    dialog.user.setText("anna")
    dialog.password.setText(PASSWORD)
    try:
        with qtbot.waitSignal(dialog.sig_failed, timeout=WAIT):
            dialog.ok.click()
    finally:
        controller.stop()
    assert dialog.form.error("server").startswith(f"Cannot reach {url}.")
    assert "keeps working offline" in dialog.form.error("server")


def test_login_form_checks_its_fields_before_asking(runner: TaskRunner, qtbot: Any) -> None:
    def no_network(_url: str) -> SyncClient:
        raise AssertionError("the form must not call the server with bad input")

    controller = SyncController(runner, client_factory=no_network)
    dialog = _hold(qtbot, LoginDialog(controller))
    dialog.server.setText("crm.example.com")
    dialog.ok.click()
    assert dialog.form.errors() == {
        "server": "The address starts with https:// (or http:// on a local network).",
        "user": "Give your user name.", "password": "Give your password."}
    controller.stop()


def test_manager_sees_the_team_conflict_queue_and_applies_the_reps_value(
        app_parts: SyncController, server: Harness, runner: TaskRunner, qtbot: Any,
        tmp_path: Path) -> None:
    from fieldcrm.sync.server.models import Account

    acc, boss = _conflict_setup(server, tmp_path)
    anna = Laptop(tmp_path, "anna", server.client)
    anna.sync()
    boss.update_account(acc, notes="office notes")
    boss.sync()
    anna.update_account(acc, notes="notes from the road")
    assert anna.sync().conflicts == 1
    _login(qtbot, app_parts, "boss")
    panel = _hold(qtbot, SyncPanel(runner, app_parts))
    qtbot.waitUntil(lambda: panel.team is not None and panel.team.view is not None, timeout=WAIT)
    rows = panel.team.conflicts_model.csv_rows()
    assert [(r[0], r[2], r[3], r[4], r[5]) for r in rows] == [
        ("anna", "Acme", "notes", "office notes", "notes from the road")]
    panel.team.conflicts.selectRow(0)
    with qtbot.waitSignal(panel.team.sig_loaded, timeout=WAIT):
        panel.team.apply_theirs.click()
    assert panel.team.conflicts_model.rowCount() == 0
    with server.db.read() as s:
        assert s.get(Account, acc).notes == "notes from the road"
    for laptop in (anna, boss):
        laptop.close()
