"""Fixtures for the real-QtWebEngine map tests: sample data, a shared loaded map, JS helpers."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Must be set before Qt is imported (tests/conftest.py does the same; keep this module standalone).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if hasattr(os, "geteuid") and os.geteuid() == 0 and "--no-sandbox" not in os.environ.get(
    "QTWEBENGINE_CHROMIUM_FLAGS", ""
):
    os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = (
        os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "") + " --no-sandbox"
    ).strip()

from fieldcrm.geo.maps import MapPoints, MapTerritory  # noqa: E402
from fieldcrm.ui.app import pin_refcounts  # noqa: E402

# PySide6 6.12 on Python 3.11 drops references to True/None on emits and void calls.
pin_refcounts()

STATUSES = ("lead", "prospect", "customer", "former")
READY_TIMEOUT_MS = 30_000


def sample_points(n: int, seed: int = 7) -> MapPoints:
    """``n`` accounts scattered over 59-61 N, 17-19 E (around Uppsala)."""
    r = random.Random(seed)
    return MapPoints(
        ids=[f"acc-{i:05d}" for i in range(n)],
        names=[f"Account {i} <&>" for i in range(n)],
        lats=[59.0 + 2.0 * r.random() for _ in range(n)],
        lons=[17.0 + 2.0 * r.random() for _ in range(n)],
        statuses=[STATUSES[i % 4] for i in range(n)],
        tiers=["ABC"[i % 3] for i in range(n)],
        days_overdue=[r.choice([None, -5, 0, 3, 14, 15, 60]) for _ in range(n)],
        precise=[i % 5 != 0 for i in range(n)],
    )


def sample_territories() -> list[MapTerritory]:
    def box(w: float, s: float, e: float, n: float) -> dict[str, Any]:
        return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}

    return [
        MapTerritory("ter-north", "North Uppland", "#d62728", box(17.0, 60.0, 19.0, 61.0)),
        MapTerritory("ter-south", "South Uppland", "#1f77b4", box(17.0, 59.0, 19.0, 60.0)),
    ]


@pytest.fixture(scope="module")
def loaded_map(qapp: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One MapView per test module with 300 pins and two territories (ready not awaited)."""
    from fieldcrm.geo.maps import build_account_map
    from fieldcrm.ui.map_view import MapView

    out: Path = tmp_path_factory.mktemp("map")
    html = build_account_map(points=sample_points(300), territories=sample_territories(),
                             out_dir=out)
    view = MapView()
    view.resize(900, 700)
    view.show()
    view.load_map(html)
    yield view
    view.close()
    view.deleteLater()


@pytest.fixture(scope="module", autouse=True)
def _delete_pages_before_exit(qapp: Any) -> Iterator[None]:
    """Really delete closed views (and their pages) before the profile goes away at exit."""
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def run_js(qtbot: Any) -> Callable[[Any, str], Any]:
    """Evaluate a JavaScript expression in a view's page and return its value via JSON.

    (Qt's own conversion of JS objects is lossy, so the value travels as JSON text.)
    """

    def run(view: Any, js: str) -> Any:
        box: list[Any] = []
        view.page().runJavaScript(f"JSON.stringify({js})", 0, box.append)
        qtbot.waitUntil(lambda: bool(box), timeout=10_000)
        return json.loads(box[0]) if box[0] else None

    return run
