"""One place that shows errors to the user: known errors as plain messages, others with details."""

from __future__ import annotations

import logging
import traceback

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from fieldcrm.errors import (
    Cancelled,
    DatabaseError,
    FieldCrmError,
    GeocodeError,
    ImportFileError,
    InvalidInput,
    NotFound,
    RouteError,
    SyncError,
)

log = logging.getLogger(__name__)

_TITLES: dict[type[FieldCrmError], str] = {
    InvalidInput: "Please check the form",
    NotFound: "Not found",
    DatabaseError: "Database problem",
    GeocodeError: "Could not place the address",
    RouteError: "Route planning",
    ImportFileError: "Import problem",
    SyncError: "Sync problem",
}


def error_title(exc: BaseException) -> str:
    """Return the dialog title for an error."""
    for cls in type(exc).__mro__:
        if cls in _TITLES:
            return _TITLES[cls]
    return "Something went wrong"


def show_error(parent: QWidget | None, exc: BaseException) -> None:
    """Show ``exc`` to the user; cancellations are silent, unknown errors get copyable details."""
    if isinstance(exc, Cancelled):
        return
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(error_title(exc))
    if isinstance(exc, FieldCrmError):
        box.setText(str(exc))
    else:
        details = "".join(traceback.format_exception(exc))
        log.error("Unexpected error\n%s", details)
        box.setText("fieldcrm hit an unexpected problem. Nothing you saved was lost.")
        box.setDetailedText(details)
        copy = box.addButton("Copy details", QMessageBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QApplication.clipboard().setText(details))
    box.addButton(QMessageBox.StandardButton.Ok)
    box.open()
