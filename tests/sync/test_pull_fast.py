"""Fast first pull: search rows indexed per page in bulk, and what a kill -9 leaves behind."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from fieldcrm.db.engine import open_database
from fieldcrm.db.models import AccountRecord, ScopeCursorRecord
from fieldcrm.db.search_sql import _SOURCES, bulk_index, create_statements
from fieldcrm.domain.ids import new_id
from fieldcrm.domain.records import AccountFilter
from fieldcrm.services.accounts import query_accounts
from tests.sync.client_helpers import ServerProcess, assert_converged, rep_with_territory

pytest_plugins = ["tests.sync.conftest_client"]
ACCOUNTS, PAGE = 150, 90  # pages of 30 accounts, 30 contacts, 30 visits
_STAMPS = {"created_at", "updated_at"}


def _stock(h: Any, territory: str, accounts: int = ACCOUNTS) -> None:
    """A manager pushes accounts ("Acc<i> Zeta<i>"), one contact ("Kim Q<i>") and one visit
    with a note ("note word W<i>") each: three searchable words per account."""
    h.add_user("boss", role="manager")
    boss = h.login("boss")
    muts = []
    for i in range(accounts):
        acc = new_id()
        muts.append(boss.mutation("account", acc, "create", {
            "name": f"Acc{i} Zeta{i}", "territory_id": territory, "city": "Umeå"}))
        muts.append(boss.mutation("contact", new_id(), "create",
                                  {"account_id": acc, "name": f"Kim Q{i}"}))
        muts.append(boss.mutation("visit", new_id(), "append", {
            "account_id": acc, "status": "completed", "outcome": "order",
            "checked_in_at": "2026-05-04T10:00:00+00:00", "notes": f"note word W{i}"}))
    for start in range(0, len(muts), 100):
        boss.push(*muts[start:start + 100])


def _search(db: Any, words: str) -> int:
    with db.session() as s:
        return query_accounts(session=s, flt=AccountFilter(text=words), limit=5).total


def _fts_consistent(path: Path) -> None:
    """Every FTS table holds exactly what a full rebuild would; every trigger is in place."""
    con = sqlite3.connect(path)
    try:
        for table, body in _SOURCES.items():
            indexed = set(con.execute(f"SELECT rowid, body FROM {table}_fts"))
            rebuilt = set(con.execute(f"SELECT t.rowid, {body.format(p='t')} FROM {table} AS t "
                                      "WHERE t.deleted = 0"))
            assert indexed == rebuilt, f"{table}_fts differs from its table"
        triggers = {sql for (sql,) in con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_fts_%'")}
        assert triggers == {s for s in create_statements() if s.startswith("CREATE TRIGGER")}
    finally:
        con.close()


def _rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every synced table's rows (without the local insert stamps), in id order."""
    con = sqlite3.connect(path)
    try:
        out = {}
        for table in ("account", "contact", "visit", "base_copy", "row_scope", "scope_cursor"):
            cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})")
                    if r[1] not in _STAMPS]
            out[table] = sorted(con.execute(f"SELECT {', '.join(cols)} FROM {table}"))
        return out
    finally:
        con.close()


def test_pulled_rows_are_searchable_and_the_index_matches_a_rebuild(lite: Any,
                                                                     laptops: Any) -> None:
    t = rep_with_territory(lite, "anna")
    _stock(lite, t)
    rep = laptops("anna", lite.client)
    summary = rep.sync(pull_limit=PAGE)
    assert summary.pages >= 5 and rep.count(AccountRecord) == ACCOUNTS
    assert _search(rep.db, "Zeta17") == 1  # account name
    assert _search(rep.db, "Q42") == 1  # contact name
    assert _search(rep.db, "W133") == 1  # visit note
    assert _search(rep.db, "note word") == ACCOUNTS
    _fts_consistent(rep.path)
    # the triggers are back: a local edit after the pull is indexed as before
    rep.create_account("Brand New Prospect")
    rep.update_account(next(iter(_ids(rep))), name="Renamed Omega")
    assert _search(rep.db, "Prospect") == 1 and _search(rep.db, "Omega") == 1
    _fts_consistent(rep.path)
    rep.sync(pull_limit=PAGE)  # pushed, and pulled back through the careful path
    assert _search(rep.db, "Prospect") == 1 and _search(rep.db, "Omega") == 1
    _fts_consistent(rep.path)
    assert_converged(lite, rep)


def _ids(rep: Any) -> list[str]:
    with rep.session() as s:
        return list(s.scalars(text("SELECT id FROM account ORDER BY id LIMIT 1")))


