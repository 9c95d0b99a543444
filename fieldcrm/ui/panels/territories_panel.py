"""The Territories tab: draw, edit, import and assign territories, move accounts, balance them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.config import cache_dir
from fieldcrm.domain.records import User
from fieldcrm.geo.territory_check import FeatureReport
from fieldcrm.services import territories as T
from fieldcrm.services.balance import (
    ImportReview,
    OutsideAccount,
    TerritorySummary,
    review_import,
)
from fieldcrm.services.mapping import build_map
from fieldcrm.ui.models.territory_list_model import TerritoryListModel
from fieldcrm.ui.panels.balance_view import BalanceView
from fieldcrm.ui.panels.territory_import_dialog import ImportPreviewDialog
from fieldcrm.ui.panels.territory_parts import (
    MoveBar,
    OutsideList,
    delete_as_current_user,
    load_lists,
    map_tab,
    repair_question,
)
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.form import if_alive

FILE_FILTER = "Territory files (*.geojson *.json *.kml *.kmz);;All files (*)"
EXPORT_FILTER = "GeoJSON (*.geojson);;KML (*.kml)"
CHANGED = ChangeSet(territories=True, accounts=True)
REBUILD_DELAY_MS = 300


class TerritoriesPanel(QWidget):
    """Territory list with edit actions, its own map, unassigned accounts and the balance view."""

    sig_account_activated = Signal(str)
    """An account was double-clicked in the 'outside every territory' list: its id."""
    sig_status = Signal(str)
    """A short message for the status bar."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None, *,
                 with_map: bool = True, out_root: Path | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self._runner = runner
        self._mode: str | None = None  # None, "new" or the id of the territory being reshaped
        self._select_next: str | None = None
        self._out_root = out_root or cache_dir() / "territory-map"
        self._rebuild = QTimer(self, singleShot=True, interval=REBUILD_DELAY_MS)
        self.view: Any = None
        if with_map:
            from fieldcrm.ui.map_view import MapView

            self.view = MapView()
        self._build()
        self._connect()
        self.refresh()

    # -- building ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.model = TerritoryListModel(self)
        self.list = QTableView()
        self.list.setModel(self.model)
        self.list.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.verticalHeader().hide()
        self.list.setWordWrap(False)
        header = self.list.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.buttons = {key: QPushButton(text) for key, text in (
            ("draw", "Draw new…"), ("reshape", "Redraw shape…"), ("rename", "Rename…"),
            ("colour", "Colour…"), ("delete", "Delete"), ("import", "Import…"),
            ("export", "Export…"))}  # fmt: skip
        self.buttons["draw"].setToolTip("Draw a new territory on the map, corner by corner")
        self.buttons["reshape"].setToolTip("Draw the selected territory's outline again")
        self.buttons["import"].setToolTip("Import territories from GeoJSON or KML (reviewed first)")
        self.buttons["export"].setToolTip("Save every territory as GeoJSON or KML")
        self.rep = QComboBox()
        self.rep.setToolTip("The rep responsible; the territory's accounts get this owner")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.move_bar = MoveBar()
        self.outside = OutsideList()
        self.balance = BalanceView(self._runner)
        self.tabs = QTabWidget()
        if self.view is not None:
            tab, self.lasso = map_tab(self.view)
            self.tabs.addTab(tab, "Map")
        self.tabs.addTab(self.balance, "Balance")
        self.tabs.addTab(self.outside, "Outside territories")
        self._layout()
        self._update_buttons()

    def _layout(self) -> None:
        left = QWidget()
        box = QVBoxLayout(left)
        box.setContentsMargins(0, 0, 0, 0)
        for keys in (("draw", "reshape", "delete"), ("rename", "colour"), ("import", "export")):
            row = QHBoxLayout()
            for k in keys:
                row.addWidget(self.buttons[k])
            box.addLayout(row)
        box.addWidget(self.list, 1)
        rep_row = QHBoxLayout()
        rep_row.addWidget(QLabel("Rep of the selected territory:"))
        rep_row.addWidget(self.rep, 1)
        box.addLayout(rep_row)
        box.addWidget(self.status)
        right = QWidget()
        rbox = QVBoxLayout(right)
        rbox.setContentsMargins(0, 0, 0, 0)
        rbox.addWidget(self.tabs, 1)
        rbox.addWidget(self.move_bar)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        split.setSizes([340, 900])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(split)

    def _connect(self) -> None:
        b = self.buttons
        b["draw"].clicked.connect(self._on_draw_clicked)
        b["reshape"].clicked.connect(self._on_reshape_clicked)
        b["rename"].clicked.connect(self._on_rename_clicked)
        b["colour"].clicked.connect(self._on_colour_clicked)
        b["delete"].clicked.connect(self._on_delete_clicked)
        b["import"].clicked.connect(self._on_import_clicked)
        b["export"].clicked.connect(self._on_export_clicked)
        self.rep.activated.connect(self._on_rep_activated)
        self.move_bar.sig_move_requested.connect(self._on_move_requested)
        self.list.selectionModel().selectionChanged.connect(self._update_buttons)
        self.outside.sig_account_activated.connect(self.sig_account_activated)
        self._runner.sig_changes_applied.connect(self._on_runner_changes_applied)
        self._rebuild.timeout.connect(self._rebuild_map)
        if self.view is not None:
            self.lasso.clicked.connect(self.view.start_lasso)
            self.view.sig_polygon_drawn.connect(self.on_polygon_drawn)
            self.view.sig_selection.connect(self.on_map_selection)
            self.view.sig_territory_clicked.connect(self.select_territory)
            self.balance.sig_show_accounts.connect(self._on_balance_show_accounts)

    # -- public API -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the lists, the balance and the map from the database (off the GUI thread)."""
        self._runner.query(load_lists, if_alive(self, self._on_lists_loaded), parent=self,
                           key=f"territories-{id(self)}")  # fmt: skip
        self.balance.refresh()
        self._rebuild.start()

    def selected_id(self) -> str | None:
        rows = self.list.selectionModel().selectedRows()
        return self.model.data(rows[0], Qt.ItemDataRole.UserRole) if rows else None

    def select_territory(self, territory_id: str) -> None:
        row = self.model.row_of(territory_id)
        if row >= 0:
            self.list.selectionModel().select(
                self.model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)  # fmt: skip

    @Slot(str)
    def on_polygon_drawn(self, geojson: str) -> None:
        """A polygon drawn on a map (this panel's or the Map tab's): create or reshape."""
        mode, self._mode = self._mode or "new", None
        geometry = json.loads(geojson)
        self._say("Checking the shape…")
        self._runner.query(lambda s: T.check_territory_geometry(session=s, geojson=geometry),
                           if_alive(self, lambda r: self._on_shape_checked(mode, geometry, r)),
                           parent=self)  # fmt: skip

    @Slot(list)
    def on_map_selection(self, ids: list) -> None:
        """Accounts picked on a map (lasso or rectangle): they can be moved to a territory."""
        self.move_bar.set_picked([str(i) for i in ids])

    # -- loading ----------------------------------------------------------------------------
    def _on_lists_loaded(self, result: tuple[list[TerritorySummary], list[OutsideAccount],
                                             list[User]]) -> None:  # fmt: skip
        territories, outside, users = result
        keep, self._select_next = self._select_next or self.selected_id(), None
        self.model.set_rows(territories)
        if keep:
            self.select_territory(keep)
        self.outside.set_accounts(outside)
        self.tabs.setTabText(self.tabs.indexOf(self.outside), f"Outside territories ({len(outside)})")
        self._fill_reps(users)
        self.move_bar.set_territories(territories)
        self._update_buttons()

    def _fill_reps(self, users: list[User]) -> None:
        self.rep.clear()
        self.rep.addItem("(no rep)", None)
        for u in users:
            self.rep.addItem(f"{u.name} ({u.role.value})", u.id)

    def _rebuild_map(self) -> None:
        if self.view is None:
            return
        out_dir = self._out_root / f"build-{time.time_ns()}"
        self._runner.query(lambda s: build_map(session=s, out_dir=out_dir),
                           if_alive(self, self.view.load_map), parent=self,
                           key=f"territory-map-{id(self)}")  # fmt: skip

    # -- slots ------------------------------------------------------------------------------
    @Slot()
    def _update_buttons(self, *_: Any) -> None:
        chosen = self.selected_id()
        for key in ("reshape", "rename", "colour", "delete"):
            self.buttons[key].setEnabled(chosen is not None)
        self.rep.setEnabled(chosen is not None)
        if chosen is not None:
            rep_id = self.model.rows()[self.model.row_of(chosen)].rep_id
            self.rep.setCurrentIndex(max(0, self.rep.findData(rep_id)))

    @Slot()
    def _on_draw_clicked(self) -> None:
        self._start_drawing("new", "Click on the map to place the corners of the new territory;"
                                   " click the first corner again to finish.")

    @Slot()
    def _on_reshape_clicked(self) -> None:
        if (tid := self.selected_id()) is not None:
            self._start_drawing(tid, "Draw the territory's new outline on the map; click the "
                                     "first corner again to finish. Accounts follow the new shape.")

    def _start_drawing(self, mode: str, hint: str) -> None:
        self._mode = mode
        self._say(hint)
        if self.view is not None:
            self.tabs.setCurrentIndex(0)
            self.view.start_draw_polygon()

    def _cancel_drawing(self, text: str) -> None:
        self._say(text)
        if self.view is not None:
            self.view.clear_overlays()

    def _on_shape_checked(self, mode: str, geometry: dict, report: FeatureReport) -> None:
        if report.fatal:
            text = "\n".join(f"• {p.message}" for p in report.problems if p.fatal)
            self._warn("This shape cannot be used", text)
            self._cancel_drawing("")
            return
        if report.needs_acceptance and not self.confirm("Repair the shape?",
                                                        repair_question(report)):
            self._cancel_drawing("Nothing was saved.")
            return
        repair = report.needs_acceptance
        if mode == "new":
            name = self.ask_text("New territory", "Name of the new territory:",
                                 f"Territory {self.model.rowCount() + 1}")  # fmt: skip
            if not name:
                self._cancel_drawing("Nothing was saved.")
                return
            op = lambda s: T.create_territory(session=s, name=name, geojson=geometry,  # noqa: E731
                                              accept_repair=repair)
        else:
            op = lambda s: T.update_territory(session=s, territory_id=mode,  # noqa: E731
                                              geojson=geometry, accept_repair=repair)
        self._write(op, "Territory saved; accounts reassigned.", select=True)

    @Slot()
    def _on_rename_clicked(self) -> None:
        tid = self.selected_id()
        if tid is None:
            return
        old = self.model.rows()[self.model.row_of(tid)].name
        name = self.ask_text("Rename territory", "New name:", old)
        if name and name != old:
            self._write(lambda s: T.update_territory(session=s, territory_id=tid, name=name),
                        f"Renamed to {name}.")

    @Slot()
    def _on_colour_clicked(self) -> None:
        tid = self.selected_id()
        if tid is None:
            return
        colour = QColorDialog.getColor(QColor(self.model.rows()[self.model.row_of(tid)].color),
                                       self, "Territory colour")  # fmt: skip
        if colour.isValid():
            hex_ = colour.name()
            self._write(lambda s: T.update_territory(session=s, territory_id=tid, color=hex_),
                        "Colour changed.")

    @Slot()
    def _on_delete_clicked(self) -> None:
        tid = self.selected_id()
        if tid is None:
            return
        t = self.model.rows()[self.model.row_of(tid)]
        if self.confirm("Delete territory", f"Delete {t.name}? Its {t.accounts:,} accounts go to "
                        "whichever territory covers them, or to none."):
            self._write(lambda s: delete_as_current_user(s, tid), f"{t.name} deleted.")

    @Slot(int)
    def _on_rep_activated(self, _index: int) -> None:
        tid, rep_id = self.selected_id(), self.rep.currentData()
        if tid is not None:
            self._write(lambda s: T.assign_rep(session=s, territory_id=tid, rep_id=rep_id),
                        "Rep assigned; the territory's accounts now belong to the rep."
                        if rep_id else "The territory has no rep now.")  # fmt: skip

    @Slot(list)
    def _on_balance_show_accounts(self, ids: list) -> None:
        self.tabs.setCurrentIndex(0)
        self.view.highlight(ids)
        self._say(f"{len(ids)} accounts of the suggested moves are circled in blue on the map.")

    @Slot(list, str)
    def _on_move_requested(self, ids: list, target: str) -> None:
        name = self.move_bar.target.currentText()
        self._write(lambda s: T.move_accounts(session=s, account_ids=ids, territory_id=target or None),
                    f"Moved {len(ids)} accounts to {name}.")
        self.on_map_selection([])

    @Slot()
    def _on_import_clicked(self) -> None:
        path = self.ask_open_path()
        if not path:
            return
        self._say(f"Reading {Path(path).name}…")
        self._runner.query(lambda s: review_import(session=s, path=path),
                           if_alive(self, lambda r: self._on_review_ready(path, r)), parent=self)

    def _on_review_ready(self, path: str, review: ImportReview) -> None:
        self._say("")
        dialog = ImportPreviewDialog(review, Path(path).name, self)
        if not self.run_dialog(dialog):
            self._say("Import cancelled; nothing changed.")
            return
        accepted = dialog.accepted_repairs()
        self._write(lambda s: T.import_territories(session=s, preview=review.preview,
                                                   accepted=accepted),
                    f"Imported {len(review.preview.features)} territories from {Path(path).name}.")

    @Slot()
    def _on_export_clicked(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Export territories", "territories.geojson",
                                                   EXPORT_FILTER)  # fmt: skip
        if not path:
            return
        if not Path(path).suffix:
            path += ".kml" if chosen.startswith("KML") else ".geojson"
        self._runner.query(lambda s: T.export_territories(session=s, path=path),
                           if_alive(self, lambda n: self._say(f"Exported {n} territories to {path}.")),
                           parent=self)  # fmt: skip

    @Slot(object)
    def _on_runner_changes_applied(self, changes: ChangeSet) -> None:
        if changes.territories or changes.accounts or changes.settings:
            self._runner.query(load_lists, if_alive(self, self._on_lists_loaded), parent=self,
                               key=f"territories-{id(self)}")  # fmt: skip
            self._rebuild.start()

    # -- helpers (dialogs are methods so that tests can answer them) ------------------------
    def _write(self, op: Any, done: str, select: bool = False) -> None:
        def finished(result: Any) -> None:
            self._say(done)
            if select and hasattr(result, "id"):
                self._select_next = result.id  # the list reloads after the change broadcast

        self._runner.write(op, CHANGED, on_done=if_alive(self, finished), parent=self)

    def _say(self, text: str) -> None:
        self.status.setText(text)
        if text:
            self.sig_status.emit(text)

    def ask_text(self, title: str, label: str, default: str) -> str:
        text, ok = QInputDialog.getText(self, title, label, text=default)
        return text.strip() if ok else ""

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def ask_open_path(self) -> str:
        return QFileDialog.getOpenFileName(self, "Import territories", "", FILE_FILTER)[0]

    def run_dialog(self, dialog: ImportPreviewDialog) -> bool:
        return dialog.exec() == ImportPreviewDialog.DialogCode.Accepted

    def _warn(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)
