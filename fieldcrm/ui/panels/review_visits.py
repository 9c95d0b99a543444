"""Team tab part (managers): visits logged outside the rep's territories, to accept or dismiss."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.services.sync_review import (
    MAX_NOTE,
    ReviewVisit,
    accept_visit,
    dismiss_visit,
    list_review_visits,
)
from fieldcrm.sync.client import SyncClient
from fieldcrm.ui.errors import show_error
from fieldcrm.ui.models.dto_table_model import Column, DtoTableModel
from fieldcrm.ui.sync_controller import SyncController
from fieldcrm.ui.tasks import TaskRunner
from fieldcrm.ui.widgets.form import if_alive

TITLE = "<b>Visits to review</b> (logged outside the rep's territories)"
HELP = ("A visit logged after the rep lost the territory, or on an account that was deleted or "
        "moved, waits here. Accept sends it to the account's territory like any visit; Dismiss "
        "keeps it aside with your note. Field work is never deleted.")
COLUMNS: tuple[Column[ReviewVisit], ...] = (
    Column("Visit", lambda v: v.when or v.received, lambda v: f"received {v.received}"),
    Column("Rep", lambda v: v.rep),
    Column("Account", lambda v: v.account),
    Column("Territory", lambda v: v.territory),
    Column("Why", lambda v: v.why),
    Column("Outcome and notes", lambda v: _summary(v), lambda v: v.notes or v.outcome),
    Column("Decision", lambda v: v.decision, lambda v: v.decision),
)
DECISION = len(COLUMNS) - 1
"""The decision column: shown with the dismissed visits only."""


def _summary(v: ReviewVisit) -> str:
    notes = " ".join(v.notes.split())
    notes = notes if len(notes) <= 80 else notes[:79] + "…"
    return " · ".join(part for part in (v.outcome, notes) if part)


class ReviewVisitsPanel(QWidget):
    """The server's queue of visits under review, with Accept and Dismiss (and a note)."""

    sig_loaded = Signal()
    """The queue was loaded from the server."""
    sig_reviewed = Signal(str)
    """A visit was accepted or dismissed; carries ``accepted`` or ``dismissed``."""

    def __init__(self, runner: TaskRunner, controller: SyncController,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner, self.controller = runner, controller
        self.model: DtoTableModel[ReviewVisit] = DtoTableModel(COLUMNS, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnHidden(DECISION, True)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.note = QLineEdit()
        self.note.setMaxLength(MAX_NOTE)
        self.note.setPlaceholderText("Note kept with your decision (optional)")
        self.accept_button = QPushButton("Accept into territory")
        self.dismiss_button = QPushButton("Dismiss")
        self.reload_button = QPushButton("Reload")
        self.accept_button.clicked.connect(lambda: self._review("accept"))
        self.dismiss_button.clicked.connect(lambda: self._review("dismiss"))
        self.reload_button.clicked.connect(self.refresh)
        self.show_dismissed = QCheckBox("Show dismissed")
        self.show_dismissed.setToolTip("Visits kept aside; one can still be accepted.")
        self.show_dismissed.toggled.connect(self.refresh)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self._note = ""
        self._layout()
        self._on_table_selection_changed()
        self.refresh()

    def _layout(self) -> None:
        help_label = QLabel(HELP)
        help_label.setWordWrap(True)
        help_label.setStyleSheet("color: #555;")
        actions = QHBoxLayout()
        actions.addWidget(self.note, 1)
        actions.addWidget(self.accept_button)
        actions.addWidget(self.dismiss_button)
        actions.addWidget(self.show_dismissed)
        actions.addWidget(self.reload_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(TITLE))
        layout.addWidget(help_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        layout.addWidget(self.status)

    # -- public API ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Load the queue from the server (io lane)."""
        self.status.setText("Loading visits to review…")
        status = "dismissed" if self.show_dismissed.isChecked() else "needs_review"
        self.controller.call_with_client(lambda c: list_review_visits(c, status=status),
                                         if_alive(self, self._on_loaded),
                                         if_alive(self, self._on_failed))

    def selected(self) -> ReviewVisit | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    # -- slots ------------------------------------------------------------------------------------
    def _on_loaded(self, visits: list[ReviewVisit]) -> None:
        self.model.set_rows(visits)
        self.table.setColumnHidden(DECISION, not self.show_dismissed.isChecked())
        self.table.resizeColumnsToContents()
        count, plural = len(visits), "s" if len(visits) != 1 else ""
        if self.show_dismissed.isChecked():
            text = f"{count} dismissed visit{plural}, kept aside."
        elif count:
            text = f"{count} visit{plural} to review: pick one, then Accept or Dismiss."
        else:
            text = "No visit waits for review."
        self.status.setText(f"{self._note} {text}".strip())
        self._note = ""
        self._on_table_selection_changed()
        self.sig_loaded.emit()

    def _on_failed(self, exc: BaseException) -> None:
        self._on_table_selection_changed()
        self.status.setText(f"Could not load the visits to review: {exc}")
        show_error(self, exc)

    @Slot()
    def _on_table_selection_changed(self) -> None:
        v = self.selected()
        self.accept_button.setEnabled(v is not None and v.can_accept)
        self.dismiss_button.setEnabled(v is not None and v.review == "needs_review")
        self.accept_button.setToolTip(v.blocked if v is not None and v.blocked else
                                      "Send the visit to the reps of the account's territory.")

    def _review(self, action: str) -> None:
        v = self.selected()
        if v is None:
            self.status.setText("Pick a visit in the list first.")
            return
        note, visit_id = self.note.text(), v.id
        call = accept_visit if action == "accept" else dismiss_visit

        def job(client: SyncClient) -> ReviewVisit:
            return call(client, visit_id=visit_id, note=note)

        self.accept_button.setEnabled(False)
        self.dismiss_button.setEnabled(False)
        self.controller.call_with_client(job, if_alive(self, self._on_reviewed),
                                         if_alive(self, self._on_failed))

    def _on_reviewed(self, v: ReviewVisit) -> None:
        self.note.clear()
        if v.review == "accepted":
            self._note = (f"Accepted {v.rep}'s visit to {v.account}: the reps of "
                          f"{v.territory or 'its territory'} receive it at their next sync.")
            self.controller.sync_now()
        else:
            self._note = f"Dismissed {v.rep}'s visit to {v.account} (kept aside on the server)."
        self.sig_reviewed.emit(v.review)
        self.refresh()
