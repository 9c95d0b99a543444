"""Export a day plan as GPX, as ICS (one event per visit) and as maps-app navigation links."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote, urlencode
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from fieldcrm.geo.routing.model import Plan, hhmm

GPX_NS = "http://www.topografix.com/GPX/1/1"
GOOGLE_MAX_WAYPOINTS = 9


def plan_datetime(plan: Plan, minutes: float) -> datetime:
    """The timezone-aware moment of ``minutes`` after midnight on the plan's day."""
    s = plan.settings
    midnight = datetime(s.day.year, s.day.month, s.day.day, tzinfo=ZoneInfo(s.tz))
    return midnight + timedelta(minutes=round(minutes))


def _points(plan: Plan) -> list[tuple[str, float, float]]:
    s = plan.settings
    pts = [(s.start.name, s.start.lat, s.start.lon)]
    pts += [(v.stop.name, float(v.stop.lat), float(v.stop.lon)) for v in plan.stops]
    pts.append((s.end.name, s.end.lat, s.end.lon))
    return pts


def to_gpx(plan: Plan) -> str:
    """GPX 1.1: a waypoint per visit (with its planned time) and the route start → end."""
    ET.register_namespace("", GPX_NS)
    root = ET.Element(f"{{{GPX_NS}}}gpx", version="1.1", creator="fieldcrm")
    meta = ET.SubElement(root, f"{{{GPX_NS}}}metadata")
    ET.SubElement(meta, f"{{{GPX_NS}}}name").text = f"Route {plan.settings.day.isoformat()}"
    for v in plan.stops:
        wpt = ET.SubElement(root, f"{{{GPX_NS}}}wpt", lat=f"{v.stop.lat:.6f}",
                            lon=f"{v.stop.lon:.6f}")
        ET.SubElement(wpt, f"{{{GPX_NS}}}time").text = plan_datetime(plan, v.start).isoformat()
        ET.SubElement(wpt, f"{{{GPX_NS}}}name").text = v.stop.name
        ET.SubElement(wpt, f"{{{GPX_NS}}}desc").text = (
            f"{hhmm(v.start)}–{hhmm(v.departure)} {v.stop.address}".strip())
    rte = ET.SubElement(root, f"{{{GPX_NS}}}rte")
    ET.SubElement(rte, f"{{{GPX_NS}}}name").text = f"Route {plan.settings.day.isoformat()}"
    for name, lat, lon in _points(plan):
        pt = ET.SubElement(rte, f"{{{GPX_NS}}}rtept", lat=f"{lat:.6f}", lon=f"{lon:.6f}")
        ET.SubElement(pt, f"{{{GPX_NS}}}name").text = name
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def to_ics(plan: Plan) -> bytes:
    """An iCalendar file with one event per planned visit (times in the plan's time zone)."""
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//fieldcrm//route plan//EN")
    cal.add("version", "2.0")
    stamp = datetime.now(tz=ZoneInfo("UTC"))
    for k, v in enumerate(plan.stops, start=1):
        ev = Event()
        ev.add("uid", f"{plan.settings.day.isoformat()}-{v.stop.id}@fieldcrm")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", plan_datetime(plan, v.start))
        ev.add("dtend", plan_datetime(plan, v.departure))
        ev.add("summary", f"Visit {k}: {v.stop.name}")
        ev.add("location", v.stop.address or f"{v.stop.lat:.6f},{v.stop.lon:.6f}")
        ev.add("geo", (float(v.stop.lat), float(v.stop.lon)))
        ev.add("description", f"Stop {k} of {len(plan.stops)}; arrive {hhmm(v.arrival)}")
        cal.add_component(ev)
    if hasattr(cal, "add_missing_timezones"):  # icalendar ≥ 6: VTIMEZONE for strict clients
        cal.add_missing_timezones()
    return cal.to_ical()


def _ll(lat: float, lon: float) -> str:
    return f"{lat:.6f},{lon:.6f}"


def nav_links(plan: Plan, *, app: str = "google",
              max_waypoints: int = GOOGLE_MAX_WAYPOINTS) -> list[str]:
    """Navigation URLs covering start → visits → end, split where the app limits waypoints.

    ``google``: Maps URLs with at most ``max_waypoints`` waypoints plus origin and destination
    each; consecutive links share their end/start point. ``apple``: one link per leg (Apple
    Maps URLs take no waypoints). Only strings are built; nothing is opened.
    """
    pts = [(lat, lon) for _, lat, lon in _points(plan)]
    if app == "apple":
        return ["https://maps.apple.com/?" + urlencode(
            {"saddr": _ll(*a), "daddr": _ll(*b), "dirflg": "d"}) for a, b in zip(pts, pts[1:],
                                                                             strict=False)]
    if app != "google":
        raise ValueError(f"unknown maps app {app!r} (google or apple)")
    step = max(0, max_waypoints) + 1
    links = []
    i = 0
    while i < len(pts) - 1:
        j = min(i + step, len(pts) - 1)
        q = {"api": "1", "origin": _ll(*pts[i]), "destination": _ll(*pts[j]),
             "travelmode": "driving"}
        if j - i > 1:
            q["waypoints"] = "|".join(_ll(*p) for p in pts[i + 1: j])
        links.append("https://www.google.com/maps/dir/?" + urlencode(q, quote_via=quote,
                                                                    safe=","))
        i = j
    return links
