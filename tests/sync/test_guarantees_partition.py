"""G12: liveness after partitions (a loopback TCP proxy cuts and heals the link)."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import httpx

from fieldcrm.errors import SyncError
from tests.sync.client_helpers import (
    Proxy,
    ServerProcess,
    assert_converged,
    log_visit,
    rep_with_territory,
    sync_until_ok,
)

pytest_plugins = ["tests.sync.conftest_client"]


def test_partitions_never_wedge_the_outbox(srv: Any, zygote: Any, laptops: Any) -> None:
    seed = 12
    print(f"G12 seed {seed}")
    rng = random.Random(seed)
    rep_with_territory(srv, "anna")
    server = ServerProcess(zygote, str(srv.settings.db))
    proxy = Proxy(server.port)
    http = httpx.Client(timeout=httpx.Timeout(1.0))
    rep = laptops("anna", http, base_url=proxy.base_url)
    try:
        acc = rep.create_account("Partitioned")
        sync_until_ok(rep)
        for i in range(4):
            for _ in range(rng.randint(3, 15)):
                log_visit(rep, acc)
            rep.update_account(acc, notes=f"round {i}")
            mode = rng.choice(["reset", "blackhole"])
            cut_at, length = rng.uniform(0.0, 0.3), rng.uniform(0.5, 1.5)
            threading.Timer(cut_at, proxy.cut, args=(mode,)).start()
            try:
                rep.sync()
            except SyncError as exc:
                assert exc.kind == "offline"
            time.sleep(max(0.0, cut_at + length - 0.5))
            proxy.heal()
            healed = time.monotonic()
            summary = sync_until_ok(rep)
            assert time.monotonic() - healed < 60
            assert summary.pending == 0 and not summary.mismatched
            assert set(rep.states()) == {"acked"}  # nothing left inflight
        assert_converged(srv, rep)
    finally:
        http.close()
        proxy.close()
        server.stop()
