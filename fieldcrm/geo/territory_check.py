"""Validation of imported or drawn territories: problems, proposed repairs, an accept step."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from fieldcrm.errors import InvalidInput
from fieldcrm.geo.territory import CoverageReport, check_coverage
from fieldcrm.geo.territory_area import area_km2
from fieldcrm.geo.territory_io import ParsedFile, TerritoryFeature, feature_label

BBox = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one geometry; ``fatal`` ones cannot be repaired here."""

    code: str  # self_intersection|invalid|swapped|projected|out_of_range|no_area|empty|area
    message: str
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class FeatureReport:
    """What validation found in one feature, and the repair it proposes (not yet applied)."""

    index: int
    name: str
    problems: tuple[Problem, ...]
    original: BaseGeometry
    proposed: BaseGeometry | None  # None when a fatal problem leaves nothing to propose
    area_before_km2: float
    area_after_km2: float

    @property
    def label(self) -> str:
        return feature_label(self.index, self.name)

    @property
    def fatal(self) -> bool:
        return any(p.fatal for p in self.problems)

    @property
    def needs_acceptance(self) -> bool:
        """True when the proposed geometry differs from the original: the user must accept."""
        return not self.fatal and self.proposed is not self.original


@dataclass(frozen=True, slots=True)
class ImportPreview:
    """Everything the user sees before an import; nothing is applied until `accept_import`."""

    features: tuple[TerritoryFeature, ...]  # as read, in file order
    reports: tuple[FeatureReport, ...]  # one per feature, same order
    errors: tuple[str, ...]  # file errors and fatal problems: the import is refused
    warnings: tuple[str, ...]
    coverage: CoverageReport | None = None  # overlaps/gaps of the proposed geometries

    @property
    def can_import(self) -> bool:
        return not self.errors

    @property
    def repairs(self) -> tuple[FeatureReport, ...]:
        return tuple(r for r in self.reports if r.needs_acceptance)


def expected_bbox_from_points(
    lons: np.ndarray, lats: np.ndarray, *, margin_deg: float = 0.5
) -> BBox | None:
    """Bounding box of the accounts' valid coordinates plus a margin, or None if none."""
    x, y = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90)
    if not ok.any():
        return None
    x, y = x[ok], y[ok]
    return (
        float(x.min()) - margin_deg,
        float(y.min()) - margin_deg,
        float(x.max()) + margin_deg,
        float(y.max()) + margin_deg,
    )


def _swap(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, lambda c: c[:, ::-1].copy())


def _bbox_hits(bounds: np.ndarray, box: BBox) -> bool:
    x0, y0, x1, y1 = bounds
    return not (x1 < box[0] or x0 > box[2] or y1 < box[1] or y0 > box[3])


def _coordinate_problem(geom: BaseGeometry, expected: BBox | None) -> Problem | None:
    """Projected (metres) or swapped (lat, lon) coordinates, explained."""
    x0, y0, x1, y1 = (float(v) for v in shapely.bounds(geom))
    lon_ok = x0 >= -180 and x1 <= 180
    lat_ok = y0 >= -90 and y1 <= 90
    swappable = x0 >= -90 and x1 <= 90 and y0 >= -180 and y1 <= 180
    span = f"x {x0:.6g}…{x1:.6g}, y {y0:.6g}…{y1:.6g}"
    if lon_ok and not lat_ok and swappable:
        return Problem(
            "swapped",
            f"looks like (lat, lon) order: 'latitudes' {y0:.6g}…{y1:.6g} "
            "exceed ±90 but fit as longitudes; proposed fix: swap x and y",
        )
    if not (lon_ok and lat_ok) and max(abs(x0), abs(x1), abs(y0), abs(y1)) <= 1000:
        return Problem(
            "out_of_range",
            f"coordinates out of range ({span}): longitude must lie within ±180 and "
            "latitude within ±90",
            fatal=True,
        )
    if not (lon_ok and lat_ok):
        return Problem(
            "projected",
            f"coordinates are not longitude/latitude ({span}): values beyond ±180/±90 look "
            "projected, in metres (e.g. Web Mercator EPSG:3857 or a national grid such as "
            "SWEREF 99 TM EPSG:3006); reproject to WGS84 (EPSG:4326) and import again",
            fatal=True,
        )
    if expected is not None and swappable:
        here = _bbox_hits(np.array([x0, y0, x1, y1]), expected)
        swapped = _bbox_hits(np.array([y0, x0, y1, x1]), expected)
        if swapped and not here:
            return Problem(
                "swapped",
                f"lies outside the accounts' area ({span}) but falls on it with longitude "
                "and latitude exchanged: looks like (lat, lon) order; proposed fix: swap x and y",
            )
    return None


