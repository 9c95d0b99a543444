"""An account's timeline: entries newest first, grouped under a header per day, a colour per kind."""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from fieldcrm.domain.records import TimelineEntry

KINDS: dict[str, tuple[str, str]] = {
    "visit": ("Visit", "#2e7d32"),
    "planned": ("Planned visit", "#1565c0"),
    "cancelled": ("Cancelled visit", "#9e9e9e"),
    "sale": ("Sale", "#f9a825"),
    "opportunity": ("Opportunity", "#6a1b9a"),
    "contact": ("Contact", "#00838f"),
    "created": ("Account created", "#546e7a"),
}
KIND_ROLE = Qt.ItemDataRole.UserRole + 1
_icons: dict[str, QIcon] = {}


def kind_icon(kind: str) -> QIcon:
    """Return a filled circle in the kind's colour (hollow for planned and cancelled visits)."""
    if kind not in _icons:
        colour = QColor(KINDS.get(kind, ("", "#607d8b"))[1])
        pixmap = QPixmap(14, 14)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(colour)
        hollow = kind in ("planned", "cancelled")
        painter.setBrush(QBrush(Qt.BrushStyle.NoBrush) if hollow else QBrush(colour))
        painter.drawEllipse(2, 2, 10, 10)
        painter.end()
        _icons[kind] = QIcon(pixmap)
    return _icons[kind]


def day_heading(day: date, today: date) -> str:
    """Return "Today", "Yesterday", "Tomorrow" or a short date with the weekday."""
    delta = (day - today).days
    named = {0: "Today", -1: "Yesterday", 1: "Tomorrow"}
    if delta in named:
        return f"{named[delta]} · {day.strftime('%a %d %b %Y')}"
    return day.strftime("%A %d %B %Y")


class TimelineList(QListWidget):
    """Shows timeline entries; day headers are not selectable. Entries carry their ``ref_id``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setIconSize(QSize(14, 14))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setUniformItemSizes(False)
        self.setSpacing(1)

    def set_entries(self, entries: list[TimelineEntry], tz: tzinfo | None = None,
                    now: datetime | None = None) -> None:
        """Replace the list with ``entries`` (already newest first), shown in time zone ``tz``."""
        self.clear()
        today = (now or datetime.now(tz)).astimezone(tz).date()
        current: date | None = None
        for entry in entries:
            at = entry.at.astimezone(tz)
            if at.date() != current:
                current = at.date()
                self._add_heading(day_heading(current, today))
            self._add_entry(entry, at)
        if not entries:
            item = QListWidgetItem("Nothing has happened with this account yet.", self)
            item.setFlags(Qt.ItemFlag.NoItemFlags)

    def _add_heading(self, text: str) -> None:
        item = QListWidgetItem(text, self)
        font = QFont(self.font())
        font.setBold(True)
        item.setFont(font)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        item.setBackground(self.palette().alternateBase())
        item.setData(KIND_ROLE, "day")

    def _add_entry(self, entry: TimelineEntry, at: datetime) -> None:
        clock = "" if entry.kind in ("sale",) else at.strftime("%H:%M  ")
        text = f"{clock}{entry.title}"
        if entry.detail:
            text += f"\n{entry.detail}"
        item = QListWidgetItem(kind_icon(entry.kind), text, self)
        item.setData(Qt.ItemDataRole.UserRole, entry.ref_id)
        item.setData(KIND_ROLE, entry.kind)
        item.setToolTip(f"{KINDS.get(entry.kind, (entry.kind, ''))[0]} · "
                        f"{at.strftime('%Y-%m-%d %H:%M')}")
        if entry.kind == "cancelled":
            item.setForeground(QColor("#757575"))

    def entry_kinds(self) -> list[str]:
        """Return the kinds of the entries in display order (day headers left out)."""
        kinds = [self.item(i).data(KIND_ROLE) for i in range(self.count())]
        return [k for k in kinds if k and k != "day"]

    def headings(self) -> list[str]:
        """Return the day headers in display order."""
        return [self.item(i).text() for i in range(self.count())
                if self.item(i).data(KIND_ROLE) == "day"]
