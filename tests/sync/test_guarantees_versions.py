"""G13 token expiry mid-sync, G14 version skew (protocol N-1, 426, unknown fields kept)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from fieldcrm.db.models import OutboxRecord
from fieldcrm.errors import SyncError
from fieldcrm.sync.server.models import AppliedMutation, Visit
from tests.sync.client_helpers import (
    assert_converged,
    log_visit,
    outbox_mutation_ids,
    rep_with_territory,
    server_count,
)

pytest_plugins = ["tests.sync.conftest_client"]


class Recorder(httpx.BaseTransport):
    """Passes requests to the app; records push bodies; may add a field to pulled accounts."""

    def __init__(self, inner: Any, extra: dict[str, Any] | None = None) -> None:
        self.inner, self.extra = inner, extra or {}
        self.pushed: list[dict[str, Any]] = []
        self.paths: list[tuple[str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if request.url.path.endswith("/sync/push"):
            self.pushed.extend(json.loads(request.content)["mutations"])
        response = self.inner.handle_request(request)
        response.read()
        self.paths.append((request.url.path, response.status_code))
        if request.url.path.endswith("/sync/pull") and self.extra and response.status_code == 200:
            body = response.json()
            for ch in body["changes"]:
                if ch["entity"] == "account" and ch["data"]:
                    ch["data"].update(self.extra)
            return httpx.Response(200, json=body, headers={"content-type": "application/json"})
        return response


def _recorded(h: Any, **kw: Any) -> httpx.Client:
    return httpx.Client(transport=Recorder(h.client._transport, **kw), base_url="http://testserver")


def test_access_token_expires_between_batches_refresh_and_no_duplicates(
    make_harness: Any, laptops: Any
) -> None:
    h = make_harness(access_token_ttl_s=1)
    rep_with_territory(h, "anna")
    http = _recorded(h)
    # the client's clock stands still, so it never refreshes early: the server says "expired"
    rep = laptops("anna", http, clock=lambda: 0.0)
    acc = rep.create_account("Big day")
    rep.sync()
    for _ in range(130):
        log_visit(rep, acc)

    def hook(stage: str, done: int, _total: int) -> None:
        if stage == "push" and done <= 100:  # the token dies between the two batches
            time.sleep(1.1)

    summary = rep.sync(progress=hook)
    assert summary.acked == 130 and set(rep.states()) == {"acked"}
    refused = [p for p, code in http._transport.paths if code == 401]
    assert len(refused) >= 1
    assert ("/v1/auth/refresh", 200) in http._transport.paths
    assert server_count(h, Visit) == 130
    assert server_count(h, AppliedMutation) == len(outbox_mutation_ids(rep))
    assert_converged(h, rep)


def test_older_client_protocol_syncs_then_426_keeps_outbox(make_harness: Any, laptops: Any) -> None:
    h = make_harness(protocol_max=2)  # the server speaks N = 2 and still accepts N-1 = 1
    rep_with_territory(h, "anna")
    rep = laptops("anna", h.client, protocol=1)
    acc = rep.create_account("Old client shop")
    assert rep.sync().acked == 1
    h.settings.protocol_min = 2  # N-1 is retired
    rep.update_account(acc, notes="kept across 426")
    with pytest.raises(SyncError) as err:
        rep.sync()
    assert err.value.kind == "protocol"
    assert rep.count(OutboxRecord, OutboxRecord.state.in_(("pending", "inflight"))) == 1
    assert rep.account(acc).notes == "kept across 426"  # keeps working offline
    rep.client.protocol = 2
    assert rep.sync().acked == 1
    assert_converged(h, rep)


def test_unknown_fields_survive_a_round_trip_and_are_never_sent(lite: Any, laptops: Any) -> None:
    rep_with_territory(lite, "anna")
    http = _recorded(lite, extra={"industry": "bakery", "credit_limit": 5000})
    rep = laptops("anna", http)
    acc = rep.create_account("Bageri")
    rep.sync()
    extra = json.loads(rep.account(acc).extra_json)
    assert extra["industry"] == "bakery" and extra["created_by"]  # a newer server's fields
    rep.update_account(acc, name="Bageri Ek")
    rep.sync()
    row = rep.account(acc)
    assert row.name == "Bageri Ek" and json.loads(row.extra_json)["credit_limit"] == 5000
    pushed = http._transport.pushed
    assert all("industry" not in m["fields"] for m in pushed)
    assert [m["fields"] for m in pushed if m["op"] == "patch"] == [{"name": "Bageri Ek"}]
