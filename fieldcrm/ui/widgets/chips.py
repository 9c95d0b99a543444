"""A row of small rounded labels ("chips") for status, tier and tags."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

STATUS_COLOURS = {"lead": "#5c6bc0", "prospect": "#ef6c00", "customer": "#2e7d32", "former": "#757575"}
TIER_COLOURS = {"A": "#ad1457", "B": "#6a1b9a", "C": "#455a64"}
TAG_COLOUR = "#e3e8ef"


def chip_style(background: str, foreground: str = "white") -> str:
    return (f"background: {background}; color: {foreground}; border-radius: 8px; "
            "padding: 1px 8px; font-size: 9pt;")


class ChipRow(QWidget):
    """Shows chips in one line; :meth:`set_chips` replaces them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._layout.addStretch(1)

    def set_chips(self, chips: list[tuple[str, str, str]]) -> None:
        """Replace the chips with (text, background, foreground) triples."""
        while self._layout.count() > 1:
            item = self._layout.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()
        for i, (text, background, foreground) in enumerate(chips):
            label = QLabel(text, self)
            label.setStyleSheet(chip_style(background, foreground))
            self._layout.insertWidget(i, label)

    def texts(self) -> list[str]:
        """Return the chips' texts, in order (for tests and accessibility)."""
        out = []
        for i in range(self._layout.count()):
            widget = self._layout.itemAt(i).widget()
            if isinstance(widget, QLabel):
                out.append(widget.text())
        return out
