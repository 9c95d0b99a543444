"""G3: convergence. A Hypothesis state machine drives 2-6 laptops (each its own SQLite file)
against one server; after quiescence every replica equals the oracle ``expected_view``.

CI runs SYNC.md's 200 examples of <= 50 steps on the SQLite server (in-process, TestClient;
~0.45 s an example, most of it the clients' own sync cycles: two per laptop at quiescence), and
the same machine against the real PostgreSQL (``FIELDCRM_G3_PG_EXAMPLES``, 30 in CI; each
example on its own database cloned from a populated template). bench/sync_soak.py runs 5,000
(``--backend postgres`` for the PostgreSQL run). Replay: ``FIELDCRM_G3_SEED``,
``FIELDCRM_G3_EXAMPLES``, ``FIELDCRM_G3_STEPS``, ``FIELDCRM_G3_SHRINK=1`` (shrink a failure).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from fieldcrm.db.models import AccountRecord, TerritoryRow
from fieldcrm.domain.enums import Role
from fieldcrm.errors import InvalidInput, NotFound, SyncError
from fieldcrm.services.accounts import delete_account
from tests.sync.client_helpers import (
    Laptop,
    add_contact,
    assert_converged,
    log_visit,
    reuse_compiled,
)
from tests.sync.conftest import Harness

pytest_plugins = ["tests.sync.conftest_client"]
EXAMPLES = int(os.environ.get("FIELDCRM_G3_EXAMPLES", "200"))
STEPS = int(os.environ.get("FIELDCRM_G3_STEPS", "50"))
SEED = int(os.environ.get("FIELDCRM_G3_SEED", "1122"))
PG_EXAMPLES = int(os.environ.get("FIELDCRM_G3_PG_EXAMPLES", "30"))
SHRINK = os.environ.get("FIELDCRM_G3_SHRINK") == "1"  # CI does not shrink (slow); replay does
USERS = ("boss", "r0", "r1", "r2")


def _square(i: int) -> dict[str, Any]:
    x = 10 + 3 * i
    return {"type": "Polygon", "coordinates": [[[x, 59], [x + 2, 59], [x + 2, 60], [x, 60], [x, 59]]]}


def _offline(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("offline (test)", request=request)


class World:
    """Paths the machine needs (set by the test before it runs)."""

    folder: Path
    server_template: Path
    local_template: Path
    territories: tuple[str, ...] = ()
    runs = 0
    pg_admin = ""  # PostgreSQL admin URL when the examples run there, else SQLite files
    pg_template = "g3_template"

    @classmethod
    def new_server(cls) -> str:
        """A fresh, populated server database for one example; its URL."""
        if cls.pg_admin:
            name = f"g3_run{cls.runs}"
            _pg_admin_sql(cls.pg_admin, f"DROP DATABASE IF EXISTS {name}",
                          f"CREATE DATABASE {name} TEMPLATE {cls.pg_template}")
            return f"{cls.pg_admin}/{name}"
        db = cls.folder / f"run{cls.runs}" / "server.db"
        shutil.copyfile(cls.server_template, db)  # users and territories already made
        return f"sqlite:///{db}"

    @classmethod
    def drop_server(cls, url: str) -> None:
        if cls.pg_admin:
            _pg_admin_sql(cls.pg_admin, f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]}")


def _pg_admin_sql(admin_url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(admin_url.replace("+psycopg", "") + "/postgres", autocommit=True) as c:
        for statement in statements:
            c.execute(statement)


def _populate(h: Harness) -> tuple[str, ...]:
    """Users, territories T0-T2, r0 on T0 and r1 on T1 (made once, copied per example)."""
    h.add_user("boss", role="manager")
    for u in USERS[1:]:
        h.add_user(u)
    territories = tuple(h.territory(f"T{i}", _square(i)) for i in range(3))
    h.assign(territories[0], "r0")
    h.assign(territories[1], "r1")
    return territories


class SyncModel(RuleBasedStateMachine):
    """Rules: create, patch, delete, visit, contact, reassign, grant/revoke, offline/online,
    sync, kill a client, restart the server."""

    @initialize(n=st.integers(2, 6), owners=st.lists(st.sampled_from(USERS), min_size=6,
                                                      max_size=6))
    def setup(self, n: int, owners: list[str]) -> None:
        World.runs += 1
        self.dir = World.folder / f"run{World.runs}"
        self.dir.mkdir()
        self.url = World.new_server()
        self.h = self._server()
        self.terr = list(World.territories)
        self.laps: list[Laptop] = []
        self.online: list[bool] = []
        for i in range(n):
            user = ["boss", "r0", *owners][i] if i < 2 else owners[i]
            path = self.dir / f"{user}-{i}.db"
            shutil.copyfile(World.local_template, path)
            lap = Laptop(self.dir, user, self.h.client, path=path, login=False)
            reuse_compiled(lap.db.engine, "client")
            lap.login()
            self.laps.append(lap)
            self.online.append(True)

    def teardown(self) -> None:
        if not hasattr(self, "h"):
            return
        try:
            self._restart_server_if_needed()
            for i in range(len(self.laps)):
                self._go_online(i)
            for _ in range(2):
                for lap in self.laps:
                    lap.sync()
            for lap in self.laps:
                states = set(lap.states())
                assert states <= {"acked", "rejected", "quarantined"}, states
                assert_converged(self.h, lap)
        finally:
            for lap in self.laps:
                lap.close()
            self._close_server()
            World.drop_server(self.url)

    # --- helpers ----------------------------------------------------------------------

    def _restart_server_if_needed(self) -> None:
        pass

    def _server(self) -> Harness:
        """A new app (and engine) on the example's server file, as after a restart."""
        h = Harness(self.url, migrate_on_start=False)
        reuse_compiled(h.db.engine, "server")
        h.client.__enter__()  # one event-loop portal for all requests, not one per request
        return h

    def _close_server(self) -> None:
        self.h.client.__exit__(None, None, None)
        self.h.close()

    def _go_online(self, i: int) -> None:
        self.online[i] = True
        self.laps[i].client.http = self.h.client

    def _accounts(self, i: int) -> list[str]:
        with self.laps[i].session() as s:
            return sorted(s.scalars(AccountRecord.__table__.select().with_only_columns(
                AccountRecord.id).where(AccountRecord.deleted.is_(False))))

    def _pick(self, i: int, k: int) -> str | None:
        accs = self._accounts(i)
        return accs[k % len(accs)] if accs else None

    # --- rules ------------------------------------------------------------------------

    @rule(i=st.integers(0, 5), t=st.integers(0, 2))
    def create_account(self, i: int, t: int) -> None:
        lap = self.laps[i % len(self.laps)]
        # the server places it in the territory containing the point (flagged if not the rep's)
        lap.create_account(f"{lap.username}-{t}", lon=11 + 3 * t, lat=59.5)

    @rule(i=st.integers(0, 5), k=st.integers(0, 50), field=st.sampled_from(["notes", "city", "name"]),
          value=st.sampled_from(["a", "b", "c"]))
    def patch(self, i: int, k: int, field: str, value: str) -> None:
        i %= len(self.laps)
        acc = self._pick(i, k)
        if acc is not None:
            self.laps[i].update_account(acc, **{field: f"{field}-{value}"})

    @rule(i=st.integers(0, 5), k=st.integers(0, 50))
    def delete(self, i: int, k: int) -> None:
        i %= len(self.laps)
        acc = self._pick(i, k)
        if acc is not None and self.laps[i].username == "boss":
            with self.laps[i].session() as s:
                delete_account(session=s, account_id=acc, actor_role=Role.MANAGER)

    @rule(i=st.integers(0, 5), k=st.integers(0, 50))
    def visit(self, i: int, k: int) -> None:
        i %= len(self.laps)
        acc = self._pick(i, k)
        if acc is not None:
            log_visit(self.laps[i], acc)

    @rule(i=st.integers(0, 5), k=st.integers(0, 50))
    def contact(self, i: int, k: int) -> None:
        i %= len(self.laps)
        acc = self._pick(i, k)
        if acc is not None:
            with contextlib.suppress(NotFound, InvalidInput):
                add_contact(self.laps[i], acc, f"C{k}")

    @rule(i=st.integers(0, 5), k=st.integers(0, 50), t=st.integers(0, 2))
    def reassign(self, i: int, k: int, t: int) -> None:
        i %= len(self.laps)
        acc = self._pick(i, k)
        lap = self.laps[i]
        if acc is not None and lap.username == "boss":
            with lap.session() as s:
                known = s.get(TerritoryRow, self.terr[t]) is not None
            if known:
                lap.update_account(acc, territory_id=self.terr[t])

    @rule(t=st.integers(0, 2), user=st.sampled_from([None, "r0", "r1", "r2"]))
    def grant_or_revoke(self, t: int, user: str | None) -> None:
        self.h.assign(self.terr[t], user)

    @rule(i=st.integers(0, 5))
    def toggle_online(self, i: int) -> None:
        i %= len(self.laps)
        if self.online[i]:
            self.online[i] = False
            self.laps[i].client.http = httpx.Client(transport=httpx.MockTransport(_offline),
                                                    base_url="http://testserver")
        else:
            self._go_online(i)

    @rule(i=st.integers(0, 5))
    def sync(self, i: int) -> None:
        i %= len(self.laps)
        try:
            self.laps[i].sync()
        except SyncError as exc:
            assert exc.kind == "offline" and not self.online[i], exc

    @rule(i=st.integers(0, 5))
    def kill_client(self, i: int) -> None:
        """The app dies and restarts: a new SyncClient with only the saved refresh token.

        (Each real laptop has its own OS keyring; here laptops of one user share a process,
        so the token is carried over instead of read back from the shared test keyring.)
        """
        from fieldcrm.db.engine import open_database
        from fieldcrm.sync.client import SyncClient

        i %= len(self.laps)
        lap = self.laps[i]
        lap.db.close()
        lap.db = open_database(lap.path)
        reuse_compiled(lap.db.engine, "client")
        fresh = SyncClient(lap.client.http, seed=1, retry=lap.client.retry)
        fresh.refresh_token = lap.client.refresh_token
        lap.client = fresh

    @precondition(lambda self: hasattr(self, "h"))
    @rule()
    def restart_server(self) -> None:
        self._close_server()
        self.h = self._server()
        for i in range(len(self.laps)):
            if self.online[i]:
                self.laps[i].client.http = self.h.client


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest, memory_keyring: Any) -> type[World]:
    from fieldcrm.db.engine import open_database

    World.folder = tmp_path
    # One populated server file (users, territories T0-T2, r0 on T0, r1 on T1), copied per
    # example: creating them costs more than a whole short example.
    World.server_template = tmp_path / "server-template.db"
    shutil.copyfile(request.getfixturevalue("_sqlite_template"), World.server_template)
    h = Harness(f"sqlite:///{World.server_template}", migrate_on_start=False)
    World.territories = _populate(h)
    h.close()  # the last connection closed checkpoints the WAL into the file
    World.local_template = tmp_path / "local-template.db"
    open_database(World.local_template).close()
    World.pg_admin = ""
    return World


