"""Read and write territories as GeoJSON (RFC 7946) and KML 2.2; parsing never half-succeeds."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from fieldcrm.errors import ImportFileError

KML_NS = "http://www.opengis.net/kml/2.2"
FIELDCRM_NS = "urn:fieldcrm:kml:1"
"""Namespace of the element that carries the exact (typed) properties in our KML files."""

_NAME_KEYS = ("name", "Name", "NAME", "title", "Title")


@dataclass(frozen=True, slots=True)
class TerritoryFeature:
    """One territory as a file holds it: a name, its properties and a lon/lat geometry."""

    name: str
    geometry: BaseGeometry  # Polygon or MultiPolygon, WGS84 lon/lat
    properties: dict[str, Any] = field(default_factory=dict)
    fid: str | None = None  # the GeoJSON Feature "id" / KML Placemark id, if any


@dataclass(frozen=True, slots=True)
class RawFeature:
    """A feature read from a file, before validation (its geometry may be invalid)."""

    index: int  # 0-based position among the file's features/placemarks
    feature: TerritoryFeature
    notes: tuple[str, ...] = ()  # harmless fixes made while reading (a ring closed...)

    @property
    def label(self) -> str:
        return feature_label(self.index, self.feature.name)


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """What a file holds. If ``errors`` is not empty nothing of it may be applied."""

    features: tuple[RawFeature, ...]
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def raise_for_errors(self) -> None:
        """Raise `ImportFileError` listing every error, if there is any."""
        if self.errors:
            raise ImportFileError("The file cannot be imported:\n" + "\n".join(self.errors))


class _Bad(Exception):
    """A problem with one feature; its text is shown after the feature's label."""


def feature_label(index: int, name: str) -> str:
    """How messages name a feature: its 1-based position and its name."""
    return f"feature #{index + 1} {name!r}" if name else f"feature #{index + 1}"


# --- building geometries from coordinate lists ------------------------------------------


