"""Place accounts on the map from the UI: gazetteer, then the fake Nominatim on 127.0.0.1."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend
from PySide6.QtWidgets import QDialogButtonBox
from sqlalchemy import select, text

from fieldcrm.db.models import AccountRecord, GeocodeCacheRecord
from fieldcrm.domain.ids import new_id
from fieldcrm.errors import InvalidInput
from fieldcrm.services.settings import load_settings, save_settings
from fieldcrm.ui import app as ui_app
from fieldcrm.ui.panels import geocode_panel
from fieldcrm.ui.panels.geocode_panel import (
    GeocodePanel,
    online_settings,
    read_api_key,
    save_api_key,
)
from fieldcrm.ui.panels.settings_dialog import SettingsDialog
from fieldcrm.ui.tasks import TaskRunner

_spec = importlib.util.spec_from_file_location(
    "fieldcrm_test_geocode_fixture", Path(__file__).parents[1] / "unit" / "test_geocode.py")
_geo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_geo)
server = _geo.server  # the fake Nominatim fixture (127.0.0.1 only)
FakeNominatim = _geo.FakeNominatim

WAIT = 15_000


def _add(db: Any, name: str, street: str, city: str) -> str:
    with db.session() as s:
        rec = AccountRecord(id=new_id(), name=name, street=street, city=city, country="SE")
        s.add(rec)
        s.commit()
        return rec.id


@pytest.fixture
def accounts(db: Any) -> dict[str, str]:
    return {"umea": _add(db, "Umeå Bageri", "Storgatan 1", "Umeå"),
            "lund": _add(db, "Lunds Kaffe", "", "Lund"),
            "lost": _add(db, "Atlantis Fisk", "Havsvägen 1", "Atlantis")}


@pytest.fixture
def runner(db: Any) -> Any:
    r = TaskRunner(db)
    yield r
    ui_app.stop_runner(r)


@pytest.fixture
def panel(qtbot: Any, runner: TaskRunner, accounts: dict[str, str]) -> Iterator[GeocodePanel]:
    p = GeocodePanel(runner)
    qtbot.addWidget(p)
    p.resize(700, 400)
    p.show()
    qtbot.waitUntil(lambda: p.unplaced.count() == 3, timeout=WAIT)
    yield p
    qtbot.waitUntil(lambda: runner._running == 0, timeout=WAIT)  # no op left in flight


def _source(db: Any, account_id: str) -> tuple[str, float | None]:
    with db.session() as s:
        rec = s.get(AccountRecord, account_id)
        return rec.geocode_source, rec.lat


def _run(qtbot: Any, panel: GeocodePanel) -> None:
    panel.place_button.click()
    assert not panel.place_button.isEnabled() and panel.cancel_button.isVisible()
    qtbot.waitUntil(lambda: panel.place_button.isEnabled(), timeout=WAIT)


def test_offline_places_towns_and_lists_the_rest(qtbot: Any, panel: GeocodePanel, db: Any,
                                                 accounts: dict[str, str]) -> None:
    _run(qtbot, panel)
    assert _source(db, accounts["umea"])[0] == "town"
    assert _source(db, accounts["lund"])[0] == "town"
    assert _source(db, accounts["lost"]) == ("none", None)
    assert "2 placed at their town" in panel.status.text()
    assert "online geocoder off" in panel.status.text()
    assert "1 could not be placed" in panel.status.text()
    qtbot.waitUntil(lambda: panel.unplaced.count() == 1, timeout=WAIT)
    item = panel.unplaced.item(0)
    assert item.text().startswith("Atlantis Fisk — Havsvägen 1")
    assert "(1)" in panel.list_title.text()
    with qtbot.waitSignal(panel.sig_account_activated) as opened:
        panel.unplaced.itemDoubleClicked.emit(item)
    assert opened.args == [accounts["lost"]]


def test_online_refines_street_addresses_and_caches(qtbot: Any, panel: GeocodePanel, db: Any,
                                                    accounts: dict[str, str], server: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geocode_panel, "ONLINE_MIN_DELAY", 0.0)
    with db.session() as s:
        settings = replace(load_settings(session=s), geocoder_online=True,
                           geocoder_domain=server, geocoder_scheme="http")
        save_settings(session=s, settings=settings)
    _run(qtbot, panel)
    assert _source(db, accounts["umea"]) == ("rooftop", pytest.approx(63.826))
    assert _source(db, accounts["lund"])[0] == "town"  # no street: nothing to ask
    assert "1 refined online" in panel.status.text()
    asked = len(FakeNominatim.requests)
    assert asked == 2  # Storgatan 1 and Havsvägen 1 (Lund has no street)
    with db.session() as s:
        assert len(s.scalars(select(GeocodeCacheRecord)).all()) == 2
    _run(qtbot, panel)  # again: the unknown address comes from the cache, nothing is re-asked
    assert len(FakeNominatim.requests) == asked


def test_quota_error_is_a_message_and_cancel_keeps_progress(
        qtbot: Any, panel: GeocodePanel, db: Any, server: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geocode_panel, "ONLINE_MIN_DELAY", 0.0)
    _add(db, "Quota AB", "Quota 1", "Umeå")
    with db.session() as s:
        save_settings(session=s, settings=replace(load_settings(session=s), geocoder_online=True,
                                                  geocoder_domain=server, geocoder_scheme="http"))
    _run(qtbot, panel)
    assert "keep their positions" in panel.status.text()
    assert "Could not place" in panel.status.text() or "429" in panel.status.text() \
        or "quota" in panel.status.text().lower()
    panel.place_button.click()
    panel.cancel_button.click()
    assert "Stopping" in panel.status.text()
    qtbot.waitUntil(lambda: panel.place_button.isEnabled(), timeout=WAIT)
    assert "keep their positions" in panel.status.text()


def test_settings_store_geocoder_fields_and_key_needs_a_keyring(db: Any) -> None:
    with db.session() as s:
        base = load_settings(session=s)
        assert base.geocoder_online is False and base.geocoder_provider == "nominatim"
        assert online_settings(base) is None
        changed = replace(base, geocoder_online=True, geocoder_domain="geo.example.org",
                          geocoder_user_agent="acme-crm/1 (it@acme.example)")
        save_settings(session=s, settings=changed)
        again = load_settings(session=s)
        assert again == changed
        online = online_settings(again, "k3y")
        assert online.domain == "geo.example.org" and online.api_key == "k3y"
        assert online.min_delay_seconds == 1.0
        with pytest.raises(InvalidInput) as bad:
            save_settings(session=s, settings=replace(changed, geocoder_user_agent=" ",
                                                      geocoder_scheme="ftp"))
        assert set(bad.value.errors) == {"geocoder_user_agent", "geocoder_scheme"}
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(InvalidInput, match="keyring") as no_store:
            save_api_key("opencage", "secret")
        assert "geocoder_api_key" in no_store.value.errors
    finally:
        keyring.set_keyring(before)


class _MemoryKeyring(KeyringBackend):
    """A keyring backend in memory (the tests' stand-in for the OS password store)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.store[(service, username)]


@pytest.fixture
def memory_keyring() -> Any:
    import keyring

    before, backend = keyring.get_keyring(), _MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


def _dialog(qtbot: Any, runner: TaskRunner) -> SettingsDialog:
    d = SettingsDialog(runner)
    qtbot.addWidget(d)
    with qtbot.waitSignal(d.sig_loaded, timeout=WAIT):
        d.show()
    return d


def test_settings_dialog_geocoding_group_saves_and_keeps_key_in_keyring(
        qtbot: Any, runner: TaskRunner, db: Any, memory_keyring: _MemoryKeyring) -> None:
    d = _dialog(qtbot, runner)
    assert not d.inputs["geocoder_online"].isChecked()
    assert d.inputs["geocoder_domain"].text() == "nominatim.openstreetmap.org"
    d.inputs["geocoder_online"].setChecked(True)
    d.inputs["geocoder_user_agent"].setText("")
    d.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: d.errors["geocoder_user_agent"].isVisibleTo(d), timeout=WAIT)
    d.inputs["geocoder_user_agent"].setText("acme-crm (it@acme.example)")
    d.inputs["geocoder_provider"].setCurrentText("opencage")
    qtbot.keyClicks(d.inputs["geocoder_api_key"], "s3cret")
    with qtbot.waitSignal(d.sig_saved, timeout=WAIT):
        d.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    with db.session() as s:
        stored = load_settings(session=s)
        assert stored.geocoder_online and stored.geocoder_provider == "opencage"
        assert stored.geocoder_user_agent == "acme-crm (it@acme.example)"
        raw = " ".join(v for (v,) in s.execute(text("SELECT value_json FROM setting")))
    assert "s3cret" not in raw  # never in the database
    assert memory_keyring.store == {("fieldcrm-geocoder", "opencage"): "s3cret"}
    assert read_api_key("opencage") == "s3cret"


def test_settings_dialog_says_when_there_is_no_keyring(qtbot: Any, runner: TaskRunner) -> None:
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        d = _dialog(qtbot, runner)
        qtbot.keyClicks(d.inputs["geocoder_api_key"], "s3cret")
        d.buttons.button(QDialogButtonBox.StandardButton.Save).click()
        qtbot.waitUntil(lambda: d.errors["geocoder_api_key"].isVisibleTo(d), timeout=WAIT)
        assert "keyring" in d.errors["geocoder_api_key"].text()
        assert d.isVisible()
    finally:
        keyring.set_keyring(before)
