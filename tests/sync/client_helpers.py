"""Helpers of the sync client tests: laptops, fault transports, server processes."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from keyring.backend import KeyringBackend
from sqlalchemy import func, select

from tests.sync.conftest import PASSWORD

_serial = itertools.count()


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in a dict (tests never touch the real OS keyring)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


class Laptop:
    """A rep's laptop: its own SQLite file and a SyncClient over ``http``."""

    def __init__(
        self,
        folder: Path,
        username: str,
        http: Any,
        *,
        base_url: str = "",
        login: bool = True,
        path: Path | None = None,
        **client_kw: Any,
    ) -> None:
        from fieldcrm.db.engine import open_database
        from fieldcrm.sync.client import RetryPolicy, SyncClient

        self.username = username
        self.syncs = 0
        self.path = path or folder / f"{username}-{next(_serial)}.db"
        self.db = open_database(self.path)
        client_kw.setdefault("retry", RetryPolicy(attempts=2, base_s=0.01, max_wait_s=0.05))
        self.client = SyncClient(http, base_url, seed=1, **client_kw)
        if login:
            self.login()

    def login(self, password: str = PASSWORD) -> Any:
        from fieldcrm.services.sync_login import login

        return login(self.db, self.client, self.username, password)

    def sync(self, *, allow_mismatch: bool = False, **kw: Any) -> Any:
        """One cycle; G15: a verify mismatch outside a corruption test is a failure."""
        from fieldcrm.services.sync import sync_once

        summary = sync_once(db=self.db, client=self.client, **kw)
        assert allow_mismatch or not summary.mismatched, f"spurious resync {summary.mismatched}"
        self.syncs += 1
        return summary

    def session(self) -> Any:
        return self.db.session()

    def count(self, model: Any, *where: Any) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def states(self) -> dict[str, int]:
        from fieldcrm.db.models import OutboxRecord

        with self.db.session() as s:
            rows = s.execute(select(OutboxRecord.state, func.count()).group_by(OutboxRecord.state))
            return {state: int(n) for state, n in rows}

    def create_account(self, name: str, lon: float = 18.0, lat: float = 59.5, **fields: Any) -> str:
        from fieldcrm.services.accounts import create_account

        with self.db.session() as s:
            return create_account(
                session=s, fields={"name": name, "lon": lon, "lat": lat, **fields}, strict=False
            ).id

    def update_account(self, account_id: str, **changes: Any) -> None:
        from fieldcrm.services.accounts import update_account

        with self.db.session() as s:
            update_account(session=s, account_id=account_id, changes=changes)

    def account(self, account_id: str) -> Any:
        from fieldcrm.db.models import AccountRecord

        with self.db.session() as s:
            return s.get(AccountRecord, account_id)

    def close(self) -> None:
        self.db.close()


_DONORS: dict[str, Any] = {}


def reuse_compiled(engine: Any, kind: str) -> Any:
    """Seed a new engine's compiled-SQL cache from the previous engine of the same ``kind``.

    Test speed only: SQLAlchemy keys its statement cache by engine (dialect instance), so
    every fresh laptop or server engine recompiles every statement. The compiled forms are
    identical for engines made by the same code, so they are copied under the new dialect.
    Nothing else is shared: the engine, its pool and its connections stay the new one's.
    """
    donor = _DONORS.get(kind)
    cache, old = engine._compiled_cache, getattr(donor, "_compiled_cache", None)
    if donor is not None and donor is not engine and cache is not None and old is not None \
            and type(donor.dialect) is type(engine.dialect):
        for key, compiled in list(old.items()):
            cache[(engine.dialect, *key[1:])] = compiled
    _DONORS[kind] = engine
    return engine


# --- transports and processes ------------------------------------------------------------


class FaultTransport:
    """An httpx transport around another one that misbehaves on purpose (seeded).

    ``dup``: each push is also delivered 0..dup extra times; ``drop``: the chance that a push
    response is lost *after* the server committed it; ``replay``: the chance that a push is
    kept and delivered again later (after other devices' pushes: reordering). ``script`` maps
    a path to a list of canned responses or exceptions served before the real ones.
    """

    def __init__(
        self, inner: Any, *, seed: int = 0, dup: int = 0, drop: float = 0.0, replay: float = 0.0
    ) -> None:
        import random

        self.inner, self.rng = inner, random.Random(seed)
        self.dup, self.drop, self.replay = dup, drop, replay
        self.script: dict[str, list[Any]] = {}
        self.held: list[Any] = []
        self.stats = {"dups": 0, "drops": 0, "replays": 0, "requests": 0}
        self.seen: list[str] = []

    def _copy(self, request: Any) -> Any:
        import httpx

        return httpx.Request(
            request.method, request.url, headers=request.headers, content=request.content
        )

    def handle_request(self, request: Any) -> Any:
        import httpx

        request.read()
        path = request.url.path
        self.stats["requests"] += 1
        self.seen.append(path)
        queue = self.script.get(path)
        if queue:
            item = queue.pop(0)
            if isinstance(item, Exception):
                raise item
            return item
        if not path.endswith("/sync/push"):
            return self.inner.handle_request(request)
        for _ in range(self.rng.randint(0, self.dup)):
            self.stats["dups"] += 1
            self.inner.handle_request(self._copy(request)).read()
        if self.rng.random() < self.replay:
            self.held.append(self._copy(request))
        response = self.inner.handle_request(request)
        response.read()
        if self.rng.random() < self.drop:
            self.stats["drops"] += 1
            raise httpx.ReadError("response lost after commit (injected)")
        return response

    def release(self) -> int:
        """Deliver the held pushes now (late, out of order); their answers are discarded."""
        held, self.held = self.held, []
        for request in held:
            self.stats["replays"] += 1
            self.inner.handle_request(request).read()
        return len(held)

    def close(self) -> None:
        pass


