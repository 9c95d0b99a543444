"""The contacts of an account: a list with Edit and Delete."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.domain.records import Contact


def fit_list_height(view: QListWidget, max_height: int = 220) -> None:
    """Make a short list only as tall as its rows (up to ``max_height``), so no empty box shows."""
    rows = sum(view.sizeHintForRow(i) + 2 * view.spacing() for i in range(view.count()))
    frame = 2 * view.frameWidth() + 4
    view.setFixedHeight(max(view.sizeHintForRow(0) + frame if view.count() else 40,
                            min(max_height, rows + frame)))


class ContactsBox(QGroupBox):
    """Shows contacts (name, title, phone, email); asks its owner to edit or delete one."""

    sig_edit_requested = Signal(str)
    """Edit was clicked (or a contact double-clicked); carries the contact id."""
    sig_delete_requested = Signal(str)
    """Delete was clicked; carries the contact id."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Contacts", parent)
        self.list = QListWidget(self)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setAlternatingRowColors(True)  # tells two-line entries apart
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.itemActivated.connect(self._on_list_item_activated)
        self.list.itemSelectionChanged.connect(self._on_list_selection_changed)
        self.edit_button = QPushButton("Edit…", self)
        self.delete_button = QPushButton("Delete", self)
        self.edit_button.clicked.connect(lambda: self._request(self.sig_edit_requested))
        self.delete_button.clicked.connect(lambda: self._request(self.sig_delete_requested))
        row = QHBoxLayout()
        row.addWidget(self.edit_button)
        row.addWidget(self.delete_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(row)
        self._on_list_selection_changed()

    def set_contacts(self, contacts: tuple[Contact, ...] | list[Contact]) -> None:
        """Replace the list, keeping the selected contact selected."""
        keep = self.selected_id()
        self.list.clear()
        for c in contacts:
            first = f"{c.name} — {c.title}" if c.title else c.name
            second = "  ·  ".join(x for x in (c.phone, c.email) if x)
            item = QListWidgetItem(f"{first}\n{second}" if second else first, self.list)
            item.setData(Qt.ItemDataRole.UserRole, c.id)
            item.setToolTip(c.notes)
            if c.id == keep:
                item.setSelected(True)
        if not contacts:
            item = QListWidgetItem("No contacts yet — use “Add contact”.", self.list)
            item.setFlags(Qt.ItemFlag.NoItemFlags)
        fit_list_height(self.list)
        self._on_list_selection_changed()

    def selected_id(self) -> str | None:
        items = self.list.selectedItems()
        value = items[0].data(Qt.ItemDataRole.UserRole) if items else None
        return str(value) if value else None

    def names(self) -> list[str]:
        """Return the first line of each contact shown."""
        return [self.list.item(i).text().split("\n")[0] for i in range(self.list.count())
                if self.list.item(i).data(Qt.ItemDataRole.UserRole)]

    def _request(self, signal: Signal) -> None:  # type: ignore[valid-type]
        contact_id = self.selected_id()
        if contact_id:
            signal.emit(contact_id)  # type: ignore[attr-defined]

    @Slot(QListWidgetItem)
    def _on_list_item_activated(self, item: QListWidgetItem) -> None:
        value = item.data(Qt.ItemDataRole.UserRole)
        if value:
            self.sig_edit_requested.emit(str(value))

    @Slot()
    def _on_list_selection_changed(self) -> None:
        has = self.selected_id() is not None
        self.edit_button.setEnabled(has)
        self.delete_button.setEnabled(has)
