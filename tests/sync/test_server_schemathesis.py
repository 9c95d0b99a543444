"""Schemathesis against the real server over HTTP on 127.0.0.1: every operation, 0 server errors.

The server (SQLite file in tmp) runs under uvicorn in a thread and is fuzzed through its own
``/openapi.json``: as a rep and as a manager (Bearer token + ``X-Sync-Protocol``), and without a
token, with schema-valid (positive) and schema-breaking (negative) requests. Every answer must
be no 5xx, a documented status code, and a body that matches the documented schema. Seeded:
replay with ``FIELDCRM_SCHEMATHESIS_SEED=<seed>``; soak longer with ``FIELDCRM_SCHEMATHESIS_SCALE=10``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fieldcrm.domain.ids import new_id  # noqa: E402

SEED = int(os.environ.get("FIELDCRM_SCHEMATHESIS_SEED", "20261122"))
PASSWORD = "pw-secret-1"
SQUARE = {"type": "Polygon", "coordinates": [[[17, 59], [19, 59], [19, 60], [17, 60], [17, 59]]]}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SCALE = int(os.environ.get("FIELDCRM_SCHEMATHESIS_SCALE", "1"))  # a longer soak: 10, 50
EXAMPLES = {GenerationMode.POSITIVE: 20 * SCALE, GenerationMode.NEGATIVE: 10 * SCALE}
AUTH_PATHS = ("/v1/auth/token", "/v1/auth/refresh", "/v1/health")


@dataclass
class Live:
    base: str
    users: dict[str, dict[str, Any]]
    ids: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        token = self.users[who]["access_token"]
        return {"Authorization": f"Bearer {token}", "X-Sync-Protocol": "1"}


@dataclass
class Tally:
    operations: set[str] = field(default_factory=set)
    examples: int = 0
    server_errors: int = 0
    failures: dict[tuple[str, str], str] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed_world(app: Any) -> dict[str, str]:
    """Users, a territory held by the rep, an account, a conflict and a visit under review."""
    from fieldcrm.sync.server import admin

    db = app.state.fieldcrm.db
    with db.write() as s, s.begin():
        for name, role in (("rep", "rep"), ("boss", "manager")):
            admin.add_user(s, username=name, password=PASSWORD, role=role)
        feature = {"type": "Feature", "geometry": SQUARE, "properties": {"name": "T1"}}
        [t1] = admin.import_territories(
            s, collection={"type": "FeatureCollection", "features": [feature]}
        )
        admin.assign_territory(s, territory_ref=t1.id, user_ref="rep")
    return {"territory_id": t1.id, "account_id": new_id(), "visit_id": new_id()}


def _push(base: str, tokens: dict[str, Any], *mutations: tuple[str, str, str, dict, int | None]):
    body = {
        "device_id": tokens["device_id"],
        "schema_version": 1,
        "mutations": [
            {"mutation_id": new_id(), "client_seq": n, "entity": e, "entity_id": i, "op": op,
             "fields": f, "base_version": b}
            for n, (e, i, op, f, b) in enumerate(mutations, start=1)
        ],
    }
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "X-Sync-Protocol": "1"}
    r = httpx.post(f"{base}/v1/sync/push", json=body, headers=headers)
    assert r.status_code == 200, r.text


def _database(request: pytest.FixtureRequest, tmp: Path) -> str:
    """The server's database: a SQLite file, or a database of its own on the test PostgreSQL
    (which refuses what SQLite lets through: NUL characters, over-long or out-of-range values)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp / 'server.db'}"
    import psycopg

    admin = request.getfixturevalue("postgres_url")
    with psycopg.connect(admin.replace("+psycopg", "") + "/postgres", autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS fieldcrm_schemathesis")
        c.execute("CREATE DATABASE fieldcrm_schemathesis")
    return f"{admin}/fieldcrm_schemathesis"


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Live]:
    import uvicorn

    from fieldcrm.sync.server.app import create_app
    from fieldcrm.sync.server.auth import configure_hasher
    from fieldcrm.sync.server.settings import ServerSettings

    configure_hasher(time_cost=1, memory_cost_kib=1024)
    app = create_app(ServerSettings(db=_database(request, tmp_path_factory.mktemp("st"))))
    ids = _seed_world(app)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="schemathesis-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    users = {}
    for name in ("rep", "boss"):
        r = httpx.post(f"{base}/v1/auth/token", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        users[name] = r.json()
    acc, visit = ids["account_id"], ids["visit_id"]
    _push(base, users["boss"], ("account", acc, "create", {"name": "Kafé", "territory_id": ids["territory_id"]}, None))
    _push(base, users["boss"], ("account", acc, "patch", {"notes": "boss"}, 1))
    _push(
        base,
        users["rep"],
        ("account", acc, "patch", {"notes": "rep"}, 1),  # a same-field conflict
        ("visit", visit, "append", {"account_id": "not-on-the-server"}, None),  # needs_review
    )
    headers = {"Authorization": f"Bearer {users['rep']['access_token']}"}
    [conflict] = httpx.get(f"{base}/v1/conflicts", headers=headers).json()
    ids["conflict_id"] = conflict["id"]
    try:
        yield Live(base=base, users=users, ids=ids)
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.fieldcrm.db.engine.dispose()


@pytest.fixture(scope="module")
def api(live: Live) -> Any:
    return schemathesis.openapi.from_url(f"{live.base}/openapi.json")


def _fuzz(
    op: Any,
    mode: GenerationMode,
    tally: Tally,
    base: str,
    headers: dict[str, str],
    fix: Callable[[Any], None] | None = None,
    **fixed: Any,
) -> None:
    """Run ``EXAMPLES[mode]`` generated cases of one operation; record every failed check."""
    label = f"{op.label} [{mode.value}{' ' + ','.join(fixed) if fixed else ''}]"

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(generation_mode=mode, **fixed))
    def run(case: Any) -> None:
        if fix is not None:
            fix(case)
        tally.examples += 1
        response = case.call(base_url=base, headers=headers, timeout=30)
        tally.server_errors += response.status_code >= 500
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except BaseException as exc:  # schemathesis raises a BaseExceptionGroup of failures
            if isinstance(exc, KeyboardInterrupt):
                raise
            key = (label, str(exc).splitlines()[0])
            tally.failures.setdefault(key, str(exc)[:1500])

    tally.operations.add(op.label)
    with contextlib.suppress(Unsatisfiable):  # no way to break an operation without parameters
        run()


