"""The "Accounts within X km" box: a radius, the accounts found, and a route through them."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.services.mapping import Nearby
from fieldcrm.ui.widgets.contacts_box import fit_list_height

KM_PER_MILE = 1.609344


class NearbyBox(QGroupBox):
    """Lists nearby accounts; the owner loads them when :attr:`sig_radius_changed` fires."""

    sig_radius_changed = Signal()
    """The radius changed; reload with :meth:`radius_km`."""
    sig_account_activated = Signal(str)
    """An account in the list was double-clicked (or Enter was pressed on it); its id."""
    sig_route_requested = Signal(list)
    """"Plan route with these" was clicked; carries the listed account ids."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Nearby", parent)
        row = QHBoxLayout()
        row.addWidget(QLabel("Accounts within", self))
        self.radius = QDoubleSpinBox(self)
        self.radius.setRange(0.5, 500)
        self.radius.setDecimals(1)
        self.radius.setValue(10)
        self.radius.setSuffix(" km")
        self.radius.valueChanged.connect(lambda _v: self.sig_radius_changed.emit())
        row.addWidget(self.radius)
        row.addStretch(1)
        self.list = QListWidget(self)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setToolTip("Double-click to open that account.")
        self.list.itemActivated.connect(self._on_list_item_activated)
        self.route_button = QPushButton("Plan route with these…", self)
        self.route_button.clicked.connect(self._on_route_clicked)
        self.route_button.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.list)
        layout.addWidget(self.route_button, 0, Qt.AlignmentFlag.AlignLeft)

    def units(self) -> str:
        return self.radius.suffix().strip()

    def set_units(self, units: str) -> bool:
        """Show distances in ``km`` or ``mi``; return True if that changed the radius."""
        suffix = " mi" if units == "mi" else " km"
        if self.radius.suffix() == suffix:
            return False
        self.radius.setSuffix(suffix)
        return True

    def radius_km(self) -> float:
        value = self.radius.value()
        return value * KM_PER_MILE if self.units() == "mi" else value

    def set_nearby(self, nearby: list[Nearby] | None) -> None:
        """Show the accounts found (None: the account has no position to measure from)."""
        self.list.clear()
        per_unit = 1 / KM_PER_MILE if self.units() == "mi" else 1.0
        for n in nearby or []:
            place = f" — {n.city}" if n.city else ""
            item = QListWidgetItem(f"{n.km * per_unit:5.1f} {self.units()}   {n.name}{place}", self.list)
            item.setData(Qt.ItemDataRole.UserRole, n.id)
        if not nearby:
            text = ("This account has no position yet; edit it to add coordinates."
                    if nearby is None else "No other accounts within that distance.")
            QListWidgetItem(text, self.list).setFlags(Qt.ItemFlag.NoItemFlags)
        fit_list_height(self.list)
        self.route_button.setEnabled(bool(nearby))

    def ids(self) -> list[str]:
        """Return the listed account ids, nearest first."""
        values = (self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count()))
        return [str(v) for v in values if v]

    @Slot(QListWidgetItem)
    def _on_list_item_activated(self, item: QListWidgetItem) -> None:
        account_id = item.data(Qt.ItemDataRole.UserRole)
        if account_id:
            self.sig_account_activated.emit(str(account_id))

    @Slot()
    def _on_route_clicked(self) -> None:
        self.sig_route_requested.emit(self.ids())
