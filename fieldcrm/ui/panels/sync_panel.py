"""The Sync panel: what waits in the outbox, conflicts to settle, quarantined edits, the team."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.services.sync_conflicts import resolve_conflict
from fieldcrm.services.sync_names import entity_title
from fieldcrm.services.sync_status import (
    QuarantineView,
    export_csv,
    list_conflict_views,
    list_outbox,
    list_quarantine_views,
    parse_utc,
)
from fieldcrm.ui.models.conflicts_model import ConflictsModel
from fieldcrm.ui.models.dto_table_model import Column, DtoTableModel
from fieldcrm.ui.models.outbox_model import OutboxModel, local_time
from fieldcrm.ui.sync_controller import PROTOCOL_TOO_OLD, SyncController, SyncState
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.form import if_alive
from fieldcrm.ui.widgets.sync_status import last_sync_text, pending_text, status_words

log = logging.getLogger(__name__)

OUTBOX_HELP = ("Changes made on this computer that the server has not accepted yet. They are "
               "sent at the next sync and are safe here even if you close fieldcrm.")
CONFLICTS_HELP = ("Someone changed the same field before your change reached the server. The "
                  "server kept their value. Accept keeps it; Override sends your value again.")
QUARANTINE_HELP = ("Edits to records in a territory that is no longer yours. They were not "
                   "applied. Export them and send the file to your manager.")
QUARANTINE_COLUMNS: tuple[Column[QuarantineView], ...] = (
    Column("Record", lambda q: entity_title(q.entity)),
    Column("Name", lambda q: q.name or q.entity_id),
    Column("Change", lambda q: q.what),
    Column("Why", lambda q: q.reason),
    Column("When", lambda q: local_time(parse_utc(q.created_at)), lambda q: q.created_at),
)


def _table(model: Any) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    return view


def _help(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #555;")
    return label


class SyncPanel(QWidget):
    """Sync status with "Sync now", and tabs for outbox, conflicts, quarantine (and Team)."""

    sig_login_requested = Signal()
    """The user asked to log in (the shell opens the login dialog)."""
    sig_loaded = Signal()
    """The lists were (re)loaded."""
    sig_exported = Signal(str, int)
    """(path, rows) after an export."""

    def __init__(self, runner: TaskRunner, controller: SyncController,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner, self.controller = runner, controller
        self.outbox_model = OutboxModel(self)
        self.conflicts_model = ConflictsModel(self)
        self.quarantine_model: DtoTableModel[QuarantineView] = DtoTableModel(QUARANTINE_COLUMNS,
                                                                             self)
        self.team: Any = None
        self._build()
        runner.sig_changes_applied.connect(self._on_runner_changes_applied)
        controller.sig_state_changed.connect(self._on_controller_state_changed)
        self._on_controller_state_changed(controller.state)
        self.refresh()

    # -- building ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.status_label = QLabel()
        self.status_label.setStyleSheet("font-weight: bold;")
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b3261e;")
        self.sync_button = QPushButton("Sync now")
        self.sync_button.clicked.connect(self._on_sync_clicked)
        self.login_button = QPushButton("Log in…")
        self.login_button.clicked.connect(self.sig_login_requested)
        self.interval = QSpinBox()
        self.interval.setRange(1, 1440)
        self.interval.setSuffix(" min")
        self.interval.setValue(self.controller.interval_min)
        self.interval.editingFinished.connect(self._on_interval_edited)
        top = QHBoxLayout()
        top.addWidget(self.status_label, 1)
        top.addWidget(QLabel("Sync every"))
        top.addWidget(self.interval)
        top.addWidget(self.login_button)
        top.addWidget(self.sync_button)
        self.tabs = QTabWidget()
        self.outbox_view = _table(self.outbox_model)
        self.conflicts_view = _table(self.conflicts_model)
        self.quarantine_view = _table(self.quarantine_model)
        self.accept_button = QPushButton("Accept kept value")
        self.override_button = QPushButton("Override with my value")
        self.accept_button.clicked.connect(lambda: self._resolve("accept"))
        self.override_button.clicked.connect(lambda: self._resolve("override"))
        self.conflicts_view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.tabs.addTab(self._tab(OUTBOX_HELP, self.outbox_view, "outbox"), "Outbox")
        self.tabs.addTab(self._tab(CONFLICTS_HELP, self.conflicts_view, "conflicts",
                                   self.accept_button, self.override_button), "Conflicts")
        self.tabs.addTab(self._tab(QUARANTINE_HELP, self.quarantine_view, "quarantine"),
                         "Quarantine")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.error_label)
        layout.addWidget(self.tabs, 1)
        self.export_note = QLabel()
        self.export_note.setStyleSheet("color: #555;")
        layout.addWidget(self.export_note)
        self._update_buttons()

    def _tab(self, help_text: str, view: QTableView, kind: str, *buttons: QPushButton) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(_help(help_text))
        layout.addWidget(view, 1)
        row = QHBoxLayout()
        for b in buttons:
            row.addWidget(b)
        row.addStretch(1)
        export = QPushButton("Export CSV…")
        export.clicked.connect(lambda: self._on_export_clicked(kind))
        row.addWidget(export)
        layout.addLayout(row)
        return page

    # -- public API ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the outbox, conflicts and quarantine (off the GUI thread)."""
        db = self.runner.db

        def load(session: Any) -> tuple[list[Any], list[Any], list[Any]]:
            return list_outbox(session=session), list_conflict_views(db), \
                list_quarantine_views(db)

        self.runner.query(load, if_alive(self, self._on_lists_loaded), parent=self,
                          key=f"sync-panel:{id(self)}")

    def export(self, kind: str, path: Path | str) -> None:
        """Write the table ``kind`` (outbox, conflicts, quarantine, team) as shown to ``path``."""
        model = self._model(kind)
        header, rows = model.csv_header(), model.csv_rows()
        target = str(path)
        self.runner.call(lambda: export_csv(target, header, rows),
                         if_alive(self, lambda n: self._on_exported(target, n)), parent=self)

    def _model(self, kind: str) -> Any:
        if kind == "team" and self.team is not None:
            return self.team.conflicts_model
        return {"outbox": self.outbox_model, "conflicts": self.conflicts_model,
                "quarantine": self.quarantine_model}[kind]

    # -- slots -----------------------------------------------------------------------------------
    def _on_lists_loaded(self, lists: tuple[list[Any], list[Any], list[Any]]) -> None:
        outbox, conflicts, quarantine = lists
        self.outbox_model.set_rows(outbox)
        self.conflicts_model.set_rows(conflicts)
        self.quarantine_model.set_rows(quarantine)
        for view in (self.outbox_view, self.conflicts_view, self.quarantine_view):
            view.resizeColumnsToContents()
        for i, (title, n) in enumerate((("Outbox", len(outbox)), ("Conflicts", len(conflicts)),
                                        ("Quarantine", len(quarantine)))):
            self.tabs.setTabText(i, f"{title} ({n})" if n else title)
        self._update_buttons()
        self.sig_loaded.emit()

    @Slot(object)
    def _on_controller_state_changed(self, state: SyncState) -> None:
        parts = [status_words(state)]
        if state.logged_in:
            parts.append(f"{state.user} at {urlparse(state.server_url).netloc or state.server_url}")
        parts += [last_sync_text(state.last_sync_at), pending_text(state.pending)]
        if state.status == "offline" and state.next_try_s is not None and state.logged_in:
            wait = state.next_try_s
            parts.append(f"next try in {wait:.0f} s" if wait < 90 else
                         f"next try in {wait / 60:.0f} min")
        self.status_label.setText(" · ".join(parts))
        self.status_label.setToolTip(state.server_url)
        self.error_label.setText(state.last_error)
        self.error_label.setVisible(bool(state.last_error))
        self.login_button.setVisible(state.status == "auth-needed" or not state.logged_in)
        self.sync_button.setText("Stop syncing" if state.status == "syncing" else
                                 ("Try again" if state.status == PROTOCOL_TOO_OLD else "Sync now"))
        self._show_team(state.is_manager)

    def _show_team(self, manager: bool) -> None:
        if manager and self.team is None:
            from fieldcrm.ui.panels.sync_team_tab import TeamTab

            self.team = TeamTab(self.runner, self.controller, self)
            self.team.export_requested.connect(lambda: self._on_export_clicked("team"))
            self.tabs.addTab(self.team, "Team")
        elif not manager and self.team is not None:
            self.tabs.removeTab(self.tabs.indexOf(self.team))
            self.team.deleteLater()
            self.team = None

    @Slot(object)
    def _on_runner_changes_applied(self, changes: ChangeSet) -> None:
        if changes.sync or changes.accounts or changes.contacts or changes.visits:
            self.refresh()

    @Slot()
    def _on_sync_clicked(self) -> None:
        if self.controller.is_running():
            self.controller.cancel()  # stops between two requests; what was done is kept
        elif not self.controller.sync_now():
            self.sig_login_requested.emit()

    @Slot()
    def _on_interval_edited(self) -> None:
        if self.interval.value() != self.controller.interval_min:
            self.controller.set_interval(self.interval.value())

    def _selected_conflict(self) -> Any:
        rows = self.conflicts_view.selectionModel().selectedRows()
        return self.conflicts_model.row_at(rows[0].row()) if rows else None

    def _update_buttons(self, *_args: Any) -> None:
        chosen = self._selected_conflict()
        self.accept_button.setEnabled(chosen is not None)
        self.override_button.setEnabled(chosen is not None and chosen.kind == "field")

    def _resolve(self, action: str) -> None:
        chosen = self._selected_conflict()
        if chosen is None:
            return
        db, cid = self.runner.db, chosen.id

        def op(_session: Any) -> None:
            resolve_conflict(db, conflict_id=cid, action=action)

        self.runner.write(op, ChangeSet(accounts=True, contacts=True, sync=True), parent=self,
                          on_done=lambda _r: self.controller.state.logged_in
                          and self.controller.sync_now())

    def _on_export_clicked(self, kind: str) -> None:
        path, _filter = QFileDialog.getSaveFileName(
            self, "Export to CSV", f"fieldcrm-{kind}.csv", "CSV files (*.csv)")
        if path:
            self.export(kind, path)

    def _on_exported(self, path: str, rows: int) -> None:
        self.export_note.setText(f"{rows} row{'' if rows == 1 else 's'} written to {path}")
        self.sig_exported.emit(path, rows)
        log.info("Exported %d rows to %s", rows, path)
