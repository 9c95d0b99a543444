"""Likely duplicate accounts: find them off the UI thread, merge a pair, undo the last merge."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldcrm.db.models import Meta, OutboxRecord
from fieldcrm.services.dedupe import (
    DuplicateCandidate,
    MergeResult,
    find_account_duplicates,
    undo_merge,
)
from fieldcrm.ui.errors import error_title
from fieldcrm.ui.panels.merge_dialog import MERGE_CHANGES, MergeDialog
from fieldcrm.ui.tasks import ChangeSet, TaskRunner, TaskState
from fieldcrm.ui.widgets.form import if_alive

COLUMNS = ("Score", "Account", "Town", "Possible duplicate", "Town", "Why")


def find_pairs(session: Session, state: TaskState) -> list[DuplicateCandidate]:
    """Op: the likely duplicate pairs, reporting progress and honouring cancel."""
    return find_account_duplicates(
        session=session, progress=lambda done, total: state.set_progress(
            done, total, "Comparing accounts…"),
        cancelled=state.is_cancelled)


def last_undoable_merge(session: Session) -> str | None:
    """Op: the id of the newest merge whose changes all still wait in the outbox, else None."""
    pending = {m for m, state in session.execute(select(OutboxRecord.mutation_id,
                                                         OutboxRecord.state))
               if state == "pending"}
    journals = session.scalars(select(Meta).where(Meta.key.like("merge:%"))
                               .order_by(Meta.key.desc()))
    for meta in journals:  # merge ids are UUIDv7: newest first
        mutations = json.loads(meta.value)["mutations"]
        if all(m in pending for m in mutations):
            return meta.key.removeprefix("merge:")
    return None


def moved_text(moved: dict[str, int]) -> str:
    """Return what a merge moved, e.g. "moved 1 contact and 2 visits"."""
    plural = {"opportunity": "opportunities"}
    parts = [f"{n} {entity if n == 1 else plural.get(entity, entity + 's')}"
             for entity, n in moved.items() if n]
    if not parts:
        return "nothing else to move"
    return "moved " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])


class DuplicatesPanel(QWidget):
    """A table of likely duplicate pairs with score and reasons; a pair opens the merge dialog."""

    sig_account_activated = Signal(str)
    """The user asked to open an account."""
    sig_status = Signal(str)
    """A one-line message for the status bar."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.pairs: list[DuplicateCandidate] = []
        self.undo_id: str | None = None
        self.undo_known = False  # the undoable merge has been looked up at least once
        self.dialog: MergeDialog | None = None
        self._state: TaskState | None = None
        self.find_button = QPushButton("&Find duplicates")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.merge_button = QPushButton("&Merge…")
        self.merge_button.setEnabled(False)
        self.undo_button = QPushButton("&Undo last merge")
        self.undo_button.setEnabled(False)
        self.undo_button.setToolTip("Possible until the next sync sends the merge")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.status = QLabel("Find accounts that are probably the same shop entered twice.")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        bar = QHBoxLayout()
        for w in (self.find_button, self.cancel_button, self.progress):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.merge_button)
        bar.addWidget(self.undo_button)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        self.find_button.clicked.connect(self.find)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.merge_button.clicked.connect(self._on_merge_clicked)
        self.undo_button.clicked.connect(self._on_undo_clicked)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)
        self.table.itemDoubleClicked.connect(self._on_merge_clicked)
        runner.sig_progress.connect(self._on_runner_progress)
        runner.sig_changes_applied.connect(self._on_runner_changes_applied)
        self._refresh_undo()

    # -- public API --------------------------------------------------------------------------
    @Slot()
    def find(self) -> None:
        """Look for duplicates in the background, with progress and a Cancel button."""
        if self._state is not None:
            return
        self.find_button.setEnabled(False)
        self.cancel_button.show()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText("Comparing accounts…")
        state = self.runner.query(find_pairs, if_alive(self, lambda pairs: self._on_found(
            state, pairs)), parent=self, with_state=True, on_error=if_alive(self, lambda exc: (
                self._on_found(state, None, exc))))
        self._state = state

    def open_pair(self, row: int) -> MergeDialog:
        """Open the merge dialog for a row of the table (the first account survives)."""
        pair = self.pairs[row]
        self.dialog = MergeDialog(self.runner, pair.a_id, pair.b_id, parent=self)
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.sig_merged.connect(self._on_dialog_merged)
        self.dialog.open()
        return self.dialog

    # -- results -----------------------------------------------------------------------------
    def _finish(self) -> None:
        self._state = None
        self.find_button.setEnabled(True)
        self.cancel_button.hide()
        self.progress.hide()

    def _on_found(self, state: TaskState, pairs: list[DuplicateCandidate] | None,
                  exc: BaseException | None = None) -> None:
        if state is not self._state:
            return  # cancelled: the user has moved on
        self._finish()
        if exc is not None:
            self.status.setText(f"{error_title(exc)}: {exc}")
        else:
            self._on_pairs_found(pairs or [])

    def _on_pairs_found(self, pairs: list[DuplicateCandidate]) -> None:
        self.pairs = list(pairs)
        self.table.setRowCount(len(self.pairs))
        for row, p in enumerate(self.pairs):
            cells = (f"{p.score:.0%}", p.a_name, p.a_city, p.b_name, p.b_city,
                     "; ".join(p.reasons))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if col == 0:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        n = len(self.pairs)
        self.status.setText(
            f"{n} likely duplicate pair{'' if n == 1 else 's'}, best first. Double-click a pair "
            "to compare and merge." if n else "No likely duplicates found.")
        self.table.clearSelection()
        self.merge_button.setEnabled(False)

    def _refresh_undo(self) -> None:
        self.runner.query(last_undoable_merge, if_alive(self, self._on_undo_loaded), parent=self,
                          key=f"undo:{id(self)}", on_error=lambda exc: None)

    def _on_undo_loaded(self, merge_id: str | None) -> None:
        self.undo_id, self.undo_known = merge_id, True
        self.undo_button.setEnabled(merge_id is not None)

    # -- slots -------------------------------------------------------------------------------
    @Slot(object, int, int, str)
    def _on_runner_progress(self, state: object, done: int, total: int, label: str) -> None:
        if state is self._state and total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    @Slot()
    def _on_cancel_clicked(self) -> None:
        if self._state is not None:
            self._state.cancel()
            self._finish()
            self.status.setText("Search cancelled.")

    @Slot()
    def _on_table_selection_changed(self) -> None:
        self.merge_button.setEnabled(bool(self.table.selectionModel().selectedRows()))

    @Slot()
    def _on_merge_clicked(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.open_pair(rows[0].row())

    def _on_dialog_merged(self, result: MergeResult) -> None:
        self.undo_id = result.merge_id
        self.undo_button.setEnabled(True)
        self.pairs = [p for p in self.pairs if result.removed_id not in (p.a_id, p.b_id)]
        self._on_pairs_found(self.pairs)
        text = f"Merged: {moved_text(result.moved)}."
        self.status.setText(text + " Undo is possible until the next sync.")
        self.sig_status.emit(text)

    @Slot()
    def _on_undo_clicked(self) -> None:
        if self.undo_id is None:
            return
        merge_id = self.undo_id
        self.undo_button.setEnabled(False)
        self.runner.write(lambda s: undo_merge(session=s, merge_id=merge_id), MERGE_CHANGES,
                          on_done=if_alive(self, self._on_undone), parent=self,
                          on_error=if_alive(self, self._on_undo_failed))

    def _on_undone(self, _result: object) -> None:
        self.status.setText("The merge was undone; both accounts are back.")
        self.sig_status.emit("Merge undone.")
        self._refresh_undo()
        self.find()

    def _on_undo_failed(self, exc: BaseException) -> None:
        self.status.setText(f"{error_title(exc)}: {exc}")
        self._refresh_undo()

    @Slot(object)
    def _on_runner_changes_applied(self, changes: ChangeSet) -> None:
        if changes.sync:
            self._refresh_undo()
