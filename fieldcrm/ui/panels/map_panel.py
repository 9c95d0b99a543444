"""The Map tab: the account map with colour mode, "within X km", selection tools and a picked list."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from fieldcrm.config import AppSettings, cache_dir
from fieldcrm.domain.records import AccountFilter
from fieldcrm.geo.maps import MapTerritory, build_account_map
from fieldcrm.services.accounts import update_account
from fieldcrm.services.mapping import (
    Nearby,
    accounts_within,
    list_territories,
    map_points,
    visible_ids,
)
from fieldcrm.ui.map_view import MapView
from fieldcrm.ui.tasks import ChangeSet, TaskRunner
from fieldcrm.ui.widgets.form import if_alive

log = logging.getLogger(__name__)

COLOR_MODES = (("status", "Colour by status"), ("overdue", "Colour by days since last visit"))
REBUILD_DELAY_MS = 400
_BUILD_PREFIX = "build-"


def build_map_files(session: Session, *, out_dir: Path, color_by: str,
                    tile_url: str | None) -> tuple[Path, dict[str, str]]:
    """Op: write the map page for every account and territory; return it and the names by id."""
    points = map_points(session=session)
    territories = [MapTerritory(t.id, t.name, t.color, t.geojson)
                   for t in list_territories(session=session)]
    path = build_account_map(points=points, territories=territories, out_dir=out_dir,
                             color_by=color_by, tile_url=tile_url)
    return path, dict(zip(points.ids, points.names, strict=True))


class MapPanel(QWidget):
    """Hosts the MapView; builds the page off the GUI thread and follows the list's filter."""

    sig_account_clicked = Signal(str)
    """A pin (or an account in the picked list) was chosen: its id."""
    sig_selection_changed = Signal(list)
    """Accounts picked on the map with the rectangle or lasso: their ids."""
    sig_polygon_drawn = Signal(str)
    """A polygon was drawn with "Draw area": its GeoJSON geometry as JSON text."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None, *,
                 out_root: Path | None = None, tile_url: str | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._out_root = out_root or cache_dir() / "map"
        self._tile_url = tile_url if tile_url is not None else AppSettings().tile_url
        self._names: dict[str, str] = {}
        self._filter = AccountFilter()
        self._visible: list[str] | None = None
        self._selected_id: str | None = None
        self._moving: tuple[str, str] | None = None  # (id, name) in move-pin mode
        self._building = False
        self._page_dir: Path | None = None
        self._rebuild_timer = QTimer(self)
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(REBUILD_DELAY_MS)
        self._build()
        self._connect()
        self.rebuild()

    # -- building -----------------------------------------------------------------------------
    def _build(self) -> None:
        self.view = MapView(tile_cache_dir=cache_dir() / "tiles" if self._tile_url else None)
        if self._tile_url:
            host = urlsplit(self._tile_url.replace("{s}", "a")).hostname
            if host:
                self.view.allow_remote_host(host)
        self.color_mode = QComboBox()
        for key, label in COLOR_MODES:
            self.color_mode.addItem(label, key)
        self.km = QDoubleSpinBox()
        self.km.setRange(0.5, 500.0)
        self.km.setValue(10.0)
        self.km.setSuffix(" km")
        self.within = QPushButton("Within radius")
        self.within.setToolTip("Accounts within this distance of the selected account")
        self.within.setEnabled(False)
        self.rect_tool = self._tool("Rectangle", "Pick accounts by dragging a rectangle on the map")
        self.lasso_tool = self._tool("Lasso", "Pick accounts by drawing around them (drag)")
        self.draw_tool = self._tool("Draw area", "Draw a polygon (for a new territory)")
        self.clear_tool = self._tool("Clear", "Clear the picked accounts, circle and drawings")
        self.heat = QCheckBox("Heat map")
        self.status = QLabel("Loading the map…")
        self.picked_label = QLabel("Picked on the map: 0")
        self.picked = QListWidget()
        self.picked.setToolTip("Double-click to open an account")
        self._layout()

    @staticmethod
    def _tool(text: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        return button

    def _layout(self) -> None:
        bar = QHBoxLayout()
        for w in (self.color_mode, self.km, self.within, self.rect_tool, self.lasso_tool,
                  self.draw_tool, self.clear_tool, self.heat):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.status)
        self.side = side = QWidget()
        side.hide()  # shown once something is picked
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.picked_label)
        side_layout.addWidget(self.picked)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.view)
        split.addWidget(side)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([800, 200])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addLayout(bar)
        outer.addWidget(split, 1)

    def _connect(self) -> None:
        self._rebuild_timer.timeout.connect(self.rebuild)
        self._runner.sig_changes_applied.connect(self._on_runner_changes_applied)
        self.view.sig_ready.connect(self._on_view_ready)
        self.view.sig_load_failed.connect(self._on_view_load_failed)
        self.view.sig_account_clicked.connect(self.sig_account_clicked)
        self.view.sig_selection.connect(self._on_view_selection)
        self.view.sig_polygon_drawn.connect(self.sig_polygon_drawn)
        self.view.sig_pin_moved.connect(self._on_view_pin_moved)
        self.color_mode.currentIndexChanged.connect(self._on_color_mode_changed)
        self.within.clicked.connect(self._on_within_clicked)
        self.rect_tool.clicked.connect(self.view.start_rectangle_select)
        self.lasso_tool.clicked.connect(self.view.start_lasso)
        self.draw_tool.clicked.connect(self.view.start_draw_polygon)
        self.clear_tool.clicked.connect(self._on_clear_clicked)
        self.heat.toggled.connect(self.view.set_heatmap)
        self.picked.itemDoubleClicked.connect(self._on_picked_double_clicked)

    # -- public API ---------------------------------------------------------------------------
    def is_ready(self) -> bool:
        """True once the current page has drawn its pins and territories."""
        return not self._building and self.view.is_ready

    def rebuild(self) -> None:
        """Build the map page again from the database (off the GUI thread) and load it."""
        self._building = True
        self.status.setText("Building the map…")
        out_dir = self._out_root / f"{_BUILD_PREFIX}{time.time_ns()}"
        color_by, tile_url = self.color_mode.currentData(), self._tile_url
        self._runner.query(
            lambda s: build_map_files(s, out_dir=out_dir, color_by=color_by, tile_url=tile_url),
            if_alive(self, self._on_map_built), parent=self, key="map-build",
            on_error=if_alive(self, self._on_build_failed))

    def set_filter(self, flt: AccountFilter) -> None:
        """Show only the accounts the list shows (no page rebuild)."""
        self._filter = flt
        self._runner.query(lambda s: visible_ids(session=s, flt=flt),
                           if_alive(self, self._on_visible_loaded), parent=self, key="map-filter")

    def select_account(self, account_id: str) -> None:
        """Centre the map on an account and mark it."""
        self._selected_id = account_id
        self.within.setEnabled(True)
        self.view.select_account(account_id)

    def start_move_pin(self, account_id: str, name: str = "") -> None:
        """Let the user drag one account's pin to its right place (saved as set by hand); an
        account not on the map yet gets a pin at the centre of the view."""
        self.select_account(account_id)
        name = self._names.get(account_id) or name or "the account"
        self._moving = (account_id, name)  # again after a rebuild (a new page forgets it)
        self.view.start_move_pin(account_id, name)
        self.status.setText(f"Drag the red pin of {name} to its right place.")

    # -- slots --------------------------------------------------------------------------------
    @Slot(str, float, float)
    def _on_view_pin_moved(self, account_id: str, lat: float, lon: float) -> None:
        self._moving = None  # one drop, one correction: the rebuilt page shows it
        self.status.setText("Saving the new position…")
        self._runner.write(
            lambda s: update_account(session=s, account_id=account_id,
                                     changes={"lat": round(lat, 6), "lon": round(lon, 6)}),
            ChangeSet(accounts=True), parent=self,
            on_done=if_alive(self, lambda a: self.status.setText(
                f"New position of {a.name} saved (set by hand).")),
            on_error=if_alive(self, lambda exc: self.status.setText(
                f"The position could not be saved: {exc}")))

    def _on_map_built(self, result: tuple[Path, dict[str, str]]) -> None:
        path, self._names = result
        rebuilt = self._page_dir is not None
        self._page_dir = path.parent
        self.status.setText("Loading the map…")
        self.view.load_map(path, keep_view=rebuilt)
        # Queued in the view until the new page is ready.
        self.view.set_color_mode(self.color_mode.currentData())
        if self._visible is not None:
            self.view.set_visible_ids(self._visible)
        if self._selected_id:
            self.view.select_account(self._selected_id)
        if self.heat.isChecked():
            self.view.set_heatmap(True)
        if self._moving:
            self.view.start_move_pin(*self._moving)

    def _on_build_failed(self, exc: BaseException) -> None:
        self._building = False
        log.error("Map build failed: %s", exc)
        self.status.setText(f"The map could not be built: {exc}")

    @Slot()
    def _on_view_ready(self) -> None:
        self._building = False
        shown = len(self._names) if self._visible is None else len(self._visible)
        self.status.setText(f"{shown:,} accounts on the map")
        self._remove_old_pages()

    @Slot(str)
    def _on_view_load_failed(self, message: str) -> None:
        self._building = False
        self.status.setText("The map could not be shown (details in the log).")
        self.status.setToolTip(message)

    def _on_visible_loaded(self, ids: list[str] | None) -> None:
        self._visible = ids
        self.view.set_visible_ids(ids)
        if self.view.is_ready:
            shown = len(self._names) if ids is None else len(ids)
            self.status.setText(f"{shown:,} accounts on the map")

    @Slot(object)
    def _on_runner_changes_applied(self, changes: ChangeSet) -> None:
        if changes.accounts or changes.visits or changes.territories or changes.settings:
            self._rebuild_timer.start()

    @Slot(int)
    def _on_color_mode_changed(self, _index: int) -> None:
        self.view.set_color_mode(self.color_mode.currentData())

    @Slot()
    def _on_within_clicked(self) -> None:
        account_id, km = self._selected_id, self.km.value()
        if not account_id:
            return
        self._runner.query(lambda s: accounts_within(session=s, account_id=account_id, km=km),
                           if_alive(self, lambda found: self._on_nearby_loaded(account_id, km,
                                                                               found)),
                           parent=self, key="map-within")

    def _on_nearby_loaded(self, account_id: str, km: float, found: list[Nearby]) -> None:
        ids = [n.id for n in found]
        self.view.show_circle_around(account_id, km, ids)
        self._fill_picked([(n.id, f"{n.name} — {n.km:.1f} km") for n in found],
                          f"Within {km:g} km: {len(found)}")

    @Slot(list)
    def _on_view_selection(self, ids: list[str]) -> None:
        self._fill_picked([(i, self._names.get(i, i)) for i in ids], f"Picked on the map: {len(ids)}")
        self.sig_selection_changed.emit(ids)

    @Slot()
    def _on_clear_clicked(self) -> None:
        self.view.clear_overlays()
        self._moving = None
        self.view.stop_move_pin()
        self._fill_picked([], "Picked on the map: 0")

    @Slot(QListWidgetItem)
    def _on_picked_double_clicked(self, item: QListWidgetItem) -> None:
        self.sig_account_clicked.emit(item.data(Qt.ItemDataRole.UserRole))

    # -- helpers ------------------------------------------------------------------------------
    def _fill_picked(self, rows: list[tuple[str, str]], title: str) -> None:
        self.picked.clear()
        for account_id, text in rows:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, account_id)
            self.picked.addItem(item)
        self.picked_label.setText(title)
        self.side.setVisible(bool(rows))

    def picked_ids(self) -> list[Any]:
        return [self.picked.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.picked.count())]

    def _remove_old_pages(self) -> None:
        """Delete builds older than the page on screen (newer ones may still be being written)."""
        if self._page_dir is None or not self._out_root.is_dir():
            return
        current = self._page_dir.name
        for d in self._out_root.glob(f"{_BUILD_PREFIX}*"):
            # Same prefix and zero-free ns timestamps of equal length: names sort by age.
            if d.is_dir() and (len(d.name), d.name) < (len(current), current):
                shutil.rmtree(d, ignore_errors=True)
