"""Background work for the UI: one task runner with lanes, ops, progress/cancel and change broadcasts.

Widgets never run SQL or HTTP themselves: they call ``runner.query(...)`` or ``runner.write(...)``
with a plain function that takes a SQLAlchemy ``Session`` (and, if it wants, a :class:`TaskState`)
and returns DTOs. The function runs on a worker thread; ``on_done`` runs on the GUI thread.

Lanes (STYLE.md §5): ``write`` has one worker, so writes are serialised; ``read`` has two, so a
slow query never waits behind a write for long (SQLite WAL lets readers run beside a writer);
``io`` runs network and geocoding work. Op callables must never touch widgets.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QWidget

from fieldcrm.db.engine import Database
from fieldcrm.errors import Cancelled
from fieldcrm.ui.widgets import qtfix

qtfix.install()  # PySide6 6.12.0 + Python 3.11: each emit() drops a reference to True

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChangeSet:
    """What a write changed; panels refresh themselves from the flags they care about."""

    accounts: bool = False
    contacts: bool = False
    visits: bool = False
    territories: bool = False
    sales: bool = False
    settings: bool = False
    sync: bool = False

    def __or__(self, other: ChangeSet) -> ChangeSet:
        return ChangeSet(**{f.name: getattr(self, f.name) or getattr(other, f.name) for f in fields(self)})

    @classmethod
    def everything(cls) -> ChangeSet:
        return cls(**{f.name: True for f in fields(cls)})


class TaskState:
    """Progress and cancellation shared between a running job and the GUI."""

    def __init__(self, relay: _Relay | None = None, label: str = "") -> None:
        self._cancel = threading.Event()
        self._relay = relay
        self.label = label

    def set_progress(self, done: int, total: int, label: str | None = None) -> None:
        """Report progress (thread-safe); raises Cancelled if the user cancelled."""
        if label is not None:
            self.label = label
        if self._relay is not None:
            self._relay.sig_progress.emit(self, done, total, self.label)
        if self._cancel.is_set():
            raise Cancelled("Cancelled.")

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()


class _Relay(QObject):
    """Carries results from worker threads to the GUI thread (queued signal delivery)."""

    sig_result = Signal(object, object)
    """(ticket, future) of a finished job, delivered on the GUI thread."""
    sig_progress = Signal(object, int, int, str)
    """(state, done, total, label) from a running job."""


class TaskRunner(QObject):
    """Runs ops off the GUI thread and broadcasts what writes changed."""

    sig_changes_applied = Signal(object)
    """A write finished; carries its ChangeSet."""
    sig_busy = Signal(bool)
    """True while any op is running (for a status-bar spinner)."""
    sig_progress = Signal(object, int, int, str)
    """(state, done, total, label) of a long job that reports progress."""

    def __init__(self, db: Database, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self._lanes = {
            "write": ThreadPoolExecutor(1, thread_name_prefix="fieldcrm-write"),
            "read": ThreadPoolExecutor(2, thread_name_prefix="fieldcrm-read"),
            "io": ThreadPoolExecutor(4, thread_name_prefix="fieldcrm-io"),
        }
        self._relay = _Relay()
        self._relay.sig_result.connect(self._on_relay_result, Qt.ConnectionType.QueuedConnection)
        self._relay.sig_progress.connect(self.sig_progress, Qt.ConnectionType.QueuedConnection)
        self._generation: dict[str, int] = {}
        self._tickets = itertools.count()
        self._waiting: dict[int, tuple[Any, ...]] = {}
        self._closed = False
        self._running = 0
        self._lock = threading.Lock()

    # -- public API ------------------------------------------------------------------
    def query(self, op: Callable[..., Any], on_done: Callable[[Any], None], *,
              parent: QWidget | None = None, on_error: Callable[[BaseException], None] | None = None,
              key: str | None = None, with_state: bool = False, lane: str = "read") -> TaskState:
        """Run ``op(session[, state])`` on a worker; call ``on_done(result)`` on the GUI thread.

        With ``key``, only the newest query of that key delivers (older results are dropped),
        which is what a search box typing ahead needs.
        """
        return self._submit(lane, op, on_done, parent, on_error, key, with_state, None)

    def write(self, op: Callable[..., Any], changes: ChangeSet, *,
              on_done: Callable[[Any], None] | None = None, parent: QWidget | None = None,
              on_error: Callable[[BaseException], None] | None = None,
              with_state: bool = False) -> TaskState:
        """Run a writing ``op(session[, state])`` on the single write lane, then broadcast ``changes``."""
        return self._submit("write", op, on_done, parent, on_error, None, with_state, changes)

    def call(self, fn: Callable[..., Any], on_done: Callable[[Any], None], *,
             parent: QWidget | None = None, on_error: Callable[[BaseException], None] | None = None,
             with_state: bool = False) -> TaskState:
        """Run a function that needs no database (network, geocoding, solving) on the io lane."""
        state = TaskState(self._relay)

        def job() -> Any:
            return fn(state) if with_state else fn()

        self._start(self._lanes["io"], job, on_done, parent, on_error, None, None)
        return state

    def shutdown(self) -> None:
        """Cancel what has not started and wait for running ops to finish; later requests are dropped."""
        self._closed = True
        for lane in self._lanes.values():
            lane.shutdown(wait=True, cancel_futures=True)

    # -- internals -------------------------------------------------------------------
    def _submit(self, lane: str, op: Callable[..., Any], on_done: Callable[[Any], None] | None,
                parent: QWidget | None, on_error: Callable[[BaseException], None] | None,
                key: str | None, with_state: bool, changes: ChangeSet | None) -> TaskState:
        state = TaskState(self._relay)

        def job() -> Any:
            with self.db.session() as session:
                return op(session, state) if with_state else op(session)

        gen = None
        if key is not None:
            gen = self._generation.get(key, 0) + 1
            self._generation[key] = gen
        self._start(self._lanes[lane], job, on_done, parent, on_error, (key, gen), changes)
        return state

    def _start(self, pool: ThreadPoolExecutor, job: Callable[[], Any],
               on_done: Callable[[Any], None] | None, parent: QWidget | None,
               on_error: Callable[[BaseException], None] | None,
               keygen: tuple[str | None, int | None] | None, changes: ChangeSet | None) -> None:
        if self._closed:
            return  # the app is closing: a late request (a timer, a signal) is dropped
        self._set_running(+1)
        # Callbacks (often bound methods of widgets) stay here on the GUI thread; only a ticket
        # crosses to the worker, so a worker can never drop the last reference to a widget.
        ticket = next(self._tickets)
        self._waiting[ticket] = (on_done, parent, on_error, keygen, changes)
        relay = self._relay

        def finished(future: Future[Any]) -> None:
            relay.sig_result.emit(ticket, future)  # worker thread: queued to the GUI thread

        try:
            pool.submit(job).add_done_callback(finished)
        except RuntimeError:  # shut down between the check above and now
            self._waiting.pop(ticket, None)
            self._set_running(-1)

    @Slot(object, object)
    def _on_relay_result(self, ticket: int, future: Future[Any]) -> None:
        waiting = self._waiting.pop(ticket, None)
        if waiting is not None:
            self._deliver(future, *waiting)

    def _deliver(self, future: Future[Any], on_done: Callable[[Any], None] | None,
                 parent: QWidget | None, on_error: Callable[[BaseException], None] | None,
                 keygen: tuple[str | None, int | None] | None, changes: ChangeSet | None) -> None:
        self._set_running(-1)
        key, gen = keygen or (None, None)
        if future.cancelled():
            return  # the runner shut down before the job started
        if key is not None and self._generation.get(key) != gen:
            return  # a newer query of the same key superseded this one
        exc = future.exception()
        if exc is not None:
            if isinstance(exc, Cancelled):
                return
            if on_error is not None:
                on_error(exc)
            else:
                from fieldcrm.ui.errors import show_error

                show_error(parent, exc)
            return
        if changes is not None:
            self.sig_changes_applied.emit(changes)
        if on_done is not None:
            on_done(future.result())

    def _set_running(self, delta: int) -> None:
        with self._lock:
            before = self._running
            self._running += delta
            after = self._running
        if (before == 0) != (after == 0):
            self.sig_busy.emit(after > 0)
