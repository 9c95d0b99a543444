"""The Sync panel's Team tab (managers): who holds each territory, and the team's conflicts."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.services.sync_manager import (
    TeamConflict,
    TeamTerritory,
    TeamView,
    assign_territories,
    load_team,
    resolve_team_conflict,
)
from fieldcrm.services.sync_names import entity_title
from fieldcrm.sync.client import SyncClient
from fieldcrm.ui.errors import show_error
from fieldcrm.ui.models.dto_table_model import Column, DtoTableModel
from fieldcrm.ui.panels.review_visits import ReviewVisitsPanel
from fieldcrm.ui.sync_controller import SyncController
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.form import if_alive

NOBODY = "(nobody)"
TEAM_HELP = ("Give each territory to a rep, then Apply. Reps receive the change at their next "
             "sync. Type a user name to give a territory to a rep who holds none yet.")
CONFLICT_COLUMNS: tuple[Column[TeamConflict], ...] = (
    Column("Rep", lambda c: c.user_label),
    Column("Record", lambda c: entity_title(c.entity)),
    Column("Name", lambda c: c.name),
    Column("Field", lambda c: c.field.replace("_", " ")),
    Column("Kept value", lambda c: c.kept),
    Column("Rep's value", lambda c: c.rejected),
    Column("When", lambda c: c.created_at[:16].replace("T", " ")),
)


class TeamTab(QWidget):
    """Territory → rep assignment (a combo per territory) and the team's conflict queue."""

    sig_loaded = Signal()
    """The team view was loaded from the server."""
    sig_assigned = Signal(int)
    """Assignments were applied; carries how many territories changed hands."""
    export_requested = Signal()
    """The user asked to export the team's conflicts."""

    def __init__(self, runner: TaskRunner, controller: SyncController,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner, self.controller = runner, controller
        self.view: TeamView | None = None
        self._note = ""
        self.conflicts_model: DtoTableModel[TeamConflict] = DtoTableModel(CONFLICT_COLUMNS, self)
        self.territories = QTableWidget(0, 3)
        self.territories.setHorizontalHeaderLabels(["Territory", "Rep", ""])
        self.territories.verticalHeader().hide()
        header = self.territories.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(1, 260)
        header.setStretchLastSection(True)
        self.territories.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.apply_button = QPushButton("Apply assignments")
        self.apply_button.clicked.connect(self._on_apply_clicked)
        reload_button = QPushButton("Reload")
        reload_button.clicked.connect(self.refresh)
        self.conflicts = QTableView()
        self.conflicts.setModel(self.conflicts_model)
        self.conflicts.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.conflicts.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.conflicts.verticalHeader().hide()
        self.conflicts.horizontalHeader().setStretchLastSection(True)
        self.keep_button = QPushButton("Keep the kept value")
        self.apply_theirs = QPushButton("Apply the rep's value")
        self.keep_button.clicked.connect(lambda: self._resolve("keep"))
        self.apply_theirs.clicked.connect(lambda: self._resolve("apply"))
        export = QPushButton("Export CSV…")
        export.clicked.connect(self.export_requested)
        self._layout(reload_button, export)
        self.refresh()

    def _layout(self, reload_button: QPushButton, export: QPushButton) -> None:
        help_label = QLabel(TEAM_HELP)
        help_label.setWordWrap(True)
        help_label.setStyleSheet("color: #555;")
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(reload_button)
        row.addWidget(self.apply_button)
        actions = QHBoxLayout()
        for b in (self.keep_button, self.apply_theirs):
            actions.addWidget(b)
        actions.addStretch(1)
        actions.addWidget(export)
        layout = QVBoxLayout(self)
        layout.addWidget(help_label)
        layout.addWidget(self.territories, 3)
        layout.addLayout(row)
        layout.addWidget(QLabel("<b>Team conflicts</b> (open, every rep)"))
        layout.addWidget(self.conflicts, 2)
        layout.addLayout(actions)
        self.review_visits = ReviewVisitsPanel(self.runner, self.controller, self)
        layout.addWidget(self.review_visits, 2)

    # -- public API ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Load territories, reps and conflicts from the server (io lane)."""
        db = self.runner.db
        self.status.setText("Loading from the server…")
        self.controller.call_with_client(lambda c: load_team(db, c),
                                         if_alive(self, self._on_team_loaded),
                                         if_alive(self, self._on_failed))

    def combo(self, territory_name: str) -> QComboBox:
        """The "Give to" combo of a territory (for tests)."""
        for row in range(self.territories.rowCount()):
            if self.territories.item(row, 0).text() == territory_name:
                return self.territories.cellWidget(row, 1)  # type: ignore[return-value]
        raise KeyError(territory_name)

    def pending_assignments(self) -> list[tuple[str, str | None]]:
        """(territory id, rep ref or None) for every combo that differs from the holder."""
        out: list[tuple[str, str | None]] = []
        for row, t in enumerate(self.view.territories if self.view else ()):
            combo: QComboBox = self.territories.cellWidget(row, 1)  # type: ignore[assignment]
            ref = self._ref(combo)
            if ref != (t.rep_id or None):
                out.append((t.id, ref))
        return out

    # -- internals --------------------------------------------------------------------------------
    def _ref(self, combo: QComboBox) -> str | None:
        text = combo.currentText().strip()
        if not text or text == NOBODY:
            return None
        index = combo.findText(text)
        data = combo.itemData(index) if index >= 0 else None
        return str(data) if data else text  # typed: a user name the server resolves

    def _fill(self, view: TeamView) -> None:
        self.territories.setRowCount(len(view.territories))
        for row, t in enumerate(view.territories):
            self.territories.setItem(row, 0, QTableWidgetItem(t.name))
            combo = self._rep_combo(view, t)
            combo.currentTextChanged.connect(lambda _t, r=row: self._mark(r))
            self.territories.setCellWidget(row, 1, combo)
            self.territories.setItem(row, 2, QTableWidgetItem(""))

    def _mark(self, row: int) -> None:
        """Say which rows Apply will change (and from whom)."""
        if self.view is None or row >= len(self.view.territories):
            return
        t = self.view.territories[row]
        combo: QComboBox = self.territories.cellWidget(row, 1)  # type: ignore[assignment]
        changed = self._ref(combo) != (t.rep_id or None)
        self.territories.item(row, 2).setText(
            f"changed (now {t.rep_label or NOBODY}): press Apply" if changed else "")

    def _rep_combo(self, view: TeamView, t: TeamTerritory) -> QComboBox:
        combo = QComboBox()
        combo.setEditable(True)
        combo.addItem(NOBODY, "")
        for rep in view.reps:
            combo.addItem(rep.label, rep.ref)
        index = combo.findData(t.rep_id or "")
        combo.setCurrentIndex(max(0, index))
        return combo

    # -- slots ------------------------------------------------------------------------------------
    def _on_team_loaded(self, view: TeamView) -> None:
        self.view = view
        self._fill(view)
        self.conflicts_model.set_rows(view.conflicts)
        self.conflicts.resizeColumnsToContents()
        n_t, n_c = len(view.territories), len(view.conflicts)
        self.status.setText(f"{self._note} {n_t} territor{'y' if n_t == 1 else 'ies'} · "
                            f"{n_c} open conflict{'' if n_c == 1 else 's'} in the team".strip())
        self._note = ""
        self.sig_loaded.emit()

    def _on_failed(self, exc: BaseException) -> None:
        self.status.setText(f"Could not reach the team data: {exc}")
        show_error(self, exc)

    @Slot()
    def _on_apply_clicked(self) -> None:
        changes = self.pending_assignments()
        if not changes:
            self.status.setText("No assignment changed.")
            return

        db = self.runner.db

        def job(client: SyncClient) -> int:
            return assign_territories(db, client, changes)

        self.apply_button.setEnabled(False)
        self.controller.call_with_client(job, if_alive(self, self._on_assigned),
                                         if_alive(self, self._on_apply_failed))

    def _on_assigned(self, count: int) -> None:
        self.apply_button.setEnabled(True)
        self.sig_assigned.emit(count)
        self.runner.sig_changes_applied.emit(ChangeSet(territories=True))
        self._note = (f"{count} territor{'y' if count == 1 else 'ies'} reassigned; the reps "
                      "receive the change at their next sync.")
        self.refresh()
        self.controller.sync_now()

    def _on_apply_failed(self, exc: BaseException) -> None:
        self.apply_button.setEnabled(True)
        self._on_failed(exc)

    def _resolve(self, action: str) -> None:
        rows = self.conflicts.selectionModel().selectedRows()
        if not rows:
            self.status.setText("Pick a conflict in the list first.")
            return
        cid = self.conflicts_model.row_at(rows[0].row()).id
        self.controller.call_with_client(
            lambda c: resolve_team_conflict(c, conflict_id=cid, action=action),
            if_alive(self, lambda _r: self.refresh()), if_alive(self, self._on_failed))
