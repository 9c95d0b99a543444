"""Shapes for demo data: territory polygons covering a set of points (Voronoi cells of clusters)."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPoint, mapping, shape
from shapely.geometry.base import BaseGeometry


def cluster_centres(lons: np.ndarray, lats: np.ndarray, k: int, *, seed: int, rounds: int = 12) -> np.ndarray:
    """Return ``k`` (lon, lat) centres of the points by a few rounds of seeded k-means."""
    pts = np.column_stack([lons * np.cos(np.radians(lats.mean())), lats])
    rng = np.random.default_rng(seed)
    centres = pts[rng.choice(len(pts), size=k, replace=False)]
    for _ in range(rounds):
        d = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        label = d.argmin(axis=1)
        for j in range(k):
            members = pts[label == j]
            if len(members):
                centres[j] = members.mean(axis=0)
    centres[:, 0] /= np.cos(np.radians(lats.mean()))
    return centres


def country_outline(country: str) -> BaseGeometry | None:
    """Return the Natural Earth outline of an ISO alpha-2 country from the shipped basemap."""
    import pycountry

    from fieldcrm.geo.maps import load_basemap

    record = pycountry.countries.get(alpha_2=country.upper())
    if record is None:
        return None
    names = {getattr(record, a, None) for a in ("name", "common_name", "official_name")} - {None}
    for feature in load_basemap("countries")["features"]:
        if feature["properties"].get("name") in names:
            return shapely.make_valid(shape(feature["geometry"]))
    return None


def voronoi_cover(lons: np.ndarray, lats: np.ndarray, centres: np.ndarray, *, margin_deg: float = 0.3,
                  country: str | None = None) -> list[dict]:
    """Return GeoJSON polygons (one per centre, same order) that tile the area of the points.

    The area is the points' convex hull plus a margin, cut to the country's outline (plus the
    margin, so coastal accounts stay inside) when the basemap knows the country.
    """
    hull = MultiPoint(np.column_stack([lons, lats])).convex_hull.buffer(margin_deg)
    outline = country_outline(country) if country else None
    if outline is not None:
        land = outline.buffer(margin_deg).intersection(hull)
        if land.covers(MultiPoint(np.column_stack([lons, lats]))):
            hull = land
    seeds = MultiPoint(centres)
    cells = shapely.voronoi_polygons(seeds, extend_to=hull.envelope)
    out: list[dict] = []
    for centre in centres:
        cell = next(c for c in cells.geoms if c.covers(shapely.Point(centre)))
        clipped = shapely.make_valid(cell.intersection(hull))
        clipped = shapely.set_precision(clipped, 1e-5)
        out.append(mapping(clipped))
    return out
