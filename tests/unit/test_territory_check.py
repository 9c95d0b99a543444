"""Import validation: make_valid repair reports, swapped and projected coordinates, accept step."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from fieldcrm.errors import InvalidInput
from fieldcrm.geo.territory_check import (
    accept_import,
    check_geometry,
    expected_bbox_from_points,
    prepare_import,
)
from fieldcrm.geo.territory_io import read_geojson

# A bow tie at the equator: two triangles of 0.05° x 0.1° each touching at (0.05, 0.05).
BOWTIE = Polygon([(0, 0), (0.1, 0.1), (0.1, 0), (0, 0.1)])
SWEDEN_ACCOUNTS = (np.array([11.97, 18.07, 13.0, 22.15]), np.array([57.7, 59.33, 55.6, 65.58]))


def _fc(*items):
    feats = [
        {"type": "Feature", "properties": {"name": n}, "geometry": shapely.geometry.mapping(g)}
        for n, g in items
    ]
    return json.dumps({"type": "FeatureCollection", "features": feats})


def test_bowtie_report_shows_the_repair_and_areas_before_and_after():
    report = check_geometry(BOWTIE, index=2, name="Bow")
    codes = [p.code for p in report.problems]
    assert codes == ["self_intersection", "area"]
    assert "Self-intersection" in report.problems[0].message
    assert "gives 2 polygons" in report.problems[0].message
    # Shoelace of the crossing ring cancels out; the repair keeps both triangles. By hand: a
    # 0.1° x 0.1° cell at the equator is 11.0574 km x 11.1319 km = 123.09 km², half of it here.
    assert report.area_before_km2 == pytest.approx(0.0, abs=1e-9)
    assert report.area_after_km2 == pytest.approx(123.09 / 2, rel=1e-3)
    assert isinstance(report.proposed, MultiPolygon) and report.proposed.is_valid
    assert report.needs_acceptance and not report.fatal
    assert report.original is BOWTIE  # nothing changed in place


def test_hole_outside_shell_is_proposed_as_a_second_polygon():
    bad = Polygon(box(0, 0, 2, 2).exterior.coords, [box(3, 3, 4, 4).exterior.coords])
    report = check_geometry(bad)
    assert report.problems[0].code == "invalid"
    assert "Hole lies outside shell" in report.problems[0].message
    assert len(shapely.get_parts(report.proposed)) == 2


def test_valid_polygon_has_no_problem_and_needs_no_acceptance():
    report = check_geometry(box(12, 56, 13, 57), expected_bbox=(11, 55, 24, 69))
    assert report.problems == () and not report.needs_acceptance
    assert report.area_before_km2 == report.area_after_km2 > 0


def test_swapped_coordinates_detected_against_the_accounts_area():
    right = box(17.5, 59.0, 18.5, 59.6)  # around Stockholm
    swapped = shapely.transform(right, lambda c: c[:, ::-1].copy())  # lat, lon order
    bbox = expected_bbox_from_points(*SWEDEN_ACCOUNTS)
    report = check_geometry(swapped, name="Sthlm", expected_bbox=bbox)
    assert report.problems[0].code == "swapped"
    assert "(lat, lon)" in report.problems[0].message
    assert report.proposed.equals(right) and report.needs_acceptance
    # Without a reference area a box in the sea near Somalia could be real: no claim made.
    assert check_geometry(swapped).problems == ()
    # Latitudes beyond ±90 that fit as longitudes are swapped even without a reference.
    far = shapely.transform(box(120, 10, 121, 11), lambda c: c[:, ::-1].copy())
    assert check_geometry(far).problems[0].code == "swapped"


def test_projected_coordinates_are_fatal_and_explained():
    sweref = box(674_000, 6_580_000, 676_000, 6_582_000)  # Stockholm in SWEREF 99 TM metres
    parsed = read_geojson(_fc(("Fine", box(12, 56, 13, 57)), ("Metric", sweref)))
    preview = prepare_import(parsed)
    assert not preview.can_import
    (error,) = preview.errors
    assert error.startswith("feature #2 'Metric': ")
    assert "projected, in metres" in error and "EPSG:4326" in error
    with pytest.raises(InvalidInput, match="feature #2 'Metric'"):
        accept_import(preview)
    assert check_geometry(box(179, 0, 181, 1)).problems[0].code == "out_of_range"


def test_accept_step_all_or_nothing():
    parsed = read_geojson(_fc(("Good", box(0.2, 0, 0.3, 0.1)), ("Bow", BOWTIE)))
    preview = prepare_import(parsed)
    assert preview.can_import and [r.name for r in preview.repairs] == ["Bow"]
    with pytest.raises(InvalidInput, match="not accepted for feature #2 'Bow'"):
        accept_import(preview, accepted=set())
    features = accept_import(preview, accepted={1})
    assert [f.name for f in features] == ["Good", "Bow"]
    assert features[1].geometry.is_valid and features[1].properties == {"name": "Bow"}
    assert accept_import(preview)[1].geometry.equals(features[1].geometry)


def test_preview_reports_overlaps_and_gaps_with_accounts():
    parsed = read_geojson(_fc(("A", box(0, 0, 0.2, 0.1)), ("B", box(0.1, 0, 0.3, 0.1))))
    lons, lats = np.array([0.15, 0.05, 5.0]), np.array([0.05, 0.05, 5.0])
    preview = prepare_import(parsed, account_lons=lons, account_lats=lats)
    (overlap,) = preview.coverage.overlaps
    assert overlap.area_km2 == pytest.approx(123.09, rel=1e-3)
    assert overlap.accounts == (0,)
    assert preview.coverage.outside == (2,)
