"""G1: the server process is SIGKILLed at random moments mid-sync; nothing acked is lost."""

from __future__ import annotations

import os
from typing import Any

import httpx

from tests.sync.client_helpers import kill_scenario, rep_with_territory

pytest_plugins = ["tests.sync.conftest_client"]
# CI sizes; bench/sync_soak.py runs the same scenario for 200 / 2,000 iterations.
ITERATIONS = {"sqlite": 20, "postgres": 10}


def test_kill_server_mid_batch(
    make_harness: Any, server_process: Any, laptops: Any, db_url: str
) -> None:
    backend = "postgres" if db_url.startswith("postgresql") else "sqlite"
    iterations = int(os.environ.get("FIELDCRM_G1_ITERATIONS", ITERATIONS[backend]))
    seed = int(os.environ.get("FIELDCRM_G1_SEED", "7"))
    print(f"G1 seed {seed}, {iterations} iterations ({backend})")
    h = make_harness()
    rep_with_territory(h, "anna")
    server = server_process()
    http = httpx.Client(timeout=httpx.Timeout(5.0))
    rep = laptops("anna", http, base_url=server.base_url)
    figures = kill_scenario(h, server, rep, iterations=iterations, seed=seed, max_delay=1.5)
    print(figures)
    assert figures["kills"] == iterations
    assert figures["failed_syncs"] > 0  # the kills really cut syncs
    http.close()
