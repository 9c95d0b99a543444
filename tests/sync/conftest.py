"""Sync-server fixtures: a throwaway PostgreSQL on loopback and an in-process server harness."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "pw-secret-1"
SQUARE = {"type": "Polygon", "coordinates": [[[17, 59], [19, 59], [19, 60], [17, 60], [17, 59]]]}


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _no_postgres(reason: str) -> None:
    if os.environ.get("FIELDCRM_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required (FIELDCRM_REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> None:
    """argon2 at production cost takes ~0.3 s a hash on this machine; tests need no strength."""
    from fieldcrm.sync.server.auth import configure_hasher

    configure_hasher(time_cost=1, memory_cost_kib=1024)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Start a throwaway PostgreSQL cluster on 127.0.0.1 (free port); yield its admin URL."""
    bindir = _pg_bin()
    if bindir is None:
        _no_postgres("no initdb/pg_ctl found (install the Debian package postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _no_postgres("running as root without runuser")
    tmp = Path(tempfile.mkdtemp(prefix="fieldcrm-pg-"))
    if os.geteuid() == 0:
        shutil.chown(tmp, user="postgres", group="postgres")
    data, port = tmp / "data", _free_port()
    run = lambda cmd: subprocess.run(_as_postgres(cmd), check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )
        opts = (
            f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(tmp / "log"),
                "-w",
                "start",
            ]
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        _no_postgres(f"could not start it: {exc.stderr.strip()[:300]}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def _pg_database(postgres_url: str) -> str:
    """One migrated database shared by the PostgreSQL tests (emptied before each test)."""
    import psycopg

    from fieldcrm.sync.server.engine import make_database, migrate

    with psycopg.connect(postgres_url.replace("+psycopg", "") + "/postgres", autocommit=True) as c:
        c.execute("CREATE DATABASE fieldcrm_server_test")
    url = f"{postgres_url}/fieldcrm_server_test"
    db = make_database(url, pool_size=1)
    migrate(db.engine)
    db.engine.dispose()
    return url


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file copied for each test (migrating each time costs ~0.5 s)."""
    from fieldcrm.sync.server.engine import make_database, migrate

    path = tmp_path_factory.mktemp("server-template") / "template.db"
    db = make_database(f"sqlite:///{path}", pool_size=1)
    migrate(db.engine)
    db.engine.dispose()  # closing the last connection checkpoints the WAL into the file
    assert not path.with_name("template.db-wal").exists()
    return path


def _empty_pg(url: str) -> None:
    import psycopg

    from fieldcrm.sync.server.engine import VERSION_TABLE

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as c:
        tables = [
            r[0]
            for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            if r[0] != VERSION_TABLE
        ]
        c.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty server database URL: a SQLite file, or the emptied PostgreSQL database."""
    if request.param == "sqlite":
        target = tmp_path / "server.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
        return f"sqlite:///{target}"
    url = request.getfixturevalue("_pg_database")
    _empty_pg(url)
    return url


class Device:
    """One logged-in laptop: push, pull and verify through the real HTTP app."""

    def __init__(self, harness: Harness, tokens: dict[str, Any]) -> None:
        self.h, self.tokens = harness, tokens
        self.seq = 0
        self.cursors: dict[str, dict[str, int]] = {}

    @property
    def user_id(self) -> str:
        return str(self.tokens["user_id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}", "X-Sync-Protocol": "1"}

    def mutation(
        self,
        entity: str,
        entity_id: str,
        op: str,
        fields: dict[str, Any] | None = None,
        base_version: int | None = None,
        mutation_id: str | None = None,
    ) -> dict[str, Any]:
        self.seq += 1
        from fieldcrm.domain.ids import new_id

        return {
            "mutation_id": mutation_id or new_id(),
            "client_seq": self.seq,
            "entity": entity,
            "entity_id": entity_id,
            "op": op,
            "base_version": base_version,
            "fields": fields or {},
        }

    def push_raw(self, mutations: list[dict[str, Any]]) -> Any:
        body = {"device_id": self.tokens["device_id"], "schema_version": 1, "mutations": mutations}
        return self.h.client.post("/v1/sync/push", json=body, headers=self.headers)

    def push(self, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
        r = self.push_raw(list(mutations))
        assert r.status_code == 200, r.text
        return [o["result"] for o in r.json()["results"]]

    def pull_once(self, cursors: dict[str, Any] | None = None, limit: int = 500) -> dict[str, Any]:
        body = {"cursors": self.cursors if cursors is None else cursors, "limit": limit}
        r = self.h.client.post("/v1/sync/pull", json=body, headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()

    def pull_all(self, limit: int = 500) -> list[dict[str, Any]]:
        """Pull until has_more is false, advancing the cursors; return every change."""
        changes: list[dict[str, Any]] = []
        while True:
            page = self.pull_once(limit=limit)
            changes.extend(page["changes"])
            self.cursors = page["next_cursors"]
            if not page["has_more"]:
                return changes


class Harness:
    """An in-process server (TestClient over ``create_app``) plus admin shortcuts."""

    def __init__(self, url: str, **settings: Any) -> None:
        from fastapi.testclient import TestClient

        from fieldcrm.sync.server.app import create_app
        from fieldcrm.sync.server.settings import ServerSettings

        self.settings = ServerSettings(db=url, **settings)
        self.app = create_app(self.settings)
        self.db = self.app.state.fieldcrm.db
        self.client = TestClient(self.app)
        self.users: dict[str, str] = {}

    def session(self) -> Any:
        return self.db.write()

    def add_user(self, username: str, role: str = "rep") -> str:
        from fieldcrm.sync.server import admin

        with self.db.write() as s, s.begin():
            self.users[username] = admin.add_user(
                s, username=username, password=PASSWORD, role=role
            ).id
        return self.users[username]

    def territory(self, name: str, geometry: dict[str, Any] | None = None) -> str:
        from fieldcrm.sync.server import admin

        feature = {"type": "Feature", "geometry": geometry or SQUARE, "properties": {"name": name}}
        with self.db.write() as s, s.begin():
            done = admin.import_territories(
                s, collection={"type": "FeatureCollection", "features": [feature]}
            )
        return done[0].id

    def assign(self, territory_id: str, username: str | None) -> None:
        from fieldcrm.sync.server import admin

        with self.db.write() as s, s.begin():
            admin.assign_territory(s, territory_ref=territory_id, user_ref=username)

    def login(self, username: str, device_id: str | None = None) -> Device:
        r = self.client.post(
            "/v1/auth/token",
            json={"username": username, "password": PASSWORD, "device_id": device_id},
        )
        assert r.status_code == 200, r.text
        return Device(self, r.json())

    def close(self) -> None:
        self.client.close()
        self.db.engine.dispose()


@pytest.fixture
def make_harness(db_url: str) -> Iterator[Any]:
    """Factory: ``make_harness(**settings)`` builds a server on the test's fresh database."""
    made: list[Harness] = []

    def make(**settings: Any) -> Harness:
        h = Harness(db_url, **settings)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


@pytest.fixture
def srv(make_harness: Any) -> Harness:
    """A server with default settings on a fresh database (SQLite file or PostgreSQL)."""
    return make_harness()
