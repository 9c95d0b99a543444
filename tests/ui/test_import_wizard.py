"""The import dialog: read off the GUI thread, edit the mapping, preview, import, rejects, presets."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QComboBox
from sqlalchemy import select

from fieldcrm.db.models import AccountRecord
from fieldcrm.ui.panels.import_wizard import ImportWizard
from fieldcrm.ui.tasks import TaskRunner

CSV = """Företagsnamn;Ort;Telefon;Intern kod
Åkes Bageri AB;Umeå;090-12 34 56;X1
;Lund;;X2
Köttboden;Göteborg;031-12 34 56;X3
"""


@pytest.fixture
def runner(db, qtbot) -> Iterator[TaskRunner]:
    runner = TaskRunner(db)
    yield runner
    runner.shutdown()


def _wizard(qtbot, runner, tmp_path) -> ImportWizard:
    path = tmp_path / "kunder.csv"
    path.write_bytes(CSV.encode("cp1252"))
    wizard = ImportWizard(runner, str(path))
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitUntil(wizard.is_ready, timeout=10_000)
    return wizard


def test_map_preview_import_and_rejects(qtbot, db, runner, tmp_path) -> None:
    wizard = _wizard(qtbot, runner, tmp_path)
    assert wizard.mapping() == {0: "name", 1: "city", 2: "phone"}
    assert "3 rows (cp1252, semicolon)" in wizard.status.text()
    assert wizard.preview.rowCount() == 3
    assert wizard.preview.item(0, 3).text() == "+4690123456"  # Row, name, city, phone, Problems
    assert "Name is empty" in wizard.preview.item(1, 4).text()
    combo = wizard.mapping_table.cellWidget(3, 2)
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(combo.findData("notes"))
    assert wizard.mapping()[3] == "notes"
    preset = tmp_path / "preset.json"
    wizard.save_preset(str(preset))
    assert json.loads(preset.read_text("utf-8"))["columns"]["Intern kod"] == "notes"
    with qtbot.waitSignal(wizard.sig_imported, timeout=20_000) as blocker:
        wizard.import_button.click()
    report = blocker.args[0]
    assert (report.created, len(report.rejected)) == (2, 1)
    assert "2 created" in wizard.status.text() and wizard.rejects_button.isEnabled()
    with db.session() as session:
        notes = sorted(a.notes for a in session.scalars(select(AccountRecord)))
    assert notes == ["X1", "X3"]
    rejects = tmp_path / "rejects.csv"
    wizard.save_rejects(str(rejects))
    assert "Name is empty" in rejects.read_text("utf-8-sig")


def test_missing_required_field_blocks_import_and_presets_load(qtbot, runner, tmp_path) -> None:
    wizard = _wizard(qtbot, runner, tmp_path)
    name = wizard.mapping_table.cellWidget(0, 2)
    name.setCurrentIndex(name.findData(""))
    assert not wizard.import_button.isEnabled() and "Map a column to Name" in wizard.status.text()
    preset = tmp_path / "p.json"
    preset.write_text(json.dumps({"entity": "accounts", "columns": {"Företagsnamn": "name",
                                                                     "Intern kod": "notes"}}))
    wizard.load_preset(str(preset))
    assert wizard.mapping() == {0: "name", 1: "city", 2: "phone", 3: "notes"}
    assert wizard.import_button.isEnabled()
