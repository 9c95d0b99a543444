"""Client-side sync fixtures: an in-memory keyring and laptops (local DB + SyncClient)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
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


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


class Laptop:
    """A rep's laptop: its own SQLite file and a SyncClient over ``http``."""

    def __init__(self, folder: Path, username: str, http: Any, *, base_url: str = "",
                 login: bool = True, **client_kw: Any) -> None:
        from fieldcrm.db.engine import open_database
        from fieldcrm.sync.client import RetryPolicy, SyncClient

        self.username = username
        self.path = folder / f"{username}-{next(_serial)}.db"
        self.db = open_database(self.path)
        client_kw.setdefault("retry", RetryPolicy(attempts=2, base_s=0.01, max_wait_s=0.05))
        self.client = SyncClient(http, base_url, seed=1, **client_kw)
        if login:
            self.login()

    def login(self, password: str = PASSWORD) -> Any:
        from fieldcrm.services.sync_login import login

        return login(self.db, self.client, self.username, password)

    def sync(self, **kw: Any) -> Any:
        from fieldcrm.services.sync import sync_once

        return sync_once(db=self.db, client=self.client, **kw)

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
            return create_account(session=s, fields={"name": name, "lon": lon, "lat": lat,
                                                     **fields}, strict=False).id

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


@pytest.fixture
def laptops(tmp_path: Path, memory_keyring: MemoryKeyring) -> Iterator[Any]:
    """Factory ``laptops(username, http, **kw) -> Laptop``; closes them all at the end."""
    made: list[Laptop] = []

    def make(username: str, http: Any, **kw: Any) -> Laptop:
        laptop = Laptop(tmp_path, username, http, **kw)
        made.append(laptop)
        return laptop

    yield make
    for laptop in made:
        laptop.close()
