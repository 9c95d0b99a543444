"""Frozen value objects of the route planner.

Times are **minutes from local midnight** of the plan day (floats, e.g. 8:30 = 510.0) in the
time zone named by ``PlanSettings.tz``; exports turn them into timezone-aware datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULT_VISIT_MINUTES: tuple[tuple[str, float], ...] = (("A", 45.0), ("B", 30.0), ("C", 20.0))


def hhmm(minutes: float) -> str:
    """Format minutes from midnight as HH:MM (rounded to the minute)."""
    m = int(round(minutes))
    return f"{m // 60:02d}:{m % 60:02d}"


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """An opening interval [start, end] in minutes from midnight; a visit fits wholly inside."""

    start: float
    end: float

    def __str__(self) -> str:
        return f"{hhmm(self.start)}–{hhmm(self.end)}"


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Opening windows per weekday (index 0 = Monday); an empty tuple means closed that day."""

    weekly: tuple[tuple[TimeWindow, ...], ...]

    def on(self, weekday: int) -> tuple[TimeWindow, ...]:
        return self.weekly[weekday] if 0 <= weekday < len(self.weekly) else ()

    @classmethod
    def weekdays(cls, *windows: TimeWindow) -> OpeningHours:
        """The same windows Monday to Friday, closed at the weekend."""
        return cls(weekly=(tuple(windows),) * 5 + ((), ()))


@dataclass(frozen=True, slots=True)
class Place:
    """A start or end point: home, office, hotel, current position, or an account."""

    name: str
    lat: float
    lon: float
    kind: str = "home"

    @classmethod
    def at_stop(cls, stop: Stop) -> Place:
        """Start or end the day at an account.

        Raises
        ------
        ValueError
            The account has no coordinates.
        """
        if not stop.has_coords:
            raise ValueError(f"{stop.name} has no coordinates")
        lat, lon = float(stop.lat), float(stop.lon)  # type: ignore[arg-type]
        return cls(stop.name, lat, lon, kind="account")


@dataclass(frozen=True, slots=True)
class Stop:
    """An account to visit.

    ``hours`` None means open whenever the rep works. ``appointment`` fixes the visit's start
    (minutes) on ``appointment_day`` (or on any plan day when that is None).
    """

    id: str
    name: str
    lat: float | None
    lon: float | None
    tier: str = "C"
    duration: float | None = None
    hours: OpeningHours | None = None
    appointment: float | None = None
    appointment_day: date | None = None
    address: str = ""

    @property
    def has_coords(self) -> bool:
        return (
            self.lat is not None
            and self.lon is not None
            and -90.0 <= self.lat <= 90.0
            and -180.0 <= self.lon <= 180.0
        )


@dataclass(frozen=True, slots=True)
class Break:
    """A pause of ``duration`` minutes that must start between ``earliest`` and ``latest``."""

    earliest: float
    latest: float
    duration: float


@dataclass(frozen=True, slots=True)
class PlanSettings:
    """Everything about the day except the stops."""

    day: date
    start: Place
    end: Place
    start_time: float = 8 * 60.0
    latest_return: float = 17 * 60.0
    breaks: tuple[Break, ...] = ()
    visit_minutes: tuple[tuple[str, float], ...] = DEFAULT_VISIT_MINUTES
    tz: str = "Europe/Stockholm"
    time_limit: float = 1.0

    def visit_duration(self, stop: Stop) -> float:
        if stop.duration is not None:
            return float(stop.duration)
        return dict(self.visit_minutes).get(str(stop.tier), 30.0)


@dataclass(frozen=True, slots=True)
class ScheduledStop:
    """A visit in the plan: ``arrival`` at the door, ``start`` after any wait, then ``departure``.

    ``break_before`` minutes of pause were taken just before driving to this stop.
    """

    stop: Stop
    arrival: float
    start: float
    departure: float
    wait: float
    break_before: float = 0.0
    done: bool = False


@dataclass(frozen=True, slots=True)
class Leg:
    """One drive between consecutive points of the plan."""

    from_name: str
    to_name: str
    km: float
    minutes: float
    depart: float
    arrive: float


@dataclass(frozen=True, slots=True)
class Unscheduled:
    """A stop left out of the plan; ``reason`` is one of the REASON_* codes below."""

    stop: Stop
    reason: str
    message: str


REASON_NO_COORDS = "no_coordinates"
REASON_CLOSED = "closed"
REASON_NO_TIME = "no_time"
REASON_DUPLICATE = "duplicate"
REASON_APPOINTMENT = "appointment"
REASON_SKIPPED = "skipped"
REASON_INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Plan:
    """A planned day: the ordered visits, the legs between them, and what did not fit."""

    settings: PlanSettings
    stops: tuple[ScheduledStop, ...]
    legs: tuple[Leg, ...]
    unscheduled: tuple[Unscheduled, ...] = ()
    warnings: tuple[str, ...] = ()
    end_time: float = 0.0
    breaks_taken: tuple[tuple[float, float], ...] = field(default=())  # (start, end) pairs

    @property
    def total_km(self) -> float:
        return sum(leg.km for leg in self.legs)

    @property
    def total_drive_minutes(self) -> float:
        return sum(leg.minutes for leg in self.legs)

    @property
    def total_wait_minutes(self) -> float:
        return sum(s.wait for s in self.stops)

    @property
    def visit_ids(self) -> tuple[str, ...]:
        return tuple(s.stop.id for s in self.stops)
