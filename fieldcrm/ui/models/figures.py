"""How the territory and analysis tables write money, shares and changes (no Qt)."""

from __future__ import annotations

SORT_ROLE_OFFSET = 1
"""Models return their raw sort value at ``Qt.UserRole + SORT_ROLE_OFFSET``."""


def money(minor: int | float, currency: str = "") -> str:
    """Whole currency units with thin-space thousands: ``1 234 567 SEK``."""
    text = f"{round(minor / 100):,}".replace(",", "\u2009")
    return f"{text} {currency}".strip()


def signed_pct(value: float | None) -> str:
    """A relative change as ``+12 %`` / ``−5 %``; an em dash when there is nothing to compare."""
    if value is None:
        return "—"
    pct = round(value * 100)
    return f"{'+' if pct > 0 else '−' if pct < 0 else '±'}{abs(pct)} %"


def share(value: float | None) -> str:
    """A share as a whole percentage: ``78 %``; an em dash when unknown."""
    return "—" if value is None else f"{round(value * 100)} %"


def points(now: float | None, before: float | None) -> str:
    """Change between two shares in percentage points: ``+4 pts``."""
    if now is None or before is None:
        return "—"
    d = round((now - before) * 100)
    return f"{'+' if d > 0 else '−' if d < 0 else '±'}{abs(d)} pts"


def change(now: float, before: float) -> float | None:
    """Relative change, None when the previous value is 0."""
    return None if not before else (now - before) / before
