"""Point-in-territory assignment: the boundary rule, holes, multipolygons, the raster path."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box

from fieldcrm.geo.territory import OUTSIDE, TerritoryIndex, assign_points


def _assign(points, territories):
    pts = np.array(points, dtype=float).reshape(-1, 2)
    return assign_points(pts[:, 0], pts[:, 1], territories).tolist()


def _reference(x, y, territories):
    """Brute force: the smallest id among the territories that cover each point."""
    best = np.full(len(x), OUTSIDE)
    best_id = np.full(len(x), None, dtype=object)
    for i, (tid, geom) in enumerate(territories):
        hit = shapely.intersects_xy(geom, x, y)  # covers, for points
        better = hit & np.array([b is None or tid < b for b in best_id])
        best[better] = i
        best_id[better] = tid
    return best


def test_interior_points_and_points_outside():
    terr = [("a", box(0, 0, 1, 1)), ("b", box(1, 0, 2, 1))]
    assert _assign([(0.5, 0.5), (1.5, 0.5), (2.5, 0.5), (0.5, -0.01)], terr) == [0, 1, -1, -1]


def test_shared_edge_goes_to_smallest_id_whatever_the_order():
    left, right = box(0, 0, 1, 1), box(1, 0, 2, 1)
    edge = [(1.0, 0.5), (1.0, 0.0), (1.0, 1.0)]
    assert _assign(edge, [("a", left), ("b", right)]) == [0, 0, 0]
    assert _assign(edge, [("b", right), ("a", left)]) == [1, 1, 1]  # still "a" (index 1)
    assert _assign(edge, [("b", left), ("a", right)]) == [1, 1, 1]  # now the right one


def test_vertex_shared_by_four_squares_goes_to_smallest_id():
    terr = [
        ("t3", box(0, 0, 1, 1)),
        ("t1", box(1, 1, 2, 2)),
        ("t4", box(0, 1, 1, 2)),
        ("t2", box(1, 0, 2, 1)),
    ]
    assert _assign([(1.0, 1.0)], terr) == [1]
    # Outer corners belong to the only square that has them.
    assert _assign([(0.0, 0.0), (2.0, 2.0), (0.0, 2.0), (2.0, 0.0)], terr) == [0, 1, 2, 3]


def test_hole_enclave_and_hole_rim():
    ring = Polygon(box(0, 0, 4, 4).exterior.coords, [box(1, 1, 2, 2).exterior.coords])
    enclave = box(1, 1, 2, 2)
    pts = [(1.5, 1.5), (1.0, 1.5), (3, 3)]
    assert _assign(pts, [("b", ring)]) == [-1, 0, 0]  # hole interior is outside, rim inside
    assert _assign(pts, [("b", ring), ("a", enclave)]) == [1, 1, 0]  # rim: smaller id "a"
    assert _assign(pts, [("a", ring), ("b", enclave)]) == [1, 0, 0]


def test_multipolygon_parts_and_overlap():
    multi = MultiPolygon([box(0, 0, 1, 1), box(5, 5, 6, 6)])
    other = box(0.5, 0.5, 2, 2)  # overlaps the first part
    terr = [("z", multi), ("m", other)]
    assert _assign([(5.5, 5.5), (0.75, 0.75), (0.25, 0.25), (1.5, 1.5), (3, 3)], terr) == [
        0,
        1,  # in the overlap: "m" < "z"
        0,
        1,
        -1,
    ]


def test_large_polygon_without_antimeridian():
    big = Polygon([(-170, -80), (170, -80), (170, 80), (-170, 80)])
    small = box(10, 55, 24, 69)
    assert _assign([(0, 0), (179, 0), (-175, 85), (15, 60)], [("b", big), ("a", small)]) == [
        0,
        -1,
        -1,
        1,
    ]


def test_nan_and_infinite_points_are_outside_and_empty_inputs():
    terr = [("a", box(0, 0, 1, 1))]
    assert _assign([(np.nan, 0.5), (0.5, np.inf), (0.5, 0.5)], terr) == [-1, -1, 0]
    assert _assign([(0.5, 0.5)], []) == [-1]
    assert assign_points(np.array([]), np.array([]), terr).tolist() == []
    with pytest.raises(ValueError, match="same length"):
        assign_points(np.zeros(2), np.zeros(3), terr)


def _voronoi(n, seed=3):
    rng = np.random.default_rng(seed)
    frame = box(10.9, 55.3, 24.2, 69.1)
    seeds = shapely.multipoints(np.column_stack([rng.uniform(11, 24, n), rng.uniform(55, 69, n)]))
    cells = [c.intersection(frame) for c in shapely.get_parts(shapely.voronoi_polygons(seeds))]
    cells[0] = cells[0].difference(cells[0].centroid.buffer(0.2))  # a hole nobody fills
    return [(f"t{(7 * i) % n:02d}", shapely.segmentize(c, 0.3)) for i, c in enumerate(cells)]


def test_raster_path_matches_brute_force_including_shared_vertices():
    terr = _voronoi(30)
    rng = np.random.default_rng(5)
    verts = shapely.get_coordinates([g for _, g in terr])
    x = np.concatenate([rng.uniform(10.5, 24.5, 40_000), verts[:, 0], [np.nan]])
    y = np.concatenate([rng.uniform(55, 69.5, 40_000), verts[:, 1], [1.0]])
    index = TerritoryIndex(terr)
    got = index.assign(x, y)
    assert index._grid is not None  # the raster path ran
    np.testing.assert_array_equal(got, _reference(x, y, terr))
    np.testing.assert_array_equal(got, index.assign_exact(x, y))
    assert (got[40_000:-1] >= 0).all()  # every vertex lands in exactly one territory


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(-1, 5), st.integers(-1, 5)), min_size=1, max_size=30),
    st.permutations(list(range(6))),
)
def test_lattice_points_follow_the_rule(cells, points, perm):
    """Squares on an integer lattice: points on their edges and corners, in any order."""
    terr = [
        (f"id{perm[k]}", box(cx, cy, cx + 1 + k % 2, cy + 1)) for k, (cx, cy) in enumerate(cells)
    ]
    pts = np.array(points, dtype=float) / 1.0
    got = assign_points(pts[:, 0], pts[:, 1], terr)
    np.testing.assert_array_equal(got, _reference(pts[:, 0], pts[:, 1], terr))


def test_raster_path_on_a_dyadic_lattice_hits_edges_and_corners_exactly():
    rng = np.random.default_rng(9)
    ids = rng.permutation(25)
    terr = [(f"s{ids[5 * i + j]:02d}", box(i, j, i + 1, j + 1)) for i in range(5) for j in range(5)]
    axis = np.arange(-16, 5 * 32 + 17) / 32.0  # exact binary fractions, integers included
    gx, gy = np.meshgrid(axis, axis)
    x, y = gx.ravel(), gy.ravel()
    index = TerritoryIndex(terr)
    got = index.assign(x, y)
    assert index._grid is not None
    np.testing.assert_array_equal(got, _reference(x, y, terr))
    inside = (x >= 0) & (x <= 5) & (y >= 0) & (y <= 5)
    assert (got[inside] >= 0).all() and (got[~inside] == OUTSIDE).all()
