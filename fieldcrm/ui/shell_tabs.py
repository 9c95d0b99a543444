"""The main window's tabs: each panel but the first is made the first time its tab is shown."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from enum import IntEnum
from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QTabWidget, QWidget

from fieldcrm.services.settings import Settings

TAB_TITLES = ("Today", "Account", "Map", "Route", "Territories", "Analysis", "Sync",
              "Data quality")


class Tab(IntEnum):
    """Index of each tab."""

    TODAY = 0
    ACCOUNT = 1
    MAP = 2
    ROUTE = 3
    TERRITORIES = 4
    ANALYSIS = 5
    SYNC = 6
    DATA_QUALITY = 7


# ``fieldcrm --screenshot --view NAME``: the tab each view name shows (names in fieldcrm.cli).
VIEW_TABS = {"list": Tab.TODAY, "account": Tab.ACCOUNT, "map": Tab.MAP, "route": Tab.ROUTE,
             "territories": Tab.TERRITORIES, "analysis": Tab.ANALYSIS, "sync": Tab.SYNC,
             "quality": Tab.DATA_QUALITY}

LAZY_MODULES = ("fieldcrm.ui.panels.account_panel", "fieldcrm.ui.panels.map_panel",
                "fieldcrm.ui.panels.route_panel")


class LazyTabs(QTabWidget):
    """Tabs whose panels are made on first use; start-up pays only for the first one.

    The Account, Map and Route panels import folium, pandas and QtWebEngine pages; making them
    up front would double the time to a usable window.
    """

    def __init__(self, first: QWidget, factories: dict[int, Callable[[], QWidget]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._factories = factories
        self._panels: dict[int, QWidget] = {0: first}
        self.addTab(first, TAB_TITLES[0])
        for title in TAB_TITLES[1:]:
            self.addTab(QWidget(), title)
        self.currentChanged.connect(self._on_current_changed)

    def made(self, index: int) -> Any:
        """Return the panel of a tab if it has been made, else None."""
        return self._panels.get(index)

    def panel(self, index: int) -> Any:
        """Return the panel of a tab, making it now if needed."""
        if index not in self._panels:
            self._panels[index] = panel = self._factories[index]()
            current, placeholder = self.currentIndex(), self.widget(index)
            self.blockSignals(True)
            self.removeTab(index)
            self.insertTab(index, panel, TAB_TITLES[index])
            self.setCurrentIndex(current)
            self.blockSignals(False)
            placeholder.deleteLater()
        return self._panels[index]

    @Slot(int)
    def _on_current_changed(self, index: int) -> None:
        if index >= 0:
            self.panel(index)


def make_panel(module: str, name: str, runner: Any, **signals: Callable[..., Any]) -> QWidget:
    """Make ``fieldcrm.ui.panels.<module>.<name>(runner)`` and connect its ``sig_*`` signals."""
    panel = getattr(importlib.import_module(f"fieldcrm.ui.panels.{module}"), name)(runner)
    for signal, slot in signals.items():
        getattr(panel, signal).connect(slot)
    return panel


def route_home(settings: Settings) -> Any:
    """Return the rep's home as a route start point, or None if it has no coordinates."""
    from fieldcrm.geo.routing.model import Place

    home = settings.home
    if home.lat is None or home.lon is None:
        return None
    return Place(home.label or "Home", home.lat, home.lon)


def warm_imports() -> None:
    """Import the lazy tabs' modules (run in the background once the window is usable)."""
    for name in LAZY_MODULES:
        importlib.import_module(name)
