"""GeoJSON and KML territory files: round trips, foreign files, and bad input named per feature."""

from __future__ import annotations

import json
import zipfile

import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from fieldcrm.errors import ImportFileError
from fieldcrm.geo.territory_io import (
    TerritoryFeature,
    read_geojson,
    read_kml,
    read_territory_file,
    write_geojson,
    write_kml,
    write_territory_file,
)

HOLED = Polygon(
    [(11.0, 55.5), (13.25, 55.5), (13.25, 56.75), (11.0, 56.75)],
    [[(11.5, 55.75), (12.0, 55.75), (12.0, 56.125), (11.5, 56.125)]],
)
FEATURES = [
    TerritoryFeature(
        "Skåne Nord",
        HOLED,
        {"rep": "Anna Öberg", "target": 125000, "ratio": 0.1 + 0.2, "tags": ["a", "b"]},
        "t-1",
    ),
    TerritoryFeature(
        "Islands",
        MultiPolygon([box(18.1, 57.1, 18.9, 57.9), box(16.4, 56.2, 16.9, 57.3)]),
        {"color": "#ff8800", "nested": {"k": None, "ok": True}},
    ),
    TerritoryFeature("One-part multi", MultiPolygon([box(14, 58, 15, 59)]), {}),
]


def _same(a: TerritoryFeature, b: TerritoryFeature) -> None:
    assert a.name == b.name
    assert a.fid == b.fid
    assert a.geometry.geom_type == b.geometry.geom_type
    assert shapely.equals(a.geometry, b.geometry)
    # Coordinates survive exactly (repr floats), whatever the ring orientation.
    assert shapely.normalize(a.geometry).equals_exact(shapely.normalize(b.geometry), 0.0)


def test_geojson_round_trip_keeps_properties_holes_and_multipolygons():
    text = write_geojson(FEATURES)
    parsed = read_geojson(text)
    assert parsed.errors == () and parsed.warnings == ()
    for original, raw in zip(FEATURES, parsed.features, strict=True):
        _same(original, raw.feature)
        assert raw.feature.properties == {**original.properties, "name": original.name}
    assert len(parsed.features[0].feature.geometry.interiors) == 1
    doc = json.loads(text)
    ring = doc["features"][0]["geometry"]["coordinates"][0]
    assert shapely.LinearRing(ring).is_ccw  # RFC 7946: outer rings counter-clockwise


def test_kml_round_trip_keeps_typed_properties_holes_and_multipolygons():
    text = write_kml(FEATURES)
    assert "outerBoundaryIs" in text and "innerBoundaryIs" in text and "MultiGeometry" in text
    assert 'xmlns="http://www.opengis.net/kml/2.2"' in text
    parsed = read_kml(text)
    assert parsed.errors == () and parsed.warnings == ()
    for original, raw in zip(FEATURES, parsed.features, strict=True):
        _same(original, raw.feature)
        assert raw.feature.properties == original.properties
    assert "<color>ff0088ff</color>" in text  # #ff8800 as KML aabbggrr


def test_foreign_kml_folders_data_and_label_points():
    kml = """<?xml version="1.0" encoding="UTF-8"?>
    <kml xmlns="http://www.opengis.net/kml/2.2"><Document><Folder>
      <Placemark><name>Label</name><Point><coordinates>12,57</coordinates></Point></Placemark>
      <Placemark><name>West</name>
        <ExtendedData><Data name="rep"><value>Bo</value></Data>
          <SchemaData schemaUrl="#s"><SimpleData name="code">W1</SimpleData></SchemaData>
        </ExtendedData>
        <MultiGeometry><Point><coordinates>12,57</coordinates></Point>
          <Polygon><outerBoundaryIs><LinearRing><coordinates>
            11,56,0 13,56,0 13,58,0 11,58,0 11,56,0
          </coordinates></LinearRing></outerBoundaryIs></Polygon>
        </MultiGeometry></Placemark>
    </Folder></Document></kml>"""
    parsed = read_kml(kml)
    assert parsed.errors == ()
    (raw,) = parsed.features
    assert raw.index == 1 and raw.feature.name == "West"
    assert raw.feature.properties == {"rep": "Bo", "code": "W1"}
    assert raw.feature.geometry.equals(MultiPolygon([box(11, 56, 13, 58)]))
    assert any("feature #1 'Label'" in w and "skipped" in w for w in parsed.warnings)
    assert any("feature #2 'West'" in w and "Point" in w for w in parsed.warnings)


