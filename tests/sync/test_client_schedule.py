"""Background sync timing: on start, every N minutes, Sync now, backoff, one cycle at a time."""

from __future__ import annotations

import random
import threading

from fieldcrm.errors import SyncError
from fieldcrm.services.sync import SyncSummary
from fieldcrm.services.sync_schedule import AutoSync


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_start_interval_backoff_and_stop() -> None:
    clock = Clock()
    auto = AutoSync(every_s=600, clock=clock, rng=random.Random(1))
    assert auto.due()  # on start
    auto.run(SyncSummary)
    assert not auto.due() and auto.status.next_at == 600
    clock.now = 599
    assert not auto.due()
    clock.now = 600
    assert auto.due()

    def offline() -> SyncSummary:
        raise SyncError("no network", kind="offline")

    waits = []
    for _ in range(12):
        auto.run(offline)
        waits.append(auto.status.next_at - clock.now)
        assert auto.status.state == "offline"
    assert all(1.0 <= w <= 300 for w in waits) and max(waits) > 30  # grows, capped at 5 min
    auto.sync_now()
    assert auto.due()
    auto.run(SyncSummary)
    assert auto.status.failures == 0 and auto.status.state == "idle"

    def refused() -> SyncSummary:
        raise SyncError("Wrong user name or password.", kind="auth")

    auto.sync_now()
    auto.run(refused)
    clock.now = 10**6
    assert auto.status.state == "stopped" and not auto.due()  # waits for the user
    auto.sync_now()
    assert auto.due()


def test_one_cycle_at_a_time() -> None:
    auto = AutoSync()
    inside, release = threading.Event(), threading.Event()
    calls = []

    def slow() -> SyncSummary:
        calls.append(1)
        inside.set()
        release.wait(5)
        return SyncSummary()

    t = threading.Thread(target=auto.run, args=(slow,))
    t.start()
    inside.wait(5)
    assert not auto.due()
    auto.run(slow)  # skipped: the first is still running
    release.set()
    t.join()
    assert calls == [1]
