"""Background sync: one cycle at a time on the io lane, on start, every N minutes and on demand."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from fieldcrm.errors import Cancelled, SyncError
from fieldcrm.services.sync import SyncSummary, sync_once
from fieldcrm.services.sync_status import (
    RetryAfterMemo,
    SyncInfo,
    get_sync_interval,
    read_sync_info,
    set_sync_interval,
)
from fieldcrm.sync.client import RetryPolicy, SyncClient
from fieldcrm.ui.tasks import ChangeSet, TaskRunner, TaskState

log = logging.getLogger(__name__)

OFFLINE, ONLINE, SYNCING = "offline", "online", "syncing"
AUTH_NEEDED, PROTOCOL_TOO_OLD = "auth-needed", "protocol-too-old"
TOO_OLD = ("This fieldcrm is too old for the server; your changes are kept and will sync "
           "after you update.")
NOT_LOGGED_IN = "Not logged in to a sync server: everything stays on this computer."
MAX_HINT_S = 3600.0
_DATA = ChangeSet(accounts=True, contacts=True, visits=True, territories=True, sales=True,
                  sync=True)
ClientFactory = Callable[[str], SyncClient]


@dataclass(frozen=True)
class SyncState:
    """What the status bar and the Sync panel show."""

    status: str = OFFLINE
    last_sync_at: datetime | None = None
    pending: int = 0
    last_error: str = ""
    logged_in: bool = False
    user: str = ""
    role: str = ""
    server_url: str = ""
    conflicts: int = 0
    quarantined: int = 0
    next_try_s: float | None = None

    @property
    def is_manager(self) -> bool:
        return self.logged_in and self.role == "manager"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter (floored at ``floor_s``), capped; Retry-After wins."""

    base_s: float = 2.0
    cap_s: float = 300.0
    floor_s: float = 1.0

    def delay(self, failures: int, rng: random.Random, hint: float | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, failures - 1))
        jittered = max(self.floor_s, rng.uniform(0, ceiling))
        return max(jittered, min(hint, MAX_HINT_S)) if hint is not None else jittered


@dataclass(frozen=True)
class CycleOutcome:
    """What one cycle left behind (built on the worker; never raises to the GUI)."""

    client: SyncClient | None
    info: SyncInfo | None
    summary: SyncSummary | None = None
    error: SyncError | None = None
    cancelled: bool = False
    retry_after: float | None = None


def default_client(server_url: str) -> SyncClient:
    """A client with short in-cycle retries: the controller does the long backoff itself."""
    from fieldcrm.services.sync_login import make_client

    return make_client(server_url, timeout=30.0, retry=RetryPolicy(attempts=2, max_wait_s=30.0))


