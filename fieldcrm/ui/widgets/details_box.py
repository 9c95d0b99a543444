"""The Details box of an account: address, phone, email, website, visit cadence state, notes."""

from __future__ import annotations

from datetime import datetime, tzinfo

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QWidget

from fieldcrm.domain.records import Account

WARN_COLOUR, LATE_COLOUR = "#b26a00", "#b3261e"


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def cadence_text(account: Account, cadence_days: int, days_overdue: int | None,
                 tz: tzinfo | None, now: datetime | None = None) -> tuple[str, str]:
    """Return the last-visit sentence and its colour ('' for the normal text colour)."""
    every = f"tier {account.tier.value}: every {cadence_days} days"
    last = account.last_visit_at
    if last is None:
        return f"Never visited ({every}).", WARN_COLOUR
    ago = ((now or datetime.now(last.tzinfo)) - last).days
    relative = {0: "today", 1: "yesterday"}.get(ago, f"{_days(ago)} ago")
    when = f"Last visit {last.astimezone(tz).strftime('%a %d %b %Y')} ({relative})"
    overdue = days_overdue or 0
    if overdue > 0:
        return f"{when} · overdue by {_days(overdue)} ({every}).", LATE_COLOUR
    return f"{when} · next visit due in {_days(-overdue)} ({every}).", ""


def _value_label(parent: QWidget) -> QLabel:
    label = QLabel("—", parent)
    label.setWordWrap(True)
    label.setOpenExternalLinks(False)  # tel:/mailto: are never opened by a stray click
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                  | Qt.TextInteractionFlag.TextSelectableByKeyboard)
    return label


class DetailsBox(QGroupBox):
    """Shows an account's contact details (selectable text, never opened) and cadence state."""

    CAPTIONS = (("address", "Address"), ("phone", "Phone"), ("email", "Email"),
                ("website", "Website"), ("visits", "Visits"), ("notes", "Notes"))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Details", parent)
        form = QFormLayout(self)
        self.fields = {key: _value_label(self) for key, _ in self.CAPTIONS}
        for key, caption in self.CAPTIONS:
            form.addRow(caption, self.fields[key])

    def show_account(self, a: Account, cadence_days: int, days_overdue: int | None,
                     tz: tzinfo | None) -> None:
        """Fill the box from ``a``; flags a phone or email that did not validate."""
        town = " ".join(x for x in (a.postcode, a.city) if x)
        area = ", ".join(x for x in (a.region, a.country) if x)
        address = "\n".join(x for x in (a.street, town, area) if x)
        phone = a.phone if a.phone_valid else f"{a.phone_raw or a.phone}  (not a valid number)"
        email = a.email if a.email_valid else f"{a.email}  (not a valid address)"
        for key, text in (("address", address), ("phone", phone if a.phone else ""),
                          ("email", email if a.email else ""), ("website", a.website),
                          ("notes", a.notes)):
            self.fields[key].setText(text or "—")
        visits, colour = cadence_text(a, cadence_days, days_overdue, tz)
        self.fields["visits"].setText(visits)
        self.fields["visits"].setStyleSheet(f"color: {colour};" if colour else "")
