"""G5: outcomes do not depend on client clocks (±12 h skew, a 1 h jump back, mixed zones)."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fieldcrm.domain.enums import Role
from fieldcrm.services import accounts as accounts_service
from fieldcrm.services import contacts as contacts_service
from fieldcrm.services import visits as visits_service
from fieldcrm.services.accounts import delete_account
from tests.sync.client_helpers import add_contact, log_visit, rep_with_territory
from tests.sync.conftest import Harness, _empty_pg

pytest_plugins = ["tests.sync.conftest_client"]
SOUTH = {"type": "Polygon", "coordinates": [[[12, 55], [14, 55], [14, 56], [12, 56], [12, 55]]]}
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)


class Skew:
    """The skewed clocks of one laptop: wall time for the services, monotonic for tokens."""

    current = 0.0  # seconds; the laptop acting now (services read one process-wide clock)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def wall(self) -> float:
        return time.time() + self.seconds

    def mono(self) -> float:
        return time.monotonic() + self.seconds


def _now() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=Skew.current)


class DateHeader(httpx.BaseTransport):
    """uvicorn sends ``Date``; the in-process app does not, so add the server's real time."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.headers["date"] = format_datetime(datetime.now(UTC), usegmt=True)
        return response


def _scenario(h: Any, laptops: Any, skews: dict[str, float], jump: float) -> dict[str, Any]:
    north = rep_with_territory(h, "anna")
    h.add_user("bert")
    h.add_user("boss", role="manager")
    south = h.territory("South", SOUTH)
    h.assign(south, "bert")
    clocks = {u: Skew(s) for u, s in skews.items()}
    http = httpx.Client(transport=DateHeader(h.client._transport), base_url="http://testserver")
    lap = {u: laptops(u, http, clock=clocks[u].mono, wall=clocks[u].wall) for u in clocks}

    def on(user: str) -> Any:
        Skew.current = clocks[user].seconds
        return lap[user]

    on("boss").sync()
    ids = {f"N{i}": on("boss").create_account(f"N{i}", territory_id=north) for i in range(4)}
    ids["S0"] = on("boss").create_account("S0", territory_id=south)
    on("boss").sync()
    on("anna").sync()
    on("bert").sync()
    # anna offline; her clock jumps back mid-session
    on("anna").update_account(ids["N0"], notes="anna")
    clocks["anna"].seconds += jump
    on("anna").update_account(ids["N1"], city="Kiruna")
    zones = [timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)), UTC]
    for i, tz in enumerate(zones):  # the same instants written in mixed time zones
        log_visit(on("anna"), ids["N0"], when=(T0 + timedelta(minutes=i)).astimezone(tz))
    add_contact(on("anna"), ids["N2"], "Eva")
    on("anna").update_account(ids["N3"], notes="edit to a deleted account")
    on("boss").update_account(ids["N0"], notes="boss")
    with on("boss").session() as s:
        delete_account(session=s, account_id=ids["N3"], actor_role=Role.MANAGER)
    on("boss").sync()
    first = on("anna").sync()
    on("anna").update_account(ids["N1"], notes="after revocation")
    h.assign(north, "bert")
    on("anna").sync()
    on("bert").sync()
    on("boss").sync()
    return {"state": _server_state(h), "skew": first.clock_skew_s, "warnings": first.warnings}


def _server_state(h: Any) -> dict[str, Any]:
    from fieldcrm.sync.server import models as m

    with h.db.read() as s:
        names = {a.id: a.name for a in s.scalars(select(m.Account))}
        users = {u.id: u.username for u in s.scalars(select(m.User))}
        terr = {t.id: t.name for t in s.scalars(select(m.Territory))}
        accounts = sorted((a.name, a.notes, a.city, a.deleted, terr.get(a.territory_id),
                           a.row_version, str(a.last_visit_at)) for a in s.scalars(select(m.Account)))
        contacts = sorted((c.name, names[c.account_id], c.row_version)
                          for c in s.scalars(select(m.Contact)))
        visits = sorted((names[v.account_id], users[v.rep_id], v.review, str(v.occurred_at_client),
                         json.dumps({**v.data, "account_id": names[v.account_id]}, sort_keys=True)) for v in s.scalars(select(m.Visit)))
        conflicts = sorted((names.get(c.entity_id, c.entity_id), c.field, c.kind,
                            json.dumps(c.kept_value, sort_keys=True),
                            json.dumps(_strip_ids(c.rejected_value), sort_keys=True), c.status)
                           for c in s.scalars(select(m.Conflict)))
        quarantine = sorted((q.reason.replace(q.payload["entity_id"], "<id>"),
                             json.dumps(q.payload["fields"], sort_keys=True))
                            for q in s.scalars(select(m.Quarantine)))
    return {"accounts": accounts, "contacts": contacts, "visits": visits,
            "conflicts": conflicts, "quarantine": quarantine}


def _strip_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("mutation_id", "entity_id",
                                                             "client_seq")}
    return value


@pytest.fixture
def fresh(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """A new, empty server per call: another SQLite file, or the PostgreSQL test database
    emptied again (a scenario has read all it needs before the next one starts)."""
    made: list[Harness] = []

    def make() -> Harness:
        if db_url.startswith("postgresql"):
            for h in made:
                h.close()
            _empty_pg(db_url)
            made.append(Harness(db_url))
            return made[-1]
        target = tmp_path / f"server-{len(made)}.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
        made.append(Harness(f"sqlite:///{target}"))
        return made[-1]

    yield make
    for h in made:
        h.close()


def test_skewed_clocks_give_identical_server_state(
    fresh: Any, laptops: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in (accounts_service, contacts_service, visits_service):
        monkeypatch.setattr(module, "utcnow", _now)
    base = _scenario(fresh(), laptops, {"anna": 0, "bert": 0, "boss": 0}, jump=0)
    skewed = _scenario(fresh(), laptops, {"anna": 12 * 3600, "bert": -12 * 3600,
                                          "boss": -7 * 3600}, jump=-3600)
    Skew.current = 0.0
    assert skewed["state"] == base["state"]
    assert base["state"]["conflicts"] and base["state"]["quarantine"]  # the scenario has both
    assert abs(base["skew"]) < 300 and not base["warnings"]
    assert skewed["skew"] == pytest.approx(11 * 3600, abs=60)  # +12 h, then jumped back 1 h
    assert "ahead of" in skewed["warnings"][0]  # a warning only