def fault_client(harness: Any, **kw: Any) -> Any:
    """An httpx.Client whose transport is a FaultTransport over the harness's in-process app."""
    import httpx

    transport = FaultTransport(harness.client._transport, **kw)
    return httpx.Client(transport=transport, base_url="http://testserver")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Zygote:
    """A process that imports the server once and forks a fresh server per start.

    The forked child *is* the server process (see ``tests/sync/zygote.py``): it is killed with
    SIGKILL and a new one is forked in milliseconds instead of paying Python's import time
    again (seconds on CI). ``notes`` collects the kill points children died at.
    """

    def __init__(self, log: Path) -> None:
        import subprocess
        import sys

        root = Path(__file__).resolve().parents[2]
        self.log = log.open("a")
        self.notes = log.with_name(log.stem + "-kills.txt")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.sync.zygote"], cwd=root, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.log, text=True)

    def fork(self, port: int, settings: dict[str, Any], kill: dict[str, Any] | None = None) -> int:
        import json

        assert self.proc.stdin is not None and self.proc.stdout is not None
        job = {"port": port, "settings": settings, "kill": kill, "notes": str(self.notes)}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the zygote died; see {self.log.name}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return int(answer["pid"])

    def kill_point(self, pid: int) -> str | None:
        """Where child ``pid`` killed itself (an armed kill point), or None."""
        if not self.notes.exists():
            return None
        for line in self.notes.read_text().splitlines():
            who, _, point = line.partition(" ")
            if who == str(pid):
                return point
        return None

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(10)
        self.log.close()


