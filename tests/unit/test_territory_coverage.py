"""Overlaps and gaps between territories, with areas checked by hand on small squares."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely.geometry import box

from fieldcrm.geo.territory import check_coverage
from fieldcrm.geo.territory_area import area_km2

# WGS84 by hand: a = 6378137 m, e² = 0.00669438.
#  At the equator a degree of latitude is a(1-e²)/(1-e²sin²φ)^1.5 · π/180 = 110.574 km and a
#  degree of longitude a·π/180 = 111.319 km, so a 0.1° x 0.1° cell is 123.09 km².
#  At 60.05°N (centre of a 60..60.1 cell): M = 111.412 km/deg, N cos φ = 55.715 km/deg,
#  so 0.1° x 0.1° there is 62.07 km².
EQ_CELL_KM2 = 11.0574 * 11.1319


def _cell_km2(lat_deg: float) -> float:
    a, e2 = 6378.137, 0.00669438
    s2 = math.sin(math.radians(lat_deg)) ** 2
    m = a * (1 - e2) / (1 - e2 * s2) ** 1.5 * math.pi / 180
    n = a / math.sqrt(1 - e2 * s2) * math.cos(math.radians(lat_deg)) * math.pi / 180
    return 0.1 * m * 0.1 * n


def test_area_by_hand_at_the_equator_and_at_60_north():
    assert area_km2(box(0, 0, 0.1, 0.1)) == pytest.approx(EQ_CELL_KM2, rel=1e-4)
    assert _cell_km2(60.05) == pytest.approx(62.07, rel=1e-3)
    assert area_km2(box(15, 60, 15.1, 60.1)) == pytest.approx(_cell_km2(60.05), rel=1e-4)
    assert area_km2(shapely.Polygon()) == 0.0


def test_overlap_area_and_accounts_inside_it():
    terr = [("a", box(0, 0, 0.2, 0.1)), ("b", box(0.1, 0, 0.3, 0.1)), ("c", box(0.3, 0, 0.4, 0.1))]
    lons = np.array([0.15, 0.12, 0.05, 0.35, 0.3])
    lats = np.array([0.05, 0.01, 0.05, 0.05, 0.05])
    report = check_coverage(terr, lons, lats)
    (overlap,) = report.overlaps  # b and c only touch: not an overlap
    assert (overlap.first, overlap.second) == (0, 1)
    assert overlap.area_km2 == pytest.approx(EQ_CELL_KM2, rel=1e-3)
    assert overlap.accounts == (0, 1)
    assert report.gaps == () and report.outside == ()


def test_gap_inside_the_hull_with_accounts_and_accounts_beyond():
    # A U of three territories leaves the 0.1° x 0.1° cell (0.1..0.2, 0..0.1) uncovered.
    terr = [
        ("a", box(0, 0, 0.1, 0.1)),
        ("b", box(0.2, 0, 0.3, 0.1)),
        ("c", box(0, 0.1, 0.3, 0.2)),
    ]
    lons = np.array([0.15, 0.16, 0.05, 2.0, np.nan])
    lats = np.array([0.05, 0.02, 0.05, 2.0, 0.0])
    report = check_coverage(terr, lons, lats)
    (gap,) = report.gaps
    assert gap.area_km2 == pytest.approx(EQ_CELL_KM2, rel=1e-3)
    assert gap.accounts == (0, 1)
    assert report.outside == (0, 1, 3, 4)  # the far account and the NaN one are outside too
    assert report.overlaps == ()


def test_gap_without_accounts_is_not_reported_and_an_unfilled_hole_is():
    holed = box(15, 60, 15.3, 60.3).difference(box(15.1, 60.1, 15.2, 60.2))
    report = check_coverage([("a", holed)], np.array([15.05]), np.array([60.05]))
    assert report.gaps == ()
    report = check_coverage([("a", holed)], np.array([15.15]), np.array([60.15]))
    assert report.gaps[0].area_km2 == pytest.approx(_cell_km2(60.15), rel=1e-3)