def _point(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise _Bad(f"{where}: {value!r} is not a [lon, lat] position")
    x, y = value[0], value[1]
    for v in (x, y):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _Bad(f"{where}: {v!r} is not a number")
    if not (math.isfinite(x) and math.isfinite(y)):
        raise _Bad(f"{where}: coordinate ({x}, {y}) is not a finite number (NaN or infinite)")
    return float(x), float(y)


def _ring(points: Any, where: str, notes: list[str]) -> list[tuple[float, float]]:
    if not isinstance(points, list | tuple) or not points:
        raise _Bad(f"{where} is empty")
    ring = [_point(p, f"{where}, point {k + 1}") for k, p in enumerate(points)]
    distinct = len(set(ring))
    if distinct < 3:
        raise _Bad(f"{where} has {distinct} distinct point(s); a polygon needs at least 3")
    if ring[0] != ring[-1]:
        ring.append(ring[0])
        notes.append(f"{where} was not closed; its first point was repeated at the end")
    return ring


def build_geometry(polygons: Any, *, multi: bool, notes: list[str]) -> BaseGeometry:
    """Build a (Multi)Polygon from ``[[outer, hole, ...], ...]`` coordinate lists.

    Raises ``_Bad`` naming the polygon, ring and point that is wrong.
    """
    if not isinstance(polygons, list | tuple) or not polygons:
        raise _Bad("empty geometry: it has no coordinates")
    parts = []
    for p, rings in enumerate(polygons):
        where = f"polygon {p + 1}" if multi else "polygon"
        if not isinstance(rings, list | tuple) or not rings:
            raise _Bad(f"{where} is empty")
        built = [
            _ring(r, f"{where}, {'outer ring' if k == 0 else f'hole {k}'}", notes)
            for k, r in enumerate(rings)
        ]
        parts.append(Polygon(built[0], built[1:]))
    return MultiPolygon(parts) if multi else parts[0]


# --- GeoJSON --------------------------------------------------------------------------


def _name_of(props: dict[str, Any], index: int) -> str:
    for key in _NAME_KEYS:
        value = props.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return f"Territory {index + 1}"


def _geojson_items(doc: Any) -> list[Any]:
    if not isinstance(doc, dict):
        raise ImportFileError("not GeoJSON: the top level is not an object")
    kind = doc.get("type")
    crs = doc.get("crs")
    if isinstance(crs, dict):
        name = str((crs.get("properties") or {}).get("name", ""))
        if name and not name.endswith(("4326", "CRS84")):
            raise ImportFileError(
                f"the file declares the coordinate system {name}; only WGS84 longitude/"
                "latitude (EPSG:4326) is supported: reproject it first"
            )
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise ImportFileError("GeoJSON FeatureCollection without a 'features' list")
        return features
    if kind == "Feature":
        return [doc]
    if kind in ("Polygon", "MultiPolygon"):
        return [{"type": "Feature", "properties": {}, "geometry": doc}]
    raise ImportFileError(
        f"GeoJSON of type {kind!r}: expected a FeatureCollection, a Feature or a Polygon"
    )


def _geojson_feature(index: int, item: Any) -> RawFeature:
    if not isinstance(item, dict) or item.get("type") != "Feature":
        raise _Bad("is not a GeoJSON Feature object")
    props = item.get("properties") or {}
    if not isinstance(props, dict):
        raise _Bad("'properties' is not an object")
    name = _name_of(props, index)
    try:
        geom = item.get("geometry")
        if geom is None:
            raise _Bad("has no geometry (null)")
        kind = geom.get("type") if isinstance(geom, dict) else None
        if kind not in ("Polygon", "MultiPolygon"):
            raise _Bad(f"geometry type {kind!r} is not supported: use Polygon or MultiPolygon")
        notes: list[str] = []
        coords = geom.get("coordinates")
        polygons = coords if kind == "MultiPolygon" else ([coords] if coords else [])
        shape = build_geometry(polygons, multi=kind == "MultiPolygon", notes=notes)
    except _Bad as exc:
        raise _Bad(f"{feature_label(index, name)}: {exc}") from None
    fid = item.get("id")
    feature = TerritoryFeature(name, shape, dict(props), None if fid is None else str(fid))
    return RawFeature(index, feature, tuple(notes))


def read_geojson(text: str | bytes) -> ParsedFile:
    """Parse GeoJSON text; every bad feature is reported, none is dropped silently."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return ParsedFile((), (f"broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",))
    except UnicodeDecodeError as exc:
        return ParsedFile((), (f"the file is not UTF-8 text: {exc.reason}",))
    try:
        items = _geojson_items(doc)
    except ImportFileError as exc:
        return ParsedFile((), (str(exc),))
    return _collect(items, _geojson_feature, lambda i, item: "")


def _collect(items: Sequence[Any], parse: Any, name_of: Any) -> ParsedFile:
    features, errors, warnings = [], [], []
    for index, item in enumerate(items):
        try:
            raw = parse(index, item)
        except _Bad as exc:
            errors.append(str(exc))
            continue
        if raw is None:
            label = feature_label(index, name_of(index, item))
            warnings.append(f"{label}: no polygon (only points or lines); skipped")
            continue
        features.append(raw)
        warnings.extend(f"{raw.label}: {n}" for n in raw.notes)
    if not features and not errors:
        errors.append("the file holds no territory (no Polygon or MultiPolygon)")
    return ParsedFile(tuple(features), tuple(errors), tuple(warnings))


def write_geojson(features: Sequence[TerritoryFeature]) -> str:
    """GeoJSON FeatureCollection text; outer rings counter-clockwise as RFC 7946 asks."""
    out = []
    for f in features:
        props = {**f.properties, "name": f.name}
        item: dict[str, Any] = {"type": "Feature", "properties": props}
        if f.fid is not None:
            item["id"] = f.fid
        item["geometry"] = mapping(shapely.orient_polygons(f.geometry))
        out.append(item)
    return json.dumps({"type": "FeatureCollection", "features": out}, ensure_ascii=False)


# --- KML ------------------------------------------------------------------------------


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in elem if _local(c.tag) == name), None)


def _text(elem: ET.Element | None) -> str:
    return (elem.text or "").strip() if elem is not None else ""


def _kml_coords(elem: ET.Element | None, where: str) -> list[list[float]]:
    coords = _child(elem, "coordinates") if elem is not None else None
    points = []
    for k, token in enumerate(_text(coords).split()):
        try:
            points.append([float(v) for v in token.split(",")])
        except ValueError:
            raise _Bad(f"{where}, point {k + 1}: {token!r} is not 'lon,lat[,alt]'") from None
    return points


def _kml_polygon(poly: ET.Element) -> list[list[list[float]]]:
    rings = []
    for boundary in ("outerBoundaryIs", "innerBoundaryIs"):
        for b in (c for c in poly if _local(c.tag) == boundary):
            rings.append(_kml_coords(_child(b, "LinearRing"), boundary))
    if not rings or not rings[0]:
        return []
    return rings


def _kml_geometries(elem: ET.Element, skipped: list[str]) -> Iterator[ET.Element]:
    for child in elem:
        kind = _local(child.tag)
        if kind == "Polygon":
            yield child
        elif kind == "MultiGeometry":
            yield from _kml_geometries(child, skipped)
        elif kind in ("Point", "LineString", "LinearRing", "Model", "Track", "MultiTrack"):
            skipped.append(kind)


def _kml_properties(placemark: ET.Element) -> dict[str, Any]:
    data = _child(placemark, "ExtendedData")
    props: dict[str, Any] = {}
    if data is None:
        return props
    for elem in data.iter():
        kind = _local(elem.tag)
        if elem.tag == f"{{{FIELDCRM_NS}}}properties":
            try:
                return dict(json.loads(elem.text or "{}"))
            except (ValueError, TypeError):
                continue  # fall back to the plain Data values below
        if kind == "Data" and elem.get("name"):
            props[elem.get("name", "")] = _text(_child(elem, "value"))
        elif kind == "SimpleData" and elem.get("name"):
            props[elem.get("name", "")] = _text(elem)
    return props


def _kml_placemark(index: int, placemark: ET.Element) -> RawFeature | None:
    props = _kml_properties(placemark)
    name = _text(_child(placemark, "name")) or _name_of(props, index)
    label = feature_label(index, name)
    skipped: list[str] = []
    polys = list(_kml_geometries(placemark, skipped))
    multi = _child(placemark, "MultiGeometry") is not None
    if not polys and skipped:
        return None  # a label point or a road: not a territory, reported by the caller
    notes = [f"ignored {', '.join(skipped)} inside its MultiGeometry"] if skipped else []
    try:
        if not polys:
            raise _Bad("has no Polygon")
        rings = [_kml_polygon(p) for p in polys]
        if not all(rings):
            raise _Bad("empty geometry: a Polygon has no outer boundary coordinates")
        shape = build_geometry(rings, multi=multi, notes=notes)
    except _Bad as exc:
        raise _Bad(f"{label}: {exc}") from None
    return RawFeature(
        index, TerritoryFeature(name, shape, props, placemark.get("id")), tuple(notes)
    )


def read_kml(data: str | bytes) -> ParsedFile:
    """Parse KML 2.2 (any namespace version): every Placemark with a Polygon is a territory."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        return ParsedFile((), ("the KML declares a DOCTYPE or entities, which are refused",))
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        line, col = exc.position
        return ParsedFile((), (f"broken KML/XML at line {line}, column {col + 1}: {exc}",))
    placemarks = [e for e in root.iter() if _local(e.tag) == "Placemark"]
    return _collect(placemarks, _kml_placemark, lambda i, pm: _text(_child(pm, "name")))


def _kml_color(hex_rgb: Any, alpha: str) -> str | None:
    if not isinstance(hex_rgb, str) or len(hex_rgb) != 7 or not hex_rgb.startswith("#"):
        return None
    rr, gg, bb = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"{alpha}{bb}{gg}{rr}".lower()


def _kml_ring(parent: ET.Element, tag: str, coords: Any) -> None:
    ring = ET.SubElement(ET.SubElement(parent, tag), "LinearRing")
    text = " ".join(f"{x!r},{y!r}" for x, y in ((c[0], c[1]) for c in coords))
    ET.SubElement(ring, "coordinates").text = text


def _kml_geometry(parent: ET.Element, geom: BaseGeometry) -> None:
    geom = shapely.orient_polygons(geom)
    parts = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    host = ET.SubElement(parent, "MultiGeometry") if isinstance(geom, MultiPolygon) else parent
    for part in parts:
        poly = ET.SubElement(host, "Polygon")
        _kml_ring(poly, "outerBoundaryIs", part.exterior.coords)
        for hole in part.interiors:
            _kml_ring(poly, "innerBoundaryIs", hole.coords)


def write_kml(features: Sequence[TerritoryFeature], *, document_name: str = "Territories") -> str:
    """KML 2.2 text: one Placemark per territory, MultiGeometry for MultiPolygons.

    Properties go both to ``<Data>`` (readable in any KML viewer) and, exactly and typed,
    to one ``<fc:properties>`` JSON element that `read_kml` prefers.
    """
    ET.register_namespace("", KML_NS)
    ET.register_namespace("fc", FIELDCRM_NS)
    root = ET.Element(f"{{{KML_NS}}}kml")
    doc = ET.SubElement(root, "Document")
    ET.SubElement(doc, "name").text = document_name
    for f in features:
        pm = ET.SubElement(doc, "Placemark", {"id": f.fid} if f.fid else {})
        ET.SubElement(pm, "name").text = f.name
        line = _kml_color(f.properties.get("color"), "ff")
        fill = _kml_color(f.properties.get("color"), "66")
        if line and fill:
            style = ET.SubElement(pm, "Style")
            ET.SubElement(ET.SubElement(style, "LineStyle"), "color").text = line
            ET.SubElement(ET.SubElement(style, "PolyStyle"), "color").text = fill
        ext = ET.SubElement(pm, "ExtendedData")
        for key, value in f.properties.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            ET.SubElement(ET.SubElement(ext, "Data", {"name": str(key)}), "value").text = text
        exact = ET.SubElement(ext, f"{{{FIELDCRM_NS}}}properties")
        exact.text = json.dumps(f.properties, ensure_ascii=False)
        _kml_geometry(pm, f.geometry)
    # ElementTree puts unqualified children in no namespace; qualify them as KML.
    for elem in root.iter():
        if isinstance(elem.tag, str) and not elem.tag.startswith("{"):
            elem.tag = f"{{{KML_NS}}}{elem.tag}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


# --- files ----------------------------------------------------------------------------


def read_territory_file(path: str | Path) -> ParsedFile:
    """Read a .geojson/.json, .kml or .kmz file; problems come back as ``errors``."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".kmz", ".kml", ".geojson", ".json"):
        return ParsedFile(
            (), (f"{p.name}: unknown file type {suffix!r}; use .geojson, .kml or .kmz",)
        )
    try:
        if suffix == ".kmz":
            with zipfile.ZipFile(p) as zf:
                names = [n for n in zf.namelist() if n.lower().endswith(".kml")]
                if not names:
                    return ParsedFile((), (f"{p.name}: the KMZ archive holds no .kml file",))
                return read_kml(zf.read("doc.kml" if "doc.kml" in names else names[0]))
        data = p.read_bytes()
    except (OSError, zipfile.BadZipFile) as exc:
        return ParsedFile((), (f"{p.name}: cannot be read ({exc})",))
    return read_kml(data) if suffix == ".kml" else read_geojson(data)


def write_territory_file(path: str | Path, features: Sequence[TerritoryFeature]) -> None:
    """Write GeoJSON or KML (chosen by the suffix) atomically: a temp file, then rename."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".kml":
        text = write_kml(features)
    elif suffix in (".geojson", ".json"):
        text = write_geojson(features)
    else:
        raise ImportFileError(f"{p.name}: cannot export to {suffix!r}; use .geojson or .kml")
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
