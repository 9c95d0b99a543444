"""Exports parse back: GPX with ElementTree, ICS with icalendar; nav links split correctly."""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import parse_qs, urlparse
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from fieldcrm.geo.distance import HaversineModel
from fieldcrm.geo.routing.export import nav_links, plan_datetime, to_gpx, to_ics
from fieldcrm.geo.routing.model import Place, PlanSettings, Stop
from fieldcrm.geo.routing.solver import plan_route

NS = {"g": "http://www.topografix.com/GPX/1/1"}
HOME = Place("Office", 59.33, 18.06, kind="office")


def make_plan(n: int):
    stops = [Stop(id=f"s{k}", name=f"Shop & Co {k}", lat=59.33 + 0.01 * (k % 7),
                  lon=18.06 + 0.013 * k, duration=10.0, address=f"Street {k}")
             for k in range(n)]
    s = PlanSettings(day=date(2026, 11, 23), start=HOME, end=HOME, start_time=480.0,
                     latest_return=1200.0, tz="Europe/Stockholm", time_limit=0.3)
    return plan_route(stops, None, None, s, distance=HaversineModel())


def test_gpx_parses_back_with_every_visit_in_order() -> None:
    plan = make_plan(5)
    root = ET.fromstring(to_gpx(plan).encode())
    assert root.tag == "{http://www.topografix.com/GPX/1/1}gpx"
    wpts = root.findall("g:wpt", NS)
    assert [w.find("g:name", NS).text for w in wpts] == [v.stop.name for v in plan.stops]
    assert float(wpts[0].get("lat")) == pytest.approx(plan.stops[0].stop.lat, abs=1e-6)
    t0 = datetime.fromisoformat(wpts[0].find("g:time", NS).text)
    assert t0 == plan_datetime(plan, plan.stops[0].start)
    rtepts = root.findall("g:rte/g:rtept", NS)
    assert len(rtepts) == len(plan.stops) + 2
    assert rtepts[0].find("g:name", NS).text == "Office"


def test_ics_has_one_event_per_visit_with_aware_times() -> None:
    plan = make_plan(4)
    cal = Calendar.from_ical(to_ics(plan))
    events = list(cal.walk("VEVENT"))
    assert len(events) == 4
    tz = ZoneInfo("Europe/Stockholm")
    for ev, v in zip(events, plan.stops, strict=True):
        start = ev.decoded("dtstart")
        end = ev.decoded("dtend")
        assert start.tzinfo is not None
        assert start.astimezone(tz).hour * 60 + start.astimezone(tz).minute == round(v.start)
        assert (end - start).total_seconds() == pytest.approx(600, abs=60)
        assert v.stop.name in str(ev["summary"])
        assert str(ev["location"]) == v.stop.address
    assert len({str(ev["uid"]) for ev in events}) == 4
    assert [str(tz["tzid"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Stockholm"]


def _points(url: str) -> list[str]:
    q = parse_qs(urlparse(url).query)
    mids = q["waypoints"][0].split("|") if "waypoints" in q else []
    return [q["origin"][0], *mids, q["destination"][0]]


@pytest.mark.parametrize("n,links", [(0, 1), (1, 1), (9, 1), (10, 2), (19, 2), (20, 3), (25, 3)])
def test_google_links_split_at_nine_waypoints(n: int, links: int) -> None:
    plan = make_plan(n)
    assert len(plan.stops) == n
    urls = nav_links(plan)
    assert len(urls) == links
    chain: list[str] = []
    for url in urls:
        assert url.startswith("https://www.google.com/maps/dir/?api=1")
        pts = _points(url)
        assert len(pts) - 2 <= 9
        if chain:
            assert pts[0] == chain[-1]  # each link starts where the last ended
            pts = pts[1:]
        chain += pts
    expected = [f"{HOME.lat:.6f},{HOME.lon:.6f}"]
    expected += [f"{v.stop.lat:.6f},{v.stop.lon:.6f}" for v in plan.stops]
    expected.append(f"{HOME.lat:.6f},{HOME.lon:.6f}")
    assert chain == expected


def test_apple_links_one_per_leg_and_unknown_app() -> None:
    plan = make_plan(3)
    urls = nav_links(plan, app="apple")
    assert len(urls) == 4 and all(u.startswith("https://maps.apple.com/?") for u in urls)
    with pytest.raises(ValueError, match="unknown maps app"):
        nav_links(plan, app="carrier-pigeon")
