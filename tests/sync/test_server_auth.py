"""Server auth: passwords, JWT checks, refresh rotation, revoked devices, login rate limit."""

from __future__ import annotations

import time

import jwt


def test_health_and_openapi(srv):
    r = srv.client.get("/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.headers["X-Sync-Protocol"] == "1"
    spec = srv.client.get("/openapi.json").json()
    assert "/v1/sync/push" in spec["paths"] and "/v1/sync/pull" in spec["paths"]
    ref = spec["paths"]["/v1/sync/push"]["post"]["requestBody"]["content"]["application/json"]
    assert ref["schema"]["$ref"].rsplit("/", 1)[-1] in spec["components"]["schemas"]
    assert "Mutation" in spec["components"]["schemas"]
    assert srv.client.get("/docs").status_code == 200


def test_wrong_password_gets_plain_401(srv):
    srv.add_user("ann")
    r = srv.client.post("/v1/auth/token", json={"username": "ann", "password": "nope-nope"})
    assert r.status_code == 401
    assert r.json() == {"detail": "wrong username or password", "code": "wrong_login"}
    r = srv.client.post("/v1/auth/token", json={"username": "ghost", "password": "nope-nope"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"


def test_missing_and_tampered_token_get_401(srv):
    srv.add_user("ann")
    dev = srv.login("ann")
    body = {"cursors": {}}
    assert srv.client.post("/v1/sync/pull", json=body, headers=dev.headers).status_code == 200
    r = srv.client.post("/v1/sync/pull", json=body, headers={"X-Sync-Protocol": "1"})
    assert r.status_code == 401 and "missing bearer token" in r.json()["detail"]
    head, payload, sig = dev.tokens["access_token"].split(".")
    forged = jwt.encode(
        {
            "sub": "someone-else",
            "device_id": dev.tokens["device_id"],
            "aud": "sync",
            "iss": "fieldcrm-server",
            "exp": int(time.time()) + 600,
        },
        "a-guessed-key-long-enough-for-hs256-0123456789",
        algorithm="HS256",
    )
    for token in (f"{head}.{payload}.{sig[:-2]}xx", forged, "not-a-jwt"):
        r = srv.client.post(
            "/v1/sync/pull",
            json=body,
            headers={"Authorization": f"Bearer {token}", "X-Sync-Protocol": "1"},
        )
        assert r.status_code == 401, token
        assert r.json()["detail"] == "invalid access token"


def test_expired_token_then_refresh_rotation(make_harness):
    # JWT times are whole seconds, so a TTL of N s leaves N-1 to N s: 2 s keeps the refreshed
    # token valid for the request right after it, even on a loaded machine.
    srv = make_harness(access_token_ttl_s=2)
    srv.add_user("ann")
    dev = srv.login("ann")
    time.sleep(3.1)
    r = srv.client.post("/v1/sync/pull", json={"cursors": {}}, headers=dev.headers)
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert r.json()["code"] == "token_expired"
    old = dev.tokens["refresh_token"]
    r = srv.client.post("/v1/auth/refresh", json={"refresh_token": old})
    assert r.status_code == 200
    new = r.json()
    assert new["refresh_token"] != old and new["device_id"] == dev.tokens["device_id"]
    dev.tokens = new
    assert (
        srv.client.post("/v1/sync/pull", json={"cursors": {}}, headers=dev.headers).status_code
        == 200
    )
    # The spent token is refused, and replaying it burns the token that replaced it too.
    r = srv.client.post("/v1/auth/refresh", json={"refresh_token": old})
    assert r.status_code == 401 and "already used" in r.json()["detail"]
    r = srv.client.post("/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert r.status_code == 401


def test_revoked_device_and_disabled_user_get_401(srv):
    from fieldcrm.sync.server import admin

    srv.add_user("ann")
    srv.add_user("bob")
    dev, bob = srv.login("ann"), srv.login("bob")
    with srv.session() as s, s.begin():
        admin.revoke_device(s, device_id=dev.tokens["device_id"])
        admin.set_disabled(s, username="bob")
    r = srv.client.post("/v1/sync/pull", json={"cursors": {}}, headers=dev.headers)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert r.json()["code"] == "device_revoked" and r.headers["WWW-Authenticate"] == "Bearer"
    r = srv.client.post("/v1/auth/refresh", json={"refresh_token": dev.tokens["refresh_token"]})
    assert r.status_code == 401
    r = srv.client.post("/v1/sync/pull", json={"cursors": {}}, headers=bob.headers)
    assert r.status_code == 401 and "disabled" in r.json()["detail"]
    # Logging in again on the revoked device id does not bring it back.
    r = srv.client.post(
        "/v1/auth/token",
        json={"username": "ann", "password": "pw-secret-1", "device_id": dev.tokens["device_id"]},
    )
    assert r.status_code == 401


def test_login_rate_limit_is_in_the_database(make_harness):
    srv = make_harness(login_max_failures=3, login_window_s=60)
    srv.add_user("ann")
    for _ in range(3):
        r = srv.client.post("/v1/auth/token", json={"username": "ann", "password": "bad-guess"})
        assert r.status_code == 401
    r = srv.client.post("/v1/auth/token", json={"username": "ann", "password": "pw-secret-1"})
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 61
    assert "too many failed logins" in r.json()["detail"]
    # A second app on the same database (another worker) sees the same limit.
    other = make_harness(login_max_failures=3, login_window_s=60)
    r = other.client.post("/v1/auth/token", json={"username": "ann", "password": "pw-secret-1"})
    assert r.status_code == 429


def test_password_never_on_argv_and_no_secret_in_logs(srv, caplog):
    import logging

    from fieldcrm.sync.server.cli import build_parser

    caplog.set_level(logging.DEBUG)
    srv.add_user("ann")
    dev = srv.login("ann")
    srv.client.post("/v1/auth/token", json={"username": "ann", "password": "wrong-secret-xyz"})
    text = caplog.text
    assert "pw-secret-1" not in text and "wrong-secret-xyz" not in text
    assert dev.tokens["refresh_token"] not in text and dev.tokens["access_token"] not in text
    user_add = build_parser().parse_args(["user", "add", "ann"])
    assert not hasattr(user_add, "password")


def test_protocol_header_outside_range_gets_426(srv):
    srv.add_user("ann")
    dev = srv.login("ann")
    for value in ("0", "2", "x"):
        r = srv.client.post(
            "/v1/sync/pull", json={"cursors": {}}, headers={**dev.headers, "X-Sync-Protocol": value}
        )
        assert r.status_code == 426 and "1..1" in r.json()["detail"]
    headers = {"Authorization": dev.headers["Authorization"]}
    assert (
        srv.client.post("/v1/sync/pull", json={"cursors": {}}, headers=headers).status_code == 426
    )
    r = srv.client.post(
        "/v1/sync/pull", json={"cursors": {}}, headers={**dev.headers, "X-Schema-Version": "99"}
    )
    assert r.status_code == 426 and "schema" in r.json()["detail"]
    r = srv.client.post(
        "/v1/sync/pull", json={"cursors": {}}, headers={**dev.headers, "X-Schema-Version": "abc"}
    )
    assert r.status_code == 426 and r.json()["detail"].endswith("must be a whole number, not 'abc'")
    r = srv.client.post(  # a blank header is an absent one
        "/v1/sync/pull", json={"cursors": {}}, headers={**dev.headers, "X-Schema-Version": " "}
    )
    assert r.status_code == 200


def test_push_body_with_newer_schema_gets_426(srv):
    srv.add_user("ann")
    dev = srv.login("ann")
    body = {"device_id": dev.tokens["device_id"], "schema_version": 2, "mutations": []}
    r = srv.client.post("/v1/sync/push", json=body, headers=dev.headers)
    assert r.status_code == 426 and "schema version 2" in r.json()["detail"]
