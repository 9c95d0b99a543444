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
        **client_kw: Any,
    ) -> None:
        from fieldcrm.db.engine import open_database
        from fieldcrm.sync.client import RetryPolicy, SyncClient

        self.username = username
        self.syncs = 0
        self.path = folder / f"{username}-{next(_serial)}.db"
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


class ServerProcess:
    """``fieldcrm-server serve`` as its own process on 127.0.0.1, killable with SIGKILL."""

    def __init__(self, url: str, log: Path, **env: Any) -> None:
        self.url, self.log, self.port = url, log, free_port()
        self.env = {f"FIELDCRM_SERVER_{k.upper()}": str(v) for k, v in env.items()}
        self.proc: Any = None
        self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        import os
        import subprocess
        import sys
        import time

        import httpx

        code = "import sys; from fieldcrm.sync.server.cli import main; sys.exit(main())"
        env = {**os.environ, **self.env}
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, "--db", self.url, "serve", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.base_url + "/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not start in time")

    def kill(self) -> None:
        import signal

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except Exception:
                self.kill()


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