def test_files_geojson_kml_and_kmz(tmp_path):
    for suffix in (".geojson", ".kml"):
        path = tmp_path / f"t{suffix}"
        write_territory_file(path, FEATURES)
        parsed = read_territory_file(path)
        assert [r.feature.name for r in parsed.features] == [f.name for f in FEATURES]
    kmz = tmp_path / "t.kmz"
    with zipfile.ZipFile(kmz, "w") as zf:
        zf.writestr("doc.kml", write_kml(FEATURES[:1]))
    assert read_territory_file(kmz).features[0].feature.name == "Skåne Nord"
    assert "cannot be read" in read_territory_file(tmp_path / "missing.kml").errors[0]
    assert "unknown file type" in read_territory_file(tmp_path / "x.shp").errors[0]
    with pytest.raises(ImportFileError, match="cannot export"):
        write_territory_file(tmp_path / "x.shp", FEATURES)


def _fc(*geometries, names=None):
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"name": (names or [])[i]} if names else {},
                    "geometry": g,
                }
                for i, g in enumerate(geometries)
            ],
        }
    )


GOOD = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}


@pytest.mark.parametrize(
    ("geometry", "expected"),
    [
        ({"type": "Polygon", "coordinates": []}, "empty geometry"),
        ({"type": "MultiPolygon", "coordinates": []}, "empty geometry"),
        (None, "has no geometry"),
        ({"type": "Point", "coordinates": [1, 2]}, "'Point' is not supported"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0], [1, 1]]]},
            "outer ring has 2 distinct point(s); a polygon needs at least 3",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, float("nan")], [0, 0]]]},
            "point 3: coordinate (1, nan) is not a finite number",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], ["x", 1], [0, 0]]]},
            "point 3: 'x' is not a number",
        ),
        (
            {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1]]], [[[2, 2]]]]},
            "polygon 2, outer ring has 1 distinct point(s)",
        ),
        (
            {"type": "Polygon", "coordinates": [GOOD["coordinates"][0], []]},
            "polygon, hole 1 is empty",
        ),
    ],
)
def test_bad_geojson_feature_is_named_and_nothing_is_kept(geometry, expected):
    parsed = read_geojson(_fc(GOOD, geometry, names=["Fine", "North"]))
    assert len(parsed.errors) == 1
    assert parsed.errors[0].startswith("feature #2 'North': ")
    assert expected in parsed.errors[0]
    with pytest.raises(ImportFileError, match="feature #2 'North'"):
        parsed.raise_for_errors()


def test_broken_and_unsupported_files():
    assert "broken JSON at line 1, column 9" in read_geojson('{"type":').errors[0]
    assert "expected a FeatureCollection" in read_geojson('{"type": "Point"}').errors[0]
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3006"}}
    assert "EPSG::3006" in read_geojson(json.dumps({**json.loads(_fc(GOOD)), "crs": crs})).errors[0]
    assert "no territory" in read_geojson(_fc()).errors[0]
    assert "broken KML/XML at line 1" in read_kml("<kml><Document>").errors[0]
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><kml>&a;</kml>'
    assert "DOCTYPE" in read_kml(bomb).errors[0]
    assert "not UTF-8" in read_geojson(b'{"a": "\xff"}').errors[0]


@pytest.mark.parametrize(
    ("polygon", "expected"),
    [
        ("<Polygon/>", "empty geometry"),
        (
            "<Polygon><outerBoundaryIs><LinearRing><coordinates/></LinearRing></outerBoundaryIs>"
            "</Polygon>",
            "empty geometry",
        ),
        (
            "<Polygon><outerBoundaryIs><LinearRing><coordinates>0,0 1,1 0,0</coordinates>"
            "</LinearRing></outerBoundaryIs></Polygon>",
            "2 distinct point(s)",
        ),
        (
            "<Polygon><outerBoundaryIs><LinearRing><coordinates>0,0 1,0 nan,1 0,0</coordinates>"
            "</LinearRing></outerBoundaryIs></Polygon>",
            "point 3: coordinate (nan, 1.0)",
        ),
        (
            "<Polygon><outerBoundaryIs><LinearRing><coordinates>0,0 1;0 1,1 0,0</coordinates>"
            "</LinearRing></outerBoundaryIs></Polygon>",
            "point 2: '1;0' is not 'lon,lat[,alt]'",
        ),
        ("", "has no Polygon"),
    ],
)
def test_bad_kml_placemark_is_named(polygon, expected):
    kml = (
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        "<Placemark><name>Ok</name><Polygon><outerBoundaryIs><LinearRing><coordinates>"
        "0,0 1,0 1,1 0,0</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>"
        f"<Placemark><name>South</name>{polygon}</Placemark></Document></kml>"
    )
    parsed = read_kml(kml)
    assert len(parsed.errors) == 1, parsed.errors
    assert parsed.errors[0].startswith("feature #2 'South': ")
    assert expected in parsed.errors[0]


def test_unclosed_ring_is_closed_with_a_warning():
    ring = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}
    parsed = read_geojson(_fc(ring, names=["Open"]))
    assert parsed.errors == ()
    assert parsed.features[0].feature.geometry.equals(Polygon([(0, 0), (1, 0), (1, 1)]))
    assert "feature #1 'Open': polygon, outer ring was not closed" in parsed.warnings[0]
