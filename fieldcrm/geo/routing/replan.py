"""Re-plan during the day from the current position and time, keeping visits already done."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fieldcrm.geo.distance import DistanceModel
from fieldcrm.geo.routing.model import (
    REASON_NO_TIME,
    REASON_SKIPPED,
    Place,
    Plan,
    Stop,
    Unscheduled,
    hhmm,
)
from fieldcrm.geo.routing.search import Progress, ShouldCancel
from fieldcrm.geo.routing.solver import plan_route


def replan(
    plan: Plan,
    *,
    now: float,
    position: Place,
    done: Sequence[str] = (),
    skipped: Sequence[str] = (),
    add: Sequence[Stop] = (),
    distance: DistanceModel | None = None,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> Plan:
    """Plan the rest of the day from ``position`` at ``now`` (minutes from midnight).

    Visits in ``done`` stay first in the new plan, marked ``done=True`` with their planned
    times; ``skipped`` visits are left out with a reason; the other visits of the plan, the
    ones that did not fit before, and ``add`` are planned again.
    """
    done_ids, skip_ids = set(done), set(skipped)
    kept = tuple(dataclasses.replace(v, done=True) for v in plan.stops if v.stop.id in done_ids)
    retry = [u.stop for u in plan.unscheduled if u.reason == REASON_NO_TIME]
    todo = [v.stop for v in plan.stops if v.stop.id not in done_ids | skip_ids]
    todo += [s for s in [*retry, *add] if s.id not in done_ids | skip_ids]
    skipped_out = [Unscheduled(v.stop, REASON_SKIPPED, f"{v.stop.name} was skipped")
                   for v in plan.stops if v.stop.id in skip_ids and v.stop.id not in done_ids]
    s = plan.settings
    taken = tuple(b for b in plan.breaks_taken if b[0] < now)
    warnings: list[str] = []
    breaks = []
    for b in s.breaks:
        if any(b.earliest - 1e-6 <= x[0] <= b.latest + 1e-6 for x in taken):
            continue
        if now > b.latest:
            warnings.append(f"The break due between {hhmm(b.earliest)} and {hhmm(b.latest)} "
                            "was missed; it is no longer planned.")
            continue
        breaks.append(b)
    settings = dataclasses.replace(s, start=position, start_time=max(now, s.start_time),
                                   breaks=tuple(breaks))
    rest = plan_route(todo, position, s.end, settings, distance=distance, progress=progress,
                      should_cancel=should_cancel)
    history = tuple(leg for leg in plan.legs if leg.arrive <= now + 1e-6)
    return dataclasses.replace(
        rest,
        stops=kept + rest.stops,
        legs=history + rest.legs,
        unscheduled=tuple(skipped_out) + rest.unscheduled,
        warnings=tuple(warnings) + rest.warnings,
        breaks_taken=taken + rest.breaks_taken,
    )
