"""Client-side sync fixtures (import with ``pytest_plugins = ["tests.sync.conftest_client"]``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest

from tests.sync.client_helpers import Laptop, MemoryKeyring, ServerProcess, Zygote


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


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


@pytest.fixture(scope="session")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    z = Zygote(tmp_path_factory.mktemp("zygote") / "server.log")
    yield z
    z.close()


@pytest.fixture
def server_process(db_url: str, zygote: Zygote) -> Iterator[Any]:
    """Factory ``server_process(**settings) -> ServerProcess`` on the test's database."""
    made: list[ServerProcess] = []

    def make(**settings: Any) -> ServerProcess:
        proc = ServerProcess(zygote, db_url, **settings)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        proc.stop()


@pytest.fixture
def lite(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """An in-process server on a SQLite file (fast protocol tests; not parametrised)."""
    import shutil

    from tests.sync.conftest import Harness

    target = tmp_path / "server.db"
    shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
    h = Harness(f"sqlite:///{target}")
    yield h
    h.close()
