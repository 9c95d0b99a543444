"""The Data quality tab: likely duplicate accounts, and placing accounts on the map."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from fieldcrm.ui.panels.duplicates_panel import DuplicatesPanel
from fieldcrm.ui.panels.geocode_panel import GeocodePanel
from fieldcrm.ui.tasks import TaskRunner


class DataQualityPanel(QTabWidget):
    """Two pages: Duplicates (find, merge, undo) and Positions (place, list the unplaced)."""

    sig_account_activated = Signal(str)
    """The user asked to open an account."""
    sig_status = Signal(str)
    """A one-line message for the status bar."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.duplicates = DuplicatesPanel(runner)
        self.positions = GeocodePanel(runner)
        self.addTab(self.duplicates, "Duplicates")
        self.addTab(self.positions, "Positions")
        for page in (self.duplicates, self.positions):
            page.sig_account_activated.connect(self.sig_account_activated)
            page.sig_status.connect(self.sig_status)

    def show_positions(self) -> None:
        """Bring the Positions page forward (for the File menu action)."""
        self.setCurrentWidget(self.positions)
