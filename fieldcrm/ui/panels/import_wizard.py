"""Import dialog: choose a CSV/XLSX file, check the column mapping and a preview, import."""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.dataio.fields import ENTITIES, field_specs
from fieldcrm.dataio.mapping import (
    ColumnMatch,
    apply_preset,
    load_preset,
    preset_from_mapping,
    save_preset,
    suggest_mapping,
)
from fieldcrm.dataio.readers import Table
from fieldcrm.dataio.validate import Options, Validated, detect_formats, validate_rows
from fieldcrm.dataio.writers import cell_text, write_rejects
from fieldcrm.errors import FieldCrmError
from fieldcrm.ui.tasks import ChangeSet, TaskRunner, TaskState

PREVIEW_ROWS = 20
ERROR_COLOUR = QColor("#b3261e")
WARN_COLOUR = QColor("#8a5a00")
ENCODINGS = ("", "utf-8", "utf-8-sig", "utf-16", "cp1252", "cp1250", "latin-1", "gb18030", "big5")
DELIMITERS = {"": "detect", ",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
CHANGES = {"accounts": ChangeSet(accounts=True, contacts=True), "contacts": ChangeSet(contacts=True),
           "visits": ChangeSet(visits=True, accounts=True), "sales": ChangeSet(sales=True)}


class ImportWizard(QDialog):
    """Reads the file off the GUI thread, maps columns (editable, savable as a preset), shows
    what the first rows become, and imports in one transaction with progress and cancel."""

    sig_imported = Signal(object)
    """The import finished; carries its ImportReport."""

    def __init__(self, runner: TaskRunner, path: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import")
        self.resize(980, 680)
        self.runner = runner
        self.path = path or ""
        self.table: Table | None = None
        self.report: Any = None
        self._state: TaskState | None = None
        self._build()
        runner.sig_progress.connect(self._on_runner_progress)
        if path:
            self._load()

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.file_label = QLabel(self.path or "No file chosen")
        choose = QPushButton("Choose file…")
        choose.clicked.connect(self._on_choose_clicked)
        self.entity = self._combo({e: e.capitalize() for e in ENTITIES})
        self.encoding = self._combo({e: e or "detect" for e in ENCODINGS})
        self.delimiter = self._combo(DELIMITERS)
        for combo in (self.encoding, self.delimiter):
            combo.currentIndexChanged.connect(self._load)
        self.entity.currentIndexChanged.connect(self._on_entity_changed)
        self.country, self.currency = QLineEdit("SE"), QLineEdit("SEK")
        self.date_order = self._combo({"": "detect", "DMY": "DMY", "MDY": "MDY", "YMD": "YMD"})
        self.decimal = self._combo({"": "detect", ",": "comma", ".": "point"})
        for widget in (self.country, self.currency):
            widget.editingFinished.connect(self._refresh_preview)
        for combo in (self.date_order, self.decimal):
            combo.currentIndexChanged.connect(self._refresh_preview)
        self.update_existing = QCheckBox("Update accounts that are already stored")
        self.geocode = QCheckBox("Place accounts without coordinates at their town")
        self.geocode.setChecked(True)
        self.mapping_table = QTableWidget(0, 3)
        self.mapping_table.setHorizontalHeaderLabels(["Column", "First values", "Field"])
        self.mapping_table.horizontalHeader().setStretchLastSection(True)
        self.preview = QTableWidget(0, 0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.import_button = QPushButton("Import")
        self.import_button.clicked.connect(self._on_import_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.rejects_button = QPushButton("Save rejected rows…")
        self.rejects_button.clicked.connect(self._on_rejects_clicked)
        self.rejects_button.setEnabled(False)
        self._lay_out(choose)
        self._set_ready(False)

    def _lay_out(self, choose: QPushButton) -> None:
        top = QHBoxLayout()
        top.addWidget(choose)
        top.addWidget(self.file_label, 1)
        form = QFormLayout()
        for label, widget in (("Rows are", self.entity), ("Encoding", self.encoding),
                              ("Delimiter", self.delimiter), ("Default country", self.country),
                              ("Default currency", self.currency), ("Date order", self.date_order),
                              ("Decimal mark", self.decimal)):
            form.addRow(label, widget)
        presets = QHBoxLayout()
        for text, slot in (("Load preset…", self._on_load_preset_clicked),
                           ("Save preset…", self._on_save_preset_clicked)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            presets.addWidget(button)
        side = QVBoxLayout()
        side.addLayout(form)
        side.addWidget(self.update_existing)
        side.addWidget(self.geocode)
        side.addLayout(presets)
        side.addStretch(1)
        middle = QHBoxLayout()
        middle.addLayout(side)
        middle.addWidget(self.mapping_table, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        for button in (self.rejects_button, self.cancel_button, self.import_button):
            buttons.addWidget(button)
        box = QVBoxLayout(self)
        box.addLayout(top)
        box.addLayout(middle, 2)
        box.addWidget(QLabel("What the first rows become:"))
        box.addWidget(self.preview, 2)
        box.addWidget(self.status)
        box.addLayout(buttons)

    def _combo(self, choices: dict[str, str]) -> QComboBox:
        combo = QComboBox()
        for value, text in choices.items():
            combo.addItem(text, value)
        return combo

    # -- state ------------------------------------------------------------------------------
    def is_ready(self) -> bool:
        """True once a file is read and mapped (for tests and callers)."""
        return self.table is not None and self._state is None

    def _set_ready(self, ready: bool) -> None:
        self.import_button.setEnabled(ready and self.table is not None)

    def options(self) -> Options:
        """The options as chosen in the dialog."""
        return Options(default_country=self.country.text().strip().upper() or "SE",
                       default_currency=self.currency.text().strip().upper() or "SEK",
                       date_order=self.date_order.currentData(), decimal=self.decimal.currentData())

    def mapping(self) -> dict[int, str]:
        """Column → field as chosen in the mapping table."""
        out = {}
        for row in range(self.mapping_table.rowCount()):
            combo = self.mapping_table.cellWidget(row, 2)
            if isinstance(combo, QComboBox) and combo.currentData():
                out[row] = combo.currentData()
        return out

    # -- reading ------------------------------------------------------------------------
    @Slot()
    def _on_choose_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import file", "",
                                              "Spreadsheets (*.csv *.txt *.xlsx *.xlsm)")
        if path:
            self.path = path
            self.file_label.setText(path)
            self._load()

    def _load(self) -> None:
        if not self.path:
            return
        from fieldcrm.services.importing import load_table

        path, encoding = self.path, self.encoding.currentData() or None
        delimiter = self.delimiter.currentData() or None
        self.table = None
        self._set_ready(False)
        self.status.setText(f"Reading {os.path.basename(path)}…")

        def read(state: TaskState) -> Table:
            return load_table(path, encoding=encoding, delimiter=delimiter,
                              progress=lambda d, t: state.set_progress(d, t, "Reading"),
                              cancelled=state.is_cancelled)

        self._state = self.runner.call(read, self._on_table_read, parent=self,
                                       on_error=self._on_failed, with_state=True)

    def _on_table_read(self, table: Table) -> None:
        self._state = None
        self.table = table
        source = f"sheet {table.sheet}" if table.sheet else f"{table.encoding}, {DELIMITERS.get(table.delimiter, table.delimiter)}"
        self.status.setText(f"{len(table.rows):,} rows ({source}).")
        self._fill_mapping(suggest_mapping(table.headers, self.entity.currentData()))
        self._set_ready(True)

    @Slot()
    def _on_entity_changed(self) -> None:
        if self.table is not None:
            self._fill_mapping(suggest_mapping(self.table.headers, self.entity.currentData()))

    def _fill_mapping(self, matches: list[ColumnMatch]) -> None:
        assert self.table is not None
        specs = field_specs(self.entity.currentData())
        self.mapping_table.setRowCount(len(matches))
        samples = self.table.rows[:3]
        for row, match in enumerate(matches):
            self.mapping_table.setItem(row, 0, QTableWidgetItem(match.header))
            values = " · ".join(r[row] for r in samples if r[row].strip())
            self.mapping_table.setItem(row, 1, QTableWidgetItem(values))
            combo = QComboBox()
            combo.addItem("(ignore)", "")
            for spec in specs.values():
                combo.addItem(spec.label + (" *" if spec.required else ""), spec.name)
            combo.setCurrentIndex(max(0, combo.findData(match.field or "")))
            combo.currentIndexChanged.connect(self._refresh_preview)
            self.mapping_table.setCellWidget(row, 2, combo)
        self._refresh_preview()

    # -- preview --------------------------------------------------------------------------
    @Slot()
    def _refresh_preview(self) -> None:
        if self.table is None:
            return
        entity, mapping = self.entity.currentData(), self.mapping()
        try:
            formats = detect_formats(self.table, entity, mapping, self.options())
            checked = validate_rows(self.table, entity, mapping, options=self.options(),
                                    formats=formats, limit=PREVIEW_ROWS)
        except FieldCrmError as exc:  # a required field not mapped yet, a field mapped twice...
            self.preview.setRowCount(0)
            self.status.setText(str(exc))
            self._set_ready(False)
            return
        self._set_ready(len(set(mapping.values())) == len(mapping))
        if not self.import_button.isEnabled():
            self.status.setText("A field is mapped to two columns; choose one.")
        self._show_preview(checked, [f for f in field_specs(entity) if f in mapping.values()])

    def _show_preview(self, checked: Validated, fields: list[str]) -> None:
        assert self.table is not None
        by_row = checked.issues_by_row()
        records = {r["_row"]: r for r in checked.records}
        numbers = self.table.row_numbers[:PREVIEW_ROWS]
        self.preview.setColumnCount(len(fields) + 2)
        self.preview.setHorizontalHeaderLabels(["Row", *fields, "Problems"])
        self.preview.setRowCount(len(numbers))
        for line, number in enumerate(numbers):
            record = records.get(number, {})
            issues = by_row.get(number, [])
            values = [str(number), *(cell_text(record.get(f)) for f in fields),
                      "; ".join(str(i).split(": ", 1)[-1] for i in issues)]
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if issues:
                    worst = ERROR_COLOUR if number not in records else WARN_COLOUR
                    item.setForeground(worst)
                self.preview.setItem(line, column, item)

    # -- importing ------------------------------------------------------------------------
    @Slot()
    def _on_import_clicked(self) -> None:
        from fieldcrm.services.importing import import_table

        assert self.table is not None
        table, entity, mapping, options = self.table, self.entity.currentData(), self.mapping(), self.options()
        update, geocode = self.update_existing.isChecked(), self.geocode.isChecked()

        def run(session: Any, state: TaskState) -> Any:
            return import_table(session=session, table=table, entity=entity, mapping=mapping,
                                options=options, update_existing=update, geocode=geocode,
                                progress=lambda d, t: state.set_progress(d, t, "Importing"),
                                cancelled=state.is_cancelled)

        self._set_ready(False)
        self.progress.setVisible(True)
        self.progress.setValue(0)
        self.status.setText("Importing… (Cancel leaves the database as it was)")
        self._state = self.runner.write(run, CHANGES[entity], on_done=self._on_imported,
                                        parent=self, on_error=self._on_failed, with_state=True)

    @Slot(object, int, int, str)
    def _on_runner_progress(self, state: object, done: int, total: int, label: str) -> None:
        if state is self._state and total:
            self.progress.setVisible(True)
            self.progress.setMaximum(total)
            self.progress.setValue(done)

    def _on_imported(self, report: Any) -> None:
        self._state = None
        self.report = report
        self.progress.setVisible(False)
        errors = list(report.errors)
        text = (f"Imported: {report.created:,} created, {report.updated:,} updated, "
                f"{len(report.rejected):,} rejected")
        if report.entity == "accounts":
            text += f"; {report.geocoded:,} placed at their town, {report.not_located:,} without a position"
        warnings = [i for i in report.issues if i.severity != "error"]
        if warnings:
            text += f"; {len(warnings):,} warnings (e.g. {warnings[0]})"
        if errors:
            text += ". First problems: " + "; ".join(str(i) for i in errors[:5])
        self.status.setText(text + ".")
        self.rejects_button.setEnabled(bool(report.rejected))
        self.sig_imported.emit(report)

    def _on_failed(self, exc: BaseException) -> None:
        self._state = None
        self.progress.setVisible(False)
        self.status.setText(f"<span style='color:#b3261e'>{exc}</span>" if isinstance(
            exc, FieldCrmError) else "The import failed; nothing was written.")
        self._set_ready(self.table is not None)
        if not isinstance(exc, FieldCrmError):
            from fieldcrm.ui.errors import show_error

            show_error(self, exc)

    @Slot()
    def _on_cancel_clicked(self) -> None:
        if self._state is not None:
            self._state.cancel()
            self._state = None
            self.progress.setVisible(False)
            self.status.setText("Cancelled; nothing was written.")
            self._set_ready(self.table is not None)
        else:
            self.reject()

    @Slot()
    def _on_rejects_clicked(self) -> None:
        if self.report is None or self.table is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save rejected rows", "rejected.csv", "CSV (*.csv)")
        if path:
            self.save_rejects(path)

    def save_rejects(self, path: str) -> None:
        """Write the rejected rows and their reasons to ``path`` (CSV)."""
        assert self.report is not None and self.table is not None
        write_rejects(path, self.table, self.report.rejected, self.report.issues)
        self.status.setText(f"Rejected rows written to {path}; fix them and import that file.")

    # -- presets --------------------------------------------------------------------------
    @Slot()
    def _on_load_preset_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load mapping preset", "", "Preset (*.json)")
        if path:
            self.load_preset(path)

    def load_preset(self, path: str) -> None:
        """Apply a saved preset: entity, options and the mapping of known headers."""
        try:
            preset = load_preset(path)
        except FieldCrmError as exc:
            self.status.setText(str(exc))
            return
        self.entity.setCurrentIndex(self.entity.findData(preset.entity))
        self.country.setText(preset.default_country)
        self.currency.setText(preset.default_currency)
        self.date_order.setCurrentIndex(max(0, self.date_order.findData(preset.date_order)))
        self.decimal.setCurrentIndex(max(0, self.decimal.findData(preset.decimal)))
        if self.table is not None:
            self._fill_mapping(apply_preset(self.table.headers, preset))

    @Slot()
    def _on_save_preset_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save mapping preset", "preset.json", "Preset (*.json)")
        if path:
            self.save_preset(path)

    def save_preset(self, path: str) -> None:
        """Save the current mapping and options as a JSON preset."""
        if self.table is None:
            return
        options = self.options()
        save_preset(path, preset_from_mapping(
            self.entity.currentData(), self.table.headers, self.mapping(),
            default_country=options.default_country, default_currency=options.default_currency,
            date_order=options.date_order, decimal=options.decimal,
            encoding=self.encoding.currentData(), delimiter=self.delimiter.currentData()))
