"""Status-bar widget of sync: a coloured dot, the last sync time and the changes waiting."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

DOT_COLOURS = {"online": "#2e7d32", "syncing": "#1565c0", "offline": "#9e9e9e",
               "auth-needed": "#ef6c00", "protocol-too-old": "#c62828"}
STATUS_WORDS = {"online": "Online", "syncing": "Syncing…", "offline": "Offline",
                "auth-needed": "Not logged in", "protocol-too-old": "Update needed"}


def last_sync_text(when: datetime | None, now: datetime | None = None) -> str:
    """``Last sync 10:42`` today, ``Last sync 21 Nov 10:42`` before, ``Never synced``."""
    if when is None:
        return "Never synced"
    here = when.astimezone()
    today = (now or datetime.now().astimezone()).date()
    if here.date() == today:
        return f"Last sync {here:%H:%M}"
    return f"Last sync {here.day} {here:%b %H:%M}"


def pending_text(count: int) -> str:
    if count == 0:
        return "All changes sent"
    return f"{count:,} change{'' if count == 1 else 's'} waiting"


def status_words(state: object) -> str:
    """The first words of the status: "Online", or "Not logged in" / "Login expired"."""
    status = getattr(state, "status", "offline")
    if status == "auth-needed" and getattr(state, "logged_in", False):
        return "Log in again"
    return STATUS_WORDS.get(status, status)


class SyncStatusWidget(QWidget):
    """Shows a SyncState; a click asks for the Sync panel (the shell opens it)."""

    sig_clicked = Signal()
    """The user clicked the widget."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(6)
        self.dot = QLabel("●", self)
        self.status_label = QLabel(self)
        self.last_label = QLabel(self)
        self.pending_label = QLabel(self)
        for w in (self.dot, self.status_label, self.last_label, self.pending_label):
            layout.addWidget(w)
        self.status = "offline"
        self.set_state(None)

    def set_state(self, state: object | None) -> None:
        """Show ``state`` (a SyncState; None before the first one arrives)."""
        self.status = getattr(state, "status", "offline")
        colour = DOT_COLOURS.get(self.status, "#9e9e9e")
        self.dot.setStyleSheet(f"color: {colour};")
        self.status_label.setText(status_words(state) + " ·")
        self.last_label.setText(last_sync_text(getattr(state, "last_sync_at", None)) + " ·")
        self.pending_label.setText(pending_text(int(getattr(state, "pending", 0))))
        tip = getattr(state, "last_error", "") or "Click to see what is waiting to sync."
        conflicts = int(getattr(state, "conflicts", 0))
        if conflicts:
            self.pending_label.setText(self.pending_label.text()
                                       + f" · {conflicts} conflict{'s' if conflicts > 1 else ''}")
        self.setToolTip(tip)

    def text(self) -> str:
        """All the words shown (for tests and screen readers)."""
        return " ".join(w.text() for w in (self.status_label, self.last_label, self.pending_label))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self.sig_clicked.emit()
        super().mouseReleaseEvent(event)
