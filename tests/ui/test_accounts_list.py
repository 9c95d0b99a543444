"""The accounts list: search as you type, server-side sort, filters, paging, fetch errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from sqlalchemy import text

from fieldcrm.db.engine import Database, open_database
from fieldcrm.db.models import TerritoryRow, UserRow
from fieldcrm.db.types import utcnow
from fieldcrm.domain.enums import AccountStatus, Tier
from fieldcrm.domain.ids import new_id
from fieldcrm.domain.records import AccountFilter
from fieldcrm.errors import DatabaseError
from fieldcrm.services.accounts import create_account
from fieldcrm.ui.app import pin_refcounts, stop_runner
from fieldcrm.ui.models import account_table_model
from fieldcrm.ui.models.account_table_model import AccountTableModel
from fieldcrm.ui.panels.accounts_panel import AccountsPanel
from fieldcrm.ui.tasks import ChangeSet, TaskRunner

pin_refcounts()
N_ACCOUNTS = 450
WORDS = ("Alpha", "Bravo", "Charlie", "Delta", "Echo")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A database with two owners, two territories and N_ACCOUNTS accounts, built once."""
    path = tmp_path_factory.mktemp("accounts") / "template.db"
    ids = {"anna": new_id(), "bo": new_id(), "north": new_id(), "south": new_id()}
    database = open_database(path)
    with database.session() as s:
        s.add_all([UserRow(id=ids["anna"], name="Anna Rep", email="anna@example.com"),
                   UserRow(id=ids["bo"], name="Bo Rep", email="bo@example.com"),
                   TerritoryRow(id=ids["north"], name="North", geojson="{}"),
                   TerritoryRow(id=ids["south"], name="South", geojson="{}")])
        s.commit()
        for i in range(N_ACCOUNTS):
            create_account(session=s, fields={
                "name": f"{WORDS[i % 5]} Shop {i:03d}",
                "status": list(AccountStatus)[i % 4].value, "tier": list(Tier)[i % 3].value,
                "city": f"Town {i % 7}", "owner_id": ids["anna"] if i % 2 else ids["bo"],
                "territory_id": ids["north"] if i % 3 else ids["south"]})
        s.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    database.close()
    return path, ids