def _polygonal(geom: BaseGeometry) -> tuple[BaseGeometry, bool]:
    """The polygonal part of ``geom`` and whether anything else (lines, points) was dropped."""
    if isinstance(geom, Polygon | MultiPolygon):
        return geom, False
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if isinstance(p, Polygon | MultiPolygon)]
    merged = shapely.union_all(polys) if polys else Polygon()
    return merged, len(polys) < len(parts)


def _repair(geom: BaseGeometry) -> tuple[BaseGeometry, list[Problem]]:
    reason = shapely.is_valid_reason(geom)
    code = "self_intersection" if "elf-intersection" in reason else "invalid"
    fixed, dropped = _polygonal(shapely.make_valid(geom))
    parts = len(shapely.get_parts(fixed))
    text = f"invalid geometry ({reason}); proposed repair (shapely make_valid) gives {parts} "
    text += "polygon" + ("s" if parts != 1 else "")
    if dropped:
        text += "; collapsed lines/points are dropped"
    problems = [Problem(code, text)]
    if fixed.is_empty or fixed.area == 0:
        problems.append(Problem("no_area", "nothing with an area is left after repair", True))
    return fixed, problems


def check_geometry(
    geom: BaseGeometry, *, index: int = 0, name: str = "", expected_bbox: BBox | None = None
) -> FeatureReport:
    """Validate one lon/lat (Multi)Polygon and propose a repair; nothing is changed in place.

    Detects projected coordinates (fatal), swapped lat/lon (repair: swap), and invalid
    geometry such as self-intersections (repair: ``shapely.make_valid``, polygonal part).
    """
    if geom is None or geom.is_empty:
        empty = Problem("empty", "empty geometry: it has no coordinates", fatal=True)
        return FeatureReport(index, name, (empty,), geom, None, 0.0, 0.0)
    problems: list[Problem] = []
    proposed = geom
    coord = _coordinate_problem(geom, expected_bbox)
    if coord is not None:
        problems.append(coord)
        if coord.code == "swapped":
            proposed = _swap(geom)
    if not any(p.fatal for p in problems) and not shapely.is_valid(proposed):
        proposed, found = _repair(proposed)
        problems.extend(found)
    fatal = any(p.fatal for p in problems)
    before = area_km2(geom) if not fatal or coord is None else 0.0
    after = area_km2(proposed) if not fatal else 0.0
    if problems and not fatal:
        problems.append(Problem("area", f"area {before:,.3f} km² before, {after:,.3f} km² after"))
    return FeatureReport(
        index, name, tuple(problems), geom, None if fatal else proposed, before, after
    )


def prepare_import(
    parsed: ParsedFile,
    *,
    expected_bbox: BBox | None = None,
    account_lons: np.ndarray | None = None,
    account_lats: np.ndarray | None = None,
) -> ImportPreview:
    """Validate every feature of a parsed file; returns the preview the user accepts or not.

    When account coordinates are given they set ``expected_bbox`` (unless given) and the
    overlaps and gaps of the proposed geometries are computed against them.
    """
    if expected_bbox is None and account_lons is not None and account_lats is not None:
        expected_bbox = expected_bbox_from_points(account_lons, account_lats)
    reports = tuple(
        check_geometry(
            r.feature.geometry, index=r.index, name=r.feature.name, expected_bbox=expected_bbox
        )
        for r in parsed.features
    )
    errors = list(parsed.errors)
    errors += [f"{r.label}: {p.message}" for r in reports for p in r.problems if p.fatal]
    coverage = None
    if not errors and account_lons is not None and account_lats is not None:
        proposed = [(f"{r.index:09d}", r.proposed) for r in reports]
        coverage = check_coverage(proposed, account_lons, account_lats)
    return ImportPreview(
        tuple(r.feature for r in parsed.features),
        reports,
        tuple(errors),
        parsed.warnings,
        coverage,
    )


def accept_import(
    preview: ImportPreview, *, accepted: Collection[int] | None = None
) -> tuple[TerritoryFeature, ...]:
    """The features to store, repaired where the user accepted the repair.

    Parameters
    ----------
    accepted
        Indices (`FeatureReport.index`) whose proposed repair the user accepted;
        ``None`` accepts every proposed repair.

    Raises
    ------
    InvalidInput
        If the preview has errors, or a repair was not accepted: the import is all or
        nothing, so nothing is returned to apply.
    """
    if preview.errors:
        raise InvalidInput("The file cannot be imported:\n" + "\n".join(preview.errors))
    refused = [r.label for r in preview.repairs if accepted is not None and r.index not in accepted]
    if refused:
        raise InvalidInput(
            "Import cancelled: the proposed repair was not accepted for " + ", ".join(refused),
            {"repairs": ", ".join(refused)},
        )
    out = []
    for feature, report in zip(preview.features, preview.reports, strict=True):
        geom = report.proposed if report.proposed is not None else feature.geometry
        out.append(TerritoryFeature(feature.name, geom, dict(feature.properties), feature.fid))
    return tuple(out)