def test_bulk_index_rolls_back_with_its_transaction(tmp_path: Path) -> None:
    db = open_database(tmp_path / "x.db")
    with db.engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO meta (key, value) VALUES ('k', 'v')")  # opens it
        with pytest.raises(RuntimeError), bulk_index(conn, "contact", 50):
            assert conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name = 'contact_fts_ai'").scalar() == 0
            raise RuntimeError("killed mid-page")
        conn.rollback()
    db.close()
    _fts_consistent(tmp_path / "x.db")


_CHILD = r"""
import json, sys, time
from contextlib import contextmanager
import httpx
from fieldcrm.db.engine import open_database
from fieldcrm.services import sync as sv, sync_apply as ap
from fieldcrm.sync.client import SyncClient
db = open_database(sys.argv[1])
client = SyncClient(httpx.Client(timeout=10), sys.argv[2])
client.refresh_token = sys.argv[3]
client.on_tokens = lambda pair: print(json.dumps({"token": pair.refresh_token}), flush=True)
fetched = 0
real_pull = client.pull
def pull(cursors, limit=500):
    global fetched
    page = real_pull(cursors, limit)
    fetched += 1
    print(json.dumps({"fetched": fetched}), flush=True)
    return page
client.pull = pull
real_bulk = ap.bulk_index
@contextmanager
def bulk_index(conn, table, rows):
    with real_bulk(conn, table, rows):
        gone = conn.exec_driver_sql("SELECT count(*) FROM sqlite_master "
                                    "WHERE name = ?", (table + "_fts_ai",)).scalar() == 0
        print(json.dumps({"bulk": table, "trigger_dropped": gone}), flush=True)
        time.sleep(0.3)  # the parent kills us here, inside the page transaction
        yield
ap.bulk_index = bulk_index
def progress(stage, done, total):
    print(json.dumps({"committed": done}), flush=True)
sv.pull(db, client, sv.SyncSummary(), progress, limit=int(sys.argv[4]),
        overlap=sys.argv[5] == "1")
print(json.dumps({"done": True}), flush=True)
"""


class Counting(httpx.BaseTransport):
    def __init__(self, inner: Any) -> None:
        self.inner, self.pulls = inner, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.pulls += request.url.path.endswith("/sync/pull")
        return self.inner.handle_request(request)


@pytest.mark.parametrize("overlap", [True, False], ids=["overlap", "sequential"])
def test_kill_during_bulk_indexed_first_pull_then_resume(
    lite: Any, zygote: Any, laptops: Any, overlap: bool
) -> None:
    t = rep_with_territory(lite, "anna")
    _stock(lite, t)
    server = ServerProcess(zygote, str(lite.settings.db))
    http = httpx.Client(transport=Counting(httpx.HTTPTransport()), timeout=10)
    try:
        clean = laptops("anna", http, base_url=server.base_url)
        clean_pages = clean.sync(pull_limit=PAGE).pages
        rep = laptops("anna", http, base_url=server.base_url)
        token = rep.client.refresh_token
        rep.close()
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(rep.path), server.base_url, token, str(PAGE),
             "1" if overlap else "0"],
            stdout=subprocess.PIPE, text=True, env={**os.environ},
        )
        events: list[dict[str, Any]] = []
        assert child.stdout is not None
        for line in child.stdout:
            events.append(json.loads(line))
            if sum("bulk" in e for e in events) == 7:  # mid-page, the trigger dropped
                child.send_signal(signal.SIGKILL)
                break
        child.wait()
        assert events[-1]["trigger_dropped"] and not any("done" in e for e in events)
        fetched = max(e.get("fetched", 0) for e in events)
        committed = max((e.get("committed", 0) for e in events), default=0)
        assert committed >= 1
        assert fetched - committed <= (2 if overlap else 1)  # the page being applied (+ the next)
        _fts_consistent(rep.path)  # the dropped trigger and the half page rolled back together
        rep2 = laptops("anna", http, base_url=server.base_url, login=False, path=rep.path)
        rep2.client.refresh_token = [e["token"] for e in events if "token" in e][-1]
        with rep2.session() as s:
            cursor = s.get(ScopeCursorRecord, f"territory:{t}")
            assert cursor is not None and cursor.version > 0
        http._transport.pulls = 0  # type: ignore[attr-defined]
        summary = rep2.sync(pull_limit=PAGE)
        # nothing committed is fetched again: the resumed pull starts after the last commit
        assert summary.pages == clean_pages - committed
        assert http._transport.pulls == summary.pages  # type: ignore[attr-defined]
        assert _rows(rep2.path) == _rows(clean.path)  # identical to an uninterrupted sync
        _fts_consistent(rep2.path)
        assert _search(rep2.db, "Zeta149") == 1 and _search(rep2.db, "Q0") == 1
        assert _search(rep2.db, "W77") == 1 and _search(rep2.db, "note word") == ACCOUNTS
        assert_converged(lite, rep2)
    finally:
        http.close()
        server.stop()