@pytest.fixture
def people(template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return template[1]


@pytest.fixture
def db(tmp_path: Path, template: tuple[Path, dict[str, str]]) -> Iterator[Database]:
    """A copy of the template database for one test."""
    shutil.copyfile(template[0], tmp_path / "accounts.db")
    database = open_database(tmp_path / "accounts.db")
    yield database
    database.close()


@pytest.fixture
def runner(db: Database) -> Iterator[TaskRunner]:
    r = TaskRunner(db)
    yield r
    stop_runner(r)


@pytest.fixture
def panel(qtbot: Any, runner: TaskRunner) -> AccountsPanel:
    p = AccountsPanel(runner)
    qtbot.addWidget(p)
    p.resize(900, 600)
    p.show()
    with qtbot.waitSignal(p.model.sig_loaded, timeout=10_000):
        p.start()
    return p


def _idle(qtbot: Any, runner: TaskRunner) -> None:
    qtbot.waitUntil(lambda: runner._running == 0, timeout=10_000)


def _names(model: AccountTableModel) -> list[str]:
    return [model.row_at(i).name for i in range(model.loaded_rows)]  # type: ignore[union-attr]


def test_first_page_and_count(panel: AccountsPanel, qtbot: Any, runner: TaskRunner) -> None:
    _idle(qtbot, runner)
    assert panel.model.total == N_ACCOUNTS
    assert panel.model.loaded_rows == 200
    assert panel.count_label.text() == "450 accounts"
    index = panel.model.index(0, 0)
    assert panel.model.data(index, Qt.ItemDataRole.UserRole) == panel.model.row_at(0).id
    assert panel.model.data(index, Qt.ItemDataRole.DecorationRole) is None
    assert panel.model.headerData(8, Qt.Orientation.Horizontal) == "Overdue"


def test_typing_filters_the_list(panel: AccountsPanel, qtbot: Any, runner: TaskRunner) -> None:
    loads: list[int] = []
    panel.model.sig_loaded.connect(loads.append)
    filters: list[AccountFilter] = []
    panel.sig_filter_changed.connect(filters.append)
    with qtbot.waitSignal(panel.model.sig_loaded, timeout=10_000):
        qtbot.keyClicks(panel.search, "delt")
    _idle(qtbot, runner)
    assert loads == [N_ACCOUNTS // 5]  # debounced: one query for four keystrokes
    assert all(name.startswith("Delta") for name in _names(panel.model))
    assert filters[-1].text == "delt"
    assert panel.count_label.text() == "90 of 450 accounts"


def test_only_the_newest_result_lands(panel: AccountsPanel, qtbot: Any, runner: TaskRunner) -> None:
    loads: list[int] = []
    panel.model.sig_loaded.connect(loads.append)
    for typed in ("a", "al", "alp", "alph", "alpha 000"):
        panel.model.set_filter(AccountFilter(text=typed))
    _idle(qtbot, runner)
    assert loads == [1]  # only "alpha 000" → "Alpha Shop 000"; older answers were dropped
    assert _names(panel.model) == ["Alpha Shop 000"]


def test_sorting_by_header_requeries(panel: AccountsPanel, qtbot: Any, runner: TaskRunner) -> None:
    header = panel.table.horizontalHeader()
    with qtbot.waitSignal(panel.model.sig_loaded, timeout=10_000):
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(header.sectionViewportPosition(0) + 20, 5))
    names = _names(panel.model)
    assert names[0] == "Echo Shop 449"  # server-side: the true last name of all 450
    assert names == sorted(names, reverse=True)
    with qtbot.waitSignal(panel.model.sig_loaded, timeout=10_000):
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(header.sectionViewportPosition(2) + 10, 5))
    tiers = [panel.model.row_at(i).tier for i in range(panel.model.loaded_rows)]
    assert tiers == sorted(tiers)


def test_filters(panel: AccountsPanel, qtbot: Any, runner: TaskRunner, people: dict[str, str]) -> None:
    _idle(qtbot, runner)  # territory and owner choices loaded
    assert [panel.territory.itemText(i) for i in range(panel.territory.count())] == [
        "All territories", "North", "South"]
    with qtbot.waitSignal(panel.model.sig_loaded, timeout=10_000):
        panel.tier_buttons[Tier.A].click()
    assert panel.model.total == N_ACCOUNTS // 3
    with qtbot.waitSignal(panel.model.sig_loaded, timeout=10_000):
        panel.status_buttons[AccountStatus.LEAD].click()
    rows = [panel.model.row_at(i) for i in range(panel.model.loaded_rows)]
    assert rows and all(r.tier is Tier.A and r.status is AccountStatus.LEAD for r in rows)
    with qtbot.waitSignal(panel.model.sig_loaded, timeout=10_000):
        panel.owner.setCurrentIndex(panel.owner.findText("Anna Rep"))
    with qtbot.waitSignal(panel.model.sig_loaded, timeout=10_000):
        panel.territory.setCurrentIndex(panel.territory.findText("South"))
    flt = panel.current_filter()
    assert flt.owner_id == people["anna"] and flt.territory_id == people["south"]
    assert all(r.owner_name == "Anna Rep" and r.territory_name == "South"
               for r in (panel.model.row_at(i) for i in range(panel.model.loaded_rows)))
    with qtbot.waitSignal(panel.model.sig_loaded, timeout=10_000):
        panel.clear_filters()
    assert panel.model.total == N_ACCOUNTS
    assert not panel.clear_button.isEnabled()


