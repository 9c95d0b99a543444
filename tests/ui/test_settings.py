"""The settings dialog: loads the stored settings, shows each error under its field, saves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from fieldcrm.services.settings import load_settings
from fieldcrm.ui.app import pin_refcounts, stop_runner
from fieldcrm.ui.panels.settings_dialog import SettingsDialog
from fieldcrm.ui.tasks import ChangeSet, TaskRunner

pin_refcounts()


@pytest.fixture
def runner(db: Any) -> Iterator[TaskRunner]:
    r = TaskRunner(db)
    yield r
    stop_runner(r)


@pytest.fixture
def dialog(qtbot: Any, runner: TaskRunner) -> SettingsDialog:
    d = SettingsDialog(runner)
    qtbot.addWidget(d)
    with qtbot.waitSignal(d.sig_loaded, timeout=10_000):
        d.show()
    return d


def _save(dialog: SettingsDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()


def _visible_errors(dialog: SettingsDialog) -> dict[str, str]:
    return {k: label.text() for k, label in dialog.errors.items() if label.isVisibleTo(dialog)}


def test_loads_defaults(dialog: SettingsDialog) -> None:
    assert dialog.inputs["default_country"].text() == "SE"
    assert dialog.inputs["currency"].text() == "SEK"
    assert dialog.inputs["cadence_A"].value() == 14
    assert "Order taken" in dialog.inputs["outcomes"].toPlainText()


def test_typed_errors_name_the_field(dialog: SettingsDialog, qtbot: Any, db: Any) -> None:
    qtbot.keyClicks(dialog.inputs["home_lat"], "59,8x")
    qtbot.keyClicks(dialog.inputs["home_lon"], "17.6")
    _save(dialog)
    assert _visible_errors(dialog) == {"home_lat": "Home latitude “59.8x” is not a number."}
    assert dialog.isVisible()  # nothing saved, the form stays open
    assert "fix the field" in dialog.summary.text()
    qtbot.keyClicks(dialog.inputs["home_lat"], "\b")  # editing the field clears its message
    assert _visible_errors(dialog) == {}


def test_service_errors_appear_next_to_each_field(dialog: SettingsDialog, qtbot: Any,
                                                  db: Any) -> None:
    dialog.inputs["office_lat"].setText("95")
    dialog.inputs["office_lon"].setText("18")
    dialog.inputs["currency"].setText("KR")
    dialog.inputs["outcomes"].setPlainText("")
    _save(dialog)
    qtbot.waitUntil(lambda: bool(_visible_errors(dialog)), timeout=10_000)
    errors = _visible_errors(dialog)
    assert set(errors) == {"office_lat", "currency", "outcomes"}
    assert errors["office_lat"] == "Latitude 95.0 is outside -90…90."
    assert "three-letter" in errors["currency"]
    assert dialog.summary.text() == "Please fix the 3 fields marked above."
    with db.session() as s:
        assert load_settings(session=s).currency == "SEK"  # nothing half-saved


def test_saves_and_broadcasts(dialog: SettingsDialog, qtbot: Any, db: Any,
                              runner: TaskRunner) -> None:
    dialog.inputs["home_label"].setText("Home, Uppsala")
    dialog.inputs["home_lat"].setText("59.8586")
    dialog.inputs["home_lon"].setText("17.6389")
    dialog.inputs["currency"].setText("eur")
    dialog.inputs["units"].setCurrentIndex(dialog.inputs["units"].findData("mi"))
    dialog.inputs["cadence_B"].setValue(21)
    broadcasts: list[ChangeSet] = []
    runner.sig_changes_applied.connect(broadcasts.append)
    with qtbot.waitSignal(dialog.sig_saved, timeout=10_000):
        _save(dialog)
    assert broadcasts == [ChangeSet(settings=True)]
    with db.session() as s:
        stored = load_settings(session=s)
    assert (stored.home.label, stored.home.lat, stored.home.lon) == ("Home, Uppsala", 59.8586, 17.6389)
    assert (stored.currency, stored.units, stored.cadence["B"]) == ("EUR", "mi", 21)
    assert not dialog.isVisible()


def test_invalid_input_without_fields_goes_to_the_summary(dialog: SettingsDialog) -> None:
    dialog.show_errors({"mystery": "Something else is wrong."})
    assert dialog.summary.text() == "Please fix the field marked above. Something else is wrong."
    assert _visible_errors(dialog) == {}
