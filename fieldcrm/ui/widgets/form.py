"""Form rows with a red message under each field, shared by the account, contact and visit forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from fieldcrm.ui.widgets import qtfix

# Every fieldcrm window imports this module; without the fix PySide6 6.12.0 on Python 3.11
# aborts after ~10k signal emits. (The composition root should call it too; it is idempotent.)
qtfix.install()

ERROR_COLOUR = "#b3261e"
_INVALID_STYLE = f"border: 1px solid {ERROR_COLOUR}; border-radius: 3px; padding: 2px;"


def if_alive(widget: QWidget, fn: Callable[..., Any]) -> Callable[..., None]:
    """Wrap a callback so it does nothing once ``widget`` is gone (an op may outlive its dialog)."""

    def call(*args: Any) -> None:
        if shiboken6.isValid(widget):
            fn(*args)

    return call


def parse_number(text: str) -> float | None:
    """Return the number typed in ``text`` (a decimal comma is accepted), None when blank.

    Raises
    ------
    ValueError
        If the text is not a number.
    """
    text = text.strip().replace(",", ".").replace("\u2212", "-")
    return None if not text else float(text)


def read_coordinates(lat_text: str, lon_text: str, lat_key: str = "lat",
                     lon_key: str = "lon") -> tuple[float | None, float | None, dict[str, str]]:
    """Parse a typed latitude/longitude pair; return (lat, lon, errors by field key)."""
    errors: dict[str, str] = {}
    values: list[float | None] = []
    for key, text, name, limit in ((lat_key, lat_text, "Latitude", 90), (lon_key, lon_text, "Longitude", 180)):
        try:
            value = parse_number(text)
        except ValueError:
            errors[key] = f"{name} must be a number, e.g. {'59.3293' if limit == 90 else '18.0686'}."
            value = None
        else:
            if value is not None and not -limit <= value <= limit:
                errors[key] = f"{name} {value:g} is outside -{limit}…{limit}."
        values.append(value)
    lat, lon = values
    if not errors and (lat is None) != (lon is None):
        missing = lat_key if lat is None else lon_key
        errors[missing] = "Give both latitude and longitude, or neither."
    return lat, lon, errors


class FormFields(QWidget):
    """A two-column form whose fields can each show an inline error message underneath.

    Services raise ``InvalidInput`` with ``errors`` keyed by field name; :meth:`set_errors` puts
    each message under its field, outlines the field in red and focuses the first one. Editing
    a field clears its message.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self._summary = QLabel(self)
        self._summary.setObjectName("form_summary")
        self._summary.setWordWrap(True)
        self._summary.setStyleSheet(f"color: {ERROR_COLOUR}; font-weight: bold;")
        self._summary.hide()
        outer.addWidget(self._summary)
        self._layout = QFormLayout()
        self._layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        outer.addLayout(self._layout)
        outer.addStretch(1)  # spare height goes below the form, not between a label and its field
        self._fields: dict[str, QWidget] = {}
        self._labels: dict[str, QLabel] = {}
        self._errors: dict[str, QLabel] = {}
        self._aliases: dict[str, str] = {}

    # -- building --------------------------------------------------------------------
    def add(self, key: str, label: str, widget: QWidget, *, focus: QWidget | None = None) -> QWidget:
        """Add a field row; ``focus`` is the part to focus on error (default: ``widget``)."""
        box = QWidget(self)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(widget)
        error = QLabel(box)
        error.setObjectName(f"error_{key}")
        error.setWordWrap(True)
        error.setStyleSheet(f"color: {ERROR_COLOUR};")
        error.hide()
        column.addWidget(error)
        caption = QLabel(label, self)
        caption.setBuddy(focus or widget)
        self._layout.addRow(caption, box)
        self._fields[key] = focus or widget
        self._labels[key] = caption
        self._errors[key] = error
        self._watch(key, focus or widget)
        return widget

    def add_row(self, label: str, widget: QWidget) -> QWidget:
        """Add a row that never shows errors (read-only values, helper rows)."""
        self._layout.addRow(label, widget)
        return widget

    def alias(self, service_key: str, key: str) -> None:
        """Show a service's error for ``service_key`` under the field ``key``."""
        self._aliases[service_key] = key

    def field(self, key: str) -> QWidget:
        return self._fields[key]

    # -- errors ----------------------------------------------------------------------
    def set_errors(self, errors: dict[str, str], summary: str = "") -> None:
        """Show each message under its field; messages for unknown fields go to the summary."""
        self.clear_errors()
        loose: list[str] = []
        first: QWidget | None = None
        for name, message in errors.items():
            key = self._aliases.get(name, name)
            if key not in self._fields:
                loose.append(message)
                continue
            self._show(key, message)
            first = first or self._fields[key]
        lines = [summary] if summary else []
        if len(errors) > 1 and not summary:
            lines.append(f"{len(errors)} fields need attention.")
        self.set_summary("\n".join(lines + loose))
        if first is not None:
            first.setFocus()

    def set_summary(self, text: str) -> None:
        """Show a message above the form (or hide it when ``text`` is empty)."""
        self._summary.setText(text)
        self._summary.setVisible(bool(text))

    def clear_errors(self) -> None:
        for key in self._fields:
            self.clear_error(key)
        self.set_summary("")

    def clear_error(self, key: str) -> None:
        label = self._errors[key]
        if label.isHidden() and not label.text():
            return
        label.clear()
        label.hide()
        self._fields[key].setStyleSheet("")
        self._labels[key].setStyleSheet("")

    def error(self, key: str) -> str:
        """Return the message shown under ``key`` ('' when none)."""
        label = self._errors[key]
        return "" if label.isHidden() else label.text()

    def errors(self) -> dict[str, str]:
        """Return every message currently shown, by field key."""
        return {k: self.error(k) for k in self._fields if self.error(k)}

    def summary(self) -> str:
        return "" if self._summary.isHidden() else self._summary.text()

    def _show(self, key: str, message: str) -> None:
        self._errors[key].setText(message)
        self._errors[key].show()
        widget = self._fields[key]
        if not isinstance(widget, QAbstractButton):
            widget.setStyleSheet(f"{type(widget).__name__} {{ {_INVALID_STYLE} }}")
        self._labels[key].setStyleSheet(f"color: {ERROR_COLOUR};")

    def _watch(self, key: str, widget: QWidget) -> None:
        def clear(*_args: object) -> None:
            self.clear_error(key)

        if isinstance(widget, QLineEdit):
            widget.textEdited.connect(clear)
        elif isinstance(widget, QPlainTextEdit):
            widget.textChanged.connect(clear)
        elif isinstance(widget, QComboBox):
            widget.currentIndexChanged.connect(clear)
        elif isinstance(widget, QAbstractSpinBox):
            widget.editingFinished.connect(clear)