def _report(tally: Tally, who: str) -> None:
    print(
        f"\nschemathesis as {who} (seed {SEED}): {len(tally.operations)} operations, "
        f"{tally.examples} examples, {tally.server_errors} server errors, "
        f"{len(tally.failures)} distinct failures"
    )
    assert tally.server_errors == 0 and not tally.failures, "\n\n".join(
        f"{label}: {text}" for (label, _), text in tally.failures.items()
    )


def _operations(api: Any) -> list[Any]:
    return [result.ok() for result in api.get_all_operations()]


def _same_device(live: Live, who: str) -> Callable[[Any], None]:
    """Pushes name the token's device, so mutations reach the handlers instead of a 403."""

    def fix(case: Any) -> None:
        if isinstance(case.body, dict) and "device_id" in case.body:
            case.body["device_id"] = live.users[who]["device_id"]

    return fix


@pytest.mark.parametrize("who", ["rep", "boss"])
def test_every_operation_authenticated_has_no_server_error(api: Any, live: Live, who: str):
    tally = Tally()
    real = {
        "territory_id": live.ids["territory_id"],
        "conflict_id": live.ids["conflict_id"],
        "visit_id": live.ids["visit_id"],
    }
    for op in _operations(api):
        if op.path in AUTH_PATHS:
            continue
        fix = _same_device(live, who) if op.path == "/v1/sync/push" else None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(op, mode, tally, live.base, live.headers(who), fix)
        names = [p.name for p in op.path_parameters]
        if names and op.path != "/v1/territories/{territory_id}/assign":
            # the real object: the handlers' deeper paths (resolve, accept, dismiss)
            params = {n: real[n] for n in names}
            _fuzz(op, GenerationMode.POSITIVE, tally, live.base, live.headers(who),
                  path_parameters=params)
    _report(tally, who)


def test_auth_endpoints_without_a_token_have_no_server_error(api: Any, live: Live):
    tally = Tally()
    for op in _operations(api):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(op, mode, tally, live.base, {})
    _report(tally, "nobody")
    assert httpx.get(f"{live.base}/v1/health").status_code == 200