def test_overdue_filter_and_colour(db: Any, panel: AccountsPanel, qtbot: Any,
                                   runner: TaskRunner) -> None:
    from fieldcrm.db.models import AccountRecord

    with db.session() as s:  # one tier-A account last seen 100 days ago: overdue by 86 days
        rec = s.query(AccountRecord).filter_by(name="Alpha Shop 000").one()
        rec.last_visit_at = utcnow() - timedelta(days=100)
        s.commit()
    with qtbot.waitSignal(panel.model.sig_loaded, timeout=10_000):
        runner.sig_changes_applied.emit(ChangeSet(visits=True))
    with qtbot.waitSignal(panel.model.sig_loaded, timeout=10_000):
        panel.search.setText("alpha 000")
    with qtbot.waitSignal(panel.model.sig_loaded, timeout=10_000):
        panel.overdue.setChecked(True)
    assert _names(panel.model) == ["Alpha Shop 000"]
    cell = panel.model.index(0, account_table_model.OVERDUE_COLUMN)
    assert panel.model.data(cell) == "86 d"
    assert panel.model.data(cell, Qt.ItemDataRole.ForegroundRole).name() == "#c62828"


def test_fetch_more_pages(qtbot: Any, runner: TaskRunner) -> None:
    model = AccountTableModel(runner, key="paging-test")
    with qtbot.waitSignal(model.sig_loaded, timeout=10_000):
        model.reload()
    assert (model.loaded_rows, model.total) == (200, N_ACCOUNTS)
    assert model.canFetchMore()
    with qtbot.waitSignal(model.rowsInserted, timeout=10_000):
        model.fetchMore()
    assert not model.canFetchMore() or model.loaded_rows == 400
    with qtbot.waitSignal(model.rowsInserted, timeout=10_000):
        model.fetchMore()
    assert model.loaded_rows == N_ACCOUNTS
    assert not model.canFetchMore()
    names = _names(model)
    assert len(set(names)) == N_ACCOUNTS and names == sorted(names)


def test_view_scrolling_fetches_more(panel: AccountsPanel, qtbot: Any) -> None:
    panel.table.scrollToBottom()
    qtbot.waitUntil(lambda: panel.model.loaded_rows > 200, timeout=10_000)


def test_fetch_error_becomes_a_disabled_row(qtbot: Any, runner: TaskRunner,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_kwargs: Any) -> Any:
        raise DatabaseError("The database /x.db is locked by another program.")

    monkeypatch.setattr(account_table_model, "query_accounts", broken)
    model = AccountTableModel(runner, key="error-test")
    with qtbot.waitSignal(model.sig_failed, timeout=10_000):
        model.reload()
    assert model.rowCount() == 1
    index = model.index(0, 0)
    assert "locked by another program" in model.data(index)
    assert model.flags(index) == Qt.ItemFlag.NoItemFlags
    assert model.data(index, Qt.ItemDataRole.UserRole) is None
    assert not model.canFetchMore()


def test_one_letter_does_not_search(panel: AccountsPanel, qtbot: Any, runner: TaskRunner) -> None:
    _idle(qtbot, runner)
    loads: list[int] = []
    panel.model.sig_loaded.connect(loads.append)
    panel.search.setText("d")
    panel.search.returnPressed.emit()
    _idle(qtbot, runner)
    assert loads == [] and panel.model.total == N_ACCOUNTS
    assert panel.count_label.text() == "450 accounts · type another letter to search"


def test_selection_survives_a_refresh(panel: AccountsPanel, qtbot: Any, runner: TaskRunner) -> None:
    with qtbot.waitSignal(panel.sig_account_selected, timeout=1_000) as chosen:
        panel.select_row(3)
    with qtbot.waitSignal(panel.model.sig_loaded, timeout=10_000):
        runner.sig_changes_applied.emit(ChangeSet(accounts=True))
    _idle(qtbot, runner)
    assert panel.selected_account_id() == chosen.args[0]


def test_down_arrow_moves_from_search_into_the_list(panel: AccountsPanel, qtbot: Any) -> None:
    with qtbot.waitSignal(panel.sig_account_selected, timeout=1_000) as chosen:
        qtbot.keyClick(panel.search, Qt.Key.Key_Down)
    assert chosen.args == [panel.model.account_id(0)]
