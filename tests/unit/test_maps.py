"""The map HTML as written by fieldcrm.geo.maps: offline assets only, data, territories, legend."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from fieldcrm.errors import FieldCrmError, InvalidInput
from fieldcrm.geo.maps import (
    DATA_NAME,
    MapPoints,
    MapTerritory,
    build_account_map,
    load_basemap,
    resources_dir,
)

SRC_RE = re.compile(r"<script[^>]*\ssrc=\"([^\"]+)\"", re.I)
HREF_RE = re.compile(r"<link[^>]*\shref=\"([^\"]+)\"", re.I)


def _points(n: int = 4) -> MapPoints:
    return MapPoints(
        ids=[f"id{i}" for i in range(n)],
        names=[f"Shop {i}" for i in range(n)],
        lats=[59.0 + i * 0.1 for i in range(n)],
        lons=[18.0 + i * 0.1 for i in range(n)],
        statuses=["lead", "prospect", "customer", "former"][:n] + ["lead"] * max(0, n - 4),
        tiers=["A"] * n,
        days_overdue=[None, -1, 5, 30][:n] + [None] * max(0, n - 4),
        precise=[True, False, True, True][:n] + [True] * max(0, n - 4),
    )


TERRITORY = MapTerritory(
    "t1", "Stockholm </script><b>", "#ff0000",
    {"type": "Polygon", "coordinates": [[[17, 59], [19, 59], [19, 60], [17, 59]]]},
)


def _data(out: Path) -> dict:
    text = (out / DATA_NAME).read_text(encoding="utf-8")
    head, tail = "fieldcrmMapData(JSON.parse(", "));"
    assert text.startswith(head) and text.rstrip().endswith(tail)
    return json.loads(json.loads(text[len(head):-len(tail) - 1]))


@pytest.fixture
def html(tmp_path: Path) -> str:
    path = build_account_map(points=_points(), territories=[TERRITORY], out_dir=tmp_path)
    assert path == tmp_path / "map.html"
    return path.read_text(encoding="utf-8")


def test_scripts_and_styles_are_local_files_that_exist(html: str, tmp_path: Path) -> None:
    urls = SRC_RE.findall(html) + HREF_RE.findall(html)
    assert len(urls) >= 8
    for url in urls:
        assert not url.lower().startswith(("http:", "https:", "//")), url
        parsed = urlparse(url)
        if parsed.scheme == "file":
            assert Path(unquote(parsed.path)).is_file(), url
        else:
            assert parsed.scheme == "" and (tmp_path / parsed.path).is_file(), url
    # folium's CDN defaults (jQuery, Bootstrap, awesome-markers, Font Awesome) are all gone.
    assert "http://" not in html and "https://" not in html
    for name in ("jquery", "bootstrap", "awesome", "fontawesome", "cdn."):
        assert name not in html.lower()


def test_points_are_written_as_columns_beside_the_html(html: str, tmp_path: Path) -> None:
    assert f'src="{DATA_NAME}?v=' in html
    data = _data(tmp_path)
    assert data["ids"] == ["id0", "id1", "id2", "id3"]
    assert data["status"] == [0, 1, 2, 3]
    assert data["overdue"] == [None, -1, 5, 30]
    assert data["precise"] == [1, 0, 1, 1]
    assert data["scale"] == 100_000
    assert data["lat"][1] == 5_910_000 and data["lon"][3] == 1_830_000


def test_territories_legend_and_init_are_in_the_page(html: str) -> None:
    assert "window.fieldcrm.init(" in html
    assert "\\u003c/script\\u003e\\u003cb\\u003e" in html  # the name, escaped
    assert "Stockholm </script>" not in html
    assert '"#ff0000"' in html and "[17,59]" in html
    for label in ("Account status", "Lead", "Customer", "Never visited", "Overdue 1-14 days"):
        assert label in html
    assert '"colorBy":"status"' in html


def test_rows_without_coordinates_are_left_off(tmp_path: Path) -> None:
    p = _points(3)
    p = MapPoints(p.ids, p.names, [59.0, None, 59.2], [18.0, 18.1, None], p.statuses, p.tiers,
                  p.days_overdue, p.precise)
    build_account_map(points=p, out_dir=tmp_path, color_by="overdue")
    assert _data(tmp_path)["ids"] == ["id0"]
    assert '"colorBy":"overdue"' in (tmp_path / "map.html").read_text(encoding="utf-8")


def test_tile_url_is_the_only_remote_reference(tmp_path: Path) -> None:
    url = "https://tiles.example.test/{z}/{x}/{y}.png"
    html = build_account_map(points=_points(), out_dir=tmp_path, tile_url=url,
                             attribution="Example").read_text(encoding="utf-8")
    assert url in html
    for ref in SRC_RE.findall(html) + HREF_RE.findall(html):
        assert not ref.startswith("http"), ref
    assert '"tiles":true' in html


def test_empty_map_builds(tmp_path: Path) -> None:
    build_account_map(points=MapPoints.empty(), out_dir=tmp_path)
    assert _data(tmp_path)["ids"] == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"color_by": "rainbow"}, "color_by"),
        ({"territories": [MapTerritory("t", "T", "#000", {})]}, "geojson"),
    ],
)
def test_bad_arguments_name_the_field(tmp_path: Path, kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        build_account_map(points=_points(), out_dir=tmp_path, **kwargs)
    assert field in exc.value.errors


def test_bad_points_name_the_row(tmp_path: Path) -> None:
    p = _points(2)
    with pytest.raises(InvalidInput, match="different lengths") as exc:
        MapPoints(p.ids, p.names[:1], p.lats, p.lons, p.statuses, p.tiers, p.days_overdue,
                  p.precise)
    assert "names" in exc.value.errors
    bad_status = MapPoints(p.ids, p.names, p.lats, p.lons, ["lead", "vip"], p.tiers,
                           p.days_overdue, p.precise)
    with pytest.raises(InvalidInput, match=r"point 1 \(id1\).*'vip'"):
        build_account_map(points=bad_status, out_dir=tmp_path)
    bad_lat = MapPoints(p.ids, p.names, [95.0, 59.0], p.lons, p.statuses, p.tiers,
                        p.days_overdue, p.precise)
    with pytest.raises(InvalidInput, match="outside the world"):
        build_account_map(points=bad_lat, out_dir=tmp_path)
    assert not (tmp_path / "map.html").exists()


def test_resources_dir_finds_the_vendored_assets_with_licences() -> None:
    web = resources_dir() / "web"
    for lib in ("leaflet", "leaflet-draw", "supercluster", "leaflet-heat", "leaflet-markercluster"):
        assert any(p.name.startswith("LICENSE") for p in (web / lib).iterdir()), lib
    assert (resources_dir() / "basemap" / "README.md").is_file()


def test_resources_dir_honours_the_environment(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDCRM_RESOURCES", str(tmp_path))
    assert resources_dir() != tmp_path  # no leaflet there: falls back to the real one
    (tmp_path / "web" / "leaflet").mkdir(parents=True)
    (tmp_path / "web" / "leaflet" / "leaflet.js").write_text("", encoding="utf-8")
    assert resources_dir() == tmp_path


def test_resources_dir_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setattr("fieldcrm.geo.maps.__file__", str(tmp_path / "a" / "b" / "maps.py"))
    with pytest.raises(FieldCrmError, match="Map resources not found"):
        resources_dir()


def test_basemaps_are_geojson_with_countries_and_regions() -> None:
    countries = load_basemap("countries")
    assert countries["type"] == "FeatureCollection"
    assert len(countries["features"]) > 200
    admin1 = load_basemap("admin1")
    names = {f["properties"]["name"] for f in admin1["features"]
             if f["properties"]["adm0_a3"] == "SWE"}
    assert {"Uppsala", "Stockholm", "Norrbotten"} <= names
    # No ring jumps across the antimeridian (Leaflet would draw it as a line around the world),
    # except along the South Pole edge of Antarctica.
    for fc in (countries, admin1):
        for f in fc["features"]:
            g = f["geometry"]
            polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
            for ring in (r for poly in polys for r in poly):
                for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
                    assert abs(x2 - x1) <= 180 or y1 == y2 == -90, f["properties"]["name"]
    size = sum(p.stat().st_size for p in (resources_dir() / "basemap").iterdir())
    assert size < 5_000_000
    with pytest.raises(InvalidInput):
        load_basemap("rivers")
