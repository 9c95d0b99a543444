"""Territory geometry: point assignment, overlaps and gaps, import validation (pure shapely)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from fieldcrm.geo.territory_area import area_km2

OUTSIDE = -1
"""Index returned for points that lie in no territory (or have NaN/inf coordinates)."""

_MIXED = -2
_GRID_MIN_POINTS = 20_000


def priority_order(ids: Sequence[str]) -> np.ndarray:
    """Indices of ``ids`` in the order territories claim disputed points (smallest id first).

    Ties (equal ids) keep their input order, so the order is deterministic.
    """
    return np.array(sorted(range(len(ids)), key=lambda i: ids[i]), dtype=np.int64)


class TerritoryIndex:
    """Territories prepared for fast point assignment (the geometries are not modified).

    **Boundary rule.** A point belongs to every territory that *covers* it (interior or
    boundary, like ``Polygon.covers``); when several do (shared edges, shared vertices,
    hole rims, overlaps) it goes to the one with the **smallest id** (plain string order;
    UUIDv7 ids make that the oldest territory). So each point lands in exactly one
    territory or in none, whatever order the territories are given in.
    """

    def __init__(self, territories: Sequence[tuple[str, BaseGeometry]]) -> None:
        self.ids = [str(t[0]) for t in territories]
        self.geoms = np.array([t[1] for t in territories], dtype=object)
        self.order = priority_order(self.ids)
        for g in self.geoms:
            shapely.prepare(g)
        self.bounds = (
            shapely.bounds(self.geoms) if len(self.geoms) else np.empty((0, 4), dtype=float)
        )
        usable = ~np.isnan(self.bounds).any(axis=1) if len(self.geoms) else np.zeros(0, bool)
        self._usable = usable
        self._grid: _Grid | None = None

    def assign(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Territory index (into the input sequence) of each point, ``OUTSIDE`` if none."""
        x = np.ascontiguousarray(lons, dtype=float)
        y = np.ascontiguousarray(lats, dtype=float)
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError("lons and lats must be 1-D arrays of the same length")
        if not self._usable.any() or len(x) == 0:
            return np.full(len(x), OUTSIDE, dtype=np.int64)
        if len(x) < _GRID_MIN_POINTS:
            return self.assign_exact(x, y)
        if self._grid is None:
            self._grid = _Grid(self, n_points=len(x))
        return self._grid.assign(x, y)

    def assign_exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Assignment by bounding-box prefilter + ``intersects_xy`` (covers) per territory."""
        out = np.full(len(x), OUTSIDE, dtype=np.int64)
        for i in self.order:
            if not self._usable[i]:
                continue
            x0, y0, x1, y1 = self.bounds[i]
            # NaN coordinates fail every comparison, so they stay OUTSIDE.
            cand = np.flatnonzero((out < 0) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
            if len(cand):
                hit = shapely.intersects_xy(self.geoms[i], x[cand], y[cand])
                out[cand[hit]] = i
        return out


class _Grid:
    """A raster over the territories' bounds that settles most points without a polygon test.

    Cells are indexed by ``floor((x - x0) * sx)``, a monotone function of x (and the same
    for y). Every boundary segment is first cut to under half a cell, and the cells of its
    endpoints' index box are marked; by monotonicity every point of the segment falls in a
    marked cell (plus a one-cell margin for the rounding of the cut points). An unmarked cell therefore holds no boundary point, so all its points are
    covered by the same territories as its centre, which is tested exactly once. Points in
    marked cells (and on the grid's far edges) get the exact test.
    """

    def __init__(self, index: TerritoryIndex, n_points: int) -> None:
        b = index.bounds[index._usable]
        self.x0, self.y0 = float(b[:, 0].min()), float(b[:, 1].min())
        x1, y1 = float(b[:, 2].max()), float(b[:, 3].max())
        w, h = max(x1 - self.x0, 1e-9), max(y1 - self.y0, 1e-9)
        cells = int(np.clip(n_points / 2, 4096, 1 << 20))  # ~2 points a cell, measured best
        self.nx = max(8, int(round(np.sqrt(cells * w / h))))
        self.ny = max(8, int(round(cells / self.nx)))
        self.sx, self.sy = self.nx / w, self.ny / h
        self.index = index
        self.state = self._classify(self._boundary_cells())

    def _cell(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fx = np.floor((x - self.x0) * self.sx)
        fy = np.floor((y - self.y0) * self.sy)
        bad = ~(np.isfinite(fx) & np.isfinite(fy))
        fx[bad] = -1
        fy[bad] = -1
        return fx.astype(np.int64), fy.astype(np.int64)

    def _boundary_cells(self) -> np.ndarray:
        marked = np.zeros((self.ny, self.nx), dtype=bool)
        step = 0.5 * min(1 / self.sx, 1 / self.sy)
        geoms = self.index.geoms[self.index._usable]
        rings = shapely.get_rings(shapely.get_parts(geoms))
        coords, ring_of = shapely.get_coordinates(
            shapely.segmentize(rings, step), return_index=True
        )
        ci, cj = self._cell(coords[:, 0], coords[:, 1])
        same = ring_of[1:] == ring_of[:-1]
        i_lo, i_hi = np.minimum(ci[:-1], ci[1:])[same], np.maximum(ci[:-1], ci[1:])[same]
        j_lo, j_hi = np.minimum(cj[:-1], cj[1:])[same], np.maximum(cj[:-1], cj[1:])[same]
        for di in (0, 1):
            for dj in (0, 1):
                ii = np.minimum(i_lo + di, i_hi)
                jj = np.minimum(j_lo + dj, j_hi)
                ok = (ii >= 0) & (ii < self.nx) & (jj >= 0) & (jj < self.ny)
                marked[jj[ok], ii[ok]] = True
        # Segments longer than one cell should not survive segmentize; mark them in full.
        for k in np.flatnonzero((i_hi - i_lo > 1) | (j_hi - j_lo > 1)):
            marked[max(j_lo[k], 0) : max(j_hi[k] + 1, 0), max(i_lo[k], 0) : max(i_hi[k] + 1, 0)] = (
                True
            )
        # segmentize's inserted vertices lie within a few ulps of the true edge, not on it:
        # one cell of margin puts every point of the true edge in a marked cell.
        grown = marked.copy()
        grown[1:, :] |= marked[:-1, :]
        grown[:-1, :] |= marked[1:, :]
        wide = grown.copy()
        wide[:, 1:] |= grown[:, :-1]
        wide[:, :-1] |= grown[:, 1:]
        return wide

    def _classify(self, marked: np.ndarray) -> np.ndarray:
        """State of each cell: a territory index, OUTSIDE, or _MIXED (marked).

        Two unmarked cells side by side in a row share a state: points on the edge between
        them map to the right-hand one, so no boundary passes between them. Each run of
        unmarked cells in a row is therefore settled by testing its first cell's centre.
        """
        free = ~marked
        start = free.copy()
        start[:, 1:] &= marked[:, :-1]
        flat_free, flat_start = free.ravel(), start.ravel()
        run_of = np.cumsum(flat_start) - 1
        first = np.flatnonzero(flat_start)
        jj, ii = np.divmod(first, self.nx)
        cx = self.x0 + (ii + 0.5) / self.sx
        cy = self.y0 + (jj + 0.5) / self.sy
        ci, cj = self._cell(cx, cy)
        own = (ci == ii) & (cj == jj)  # a centre must map back to its own cell
        run_state = np.full(len(first), _MIXED, dtype=np.int64)
        run_state[own] = self.index.assign_exact(cx[own], cy[own])
        state = np.full(self.nx * self.ny, _MIXED, dtype=np.int64)
        state[flat_free] = run_state[run_of[flat_free]]
        return state

    def assign(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ci, cj = self._cell(x, y)
        in_grid = (ci >= 0) & (ci < self.nx) & (cj >= 0) & (cj < self.ny)
        out = np.full(len(x), _MIXED, dtype=np.int64)
        out[in_grid] = self.state[cj[in_grid] * self.nx + ci[in_grid]]
        # Off-grid points may still sit on the far edge of the bounds: test them exactly.
        out[~in_grid & ~(np.isfinite(x) & np.isfinite(y))] = OUTSIDE
        todo = np.flatnonzero(out == _MIXED)
        out[todo] = self.index.assign_exact(x[todo], y[todo])
        return out


def assign_points(
    lons: np.ndarray, lats: np.ndarray, territories: Sequence[tuple[str, BaseGeometry]]
) -> np.ndarray:
    """Index into ``territories`` of the territory each point lies in, ``OUTSIDE`` (-1) if none.

    Parameters
    ----------
    lons, lats
        1-D arrays of WGS84 coordinates; NaN or infinite coordinates give ``OUTSIDE``.
    territories
        ``(territory_id, geometry)`` pairs; geometries are lon/lat Polygons or MultiPolygons.

    Returns
    -------
    numpy.ndarray
        int64 array, one entry per point. Points covered by several territories (shared
        boundaries, vertices, overlaps) go to the territory with the smallest id, see
        `TerritoryIndex`.
    """
    return TerritoryIndex(territories).assign(lons, lats)


@dataclass(frozen=True, slots=True)
class Overlap:
    """Two territories that share area (not just a boundary)."""

    first: int
    second: int
    area_km2: float
    geometry: BaseGeometry
    accounts: tuple[int, ...]  # indices of the points inside the overlap


@dataclass(frozen=True, slots=True)
class Gap:
    """A piece of land inside the territories' hull that no territory covers, with accounts."""

    area_km2: float
    geometry: BaseGeometry
    accounts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """Overlaps between territories, gaps holding accounts, and accounts in no territory."""

    overlaps: tuple[Overlap, ...]
    gaps: tuple[Gap, ...]
    outside: tuple[int, ...]  # indices of every point in no territory (gaps included)


def find_overlaps(
    geoms: Sequence[BaseGeometry],
    lons: np.ndarray,
    lats: np.ndarray,
    *,
    min_area_km2: float = 1e-6,
) -> list[Overlap]:
    """Pairs of territories whose intersection has area, with that area and its points.

    Territories that only touch (shared edges or vertices) are not overlaps.
    """
    arr = np.array(list(geoms), dtype=object)
    if len(arr) < 2:
        return []
    left, right = shapely.STRtree(arr).query(arr, predicate="intersects")
    keep = left < right
    result = []
    for a, b in zip(left[keep], right[keep], strict=True):
        inter = shapely.intersection(arr[a], arr[b])
        area = area_km2(inter)
        if area <= min_area_km2:
            continue
        inside = np.flatnonzero(shapely.intersects_xy(inter, lons, lats))
        result.append(Overlap(int(a), int(b), area, inter, tuple(int(i) for i in inside)))
    return result


def find_gaps(
    geoms: Sequence[BaseGeometry],
    lons: np.ndarray,
    lats: np.ndarray,
    outside: np.ndarray,
) -> list[Gap]:
    """Uncovered pieces of the territories' convex hull that hold at least one account.

    ``outside`` is the boolean mask of points in no territory. Land outside the hull is not
    a gap (the map simply ends there); those accounts are still in `CoverageReport.outside`.
    """
    union = shapely.union_all(list(geoms))
    holes = shapely.difference(shapely.convex_hull(union), union)
    parts = shapely.get_parts(holes)
    parts = parts[shapely.area(parts) > 0] if len(parts) else parts
    idx = np.flatnonzero(outside)
    result = []
    for part in parts:
        inside = idx[shapely.intersects_xy(part, lons[idx], lats[idx])]
        if len(inside):
            result.append(Gap(area_km2(part), part, tuple(int(i) for i in inside)))
    return result


def check_coverage(
    territories: Sequence[tuple[str, BaseGeometry]], lons: np.ndarray, lats: np.ndarray
) -> CoverageReport:
    """Overlaps (with area and points), gaps holding points, and points in no territory.

    Areas are ellipsoidal km² (local Lambert azimuthal equal-area, see `territory_area`).
    """
    x = np.asarray(lons, dtype=float)
    y = np.asarray(lats, dtype=float)
    geoms = [g for _, g in territories]
    assigned = assign_points(x, y, territories)
    outside = assigned == OUTSIDE
    return CoverageReport(
        overlaps=tuple(find_overlaps(geoms, x, y)),
        gaps=tuple(find_gaps(geoms, x, y, outside & np.isfinite(x) & np.isfinite(y)))
        if geoms
        else (),
        outside=tuple(int(i) for i in np.flatnonzero(outside)),
    )
