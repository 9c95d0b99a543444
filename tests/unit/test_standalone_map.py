"""Choropleth classes and the standalone HTML map: one file, nothing loaded from elsewhere."""

from __future__ import annotations

import json
import re

import pytest

from fieldcrm.geo.maps import MapTerritory
from fieldcrm.geo.standalone import (
    NO_DATA,
    PALETTE,
    ChoroplethItem,
    build_standalone_map,
    choropleth_layer,
    class_breaks,
    class_color,
)


def _box(w: float, s: float, e: float, n: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


ITEMS = [
    ChoroplethItem("t1", "North <b>&</b>", _box(17, 60, 19, 61), 10.0, "10 SEK"),
    ChoroplethItem("t2", "South", _box(17, 59, 19, 60), 250.0, "250 SEK"),
    ChoroplethItem("t3", "East", _box(19, 59, 20, 61), 90.0, "90 SEK"),
    ChoroplethItem("t4", "Empty", _box(20, 59, 21, 61), None, "no data"),
]


def test_classes_follow_the_values_and_equal_values_give_one_colour() -> None:
    assert class_breaks([None, float("nan")]) == []
    assert class_breaks([5.0, 5.0, 5.0]) == [5.0]
    assert class_color(5.0, [5.0]) == PALETTE[2]
    breaks = class_breaks([10.0, 250.0, 90.0])
    assert breaks[-1] == 250.0 and breaks == sorted(breaks)
    assert class_color(10.0, breaks) == PALETTE[0] and class_color(250.0, breaks) == PALETTE[-1]
    assert class_color(None, breaks) == NO_DATA


def test_layer_has_a_colour_and_label_per_territory_and_a_legend() -> None:
    fc, legend = choropleth_layer(ITEMS, title="Sales (SEK)")
    colours = {f["id"]: f["properties"]["color"] for f in fc["features"]}
    assert colours["t1"] == PALETTE[0] and colours["t2"] == PALETTE[-1] and colours["t4"] == NO_DATA
    assert fc["features"][1]["properties"]["label"] == "South: 250 SEK"
    assert legend["title"] == "Sales (SEK)"
    assert legend["items"][-1] == {"color": NO_DATA, "label": "no data"}
    assert legend["items"][0]["label"].startswith("10")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> str:
    fc, legend = choropleth_layer(ITEMS, title="Sales (SEK) by territory")
    out = tmp_path_factory.mktemp("export") / "map.html"
    build_standalone_map(out_path=out, feature_collection=fc, legend=legend,
                         territories=[MapTerritory(i.id, i.name, "#444444", i.geojson)
                                      for i in ITEMS],
                         title="Sales </script> by territory", subtitle="1 Jan – 31 Mar 2026")  # fmt: skip
    return out.read_text("utf-8")


def test_export_loads_nothing_from_the_network_or_other_files(exported: str) -> None:
    # Nothing is fetched: no script/style/image from a URL, no CSS url() or @import of one.
    assert not re.search(r"<(script|img|iframe)[^>]*\bsrc\s*=", exported, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=", exported, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?|file):", exported, re.I)
    assert not re.search(r"@import", exported)
    assert '"admin1Url": null' in exported  # regions inlined, never loaded from a file
    assert not re.search(r"['\"]file:", exported)
    # http(s) text is left only inside the vendored libraries' comments and strings
    # (licences, Leaflet's attribution link, the SVG namespace); the WebEngine test checks
    # that opening the file makes no request at all.


def test_export_holds_the_data_outlines_and_the_basemaps(exported: str) -> None:
    m = re.search(r"var fcExport = (\{.*?\});\n", exported)
    assert m is not None
    data = json.loads(m.group(1))
    assert [f["properties"]["name"] for f in data["fc"]["features"]][:2] == ["North <b>&</b>",
                                                                            "South"]
    assert data["legend"]["title"] == "Sales (SEK) by territory"
    assert "fieldcrmBasemap(\"countries\"" in exported or "fieldcrmBasemap('countries'" in exported
    assert "admin1" in exported
    assert "Sales &lt;/script&gt; by territory" in exported  # the title is escaped
    assert "window.fieldcrm.init(" in exported
    assert exported.count("<script>") >= 6  # Leaflet, draw, map code, basemaps, data, hook