class SyncController(QObject):
    """Owns the sync client and the schedule; panels only read its state and ask for syncs."""

    sig_state_changed = Signal(object)
    """The SyncState changed (status, last sync, pending count, error)."""
    sig_synced = Signal(object)
    """A cycle finished without error; carries its SyncSummary."""
    sig_login_needed = Signal()
    """A sync was asked for but there is no usable login (the shell opens the login dialog)."""

    def __init__(self, runner: TaskRunner, *, client_factory: ClientFactory | None = None,
                 backoff: Backoff | None = None, seed: int | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self._factory = client_factory or default_client
        self._owns_http = client_factory is None  # an injected factory keeps its connections
        self._backoff = backoff or Backoff()
        self._rng = random.Random(seed)
        self._state = SyncState()
        self._client: SyncClient | None = None
        self._memos: dict[int, RetryAfterMemo] = {}
        self._lock = threading.Lock()  # one request stream per client (refresh tokens rotate)
        self._task: TaskState | None = None
        self._again = False
        self._failures = 0
        self._interval_min = 5
        self._prev_status = OFFLINE
        self._stopped = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)
        runner.sig_changes_applied.connect(self._on_runner_changes_applied)

    # -- public API ----------------------------------------------------------------------------
    @property
    def state(self) -> SyncState:
        return self._state

    @property
    def interval_min(self) -> int:
        return self._interval_min

    def is_running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Read the saved login and interval; sync at once when logged in."""
        self._stopped = False

        def read(session: Any) -> tuple[SyncInfo, int]:
            return read_sync_info(session=session), get_sync_interval(session=session)

        self.runner.query(read, self._on_started, on_error=self._on_read_failed)

    def refresh(self) -> None:
        """Re-read the saved login and the backlog from the database (no sync)."""
        if self._task is not None or self._stopped:
            return  # the cycle reads the backlog itself when it ends
        self.runner.query(lambda s: read_sync_info(session=s), self._on_info_loaded,
                          key=f"sync-info:{id(self)}",
                          on_error=lambda exc: log.warning("Sync backlog read failed: %s", exc))

    def sync_now(self) -> bool:
        """Start a cycle now (or right after the running one); False without a login."""
        if not self._state.logged_in:
            self._set(status=AUTH_NEEDED, last_error=NOT_LOGGED_IN)
            self.sig_login_needed.emit()
            return False
        if self._task is not None:
            self._again = True
            return True
        self._timer.stop()
        client = self._client or self._factory(self._state.server_url)
        self._client = client
        memo = self._memo(client)
        self._prev_status = self._state.status
        self._task = self.runner.call(lambda st: self._cycle(client, memo, st),
                                      self._on_cycle_done, on_error=self._on_cycle_failed,
                                      with_state=True)
        self._set(status=SYNCING, next_try_s=None)
        return True

    def cancel(self) -> None:
        """Stop the running cycle between two requests (its work so far is kept)."""
        self._again = False
        if self._task is not None:
            self._task.cancel()

    def stop(self) -> None:
        """Cancel, stop the schedule and close the connection (call before runner.shutdown)."""
        self._stopped = True
        self.cancel()
        self._timer.stop()
        self._state = replace(self._state, next_try_s=None)
        if self._client is not None and self._task is None:
            self._close(self._client)
            self._client = None

    def set_interval(self, minutes: int) -> None:
        """Store a new interval and reschedule the next background sync."""
        def save(session: Any) -> int:
            return set_sync_interval(session=session, minutes=minutes)

        self.runner.write(save, ChangeSet(settings=True), on_done=self._on_interval_saved)

    def login(self, server_url: str, user: str, password: str, *,
              on_done: Callable[[Any], None], on_error: Callable[[BaseException], None]) -> None:
        """Log in on the io lane (keyring checked first); on success adopt the client and sync."""
        from fieldcrm.services.sync_login import login

        def job() -> tuple[SyncClient, Any, SyncInfo]:
            client = self._factory(server_url)
            try:
                pair = login(self.runner.db, client, user, password)
            except BaseException:
                self._close(client)
                raise
            with self.runner.db.session() as s:
                return client, pair, read_sync_info(session=s)

        def done(result: tuple[SyncClient, Any, SyncInfo]) -> None:
            client, pair, info = result
            self._adopt(client, info)
            on_done(pair)
            self.sync_now()

        self.runner.call(job, done, on_error=on_error)

    def call_with_client(self, fn: Callable[[SyncClient], Any], on_done: Callable[[Any], None],
                         on_error: Callable[[BaseException], None]) -> bool:
        """Run ``fn(client)`` on the io lane, never beside a cycle (manager actions)."""
        if not self._state.logged_in:
            self.sig_login_needed.emit()
            return False
        client = self._client or self._factory(self._state.server_url)
        self._client = client

        def job() -> Any:
            with self._lock:
                client.cancelled = lambda: False
                self._resume(client)
                return fn(client)

        self.runner.call(job, on_done, on_error=on_error)
        return True

    # -- the cycle (worker thread) ---------------------------------------------------------------
    def _resume(self, client: SyncClient) -> None:
        """Give a fresh client the saved login from the keyring (under the lock, once)."""
        if client.tokens is None and not client.refresh_token:
            from fieldcrm.services.sync_login import resume

            resume(self.runner.db, client)

    def _cycle(self, client: SyncClient, memo: RetryAfterMemo, task: TaskState) -> CycleOutcome:
        outcome: dict[str, Any] = {}
        with self._lock:
            try:
                self._resume(client)
                outcome["summary"] = sync_once(db=self.runner.db, client=client,
                                               cancelled=task.is_cancelled)
            except SyncError as exc:
                outcome.update(error=exc, retry_after=memo.take())
            except Cancelled:
                outcome["cancelled"] = True
            except Exception as exc:  # never let a worker's error escape (STYLE §9)
                log.exception("Sync cycle failed")
                outcome["error"] = SyncError(f"Sync stopped by an unexpected problem: {exc}",
                                             kind="server")
            finally:
                client.cancelled = lambda: False
        return CycleOutcome(client=client, info=self._read_info(), **outcome)

    def _read_info(self) -> SyncInfo | None:
        try:
            with self.runner.db.session() as s:
                return read_sync_info(session=s)
        except Exception:  # the local DB is busy or gone: the state keeps its old figures
            log.warning("Could not read the sync backlog", exc_info=True)
            return None

    def _close(self, client: SyncClient) -> None:
        self._memos.pop(id(client), None)
        if self._owns_http:
            client.http.close()

    def _memo(self, client: SyncClient) -> RetryAfterMemo:
        memo = self._memos.get(id(client))
        if memo is None:
            memo = self._memos[id(client)] = RetryAfterMemo(client)
        return memo

    # -- GUI thread ------------------------------------------------------------------------------
    def _adopt(self, client: SyncClient, info: SyncInfo) -> None:
        old, self._client = self._client, client
        if old is not None and old is not client and self._task is None:
            self._close(old)
        self._failures = 0
        self._apply_info(info, status=ONLINE, last_error="")

    def _on_cycle_done(self, out: CycleOutcome) -> None:
        self._task = None
        if self._stopped:  # the app is closing: no broadcasts, no new work
            return
        if out.client is not self._client and out.client is not None:
            self._close(out.client)  # a login replaced it while it ran
        if out.info is not None:
            self._apply_info(out.info)
        if out.summary is not None:
            self._succeeded(out.summary)
        elif out.error is not None:
            self._failed(out.error, out.retry_after)
        else:  # cancelled: back to how it was, next try at the usual time
            self._set(status=self._prev_status)
            self._schedule(self._interval_min * 60.0)
        if self._again:
            self._again = False
            self.sync_now()

    def _on_cycle_failed(self, exc: BaseException) -> None:
        log.error("Sync job failed outside the cycle: %r", exc)
        self._task = None
        self._failed(SyncError(f"Sync stopped by an unexpected problem: {exc}", kind="server"))

    def _succeeded(self, summary: SyncSummary) -> None:
        self._failures = 0
        note = "; ".join(summary.warnings)
        self._set(status=ONLINE, last_error=note)
        self._schedule(self._interval_min * 60.0)
        changed = (summary.applied or summary.removed or summary.purged or summary.resynced
                   or summary.mismatched or summary.revoked or summary.rejected
                   or summary.quarantined or summary.conflicts)
        self.runner.sig_changes_applied.emit(_DATA if changed else ChangeSet(sync=True))
        self.sig_synced.emit(summary)

    def _failed(self, exc: SyncError, hint: float | None = None) -> None:
        if exc.kind in ("auth", "keyring"):
            if self._client is not None:
                self._close(self._client)
            self._client = None  # the next attempt starts from a fresh login
            self._set(status=AUTH_NEEDED, last_error=str(exc), next_try_s=None)
        elif exc.kind == "protocol":
            self._set(status=PROTOCOL_TOO_OLD, last_error=TOO_OLD, next_try_s=None)
        else:
            self._failures += 1
            wait = self._backoff.delay(self._failures, self._rng, hint)
            self._set(status=OFFLINE, last_error=str(exc))
            self._schedule(wait)
        self.runner.sig_changes_applied.emit(ChangeSet(sync=True))

    def _schedule(self, seconds: float) -> None:
        if self._stopped:
            return
        self._timer.start(max(1, int(seconds * 1000)))
        self._set(next_try_s=seconds)

    def _apply_info(self, info: SyncInfo, **changes: Any) -> None:
        self._set(logged_in=info.logged_in, user=info.user, role=info.role,
                  server_url=info.server_url, last_sync_at=info.last_sync_at,
                  pending=info.pending, conflicts=info.conflicts,
                  quarantined=info.quarantined, **changes)

    def _set(self, **changes: Any) -> None:
        new = replace(self._state, **changes)
        if new != self._state:
            self._state = new
            self.sig_state_changed.emit(new)

    # -- slots -----------------------------------------------------------------------------------
    def _on_started(self, result: tuple[SyncInfo, int]) -> None:
        info, self._interval_min = result
        if info.logged_in:
            self._apply_info(info)
            self.sync_now()
        else:
            self._apply_info(info, status=AUTH_NEEDED, last_error=NOT_LOGGED_IN)

    def _on_read_failed(self, exc: BaseException) -> None:
        log.warning("Could not read the sync login: %s", exc)
        self._set(status=OFFLINE, last_error=str(exc))

    def _on_interval_saved(self, minutes: int) -> None:
        self._interval_min = minutes
        if self._state.status == ONLINE and self._task is None:
            self._schedule(minutes * 60.0)

    @Slot()
    def _on_timer_timeout(self) -> None:
        if self._state.status not in (AUTH_NEEDED, PROTOCOL_TOO_OLD):
            self.sync_now()

    @Slot(object)
    def _on_runner_changes_applied(self, changes: ChangeSet) -> None:
        self.refresh()

    def _on_info_loaded(self, info: SyncInfo) -> None:
        if self._task is not None:
            return
        if not info.logged_in and self._state.status == OFFLINE:
            self._apply_info(info, status=AUTH_NEEDED, last_error=NOT_LOGGED_IN)
        else:
            self._apply_info(info)
