"""Table model of sync conflicts: the value the server kept beside mine."""

from __future__ import annotations

from typing import Any

from fieldcrm.services.sync_names import entity_title
from fieldcrm.services.sync_status import ConflictView, show_value
from fieldcrm.ui.models.dto_table_model import Column, DtoTableModel


def _field(c: ConflictView) -> str:
    return "(whole record: it was deleted)" if c.kind == "gone" else c.field.replace("_", " ")


COLUMNS: tuple[Column[ConflictView], ...] = (
    Column("Record", lambda c: entity_title(c.entity)),
    Column("Name", lambda c: c.name or c.entity_id),
    Column("Field", _field),
    Column("Kept value (on the server)", lambda c: show_value(c.kept_value)),
    Column("My value", lambda c: show_value(c.my_value)),
)


class ConflictsModel(DtoTableModel[ConflictView]):
    """Rows of open conflicts, oldest first."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(COLUMNS, parent)
