"""TSPLIB reading, TSPLIB distance rules (checked against a scalar reading of the spec), solving."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from fieldcrm.errors import RouteError
from fieldcrm.geo import tsplib

DATA = Path(__file__).resolve().parents[3] / "shared" / "bench" / "tsplib"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared/bench/tsplib not beside repo")


def _spec_distance(kind: str, a: tuple[float, float], b: tuple[float, float]) -> int:
    """TSPLIB95's C code, one pair at a time."""
    if kind == "EUC_2D":
        return int(math.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) + 0.5)
    if kind == "ATT":
        r = math.sqrt(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) / 10.0)
        t = int(r + 0.5)
        return t + 1 if t < r else t

    def rad(v: float) -> float:
        deg = int(v)
        return 3.141592 * (deg + 5.0 * (v - deg) / 3.0) / 180.0

    lat1, lon1, lat2, lon2 = rad(a[0]), rad(a[1]), rad(b[0]), rad(b[1])
    q1, q2, q3 = math.cos(lon1 - lon2), math.cos(lat1 - lat2), math.cos(lat1 + lat2)
    return int(6378.388 * math.acos(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3)) + 1.0)


def _text(kind: str, rows: list[tuple[float, float]]) -> str:
    body = "\n".join(f"{k} {x} {y}" for k, (x, y) in enumerate(rows, start=1))
    return (f"NAME : t\nTYPE : TSP\nDIMENSION : {len(rows)}\nEDGE_WEIGHT_TYPE : {kind}\n"
            f"NODE_COORD_SECTION\n{body}\nEOF\n")


def test_euc_2d_rounds_to_nearest() -> None:
    inst = tsplib.parse(_text("EUC_2D", [(0, 0), (3, 4), (3, 4.9)]))
    d = tsplib.distance_matrix(inst)
    assert d[0, 1] == 5 and d[1, 2] == 1 and d[0, 2] == 6  # 5.75 rounds up, 0.9 rounds to 1
    assert tsplib.tour_length(d, [0, 1, 2]) == 12


def test_att_pseudo_euclidean_rounds_up() -> None:
    inst = tsplib.parse(_text("ATT", [(0, 0), (10, 0), (0, 30)]))
    d = tsplib.distance_matrix(inst)
    assert d[0, 1] == 4  # sqrt(10) = 3.16 -> nint 3 < r -> 4
    assert d[0, 2] == 10  # sqrt(90) = 9.49 -> nint 9 < r -> 10


@needs_data
@pytest.mark.parametrize("name,kind", [("burma14", "GEO"), ("att48", "ATT"),
                                       ("berlin52", "EUC_2D"), ("gr96", "GEO")])
def test_matrix_matches_the_spec_pair_by_pair(name: str, kind: str) -> None:
    inst = tsplib.read(DATA / f"{name}.tsp")
    assert inst.edge_weight_type == kind
    d = tsplib.distance_matrix(inst)
    pts = [tuple(r) for r in inst.coords.tolist()]
    for i in range(len(pts)):
        for j in range(len(pts)):
            if i != j:
                assert d[i, j] == _spec_distance(kind, pts[i], pts[j]), (i, j)


@needs_data
def test_identity_tour_is_longer_than_the_optimum() -> None:
    optima = json.loads((DATA / "optima.json").read_text())
    for name in ("burma14", "ulysses22", "att48", "eil51", "st70"):
        inst = tsplib.read(DATA / f"{name}.tsp")
        d = tsplib.distance_matrix(inst)
        ident = tsplib.tour_length(d, list(range(inst.dimension)))
        assert ident >= optima[name] > 0
        assert (d == d.T).all()


@needs_data
@pytest.mark.parametrize("name", ["burma14", "ulysses22", "berlin52"])
def test_solving_hits_the_optimum(name: str) -> None:
    optima = json.loads((DATA / "optima.json").read_text())
    sol = tsplib.solve_file(DATA / f"{name}.tsp", time_limit=0.5)
    assert sol.length == optima[name]
    assert sorted(sol.tour) == list(range(1, len(sol.tour) + 1))
    assert sol.tour[0] == 1
    d = tsplib.distance_matrix(tsplib.read(DATA / f"{name}.tsp"))
    assert tsplib.tour_length(d, [c - 1 for c in sol.tour]) == sol.length


def test_large_distances_are_scaled_for_the_search_but_measured_exactly(tmp_path: Path) -> None:
    rows = [(0, 0), (100000, 0), (100000, 100000), (0, 100000), (50000, 1000)]
    f = tmp_path / "big.tsp"
    f.write_text(_text("EUC_2D", rows))
    sol = tsplib.solve_file(f, time_limit=0.2)
    assert sol.length == 400000 + 2 * (int(math.hypot(50000, 1000) + 0.5)) - 100000


@pytest.mark.parametrize("body,needle", [
    ("NAME : x\nTYPE : TSP\nDIMENSION : 2\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n"
     "1 0 0\n2 1 zz\nEOF\n", "line 7"),
    ("NAME : x\nTYPE : TSP\nDIMENSION : 2\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n"
     "1 0 0\n3 1 1\nEOF\n", "line 7"),
    ("NAME : x\nTYPE : TSP\nDIMENSION : 2\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n"
     "1 0 0\n2 1\nEOF\n", "line 7"),
    ("NAME : x\nthis is not a header\n", "line 2"),
    ("NAME : x\nTYPE : TSP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n"
     "1 0 0\n2 1 1\nEOF\n", "DIMENSION says 3"),
    ("NAME : x\nTYPE : TSP\nEDGE_WEIGHT_TYPE : EXPLICIT\nEDGE_WEIGHT_SECTION\n1 2\n",
     "line 4: section"),
    ("NAME : x\nTYPE : ATSP\nEDGE_WEIGHT_TYPE : EUC_2D\n", "ATSP"),
    ("NAME : x\nTYPE : TSP\nEDGE_WEIGHT_TYPE : EUC_2D\nEOF\n", "no NODE_COORD_SECTION"),
])
def test_malformed_files_name_the_problem(body: str, needle: str) -> None:
    with pytest.raises(RouteError, match=needle):
        tsplib.parse(body, source="x.tsp")


def test_missing_file_is_a_route_error(tmp_path: Path) -> None:
    with pytest.raises(RouteError, match="cannot read"):
        tsplib.read(tmp_path / "nope.tsp")


def _cli(argv: list[str]) -> argparse.Namespace:
    from fieldcrm.commands import route

    parser = argparse.ArgumentParser()
    route.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_solve_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "sq.tsp"
    f.write_text(_text("EUC_2D", [(0, 0), (0, 10), (10, 10), (10, 0), (5, -1)]))
    args = _cli(["route", "solve", str(f), "--time-limit", "0.2", "--json"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["length"] == 30 + 2 * 5 and sorted(out["tour"]) == [1, 2, 3, 4, 5]


def test_cli_solve_plain_and_bad_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "tri.tsp"
    f.write_text(_text("EUC_2D", [(0, 0), (3, 0), (0, 4)]))
    args = _cli(["route", "solve", str(f)])
    assert args.func(args) == 0
    assert "LENGTH: 12" in capsys.readouterr().out
    bad = _cli(["route", "solve", str(f), "--time-limit", "0"])
    with pytest.raises(RouteError, match="time-limit"):
        bad.func(bad)