class ServerProcess:
    """A sync server in its own process on 127.0.0.1 (forked by a Zygote), killable with -9."""

    def __init__(self, zygote: Zygote, url: str, **settings: Any) -> None:
        import httpx

        self.zygote, self.port = zygote, free_port()
        self.settings = {"db": url, **settings}
        self.pid = 0
        self._probe = httpx.Client(timeout=httpx.Timeout(30.0))
        self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        import os

        if self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def start(self, *, kill: dict[str, Any] | None = None, wait: bool = True) -> None:
        """Fork a fresh server; ``kill`` arms a kill point (see tests/sync/zygote.py).

        The socket listens before this returns, so a request made at once waits for the child
        to be ready; ``wait`` also checks that it serves (one /health round trip).
        """
        import httpx

        self.pid = self.zygote.fork(self.port, self.settings, kill)
        self.settings["migrate_on_start"] = False
        if not wait:
            return
        try:
            if self._probe.get(self.base_url + "/v1/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        raise RuntimeError(f"server did not start; see {self.zygote.log.name}")

    def kill(self) -> None:
        import os
        import signal
        import time

        if self.pid and self.alive():
            os.kill(self.pid, signal.SIGKILL)
            while self.alive():
                time.sleep(0.001)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        self.kill()
        self._probe.close()


def rep_with_territory(h: Any, username: str = "anna", name: str = "North") -> str:
    """Add a rep holding a territory (the default square); return the territory id."""
    h.add_user(username)
    t = h.territory(name)
    h.assign(t, username)
    return t


# --- oracle ------------------------------------------------------------------------------

_SKIP = {"updated_at"}
_VISIT_KEYS = {"account_id", "rep_id"}


def _comparable(entity: str, values: dict[str, Any]) -> dict[str, Any]:
    if entity in ("visit", "visit_amendment"):
        return {k: v for k, v in values.items() if k in _VISIT_KEYS | {"visit_id"}}
    return {k: v for k, v in values.items() if k not in _SKIP}


def expected_view(h: Any, user_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The oracle: server rows ⋂ the user's scopes, as local column values + row_version."""
    from fieldcrm.services.sync_wire import local_values
    from fieldcrm.sync.server.models import SyncIndex, User
    from fieldcrm.sync.server.scopes import compute_scopes
    from fieldcrm.sync.server.serialize import load_data

    out: dict[tuple[str, str], dict[str, Any]] = {}
    with h.db.read() as s:
        user = s.get(User, user_id)
        scopes = compute_scopes(s, user_id=user_id, role=user.role)
        rows = s.execute(
            select(SyncIndex.entity, SyncIndex.entity_id).where(
                SyncIndex.scope_id.in_(sorted(scopes)), SyncIndex.op == "upsert"
            )
        ).all()
        wanted: dict[str, set[str]] = {}
        for entity, entity_id in rows:
            wanted.setdefault(entity, set()).add(entity_id)
        for entity, ids in wanted.items():
            for entity_id, data in load_data(s, entity, sorted(ids)).items():
                if entity == "conflict":
                    out[(entity, entity_id)] = {"row_version": data["row_version"]}
                    continue
                values = _comparable(entity, local_values(entity, data)[0])
                values["row_version"] = data["row_version"]
                out[(entity, entity_id)] = values
    return out


def client_view(
    laptop: Laptop, like: dict[tuple[str, str], dict[str, Any]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The laptop's live synced rows, with the same keys the oracle has for each row."""
    from fieldcrm.db.models import SyncConflictRecord
    from fieldcrm.services.sync_wire import MODELS

    out: dict[tuple[str, str], dict[str, Any]] = {}
    with laptop.db.session() as s:
        for entity, model in [*MODELS.items(), ("conflict", SyncConflictRecord)]:
            for row in s.scalars(select(model).where(model.deleted.is_(False))):
                keys = like.get((entity, row.id), {"row_version": 0})
                out[(entity, row.id)] = {k: getattr(row, k) for k in keys}
    return out


def assert_converged(h: Any, laptop: Laptop) -> None:
    """The laptop's replica equals the oracle's view for its user (rows and values)."""
    user_id = laptop.client.tokens.user_id if laptop.client.tokens else ""
    want = expected_view(h, user_id)
    have = client_view(laptop, want)
    missing = sorted(set(want) - set(have))
    ghosts = sorted(set(have) - set(want))
    wrong = {k: (have[k], want[k]) for k in set(want) & set(have) if have[k] != want[k]}
    assert not (missing or ghosts or wrong), (
        f"{laptop.username}: missing {missing[:5]}, ghosts {ghosts[:5]}, "
        f"wrong {list(wrong.items())[:3]}"
    )


def server_count(h: Any, model: Any, *where: Any) -> int:
    with h.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# --- local writes ------------------------------------------------------------------------


def log_visit(laptop: Laptop, account_id: str, when: Any = None, outcome: str = "order") -> str:
    from datetime import UTC, datetime, timedelta

    from fieldcrm.services.visits import log_visit as _log

    when = when or datetime.now(UTC) - timedelta(hours=2)
    with laptop.db.session() as s:
        return _log(session=s, account_id=account_id, rep_id=None,
                    fields={"checked_in_at": when, "outcome": outcome, "notes": "n"}).id


def add_contact(laptop: Laptop, account_id: str, name: str) -> str:
    from fieldcrm.services.contacts import create_contact

    with laptop.db.session() as s:
        return create_contact(session=s, account_id=account_id, fields={"name": name}).id


def sync_until_ok(laptop: Laptop, tries: int = 40, **kw: Any) -> Any:
    """Sync, retrying while the link fails (as the background scheduler would)."""
    from fieldcrm.errors import SyncError

    last: Exception | None = None
    for _ in range(tries):
        try:
            return laptop.sync(**kw)
        except SyncError as exc:
            if exc.kind not in ("offline", "busy"):
                raise
            last = exc
    raise AssertionError(f"{laptop.username}: still failing after {tries} tries: {last}")


def outbox_mutation_ids(laptop: Laptop, states: tuple[str, ...] = ("acked",)) -> set[str]:
    from fieldcrm.db.models import OutboxRecord

    with laptop.db.session() as s:
        return set(s.scalars(select(OutboxRecord.mutation_id).where(
            OutboxRecord.state.in_(states))))


# --- G12: a loopback TCP proxy that can cut and heal ------------------------------------------


class Proxy:
    """An asyncio TCP proxy on 127.0.0.1 in its own thread; ``cut()`` partitions, ``heal()`` ends it.

    While cut, open connections are reset and new ones are either reset (``mode="reset"``)
    or accepted and left hanging (``mode="blackhole"``, the client's timeout fires).
    """

    def __init__(self, target_port: int) -> None:
        import asyncio
        import threading

        self.target, self.port = target_port, free_port()
        self.cut_mode: str | None = None
        self.loop = asyncio.new_event_loop()
        self._writers: set[Any] = set()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, ready: Any) -> None:
        import asyncio

        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port))
        ready.set()
        self.loop.run_forever()

    async def _pipe(self, reader: Any, writer: Any) -> None:
        try:
            while self.cut_mode is None:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: Any, writer: Any) -> None:
        import asyncio

        if self.cut_mode == "reset":
            writer.transport.abort()
            return
        if self.cut_mode == "blackhole":
            self._writers.add(writer)
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_w}
        await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer))
        self._writers -= {writer, up_w}

    def cut(self, mode: str = "reset") -> None:
        def go() -> None:
            self.cut_mode = mode
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self.loop.call_soon_threadsafe(go)

    def heal(self) -> None:
        def go() -> None:
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()
            self.cut_mode = None

        self.loop.call_soon_threadsafe(go)

    def close(self) -> None:
        """Stop listening, end every connection's pipes (awaited, so none is left to be
        collected after the loop closes), stop the loop and close it."""
        import asyncio

        async def shut() -> None:
            self.server.close()
            for w in list(self._writers):
                w.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()
