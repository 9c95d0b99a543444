"""Build the offline account map (folium + vendored Leaflet, supercluster) as an HTML file.

The page references only local files: Leaflet and its plugins from ``resources/web/``, the
Natural Earth outlines from ``resources/basemap/`` and the pins from ``map-data.js`` written
beside ``map.html``. Nothing is fetched from the network unless a ``tile_url`` is given.

Public API
----------
``MapPoints``
    Columnar pins (ids, names, lats, lons, statuses, tiers, days_overdue, precise).
``MapTerritory``
    A territory polygon (GeoJSON geometry or feature, lon/lat) with a name and a colour.
``build_account_map(*, points, territories, out_dir, color_by="status", tile_url=None, ...)``
    Writes ``out_dir/map.html`` and ``out_dir/map-data.js``; returns the HTML path.
``resources_dir()``
    The one place that finds the ``resources/`` folder.
``load_basemap(name)``
    The shipped outlines (``"countries"`` or ``"admin1"``) as a GeoJSON dict.

The page exposes ``window.fieldcrm`` (``resources/web/fieldcrm/fieldcrm-map.js`` and
``fieldcrm-tools.js``):
``setVisible(ids|null)``, ``selectAccount(id)``, ``showCircle(lat, lon, km, ids)``,
``setColorMode("status"|"overdue")``, ``showRoute(geojsonLine, stops)``,
``setChoropleth(featureCollection, legend)``, ``startDrawPolygon()``, ``startRectangleSelect()``,
``startLasso()``, ``highlight(ids)``, ``setHeatmap(on)``, ``stats()``; it sets
``window.fieldcrm.ready = true`` and posts ``{"type": "ready"}`` once pins and territories
are drawn. Messages to Python: ``ready``, ``account_clicked`` (id), ``selection`` (ids),
``polygon_drawn`` (geojson geometry), ``territory_clicked`` (id).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import numpy as np
from folium.elements import JSCSSMixin
from folium.template import Template

from fieldcrm.errors import FieldCrmError, InvalidInput

COLOR_MODES = ("status", "overdue")
STATUS_CODES = {"lead": 0, "prospect": 1, "customer": 2, "former": 3}
HTML_NAME = "map.html"
DATA_NAME = "map-data.js"
# Legend rows in the page's code order: status codes 0..3, then overdue classes by severity.
STATUS_LEGEND: tuple[dict[str, str], ...] = (
    {"label": "Lead", "color": "#1f77b4"},
    {"label": "Prospect", "color": "#9467bd"},
    {"label": "Customer", "color": "#2ca02c"},
    {"label": "Former", "color": "#8c8c8c"},
)
OVERDUE_LEGEND: tuple[dict[str, str], ...] = (
    {"label": "Visit on time (0 or fewer days overdue)", "color": "#2ca02c"},
    {"label": "Never visited", "color": "#9e9e9e"},
    {"label": "Overdue 1-14 days", "color": "#ff9f1a"},
    {"label": "Overdue more than 14 days", "color": "#d62728"},
)
LEGEND_TITLES = {"status": "Account status", "overdue": "Days since last visit"}
_BASEMAP_PREFIX = "fieldcrmBasemap("
_COORD_SCALE = 100_000  # coordinates are sent as int(degrees * 1e5)


def resources_dir() -> Path:
    """Return the ``resources/`` folder holding the vendored web assets and the basemap.

    Looked up, in order: ``$FIELDCRM_RESOURCES``; ``fieldcrm/resources`` inside the
    installed package (for wheels that ship it as package data); the repository's
    ``resources/`` beside the ``fieldcrm`` package.

    Raises
    ------
    FieldCrmError
        If none of them holds ``web/leaflet/leaflet.js``.
    """
    package = Path(__file__).resolve().parent.parent
    candidates = [package / "resources", package.parent / "resources"]
    env = os.environ.get("FIELDCRM_RESOURCES")
    if env:
        candidates.insert(0, Path(env))
    for c in candidates:
        if (c / "web" / "leaflet" / "leaflet.js").is_file():
            return c
    tried = ", ".join(str(c) for c in candidates)
    raise FieldCrmError(f"Map resources not found (looked in {tried}); reinstall fieldcrm.")


@dataclass(frozen=True, slots=True)
class MapPoints:
    """Pins for the map, one list per column (all of the same length).

    ``statuses`` are AccountStatus values (``lead``/``prospect``/``customer``/``former``);
    ``days_overdue`` is days past the visit cadence (``None`` = never visited);
    ``precise`` is False for town- or postcode-level geocodes (drawn hollow).
    Rows whose lat or lon is None are left off the map.
    """

    ids: Sequence[str]
    names: Sequence[str]
    lats: Sequence[float | None]
    lons: Sequence[float | None]
    statuses: Sequence[str]
    tiers: Sequence[str]
    days_overdue: Sequence[int | None]
    precise: Sequence[bool]

    def __post_init__(self) -> None:
        n = len(self.ids)
        bad = {
            name: f"has {len(getattr(self, name))} values, ids has {n}"
            for name in ("names", "lats", "lons", "statuses", "tiers", "days_overdue", "precise")
            if len(getattr(self, name)) != n
        }
        if bad:
            raise InvalidInput("Map points have columns of different lengths.", errors=bad)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls) -> MapPoints:
        return cls([], [], [], [], [], [], [], [])


@dataclass(frozen=True, slots=True)
class MapTerritory:
    """A territory drawn on the map: ``geojson`` is a geometry, Feature or FeatureCollection."""

    id: str
    name: str
    color: str
    geojson: dict[str, Any]


def _js_json(obj: Any) -> str:
    """JSON safe to put inside an inline ``<script>``."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _columns(points: MapPoints) -> dict[str, Any]:
    """Validate the points and turn them into the compact columns the page reads.

    Coordinates travel as integers in units of 1e-5 degree (about 1 m): shorter than floats
    and several times faster to write and parse.
    """
    keep = [i for i, (la, lo) in enumerate(zip(points.lats, points.lons, strict=True))
            if la is not None and lo is not None]

    def col(values: Sequence[Any]) -> list[Any]:
        return list(values) if len(keep) == len(values) else [values[i] for i in keep]

    ids = [str(v) for v in col(points.ids)]
    lat = np.asarray(col(points.lats), dtype=np.float64)
    lon = np.asarray(col(points.lons), dtype=np.float64)
    bad = ~((lat >= -90.0) & (lat <= 90.0) & (lon >= -180.0) & (lon <= 180.0))
    if bad.any():
        k = int(np.argmax(bad))
        raise InvalidInput(
            f"Map point {keep[k]} ({ids[k]}) is outside the world: lat={lat[k]}, lon={lon[k]}.",
            errors={"lats": f"row {keep[k]}: lat must be -90..90 and lon -180..180"},
        )
    statuses = col(points.statuses)
    try:
        status = [STATUS_CODES[str(v)] for v in statuses]
    except KeyError as exc:
        k = [str(v) for v in statuses].index(exc.args[0])
        raise InvalidInput(
            f"Map point {keep[k]} ({ids[k]}) has an unknown status {statuses[k]!r}.",
            errors={"statuses": f"row {keep[k]}: expected one of {', '.join(STATUS_CODES)}"},
        ) from None
    return {
        "ids": ids,
        "names": [str(v) for v in col(points.names)],
        "scale": _COORD_SCALE,
        "lat": np.rint(lat * _COORD_SCALE).astype(np.int64).tolist(),
        "lon": np.rint(lon * _COORD_SCALE).astype(np.int64).tolist(),
        "status": status,
        "tier": [str(v) for v in col(points.tiers)],
        "overdue": [None if v is None else int(v) for v in col(points.days_overdue)],
        "precise": [1 if v else 0 for v in col(points.precise)],
    }