@pytest.fixture
def pg_world(world: type[World], postgres_url: str) -> Iterator[type[World]]:
    """The same world with the server on PostgreSQL: a populated template database that
    each example clones (CREATE DATABASE ... TEMPLATE), then drops."""
    from fieldcrm.sync.server.engine import make_database, migrate

    _pg_admin_sql(postgres_url, f"DROP DATABASE IF EXISTS {World.pg_template}",
                  f"CREATE DATABASE {World.pg_template}")
    url = f"{postgres_url}/{World.pg_template}"
    db = make_database(url, pool_size=1)
    migrate(db.engine)
    db.engine.dispose()
    h = Harness(url, migrate_on_start=False)
    World.territories = _populate(h)
    h.close()  # no session may stay on a template database
    World.pg_admin = postgres_url
    yield World
    World.pg_admin = ""
    _pg_admin_sql(postgres_url, f"DROP DATABASE IF EXISTS {World.pg_template}")


def _run_machine(examples: int, backend: str) -> None:
    print(f"G3 seed {SEED} ({backend}): {examples} examples x <= {STEPS} steps "
          "(FIELDCRM_G3_SEED / _EXAMPLES / _PG_EXAMPLES / _STEPS to change)")
    machine = seed(SEED)(SyncModel)
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=STEPS, deadline=None, database=None,
        suppress_health_check=list(HealthCheck), print_blob=True,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, *([Phase.shrink] if SHRINK else [])]))


def test_convergence_state_machine(world: Any) -> None:
    _run_machine(EXAMPLES, "sqlite")


@pytest.mark.postgres
def test_state_machine_on_postgres(pg_world: Any) -> None:
    """G3 against the production database: the same machine, the server on PostgreSQL."""
    import psycopg

    runs = pg_world.runs
    _run_machine(PG_EXAMPLES, "postgres")
    assert pg_world.runs - runs >= PG_EXAMPLES  # every example had its own PostgreSQL database
    with psycopg.connect(pg_world.pg_admin.replace("+psycopg", "") + "/postgres") as c:
        left = c.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'g3_run%'")
        assert left.fetchone() == (0,)  # and each was dropped after its example
