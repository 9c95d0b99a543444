"""When to sync in the background: on start, every N minutes while online, on "Sync now",
with exponential backoff (full jitter, 1 s to 5 min) after failures; one cycle at a time.

Qt-free: the UI owns a QTimer that calls :meth:`AutoSync.due` every few seconds and, when it
says so, runs :meth:`AutoSync.run` on the task runner's io lane (never on the UI thread).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fieldcrm.errors import Cancelled, SyncError
from fieldcrm.services.sync import SyncSummary

STOPPED_KINDS = ("auth", "protocol", "keyring")
"""Failures a retry cannot fix: background sync waits for the user (log in, update)."""


@dataclass
class SyncStatus:
    """What the status bar shows."""

    state: str = "idle"  # idle | running | offline | error | stopped
    message: str = ""
    last_ok_at: float | None = None
    next_at: float | None = None
    failures: int = 0
    last_summary: SyncSummary | None = None


@dataclass
class AutoSync:
    """Decides when the next background cycle runs and runs one at a time."""

    every_s: float = 15 * 60
    base_s: float = 1.0
    cap_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    status: SyncStatus = field(default_factory=SyncStatus)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _asked: bool = True  # "on start"

    def sync_now(self) -> None:
        """The user pressed "Sync now" (also clears a stopped state after a new login)."""
        self._asked = True
        if self.status.state == "stopped":
            self.status.state = "idle"

    def due(self) -> bool:
        """True when a cycle should start now."""
        if self.status.state in ("running", "stopped"):
            return False
        if self._asked:
            return True
        return self.status.next_at is not None and self.clock() >= self.status.next_at

    def run(self, cycle: Callable[[], SyncSummary]) -> SyncStatus:
        """Run ``cycle`` unless one is already running; update the status and the next time."""
        if not self._lock.acquire(blocking=False):
            return self.status
        try:
            self._asked = False
            self.status.state = "running"
            try:
                summary = cycle()
            except Cancelled:
                self._after(ok=False, state="idle", message="cancelled")
            except SyncError as exc:
                self._failed(exc)
            else:
                self.status.last_summary = summary
                self.status.last_ok_at = self.clock()
                self._after(ok=True, state="idle", message=summary.text())
            return self.status
        finally:
            self._lock.release()

    def _failed(self, exc: SyncError) -> None:
        if exc.kind in STOPPED_KINDS:
            self.status.state, self.status.message = "stopped", str(exc)
            self.status.next_at = None
            return
        self._after(ok=False, state="offline" if exc.kind == "offline" else "error",
                    message=str(exc))

    def _after(self, *, ok: bool, state: str, message: str) -> None:
        self.status.state, self.status.message = state, message
        if ok:
            self.status.failures = 0
            self.status.next_at = self.clock() + self.every_s
            return
        self.status.failures += 1
        delay = self.rng.uniform(0, min(self.cap_s, self.base_s * 2 ** self.status.failures))
        self.status.next_at = self.clock() + max(self.base_s, delay)
