"""Wall-clock times in the rep's time zone (from the settings) for date/time editors and labels.

Editors show and take wall-clock numbers; these helpers attach the settings' zone, so the form,
the timeline and the Today view agree even when the laptop's own zone differs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PySide6.QtCore import QDate, QDateTime, QTime


def zone(name: str) -> tzinfo | None:
    """Return the time zone called ``name``, or None (the laptop's own) if it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def to_wall(value: datetime, tz: tzinfo | None) -> QDateTime:
    """Return an aware datetime as the wall-clock QDateTime an editor shows in ``tz``."""
    at = value.astimezone(tz)
    return QDateTime(QDate(at.year, at.month, at.day), QTime(at.hour, at.minute, at.second))


def from_wall(value: QDateTime, tz: tzinfo | None) -> datetime:
    """Return the wall-clock time an editor holds, read in ``tz``, as an aware UTC datetime."""
    d, t = value.date(), value.time()
    naive = datetime(d.year(), d.month(), d.day(), t.hour(), t.minute(), t.second())
    aware = naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
    return aware.astimezone(UTC)


def now_wall(tz: tzinfo | None) -> QDateTime:
    """Return the current time as an editor should show it in ``tz``."""
    return to_wall(datetime.now(UTC), tz)


def to_date(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


def people_text(value: datetime, tz: tzinfo | None) -> str:
    """Format an aware datetime in ``tz`` for people, e.g. "Tue 24 Nov 2026, 10:00"."""
    return value.astimezone(tz).strftime("%a %d %b %Y, %H:%M")


def next_working_morning(tz: tzinfo | None) -> QDateTime:
    """Return 09:00 on the next weekday (in ``tz``), the default time of a planned visit."""
    day = now_wall(tz).date().addDays(1)
    while day.dayOfWeek() > 5:
        day = day.addDays(1)
    return QDateTime(day, QTime(9, 0))
