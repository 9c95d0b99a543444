"""Pieces of the Territories tab: its ops, the repair question, and the "move picked" bar."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.domain.enums import Role
from fieldcrm.domain.records import User
from fieldcrm.geo.territory_check import FeatureReport
from fieldcrm.services import territories as T
from fieldcrm.services.balance import (
    OutsideAccount,
    TerritorySummary,
    accounts_outside,
    territory_summaries,
)
from fieldcrm.services.settings import current_user, list_users
from fieldcrm.ui.models.territory_list_model import swatch


def load_lists(session: Any) -> tuple[list[TerritorySummary], list[OutsideAccount], list[User]]:
    """Op: the territory list, the accounts in no territory, and the users (reps)."""
    return (territory_summaries(session=session), accounts_outside(session=session),
            list_users(session=session))  # fmt: skip


def delete_as_current_user(session: Any, territory_id: str) -> int:
    """Op: delete a territory as this laptop's user (a manager when nobody is signed in)."""
    user = current_user(session=session)
    role = user.role if user is not None else Role.MANAGER
    return T.delete_territory(session=session, territory_id=territory_id, actor_role=role)


def repair_question(report: FeatureReport) -> str:
    """What a drawn shape's check found, as the question asked before a repair."""
    lines = "\n".join(f"• {p.message}" for p in report.problems if p.code != "area")
    return (f"The shape needs a repair before it can be saved:\n{lines}\n\nArea before "
            f"{report.area_before_km2:,.2f} km², after {report.area_after_km2:,.2f} km².\n"
            "Save the repaired shape?")  # fmt: skip


class MoveBar(QWidget):
    """"N accounts picked — Move picked accounts to [territory] [Move]"."""

    sig_move_requested = Signal(list, str)
    """(account ids, territory id or "" for no territory) when Move is clicked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.picked: list[str] = []
        self.label = QLabel("No accounts picked on the map.")
        self.target = QComboBox()
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.move = QPushButton("Move")
        self.move.setEnabled(False)
        bar = QHBoxLayout(self)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.label)
        bar.addStretch(1)
        bar.addWidget(QLabel("Move picked accounts to:"))
        bar.addWidget(self.target)
        bar.addWidget(self.move)
        self.move.clicked.connect(self._on_move_clicked)

    def set_territories(self, territories: list[TerritorySummary]) -> None:
        current = self.target.currentData()
        self.target.clear()
        for t in territories:
            self.target.addItem(swatch(t.color), t.name, t.id)
        self.target.addItem("(no territory)", "")
        self.target.setCurrentIndex(max(0, self.target.findData(current)))

    def set_picked(self, ids: list[str]) -> None:
        self.picked = list(ids)
        n = len(ids)
        self.label.setText(f"{n:,} account{'s' if n != 1 else ''} picked on the map."
                           if n else "No accounts picked on the map.")  # fmt: skip
        self.move.setEnabled(n > 0)

    @Slot()
    def _on_move_clicked(self) -> None:
        if self.picked:
            self.sig_move_requested.emit(list(self.picked), self.target.currentData() or "")


class OutsideList(QListWidget):
    """Accounts that are in no territory; double-click opens one."""

    sig_account_activated = Signal(str)
    """An account was double-clicked: its id."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Accounts in no territory. Double-click to open one.")
        self.itemDoubleClicked.connect(self._on_item_double_clicked)

    def set_accounts(self, outside: list[OutsideAccount]) -> None:
        self.clear()
        for a in outside:
            text = f"{a.name} — {a.city}" if a.city else a.name
            item = QListWidgetItem(text if a.located else f"{text} (no position on the map)")
            item.setData(Qt.ItemDataRole.UserRole, a.id)
            self.addItem(item)

    @Slot(QListWidgetItem)
    def _on_item_double_clicked(self, item: QListWidgetItem) -> None:
        self.sig_account_activated.emit(item.data(Qt.ItemDataRole.UserRole))


def map_tab(view: QWidget) -> tuple[QWidget, QPushButton]:
    """The Map tab: a lasso button over the map view; returns the tab and the button."""
    lasso = QPushButton("Pick accounts (lasso)")
    lasso.setToolTip("Draw around accounts on the map to pick them for a move")
    bar = QHBoxLayout()
    bar.addWidget(lasso)
    bar.addWidget(QLabel("Territory outlines are drawn with their names; pins are accounts."))
    bar.addStretch(1)
    tab = QWidget()
    box = QVBoxLayout(tab)
    box.setContentsMargins(0, 0, 0, 0)
    box.addLayout(bar)
    box.addWidget(view, 1)
    return tab, lasso
