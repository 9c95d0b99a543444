"""Test setup shared by every test: offscreen Qt, isolated data folders, a real SQLite file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if hasattr(os, "geteuid") and os.geteuid() == 0:  # Chromium refuses to run as root with its sandbox
    flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
    if "--no-sandbox" not in flags:
        os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " --no-sandbox").strip()


def pytest_configure(config: pytest.Config) -> None:
    """Install the PySide6 workarounds before any test emits a signal, and keep the cyclic
    garbage collector off worker threads (it would destroy Qt objects there and crash)."""
    import gc

    from fieldcrm.ui.widgets import qtfix

    qtfix.install()
    gc.disable()


_tests_run = 0


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_main_thread() -> Iterator[None]:
    """Collect after each test, here on the main thread (automatic collection is off).

    The young generations after every test (cheap), everything every 50 tests (a full
    collection after each of 600 tests would cost minutes).
    """
    import gc

    global _tests_run
    yield
    _tests_run += 1
    gc.collect() if _tests_run % 50 == 0 else gc.collect(1)


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the user's real data, config and keyring folders."""
    home = tmp_path_factory.mktemp("home")
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("FIELDCRM_DATA_DIR", str(home / "fieldcrm"))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[object]:
    """A freshly migrated local database in a real SQLite file."""
    from fieldcrm.db.engine import open_database

    database = open_database(tmp_path / "fieldcrm.db")
    yield database
    database.close()


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 200-account demo database per test run (seed 3); tests work on copies of it."""
    from fieldcrm.db.engine import open_database
    from fieldcrm.services.demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    database = open_database(path)
    with database.session() as s:
        build_demo(session=s, accounts=200, seed=3)
    database.close()
    return path


@pytest.fixture
def demo_db(demo_file: Path, tmp_path: Path) -> Iterator[object]:
    """A private copy of the shared demo database, migrated and open."""
    import shutil

    from fieldcrm.db.engine import open_database

    for suffix in ("", "-wal", "-shm"):
        src = demo_file.with_name(demo_file.name + suffix)
        if src.exists():
            shutil.copy(src, tmp_path / f"demo-copy.db{suffix}")
    database = open_database(tmp_path / "demo-copy.db")
    yield database
    database.close()
