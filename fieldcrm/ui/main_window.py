"""The main window: a shell of menus, toolbar, status bar and panels wired together (no features)."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QProgressBar, QSplitter, QWidget

from fieldcrm.domain.records import AccountFilter
from fieldcrm.services.overview import pending_changes
from fieldcrm.services.settings import Settings, load_settings
from fieldcrm.ui.panels.accounts_panel import AccountsPanel
from fieldcrm.ui.panels.today_panel import TodayPanel
from fieldcrm.ui.shell_sync import ShellSync
from fieldcrm.ui.shell_tabs import TAB_TITLES, VIEW_TABS, LazyTabs, Tab, make_panel, route_home
from fieldcrm.ui.tasks import ChangeSet, TaskRunner

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """Accounts list on the left; Today, Account, Map, Route, Territories, Analysis on the right."""

    def __init__(self, runner: TaskRunner, *, restore_state: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self._account_id: str | None = None
        self._filter = AccountFilter()
        self._route_ids: list[str] = []
        self.setWindowTitle(f"fieldcrm — {runner.db.path.name}")
        self.accounts = AccountsPanel(runner)
        self.today = TodayPanel(runner)
        self.sync = ShellSync(self, runner, lambda: self.tabs.setCurrentIndex(Tab.SYNC))
        self.tabs = LazyTabs(self.today, {
            Tab.ACCOUNT: lambda: make_panel(
                "account_panel", "AccountPanel", runner, sig_plan_route=self._on_plan_route,
                sig_show_on_map=self._on_account_show_on_map, sig_account_changed=self.show_account,
                sig_correct_position=self._on_correct_position), Tab.MAP: self._make_map_panel,
            Tab.ROUTE: self._make_route_panel, Tab.TERRITORIES: self._make_territories_panel,
            Tab.ANALYSIS: lambda: make_panel("analysis_panel", "AnalysisPanel", runner,
                                             sig_status=self._say),
            Tab.SYNC: self.sync.make_panel, Tab.DATA_QUALITY: lambda: make_panel(
                "data_quality_panel", "DataQualityPanel", runner, sig_status=self._say,
                sig_account_activated=self._open_account)})
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.accounts)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([640, 760])
        self.setCentralWidget(self.splitter)
        self._build_actions()
        self._build_status_bar()
        self._connect()
        self._keep_state = restore_state  # a --screenshot window leaves the user's layout alone
        if restore_state:
            self._restore_state()

    # -- building -----------------------------------------------------------------------------
    def _action(self, text: str, slot: Any, shortcut: str | None = None,
                tip: str = "") -> QAction:
        action = QAction(text, self, shortcut=QKeySequence(shortcut or ""), statusTip=tip)
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        self.act_new = self._action("&New account…", self._on_new_account, "Ctrl+N",
                                    "Create an account")
        self.act_log = self._action("&Log visit…", self._on_log_visit, "Ctrl+L",
                                    "Log a visit to the selected account")
        self.act_log.setEnabled(False)
        self.act_settings = self._action("&Settings…", lambda: self._open(
            "settings_dialog", "SettingsDialog"), "Ctrl+,",
                                         "Home, office, country, currency, units, cadence")
        self.act_quit = self._action("&Quit", self.close, "Ctrl+Q")
        self.act_find = self._action("&Find accounts", self._on_find, "Ctrl+F")
        self.act_clear = self._action("&Clear filters", self.accounts.clear_filters)
        self.act_import = self._action("&Import accounts…", lambda: self._open(
            "import_wizard", "ImportWizard"), "Ctrl+I",
                                       "Import accounts from a CSV or Excel file")
        file_menu = self.menuBar().addMenu("&File")
        for act in (self.act_new, self.act_log, self.act_import, None, self.sync.act_sync,
                    self.sync.act_login, None, self.act_settings, None, self.act_quit):
            file_menu.addSeparator() if act is None else file_menu.addAction(act)
        view = self.menuBar().addMenu("&View")
        self.act_list = self._action(
            "Accounts &list", lambda: self.accounts.setVisible(self.act_list.isChecked()),
            "Ctrl+0", "Hide the list to give the map and analysis more room")
        self.act_list.setCheckable(True)
        self.act_list.setChecked(True)
        view.addActions([self.act_find, self.act_clear, self.act_list])
        view.addSeparator()
        for i, name in enumerate(f"&{t}" for t in TAB_TITLES):
            view.addAction(self._action(name, lambda _c=False, i=i: self.tabs.setCurrentIndex(i),
                                        f"Ctrl+{i + 1}"))
        self.menuBar().addMenu("&Help").addAction(self._action("&About fieldcrm", lambda: (
            QMessageBox.about(self, "About fieldcrm", "fieldcrm: an offline-first CRM for field "
                              f"sales reps.\n\nDatabase: {self.runner.db.path}"))))
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setMovable(False)
        toolbar.addActions([self.act_new, self.act_log, self.sync.act_sync, self.act_settings])

    def _build_status_bar(self) -> None:
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumSize(90, 14)
        self.busy.hide()
        self.pending_label = QLabel("Offline mode")
        self.pending_label.setToolTip("Everything is stored here; changes wait in the outbox.")
        self.statusBar().addPermanentWidget(self.busy)
        self.statusBar().addPermanentWidget(self.pending_label)

    def _connect(self) -> None:
        self.runner.sig_busy.connect(self.busy.setVisible)
        self.runner.sig_changes_applied.connect(self._on_runner_changes_applied)
        self.accounts.sig_account_selected.connect(self._on_accounts_account_selected)
        self.accounts.sig_filter_changed.connect(self._on_accounts_filter_changed)
        self.accounts.sig_new_account_requested.connect(self._on_new_account)
        self.today.sig_account_selected.connect(self._open_account)

    # -- public API ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start loading the panels' data (after the window is shown)."""
        # The list's first page goes first: the other reads would slow it down beside it.
        self.accounts.model.sig_loaded.connect(self._load_the_rest,
                                               Qt.ConnectionType.SingleShotConnection)
        self.accounts.start()
        self.tabs.panel(self.tabs.currentIndex())

    def _load_the_rest(self, _total: int = 0) -> None:
        self.today.refresh()
        self._refresh_pending()

    def start_sync(self) -> None:
        """Read the sync login and sync in the background (the interactive app, not screenshots)."""
        self.sync.start()
        self.pending_label.hide()  # the sync status widget shows what waits

    def show_view(self, view: str) -> None:
        """Show a tab by its ``--view`` name (``list`` is Today beside the list)."""
        self.tabs.setCurrentIndex(VIEW_TABS[view])

    def show_account(self, account_id: str) -> None:
        """Show an account in the Account tab and mark it on the map and in the list."""
        if getattr(self, "_showing", False):
            return  # the account panel echoes the account it shows
        self._showing, self._account_id = True, account_id
        try:
            self.act_log.setEnabled(True)
            self.tabs.panel(Tab.ACCOUNT).show_account(account_id)
            self.accounts.select_account(account_id)
            if self.tabs.made(Tab.MAP) is not None:
                self.tabs.made(Tab.MAP).select_account(account_id)
        finally:
            self._showing = False

    # -- panels of the lazy tabs ----------------------------------------------------------------
    def _make_map_panel(self) -> QWidget:
        from fieldcrm.ui.panels.map_panel import MapPanel

        panel = MapPanel(self.runner)
        panel.sig_account_clicked.connect(self._open_account)
        panel.sig_selection_changed.connect(self._on_map_selection_changed)
        panel.sig_polygon_drawn.connect(self._on_map_polygon_drawn)
        if self._filter != AccountFilter():
            panel.set_filter(self._filter)
        if self._account_id:
            panel.select_account(self._account_id)
        return panel

    def _make_route_panel(self) -> QWidget:
        from fieldcrm.ui.panels.route_panel import RoutePanel

        panel = RoutePanel(self.runner)
        panel.set_accounts(self._route_ids)
        panel.sig_saved.connect(lambda n: self._say(f"{n} visits added to the agenda."))
        self._load_route_home()
        return panel

    def _make_territories_panel(self) -> QWidget:
        from fieldcrm.ui.panels.territories_panel import TerritoriesPanel

        panel = TerritoriesPanel(self.runner)
        panel.sig_account_activated.connect(self._open_account)
        panel.sig_status.connect(self._say)
        return panel

    def _load_route_home(self) -> None:
        self.runner.query(lambda s: load_settings(session=s), self._on_route_settings_loaded,
                          parent=self)

    def _on_route_settings_loaded(self, settings: Settings) -> None:
        route = self.tabs.made(Tab.ROUTE)
        if route is not None:
            route.home = route_home(settings) or route.home
            route.tz = settings.timezone

    def _say(self, text: str) -> None:
        self.statusBar().showMessage(text, 5000)

    # -- slots ----------------------------------------------------------------------------------
    @Slot(str)
    def _on_accounts_account_selected(self, account_id: str) -> None:
        if self.tabs.currentIndex() == Tab.TODAY:
            self.tabs.setCurrentIndex(Tab.ACCOUNT)
        self.show_account(account_id)

    @Slot(object)
    def _on_accounts_filter_changed(self, flt: AccountFilter) -> None:
        self._filter = flt
        if self.tabs.made(Tab.MAP) is not None:
            self.tabs.made(Tab.MAP).set_filter(flt)

    @Slot(str)
    def _open_account(self, account_id: str) -> None:
        """Show an account and bring its tab forward (from Today, a pin or a new account)."""
        self.show_account(account_id)
        self.tabs.setCurrentIndex(Tab.ACCOUNT)

    @Slot(str)
    def _on_account_show_on_map(self, account_id: str) -> None:
        self.tabs.setCurrentIndex(Tab.MAP)
        self.tabs.panel(Tab.MAP).select_account(account_id)

    @Slot(str, str)
    def _on_correct_position(self, account_id: str, name: str) -> None:
        self._on_account_show_on_map(account_id)
        self.tabs.panel(Tab.MAP).start_move_pin(account_id, name)

    @Slot(list)
    def _on_plan_route(self, account_ids: list) -> None:
        self._route_ids = list(account_ids)
        self.tabs.panel(Tab.ROUTE).set_accounts(self._route_ids)
        self.tabs.setCurrentIndex(Tab.ROUTE)

    @Slot(list)
    def _on_map_selection_changed(self, account_ids: list) -> None:
        self._route_ids = list(account_ids)
        if self.tabs.made(Tab.ROUTE) is not None:
            self.tabs.made(Tab.ROUTE).set_accounts(self._route_ids)
        if self.tabs.made(Tab.TERRITORIES) is not None:
            self.tabs.made(Tab.TERRITORIES).on_map_selection(account_ids)
        self._say(f"{len(account_ids)} accounts picked; the Route tab plans a day with them.")

    @Slot(str)
    def _on_map_polygon_drawn(self, geojson: str) -> None:
        self.tabs.setCurrentIndex(Tab.TERRITORIES)
        self.tabs.panel(Tab.TERRITORIES).on_polygon_drawn(geojson)

    def _open(self, module: str, name: str, *args: Any) -> Any:
        """Open a dialog of ``fieldcrm.ui.panels.<module>`` (imported on first use)."""
        cls = getattr(importlib.import_module(f"fieldcrm.ui.panels.{module}"), name)
        dialog = cls(self.runner, *args, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    @Slot()
    def _on_new_account(self) -> None:
        self._open("account_editor", "AccountEditorDialog", None).sig_saved.connect(
            self._open_account)

    @Slot()
    def _on_log_visit(self) -> None:
        account_id = self._account_id or self.accounts.selected_account_id()
        if account_id is None:
            self._say("Select an account first, then log the visit.")
        else:
            self._open("visit_form", "VisitFormDialog", account_id)

    def _on_find(self) -> None:
        self.act_list.setChecked(True)
        self.accounts.setVisible(True)
        self.accounts.focus_search()

    @Slot(object)
    def _on_runner_changes_applied(self, changes: ChangeSet) -> None:
        self._refresh_pending()
        if changes.settings and self.tabs.made(Tab.ROUTE) is not None:
            self._load_route_home()

    def _refresh_pending(self) -> None:
        self.runner.query(lambda s: pending_changes(session=s), self._on_pending_loaded,
                          parent=self, key=f"pending:{id(self)}",
                          on_error=lambda exc: log.warning("Outbox count failed: %s", exc))

    def _on_pending_loaded(self, count: int) -> None:
        waiting = f"{count:,} change{'' if count == 1 else 's'} waiting to sync"
        self.pending_label.setText(f"Offline mode · {waiting if count else 'all changes saved locally'}")

    # -- window state ---------------------------------------------------------------------------
    def _restore_state(self) -> None:
        settings = QSettings()
        if not self.restoreGeometry(settings.value("main/geometry", QByteArray())):
            self.resize(1400, 900)
        self.splitter.restoreState(settings.value("main/splitter", QByteArray()))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.sync.stop()
        if self._keep_state:
            QSettings().setValue("main/geometry", self.saveGeometry())
            QSettings().setValue("main/splitter", self.splitter.saveState())
        super().closeEvent(event)

