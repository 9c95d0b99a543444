"""SyncClient against the in-process server: login, errors said plainly, retries, outbox kept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fieldcrm.db.models import OutboxRecord
from fieldcrm.errors import Cancelled, SyncError
from fieldcrm.sync.client import WRONG_LOGIN, RetryPolicy, SyncClient
from tests.sync.client_helpers import fault_client, rep_with_territory

pytest_plugins = ["tests.sync.conftest_client"]


def test_wrong_password_is_said_plainly(lite: Any, laptops: Any) -> None:
    rep_with_territory(lite)
    a = laptops("anna", lite.client, login=False)
    with pytest.raises(SyncError) as err:
        a.login("not-the-password")
    assert err.value.kind == "auth" and str(err.value) == WRONG_LOGIN


def test_unknown_protocol_gets_426_and_the_outbox_is_kept(lite: Any, laptops: Any) -> None:
    rep_with_territory(lite)
    a = laptops("anna", lite.client, protocol=99)
    acc = a.create_account("Kiosk")
    with pytest.raises(SyncError) as err:
        a.sync()
    assert err.value.kind == "protocol" and "Update fieldcrm" in str(err.value)
    assert a.count(OutboxRecord, OutboxRecord.state.in_(("pending", "inflight"))) == 1
    a.client.protocol = 1  # the updated app syncs the same outbox
    assert a.sync().acked == 1
    assert a.account(acc).row_version == 1


def test_offline_keeps_working_and_outbox(lite: Any, laptops: Any) -> None:
    rep_with_territory(lite)
    a = laptops("anna", lite.client)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    a.client.http = httpx.Client(transport=httpx.MockTransport(refuse), base_url="http://x")
    a.create_account("Offline shop")
    with pytest.raises(SyncError) as err:
        a.sync()
    assert err.value.kind == "offline"
    assert a.states() == {"inflight": 1}
    a.client.http = lite.client
    assert a.sync().acked == 1 and a.states() == {"acked": 1}


def test_retry_after_is_honoured(lite: Any, laptops: Any) -> None:
    rep_with_territory(lite)
    http = fault_client(lite)
    waits: list[float] = []
    a = laptops(
        "anna",
        http,
        sleep=waits.append,
        clock=lambda: sum(waits),
        retry=RetryPolicy(attempts=2, base_s=0.01),
    )
    busy = httpx.Response(503, headers={"Retry-After": "7"}, json={"detail": "busy"})
    http._transport.script["/v1/sync/push"] = [busy]
    a.create_account("Busy day")
    assert a.sync().acked == 1
    assert sum(waits) >= 7


def test_backoff_gives_up_with_busy(lite: Any, laptops: Any) -> None:
    rep_with_territory(lite)
    http = fault_client(lite)
    a = laptops("anna", http, sleep=lambda s: None, retry=RetryPolicy(attempts=2, base_s=0.01))
    http._transport.script["/v1/sync/pull"] = [
        httpx.Response(429, json={"detail": "slow down"}, headers={"Backoff": "1"})
    ] * 3
    with pytest.raises(SyncError) as err:
        a.sync()
    assert err.value.kind == "busy"


def test_cancel_between_requests(lite: Any, laptops: Any) -> None:
    rep_with_territory(lite)
    a = laptops("anna", lite.client)
    a.create_account("Not yet")
    with pytest.raises(Cancelled):
        a.sync(cancelled=lambda: True)
    assert a.count(OutboxRecord, OutboxRecord.state.in_(("pending", "inflight"))) == 1


def test_keyring_resume_and_rotation(lite: Any, laptops: Any, memory_keyring: Any) -> None:
    from fieldcrm.services.sync_login import keyring_key, resume

    rep_with_territory(lite)
    a = laptops("anna", lite.client)
    key = ("fieldcrm", keyring_key("http://testserver", "anna"))
    first = memory_keyring.store[key]
    fresh = SyncClient(lite.client, retry=RetryPolicy(attempts=1, base_s=0.01))
    resume(a.db, fresh)  # a restarted app: no password, the keyring has the refresh token
    a.client = fresh
    a.create_account("After restart")
    assert a.sync().acked == 1
    assert memory_keyring.store[key] != first  # rotated and saved


def test_no_keyring_backend_is_a_clear_error(lite: Any, laptops: Any) -> None:
    import keyring
    from keyring.backends import fail

    rep_with_territory(lite)
    a = laptops("anna", lite.client, login=False)
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(SyncError) as err:
        a.login()
    assert err.value.kind == "keyring" and "plain text" in str(err.value)


def test_tampered_and_revoked_tokens_get_401_and_keep_outbox(lite: Any, laptops: Any) -> None:
    from fieldcrm.sync.server import admin

    rep_with_territory(lite)
    a = laptops("anna", lite.client)
    a.create_account("Kept")
    tokens = a.client.ensure_session()
    head, body, sig = tokens.access_token.split(".")
    tokens.access_token = f"{head}.{body}.{sig[::-1]}"
    with pytest.raises(SyncError) as err:
        a.sync()
    assert err.value.kind == "auth"
    a.client.refresh()
    with lite.db.write() as s, s.begin():
        admin.revoke_device(s, device_id=tokens.device_id)
    with pytest.raises(SyncError) as err:
        a.sync()
    assert err.value.kind == "auth" and "revoked" in str(err.value)
    assert a.count(OutboxRecord, OutboxRecord.state.in_(("pending", "inflight"))) == 1


def test_big_batches_are_split_under_1_mb_and_unsendable_entries_are_refused(
    lite: Any, laptops: Any
) -> None:
    from fieldcrm.db.outbox import enqueue

    rep_with_territory(lite)
    http = fault_client(lite)
    a = laptops("anna", http)
    for i in range(60):
        a.create_account(f"Long {i}", notes="x" * 19_000)
    with a.session() as s:
        enqueue(s, entity="contact", entity_id="not a valid id!", op="create", fields={})
        s.commit()
    summary = a.sync()
    assert summary.acked == 60 and summary.rejected == 1
    assert http._transport.seen.count("/v1/sync/push") >= 2
    with a.session() as s:
        bad = s.query(OutboxRecord).filter(OutboxRecord.state == "rejected").one()
    assert "cannot be sent" in bad.last_error


def test_expired_refresh_token_is_said_plainly(lite: Any, laptops: Any) -> None:
    rep_with_territory(lite)
    a = laptops("anna", lite.client)
    stale = a.client.refresh_token
    a.client.refresh()  # rotates: the old token stops working
    fresh = SyncClient(lite.client, retry=RetryPolicy(attempts=0))
    fresh.refresh_token = stale
    a.client = fresh
    a.create_account("Waiting")
    with pytest.raises(SyncError) as err:
        a.sync()
    assert err.value.kind == "auth"
    assert str(err.value) == "Your sync login has expired; log in again with your password."
    assert a.count(OutboxRecord, OutboxRecord.state.in_(("pending", "inflight"))) == 1


def test_expired_access_token_refresh_does_not_use_up_retries(lite: Any, laptops: Any) -> None:
    h = lite
    rep_with_territory(h)
    a = laptops("anna", h.client, retry=RetryPolicy(attempts=0))  # like `fieldcrm sync --retries 0`
    a.client.ensure_session()
    expired = httpx.Response(401, json={"detail": "access token expired; refresh it"})
    http = fault_client(h)
    http._transport.script["/v1/sync/pull"] = [expired]
    a.client.http = http
    assert a.sync().pending == 0


def test_another_user_cannot_send_the_previous_users_changes(lite: Any, laptops: Any) -> None:
    rep_with_territory(lite)
    lite.add_user("bert")
    a = laptops("anna", lite.client)
    a.create_account("Anna's offline work")
    a.username = "bert"
    with pytest.raises(SyncError) as err:
        a.login()
    assert err.value.kind == "auth" and "unsent change" in str(err.value)
    a.username = "anna"
    a.login()
    assert a.sync().acked == 1
    a.username = "bert"  # nothing waits now, but the server binds the device to anna
    with pytest.raises(SyncError) as err:
        a.login()
    assert "registered to another user" in str(err.value)


def test_too_many_failed_logins_is_said_without_waiting(lite: Any, laptops: Any) -> None:
    rep_with_territory(lite)
    a = laptops("anna", lite.client, login=False, sleep=lambda s: pytest.fail("waited"))
    messages = set()
    for _ in range(7):
        with pytest.raises(SyncError) as err:
            a.login("wrong")
        messages.add(str(err.value).split(";")[0])
    assert messages == {WRONG_LOGIN, "Too many failed logins"}
