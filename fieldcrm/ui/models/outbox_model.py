"""Table model of the outbox: local changes the server has not accepted yet."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtGui import QColor

from fieldcrm.services.sync_names import entity_title
from fieldcrm.services.sync_status import OutboxItem
from fieldcrm.ui.models.dto_table_model import Column, DtoTableModel

REFUSED = QColor("#f6d5d2")
# "inflight" stays set when a cycle stops midway (offline, 426): to the rep it is just waiting;
# it is resent safely (the server applies each change once).
_STATES = {"pending": "waiting", "inflight": "waiting", "rejected": "refused by the server"}


def local_time(value: datetime | None) -> str:
    """A stored UTC time in the computer's zone: ``10:42`` today, else ``21 Nov 10:42``."""
    if value is None:
        return ""
    here = value.astimezone()
    if here.date() == datetime.now().astimezone().date():
        return here.strftime("%H:%M")
    return here.strftime("%d %b %H:%M").lstrip("0")


COLUMNS: tuple[Column[OutboxItem], ...] = (
    Column("Record", lambda r: entity_title(r.entity),
           lambda r: f"{entity_title(r.entity)} {r.entity_id}"),
    Column("Name", lambda r: r.name or "(not on this computer any more)"),
    Column("Change", lambda r: r.what),
    Column("When", lambda r: local_time(r.created_at), lambda r: r.created_at.isoformat()),
    Column("State", lambda r: _STATES.get(r.state, r.state)),
    Column("Tries", lambda r: str(r.attempts)),
    Column("Last error", lambda r: r.last_error),
)


class OutboxModel(DtoTableModel[OutboxItem]):
    """Rows of the outbox; refused changes are tinted red."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(COLUMNS, parent,
                         row_colour=lambda r: REFUSED if r.state == "rejected" else None)
