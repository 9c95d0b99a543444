"""G6: an interrupted initial download resumes; it costs at most one page and skips nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from fieldcrm.db.models import AccountRecord, ContactRecord, ScopeCursorRecord
from fieldcrm.domain.ids import new_id
from tests.sync.client_helpers import (
    ServerProcess,
    assert_converged,
    client_view,
    expected_view,
    rep_with_territory,
)

pytest_plugins = ["tests.sync.conftest_client"]
ACCOUNTS, PAGE = 240, 40


def _stock(h: Any, territory: str, accounts: int = ACCOUNTS) -> None:
    """A manager pushes ``accounts`` accounts, each with a contact, 100 mutations a batch."""
    h.add_user("boss", role="manager")
    boss = h.login("boss")
    muts = []
    for i in range(accounts):
        acc = new_id()
        muts.append(boss.mutation("account", acc, "create",
                                  {"name": f"A{i}", "territory_id": territory, "city": "Umeå"}))
        muts.append(boss.mutation("contact", new_id(), "create", {"account_id": acc, "name": "E"}))
    for start in range(0, len(muts), 100):
        boss.push(*muts[start:start + 100])


class ResetOnce(httpx.BaseTransport):
    """Lets the server answer the n-th pull, then resets the connection (answer lost)."""

    def __init__(self, inner: Any, nth: int) -> None:
        self.inner, self.nth, self.pulls = inner, nth, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/sync/pull"):
            self.pulls += 1
            if self.pulls == self.nth:
                response.read()
                raise httpx.ReadError("connection reset by peer (injected)")
        return response


def test_connection_reset_mid_download_costs_one_page(srv: Any, laptops: Any) -> None:
    t = rep_with_territory(srv, "anna")
    _stock(srv, t)
    plain = laptops("anna", srv.client)
    clean = plain.sync(pull_limit=PAGE)
    transport = ResetOnce(srv.client._transport, nth=4)
    rep = laptops("anna", httpx.Client(transport=transport, base_url="http://testserver"))
    summary = rep.sync(pull_limit=PAGE)
    assert summary.pages == clean.pages
    assert transport.pulls == clean.pages + 1  # exactly one page fetched twice
    want = expected_view(srv, plain.client.tokens.user_id)
    assert client_view(rep, want) == client_view(plain, want) == want


_CHILD = r"""
import json, sys
import httpx
from fieldcrm.db.engine import open_database
from fieldcrm.services import sync as sv
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
def progress(stage, done, total):
    print(json.dumps({"committed": done}), flush=True)
sv.pull(db, client, sv.SyncSummary(), progress, limit=int(sys.argv[4]), overlap=False)
print(json.dumps({"done": True}), flush=True)
"""


def test_client_killed_mid_page_resumes(lite: Any, zygote: Any, laptops: Any,
                                        tmp_path: Path) -> None:
    t = rep_with_territory(lite, "anna")
    _stock(lite, t)
    server = ServerProcess(zygote, str(lite.settings.db))
    http = httpx.Client(timeout=10)
    try:
        rep = laptops("anna", http, base_url=server.base_url)
        token = rep.client.refresh_token
        rep.close()
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(rep.path), server.base_url, token, "10"],
            stdout=subprocess.PIPE, text=True, env={**os.environ},
        )
        events: list[dict[str, Any]] = []
        assert child.stdout is not None
        for line in child.stdout:
            events.append(json.loads(line))
            if events[-1].get("fetched") == 9:  # kill -9 while page 9 is being applied
                child.send_signal(signal.SIGKILL)
                break
        child.wait()
        fetched = max(e.get("fetched", 0) for e in events)
        committed = max(e.get("committed", 0) for e in events)
        assert fetched - committed <= 1
        rep2 = laptops("anna", http, base_url=server.base_url, login=False, path=rep.path)
        rep2.client.refresh_token = [e["token"] for e in events if "token" in e][-1]
        with rep2.session() as s:
            cursor = s.get(ScopeCursorRecord, f"territory:{t}")
            assert cursor is not None and cursor.version > 0  # committed pages are kept
        rows_before = rep2.count(AccountRecord) + rep2.count(ContactRecord)
        assert rows_before >= (fetched - 1) * 10 - 10
        summary = rep2.sync(pull_limit=10)
        assert summary.applied <= 2 * ACCOUNTS + 1 - rows_before + 10  # ≤ one page again
        assert rep2.count(AccountRecord) == ACCOUNTS
        assert_converged(lite, rep2)
    finally:
        http.close()
        server.stop()


def test_overlapped_pull_gives_the_same_replica(srv: Any, laptops: Any) -> None:
    t = rep_with_territory(srv, "anna")
    _stock(srv, t, accounts=120)
    rep = laptops("anna", srv.client)
    summary = rep.sync(pull_limit=PAGE, overlap=True)
    assert summary.pages >= 6 and not summary.mismatched
    assert rep.count(AccountRecord) == 120
    assert_converged(srv, rep)