class FieldCrmLayer(JSCSSMixin):
    """Folium element that loads the vendored scripts and starts ``fieldcrm.init``."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            window.fieldcrm.init({{ this._parent.get_name() }}, {{ this.config_js }});
        {% endmacro %}
        """
    )

    def __init__(self, js: list[tuple[str, str]], css: list[tuple[str, str]], config: dict[str, Any]):
        super().__init__()
        self._name = "FieldCrmLayer"
        self.default_js = js
        self.default_css = css
        self.config_js = _js_json(config)


def _asset_urls(res: Path, data_url: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    web = res / "web"
    js = [
        ("leaflet_draw", (web / "leaflet-draw" / "leaflet.draw.js").as_uri()),
        ("supercluster", (web / "supercluster" / "supercluster.min.js").as_uri()),
        ("leaflet_heat", (web / "leaflet-heat" / "leaflet-heat.js").as_uri()),
        ("fieldcrm_map", (web / "fieldcrm" / "fieldcrm-map.js").as_uri()),
        ("fieldcrm_tools", (web / "fieldcrm" / "fieldcrm-tools.js").as_uri()),
        ("fieldcrm_countries", (res / "basemap" / "countries.js").as_uri()),
        ("fieldcrm_data", data_url),
    ]
    css = [
        ("leaflet_draw_css", (web / "leaflet-draw" / "leaflet.draw.css").as_uri()),
        ("fieldcrm_map_css", (web / "fieldcrm" / "fieldcrm-map.css").as_uri()),
    ]
    return js, css


def offline_map(*, res: Path, tile_url: str | None = None, attribution: str = "") -> folium.Map:
    """A folium Map whose own scripts (Leaflet) come from ``res/web`` and that adds nothing else.

    folium's defaults (Leaflet from a CDN, jQuery, Bootstrap, awesome-markers, Font Awesome)
    are replaced by the vendored Leaflet only; the page uses none of the others.
    """
    m = folium.Map(location=None, tiles=None, prefer_canvas=True, control_scale=True,
                   world_copy_jump=True)
    m.options["max_zoom"] = 19
    m.default_js = [("leaflet", (res / "web" / "leaflet" / "leaflet.js").as_uri())]
    m.default_css = [("leaflet_css", (res / "web" / "leaflet" / "leaflet.css").as_uri())]
    if tile_url:
        folium.TileLayer(tiles=tile_url, attr=attribution or "Map tiles", max_zoom=19).add_to(m)
    return m


def _territory_config(territories: Sequence[MapTerritory]) -> list[dict[str, Any]]:
    out = []
    for t in territories:
        if not isinstance(t.geojson, dict) or "type" not in t.geojson:
            raise InvalidInput(
                f"Territory {t.name!r} has no GeoJSON geometry.",
                errors={"geojson": f"territory {t.id}: expected a GeoJSON object"},
            )
        out.append({"id": t.id, "name": t.name, "color": t.color, "geojson": t.geojson})
    return out


def build_account_map(
    *,
    points: MapPoints,
    territories: Sequence[MapTerritory] = (),
    out_dir: Path,
    color_by: str = "status",
    tile_url: str | None = None,
    attribution: str = "",
    resources: Path | None = None,
) -> Path:
    """Write ``out_dir/map.html`` (+ ``map-data.js``) showing the accounts and territories.

    Parameters
    ----------
    points : the pins (rows without coordinates are skipped).
    territories : polygons drawn under the pins with their names.
    out_dir : folder for the two files (created if missing; files are replaced atomically).
    color_by : ``"status"`` or ``"overdue"`` (days since last visit against the cadence).
    tile_url : optional raster tile URL template (``{z}/{x}/{y}``); ``None`` = offline basemap.
    resources : where ``web/`` and ``basemap/`` live; default :func:`resources_dir`.

    Raises
    ------
    InvalidInput
        For an unknown ``color_by``, a bad status or coordinate, or a territory without GeoJSON.
    """
    if color_by not in COLOR_MODES:
        raise InvalidInput(f"Unknown map colour mode {color_by!r}.",
                           errors={"color_by": f"expected one of {', '.join(COLOR_MODES)}"})
    res = resources or resources_dir()
    cols = _columns(points)
    config = {
        "colorBy": color_by,
        "territories": _territory_config(territories),
        "tiles": bool(tile_url),
        "legend": {"status": STATUS_LEGEND, "overdue": OVERDUE_LEGEND},
        "legendTitles": LEGEND_TITLES,
        # Loaded on demand (zoom >= 5); not with tiles, which show regions and during which
        # the view cannot load further local files.
        "admin1Url": None if tile_url else (res / "basemap" / "admin1.js").as_uri(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    # JSON.parse of a string literal is much faster for V8 than an equally big object literal.
    payload = json.dumps(cols, separators=(",", ":"), ensure_ascii=False)
    _write_atomic(out_dir / DATA_NAME, f"fieldcrmMapData(JSON.parse({json.dumps(payload)}));\n")
    # The query string defeats any cache when the same map.html is rebuilt and reloaded.
    js, css = _asset_urls(res, f"{DATA_NAME}?v={time.time_ns()}")
    m = offline_map(res=res, tile_url=tile_url, attribution=attribution)
    FieldCrmLayer(js, css, config).add_to(m)
    html_path = out_dir / HTML_NAME
    _write_atomic(html_path, m.get_root().render())
    return html_path


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_basemap(name: str, *, resources: Path | None = None) -> dict[str, Any]:
    """Return a shipped basemap (``"countries"`` or ``"admin1"``) as a GeoJSON dict.

    Raises
    ------
    InvalidInput
        For an unknown basemap name.
    """
    if name not in ("countries", "admin1"):
        raise InvalidInput(f"Unknown basemap {name!r}.", errors={"name": "countries or admin1"})
    text = ((resources or resources_dir()) / "basemap" / f"{name}.js").read_text("utf-8")
    start = text.index(",", len(_BASEMAP_PREFIX)) + 1
    end = text.rindex(");")
    return json.loads(text[start:end])
