"""Sync in the shell: the controller, its status-bar widget, the Sync tab, login and "Sync now".

The controller (httpx, the sync client) is made on first use, so a start-up that never syncs
never imports it; the interactive app starts it once the window is usable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QWidget

from fieldcrm.ui.tasks import TaskRunner


class ShellSync(QObject):
    """Owns the SyncController for the window and wires the sync widgets to it."""

    def __init__(self, window: QMainWindow, runner: TaskRunner,
                 show_panel: Callable[[], None]) -> None:
        super().__init__(window)
        self._window = window
        self._runner = runner
        self._show_panel = show_panel
        self._controller: Any = None
        self.status: Any = None
        self.act_sync = QAction("S&ync now", window, shortcut=QKeySequence("F5"),
                                statusTip="Send and fetch changes (needs a login)")
        self.act_sync.triggered.connect(self.sync_now)
        self.act_login = QAction("Log &in to sync…", window,
                                 statusTip="Connect this laptop to the company's sync server")
        self.act_login.triggered.connect(self.open_login)

    @property
    def controller(self) -> Any:
        """The SyncController (made on first use, with its status-bar widget)."""
        if self._controller is None:
            from fieldcrm.ui.sync_controller import SyncController
            from fieldcrm.ui.widgets.sync_status import SyncStatusWidget

            self._controller = SyncController(self._runner, parent=self)
            self.status = SyncStatusWidget()
            self.status.sig_clicked.connect(self._show_panel)
            self._window.statusBar().addPermanentWidget(self.status)
            self._controller.sig_state_changed.connect(self.status.set_state)
            self._controller.sig_login_needed.connect(self.open_login)
            self.status.set_state(self._controller.state)
            self._controller.refresh()  # login and backlog from the file, before any sync
        return self._controller

    def start(self) -> None:
        """Read the saved login and sync in the background when logged in."""
        self.controller.start()

    def stop(self) -> None:
        """Stop syncing (before the runner shuts down)."""
        if self._controller is not None:
            self._controller.stop()

    def make_panel(self) -> QWidget:
        """Return the Sync tab's panel."""
        from fieldcrm.ui.panels.sync_panel import SyncPanel

        panel = SyncPanel(self._runner, self.controller)
        panel.sig_login_requested.connect(self.open_login)
        return panel

    @Slot()
    def sync_now(self) -> None:
        self.controller.sync_now()  # without a login this asks for one (sig_login_needed)

    @Slot()
    def open_login(self) -> None:
        from fieldcrm.ui.panels.login_dialog import LoginDialog

        dialog = LoginDialog(self.controller, parent=self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
