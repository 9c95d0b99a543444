"""Schedule arithmetic: drive, wait, break and visit times along a fixed order of stops."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fieldcrm.geo.distance import DistanceModel, HaversineModel
from fieldcrm.geo.routing.model import (
    REASON_APPOINTMENT,
    REASON_CLOSED,
    REASON_DUPLICATE,
    REASON_INVALID,
    REASON_NO_COORDS,
    REASON_NO_TIME,
    WEEKDAYS,
    Break,
    Leg,
    Plan,
    PlanSettings,
    ScheduledStop,
    Stop,
    TimeWindow,
    Unscheduled,
    hhmm,
)

EPS = 1e-6
START, END = 0, 1  # matrix rows of the start and end place; stop i is row i + 2
ALWAYS = (TimeWindow(-1e9, 1e9),)


@dataclass(frozen=True, slots=True)
class Problem:
    """A day reduced to numbers: the candidate stops, their windows and the matrices."""

    settings: PlanSettings
    stops: tuple[Stop, ...]
    km: np.ndarray
    minutes: np.ndarray
    duration: tuple[float, ...]
    windows: tuple[tuple[TimeWindow, ...], ...]
    breaks: tuple[Break, ...]
    start_time: float
    mins: list[list[float]]  # ``minutes`` as plain floats, fast to index in the inner loops
    kms: list[list[float]]

    @property
    def n(self) -> int:
        return len(self.stops)


@dataclass(frozen=True, slots=True)
class State:
    """Where the rep is after a visit: time, matrix row, and the next break not yet taken."""

    t: float
    pos: int
    next_break: int


def stop_windows(stop: Stop, settings: PlanSettings, duration: float) -> tuple[TimeWindow, ...]:
    """The windows in which ``stop`` may be visited on the plan day (appointments fixed)."""
    if stop.appointment is not None:
        return (TimeWindow(stop.appointment, stop.appointment + duration),)
    if stop.hours is None:
        return ALWAYS
    return stop.hours.on(settings.day.weekday())


def _visit_start(p: Problem, i: int, arrive: float) -> float | None:
    dur = p.duration[i]
    for w in p.windows[i]:
        s = max(arrive, w.start)
        if s + dur <= w.end + EPS:
            return s
    return None


def _take_break(
    p: Problem, st: State, next_done: float | None, take: bool | None
) -> tuple[float, float] | None:
    """Return (break start, minutes) to take now at a boundary, or None for no break now.

    ``take`` forces the decision for the next pending break; None applies the default rule:
    take it once it is due, or earlier when the next visit would end after its latest start.
    """
    if st.next_break >= len(p.breaks) or take is False:
        return None
    b = p.breaks[st.next_break]
    if take or st.t >= b.earliest - EPS:
        return (max(st.t, b.earliest), b.duration)
    if next_done is None or next_done > b.latest + EPS:
        return (b.earliest, b.duration)
    return None


def step(
    p: Problem, st: State, i: int, take: bool | None = None
) -> tuple[State, ScheduledStop] | None:
    """Drive from ``st`` to stop ``i`` and visit it; None when that breaks a constraint.

    ``take`` True/False forces taking/deferring the next break before this drive.
    """
    node = i + 2
    drive = p.mins[st.pos][node]
    arrive = st.t + drive
    start = _visit_start(p, i, arrive)
    brk = _take_break(p, st, None if start is None else start + p.duration[i], take)
    pause = 0.0
    nb = st.next_break
    if brk is not None:
        if brk[0] > p.breaks[nb].latest + EPS:
            return None
        pause = brk[0] + brk[1] - st.t
        arrive = st.t + pause + drive
        start = _visit_start(p, i, arrive)
        nb += 1
    if start is None:
        return None
    depart = start + p.duration[i]
    if nb < len(p.breaks) and depart > p.breaks[nb].latest + EPS:
        return None  # the pending break could no longer start in time
    sched = ScheduledStop(
        stop=p.stops[i], arrival=arrive, start=start, departure=depart,
        wait=start - arrive, break_before=pause,
    )
    return State(t=depart, pos=node, next_break=nb), sched


def finish(p: Problem, st: State) -> tuple[float, list[tuple[float, float]]] | None:
    """Drive home from ``st``; return (arrival at the end place, breaks taken first) or None."""
    drive = p.mins[st.pos][END]
    t = st.t
    taken: list[tuple[float, float]] = []
    nb = st.next_break
    while nb < len(p.breaks) and p.breaks[nb].earliest < t + drive - EPS:
        b = p.breaks[nb]
        at = max(t, b.earliest)
        if at > b.latest + EPS:
            return None
        taken.append((at, at + b.duration))
        t = at + b.duration
        nb += 1
    arrive = t + drive
    if arrive > p.settings.latest_return + EPS:
        return None
    return arrive, taken


def initial_state(p: Problem) -> State:
    return State(t=p.start_time, pos=START, next_break=0)


def _take_at(k: int | None, m: int, st: State) -> bool | None:
    """Break decision before the m-th visit when the first break is placed at boundary k."""
    if k is None or st.next_break > 0:
        return None
    return m == k


def _run(p: Problem, seq: Sequence[int], k: int | None) -> int | None:
    """First failing index under break placement ``k`` (len(seq) = the return), or None."""
    st = initial_state(p)
    for m, i in enumerate(seq):
        r = step(p, st, i, _take_at(k, m, st))
        if r is None:
            return m
        st = r[0]
    return None if finish(p, st) is not None else len(seq)


def break_slot(p: Problem, seq: Sequence[int]) -> int | None | bool:
    """How to place the first break so that ``seq`` is feasible.

    Returns None for the default rule, a boundary index k (before the k-th visit, len(seq) =
    before driving home), or False when no placement works.
    """
    if _run(p, seq, None) is None:
        return None
    if not p.breaks:
        return False
    for k in range(len(seq) + 1):
        if _run(p, seq, k) is None:
            return k
    return False


def is_feasible(p: Problem, seq: Sequence[int]) -> bool:
    return break_slot(p, seq) is not False


def first_violation(p: Problem, seq: Sequence[int]) -> int | None:
    """Index in ``seq`` of the first stop that cannot be made (len(seq) = the return), or None."""
    if is_feasible(p, seq):
        return None
    return _run(p, seq, None)


def route_km(p: Problem, seq: Sequence[int]) -> float:
    nodes = [START, *(i + 2 for i in seq), END]
    return float(sum(p.kms[a][b] for a, b in zip(nodes, nodes[1:], strict=False)))


def build_plan(
    p: Problem, seq: Sequence[int], unscheduled: Sequence[Unscheduled], warnings: Sequence[str]
) -> Plan:
    """Turn a feasible order of stop indices into a Plan with legs and times."""
    slot = break_slot(p, seq)
    if slot is False:
        raise AssertionError("build_plan needs a feasible order")
    st = initial_state(p)
    s = p.settings
    visits: list[ScheduledStop] = []
    legs: list[Leg] = []
    breaks: list[tuple[float, float]] = []
    names = [s.start.name, s.end.name, *(x.name for x in p.stops)]
    for m, i in enumerate(seq):
        r = step(p, st, i, _take_at(slot, m, st))
        if r is None:
            raise AssertionError("build_plan needs a feasible order")
        nxt, sched = r
        depart = sched.arrival - p.mins[st.pos][i + 2]
        if nxt.next_break > st.next_break:
            breaks.append((depart - p.breaks[st.next_break].duration, depart))
        legs.append(Leg(names[st.pos], names[i + 2], float(p.kms[st.pos][i + 2]),
                        float(p.mins[st.pos][i + 2]), depart, sched.arrival))
        visits.append(sched)
        st = nxt
    end = finish(p, st)
    if end is None:
        raise AssertionError("build_plan needs a feasible order")
    arrive, taken = end
    breaks.extend(taken)
    legs.append(Leg(names[st.pos], names[END], float(p.kms[st.pos][END]),
                    float(p.mins[st.pos][END]), arrive - p.mins[st.pos][END], arrive))
    return Plan(settings=s, stops=tuple(visits), legs=tuple(legs), unscheduled=tuple(unscheduled),
                warnings=tuple(warnings), end_time=arrive, breaks_taken=tuple(breaks))


def _screen(stop: Stop, settings: PlanSettings, seen: set[str]) -> Unscheduled | None:
    if stop.id in seen:
        return Unscheduled(stop, REASON_DUPLICATE,
                           f"{stop.name} is listed more than once; it is planned once")
    if not stop.has_coords:
        return Unscheduled(stop, REASON_NO_COORDS,
                           f"{stop.name} has no coordinates; geocode its address first")
    if not settings.visit_duration(stop) >= 0:
        return Unscheduled(stop, REASON_INVALID,
                           f"{stop.name} has a negative or unknown visit duration")
    if stop.appointment is not None and stop.appointment_day not in (None, settings.day):
        return Unscheduled(stop, REASON_APPOINTMENT,
                           f"{stop.name} has its appointment on {stop.appointment_day}, "
                           f"not on {settings.day}")
    dur = settings.visit_duration(stop)
    wins = stop_windows(stop, settings, dur)
    if not wins:
        return Unscheduled(stop, REASON_CLOSED,
                           f"{stop.name} is closed on {WEEKDAYS[settings.day.weekday()]}s")
    if all(w.end - w.start < dur - EPS for w in wins):
        return Unscheduled(stop, REASON_CLOSED,
                           f"{stop.name}'s opening hours ({', '.join(map(str, wins))}) are "
                           f"too short for a {dur:.0f}-minute visit")
    return None


def _valid_place(pl: object) -> bool:
    lat, lon = getattr(pl, "lat", None), getattr(pl, "lon", None)
    try:
        return -90.0 <= float(lat) <= 90.0 and -180.0 <= float(lon) <= 180.0
    except (TypeError, ValueError):
        return False


def _clean(m: np.ndarray) -> np.ndarray:
    """A float copy where unknown or negative entries mean unreachable (inf)."""
    out = np.array(m, dtype=np.float64)
    out[~np.isfinite(out) | (out < 0)] = np.inf
    np.fill_diagonal(out, 0.0)
    return out


def build_problem(
    stops: Sequence[Stop], settings: PlanSettings, distance: DistanceModel | None = None
) -> tuple[Problem, list[Unscheduled], list[str]]:
    """Screen the stops, compute the matrices and return the problem plus early rejections."""
    dm = distance or HaversineModel()
    rejected: list[Unscheduled] = []
    warnings: list[str] = []
    kept: list[Stop] = []
    seen: set[str] = set()
    for stop in stops:
        bad = _screen(stop, settings, seen)
        seen.add(stop.id)
        if bad is None:
            kept.append(stop)
        else:
            rejected.append(bad)
    if any(u.reason == REASON_DUPLICATE for u in rejected):
        warnings.append("Some stops were listed twice; each is planned at most once.")
    if settings.start_time >= settings.latest_return:
        warnings.append(f"The day starts at {hhmm(settings.start_time)}, not before the latest "
                        f"return {hhmm(settings.latest_return)}: there is no time for visits.")
    bad_places = [pl for pl in (settings.start, settings.end) if not _valid_place(pl)]
    for pl in dict.fromkeys(bad_places):
        warnings.append(f"{pl.name} has no valid coordinates: the day cannot be planned.")
    pts = [(settings.start.lat, settings.start.lon), (settings.end.lat, settings.end.lon)]
    pts = [(0.0, 0.0) if pl in bad_places else xy
           for pl, xy in zip((settings.start, settings.end), pts, strict=True)]
    pts += [(s.lat, s.lon) for s in kept]
    km, minutes = (_clean(m) for m in dm.matrices(np.asarray(pts, dtype=np.float64)))
    if bad_places:
        km[:2, :] = km[:, :2] = minutes[:2, :] = minutes[:, :2] = np.inf
    durations = tuple(settings.visit_duration(s) for s in kept)
    p = Problem(
        settings=settings, stops=tuple(kept), km=km, minutes=minutes, duration=durations,
        windows=tuple(stop_windows(s, settings, d) for s, d in zip(kept, durations, strict=True)),
        breaks=tuple(sorted(settings.breaks, key=lambda b: b.earliest)),
        start_time=settings.start_time, mins=minutes.tolist(), kms=km.tolist(),
    )
    return p, rejected, warnings


def no_time_reason(p: Problem, i: int, *, alone: bool) -> Unscheduled:
    """Explain why stop ``i`` is left out: alone it never fits, or the day ran out."""
    stop = p.stops[i]
    s = p.settings
    if stop.appointment is not None:
        return Unscheduled(stop, REASON_APPOINTMENT,
                           f"{stop.name}'s appointment at {hhmm(stop.appointment)} cannot be "
                           f"kept together with the rest of the day (start {hhmm(s.start_time)},"
                           f" back by {hhmm(s.latest_return)})")
    if alone:
        wins = ", ".join(str(w) for w in p.windows[i] if w.start > -1e8) or "all day"
        return Unscheduled(stop, REASON_NO_TIME,
                           f"{stop.name} cannot be reached and visited within its opening hours "
                           f"({wins}) between {hhmm(p.start_time)} and the return by "
                           f"{hhmm(s.latest_return)}")
    return Unscheduled(stop, REASON_NO_TIME,
                       f"No time left for {stop.name}: the day is full (back by "
                       f"{hhmm(s.latest_return)})")
