"""The task runner: work off the GUI thread, newest-wins queries, errors, progress, cancel, changes."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text

from fieldcrm.errors import Cancelled, InvalidInput
from fieldcrm.services import accounts as A
from fieldcrm.ui.tasks import ChangeSet, TaskRunner, TaskState


@pytest.fixture
def runner(db: Any, qtbot: Any) -> Any:
    r = TaskRunner(db)
    yield r
    r.shutdown()


def test_ops_run_off_the_gui_thread_and_results_arrive_on_it(runner: TaskRunner, qtbot: Any) -> None:
    gui = threading.get_ident()
    seen: dict[str, int] = {}

    def op(session: Any) -> int:
        seen["worker"] = threading.get_ident()
        return int(session.execute(text("SELECT 41 + 1")).scalar())

    got: list[int] = []
    runner.query(op, lambda value: (got.append(value), seen.setdefault("done", threading.get_ident())))
    qtbot.waitUntil(lambda: got == [42])
    assert seen["worker"] != gui and seen["done"] == gui


def test_only_the_newest_query_of_a_key_delivers(runner: TaskRunner, qtbot: Any) -> None:
    release = threading.Event()
    got: list[str] = []

    def slow(session: Any) -> str:
        release.wait(5)
        return "old"

    runner.query(slow, got.append, key="search")
    runner.query(lambda session: "new", got.append, key="search")
    release.set()
    qtbot.waitUntil(lambda: "new" in got)
    qtbot.wait(50)
    assert got == ["new"]


def test_a_write_broadcasts_its_changes_and_errors_go_to_on_error(runner: TaskRunner, qtbot: Any, db: Any) -> None:
    with qtbot.waitSignal(runner.sig_changes_applied) as blocker:
        runner.write(lambda s: A.create_account(session=s, fields={"name": "Boden Bil AB"}),
                     ChangeSet(accounts=True))
    assert blocker.args == [ChangeSet(accounts=True)]
    errors: list[BaseException] = []
    changes: list[Any] = []
    runner.sig_changes_applied.connect(changes.append)
    runner.write(lambda s: A.create_account(session=s, fields={"name": ""}), ChangeSet(accounts=True),
                 on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors))
    assert isinstance(errors[0], InvalidInput) and changes == []  # a failed write announces nothing
    with db.session() as s:
        assert A.query_accounts(session=s, flt=A.AccountFilter()).total == 1


def test_progress_reaches_the_gui_and_cancel_is_silent(runner: TaskRunner, qtbot: Any) -> None:
    started = threading.Event()
    progress: list[tuple[int, int, str]] = []
    runner.sig_progress.connect(lambda state, done, total, label: progress.append((done, total, label)))
    errors: list[BaseException] = []
    done: list[Any] = []
    busy: list[bool] = []
    runner.sig_busy.connect(busy.append)

    def job(session: Any, state: TaskState) -> str:
        state.set_progress(1, 3, "Step one")
        started.set()
        while not state.is_cancelled():
            threading.Event().wait(0.01)
        state.set_progress(2, 3)  # raises Cancelled
        return "unreachable"

    state = runner.query(job, done.append, with_state=True, on_error=errors.append)
    assert started.wait(5)
    state.cancel()
    qtbot.waitUntil(lambda: (1, 3, "Step one") in progress)
    qtbot.waitUntil(lambda: busy == [True, False])  # the job ended
    assert done == [] and errors == []  # Cancelled is neither a result nor an error to show
    assert issubclass(Cancelled, Exception)


def test_shutdown_drops_jobs_that_never_started(db: Any, qtbot: Any) -> None:
    r = TaskRunner(db)
    release = threading.Event()
    got: list[Any] = []
    errors: list[BaseException] = []
    r.write(lambda s: release.wait(5), ChangeSet(), on_done=got.append, on_error=errors.append)
    r.write(lambda s: "never", ChangeSet(), on_done=got.append, on_error=errors.append)
    release.set()
    r.shutdown()
    qtbot.wait(100)
    assert "never" not in got and errors == []


def test_cyclic_garbage_is_collected_on_the_gui_thread(qtbot: Any) -> None:
    import gc
    import weakref

    from fieldcrm.ui.widgets.qtfix import MainThreadGC

    class Node:
        pass

    collector = MainThreadGC(interval_ms=10)
    assert not gc.isenabled()  # no collection may start on a worker thread
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle only the collector can free
    gone = weakref.ref(a)
    del a, b
    keep = [Node() for _ in range(gc.get_threshold()[0] + 10)]  # push generation 0 past its threshold
    qtbot.waitUntil(lambda: gone() is None, timeout=5000)
    del keep
    collector.deleteLater()


def test_requests_after_shutdown_are_dropped_quietly(db: Any, qtbot: Any) -> None:
    r = TaskRunner(db)
    r.shutdown()
    got: list[Any] = []
    r.query(lambda s: 1, got.append)  # e.g. a timer firing while the window closes
    r.write(lambda s: 2, ChangeSet(accounts=True), on_done=got.append)
    qtbot.wait(50)
    assert got == []
