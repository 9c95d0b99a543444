"""Starting the app: bad databases get a clear message and a non-zero exit; --screenshot works."""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# QtWebEngine must be loaded before any QApplication exists (run_app shares the test's app).
from PySide6 import QtWebEngineWidgets  # noqa: F401
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox

from fieldcrm.db.engine import open_database
from fieldcrm.services.accounts import create_account
from fieldcrm.ui import app as app_module
from fieldcrm.ui.app import pin_refcounts, run_app, stop_runner

pin_refcounts()
ROOT = Path(__file__).resolve().parents[2]


def _args(db: Path, screenshot: Path | None = None, view: str = "list") -> argparse.Namespace:
    return argparse.Namespace(db=str(db), screenshot=str(screenshot) if screenshot else None,
                              view=view, command=None)


def _cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "fieldcrm", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch, qapp: Any) -> list[tuple[str, str]]:
    """Record the start-up error dialogs instead of showing them; keep logging out of the way."""
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "critical",
                        lambda _parent, title, text, *_a: shown.append((title, text)))
    monkeypatch.setattr(app_module, "_setup_logging", lambda _level: None)
    return shown


def test_corrupt_file_gets_a_dialog_and_exit_2(tmp_path: Path,
                                               dialogs: list[tuple[str, str]]) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"This is a shopping list, not SQLite.\n" * 200)
    before = path.read_bytes()
    assert run_app(_args(path)) == 2
    assert dialogs == [("fieldcrm cannot open the database",
                        f"The file {path} is not a fieldcrm database, or it is damaged.")]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_newer_database_is_refused_untouched(tmp_path: Path,
                                             dialogs: list[tuple[str, str]]) -> None:
    path = tmp_path / "future.db"
    open_database(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff'")
    conn.close()
    before = path.read_bytes()
    assert run_app(_args(path)) == 2
    ((title, text),) = dialogs
    assert "newer version of fieldcrm" in text and str(path) in text
    assert path.read_bytes() == before


def test_headless_bad_database_prints_and_exits_non_zero(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"\x00garbage" * 1000)
    out = tmp_path / "shot.png"
    result = _cli("--db", str(path), "--screenshot", str(out))
    assert result.returncode == 2
    assert f"The file {path} is not a fieldcrm database, or it is damaged." in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


@pytest.fixture
def small_db(tmp_path: Path) -> Path:
    path = tmp_path / "small.db"
    database = open_database(path)
    with database.session() as s:
        for i, city in enumerate(("Uppsala", "Enköping", "Gävle", "Västerås")):
            create_account(session=s, fields={"name": f"Shop {i} {city}", "city": city,
                                              "lat": 59.8 + i / 10, "lon": 17.6 + i / 10})
    database.close()
    return path


def test_every_screenshot_view_names_a_tab() -> None:
    from fieldcrm.cli import SCREENSHOT_VIEWS
    from fieldcrm.ui.shell_tabs import VIEW_TABS

    assert set(SCREENSHOT_VIEWS) == set(VIEW_TABS)


@pytest.mark.slow
@pytest.mark.parametrize("view", ["list", "account", "sync", "quality"])
def test_screenshot_writes_a_png(small_db: Path, tmp_path: Path, view: str) -> None:
    out = tmp_path / f"{view}.png"
    result = _cli("--db", str(small_db), "--screenshot", str(out), "--view", view)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    image = QImage(str(out))
    assert not image.isNull()
    assert image.width() >= 1400 and image.height() >= 900


@pytest.mark.webengine
@pytest.mark.slow
def test_screenshot_of_the_map_waits_for_the_map(small_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "map.png"
    result = _cli("--db", str(small_db), "--screenshot", str(out), "--view", "map")
    assert result.returncode == 0, result.stderr
    assert not QImage(str(out)).isNull()


def test_main_window_wiring(small_db: Path, qtbot: Any) -> None:
    from fieldcrm.ui.main_window import MainWindow
    from fieldcrm.ui.shell_tabs import Tab
    from fieldcrm.ui.tasks import TaskRunner

    database = open_database(small_db)
    runner = TaskRunner(database)
    window = MainWindow(runner, restore_state=False)
    qtbot.addWidget(window)
    window.show()
    try:
        with qtbot.waitSignal(window.accounts.model.sig_loaded, timeout=10_000):
            window.start()
        qtbot.waitUntil(lambda: "4 changes waiting to sync" in window.pending_label.text(),
                        timeout=10_000)
        assert window.accounts.count_label.text() == "4 accounts"
        assert not window.act_log.isEnabled()
        assert window.tabs.made(Tab.ACCOUNT) is None and window.tabs.made(Tab.MAP) is None
        first = window.accounts.model.account_id(0)
        window.accounts.select_row(0)
        assert window.tabs.currentIndex() == Tab.ACCOUNT
        account_panel = window.tabs.made(Tab.ACCOUNT)
        assert window.tabs.widget(Tab.ACCOUNT) is account_panel
        assert account_panel.current_account_id() == first
        qtbot.waitUntil(lambda: account_panel.name_label.text() == "Shop 0 Uppsala",
                        timeout=10_000)
        assert window.act_log.isEnabled()
        account_panel.sig_plan_route.emit([first])  # "Plan route with these"
        assert window.tabs.currentIndex() == Tab.ROUTE
        assert window.tabs.made(Tab.ROUTE).account_ids == [first]
        shortcuts = {a.shortcut().toString() for a in (window.act_find, window.act_new, window.act_log)}
        assert shortcuts == {"Ctrl+F", "Ctrl+N", "Ctrl+L"}
    finally:
        window.close()
        stop_runner(runner)
        database.close()


def test_accounts_list_can_be_hidden_and_find_brings_it_back(small_db: Path, qtbot: Any) -> None:
    from fieldcrm.ui.main_window import MainWindow
    from fieldcrm.ui.tasks import TaskRunner

    database = open_database(small_db)
    runner = TaskRunner(database)
    window = MainWindow(runner, restore_state=False)
    qtbot.addWidget(window)
    window.show()
    try:
        window.act_list.trigger()
        assert not window.accounts.isVisible()
        window.act_find.trigger()
        assert window.accounts.isVisible() and window.act_list.isChecked()
    finally:
        window.close()
        stop_runner(runner)
        database.close()


def test_sync_and_import_are_wired(small_db: Path, qtbot: Any) -> None:
    from fieldcrm.ui.main_window import MainWindow
    from fieldcrm.ui.panels.import_wizard import ImportWizard
    from fieldcrm.ui.panels.login_dialog import LoginDialog
    from fieldcrm.ui.panels.sync_panel import SyncPanel
    from fieldcrm.ui.shell_tabs import Tab
    from fieldcrm.ui.tasks import TaskRunner

    database = open_database(small_db)
    runner = TaskRunner(database)
    window = MainWindow(runner, restore_state=False)
    qtbot.addWidget(window)
    window.show()
    try:
        window.start_sync()  # no login saved: nothing goes on the network
        qtbot.waitUntil(lambda: "Not logged in" in window.sync.status.text(), timeout=10_000)
        assert "4 changes waiting" in window.sync.status.text()
        assert not window.pending_label.isVisible()
        window.sync.act_sync.trigger()  # "Sync now" without a login asks for one
        qtbot.waitUntil(lambda: window.findChild(LoginDialog) is not None, timeout=5_000)
        window.sync.status.sig_clicked.emit()
        assert window.tabs.currentIndex() == Tab.SYNC
        assert isinstance(window.tabs.made(Tab.SYNC), SyncPanel)
        window.act_import.trigger()
        assert window.findChild(ImportWizard) is not None
    finally:
        window.close()
        stop_runner(runner)
        database.close()


def test_sync_tab_reads_the_backlog_before_any_sync(small_db: Path, qtbot: Any) -> None:
    """A Sync tab opened before the background sync starts (or in a screenshot) shows what the
    file says: who is logged in, the last sync, what waits; never "Never synced · All sent"."""
    from fieldcrm.services.sync import set_meta
    from fieldcrm.ui.main_window import MainWindow
    from fieldcrm.ui.shell_tabs import Tab
    from fieldcrm.ui.tasks import TaskRunner

    database = open_database(small_db)
    with database.session() as s:
        for key, value in (("server_url", "http://127.0.0.1:9"), ("sync_user", "anna"),
                           ("role", "rep"), ("last_sync_at", "2026-12-01T08:30:00Z")):
            set_meta(s, key, value)
        s.commit()
    runner = TaskRunner(database)
    window = MainWindow(runner, restore_state=False)
    qtbot.addWidget(window)
    window.show()
    try:
        window.show_view("sync")  # the panel makes the controller; start_sync is never called
        panel = window.tabs.made(Tab.SYNC)
        qtbot.waitUntil(lambda: panel.controller.state.pending == 4, timeout=10_000)
        state = panel.controller.state
        assert state.logged_in and state.user == "anna" and state.last_sync_at is not None
        assert "4 changes waiting" in window.sync.status.text()
        assert "Never synced" not in window.sync.status.text()
    finally:
        window.close()
        stop_runner(runner)
        database.close()
