"""Read TSPLIB95 symmetric instances and measure tours with TSPLIB's own rounding rules."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fieldcrm.errors import RouteError

SUPPORTED_TYPES = ("EUC_2D", "CEIL_2D", "ATT", "GEO")
_GEO_RADIUS = 6378.388
_GEO_PI = 3.141592


@dataclass(frozen=True, slots=True)
class TsplibInstance:
    """A symmetric TSPLIB instance given by node coordinates."""

    name: str
    edge_weight_type: str
    coords: np.ndarray  # shape (n, 2), float64, in file order (city k is row k-1)
    comment: str = ""

    @property
    def dimension(self) -> int:
        return int(self.coords.shape[0])


def parse(text: str, *, source: str = "<text>") -> TsplibInstance:
    """Parse a TSPLIB file's text.

    Raises
    ------
    RouteError
        The file is malformed or of an unsupported kind; the message names the line.
    """
    header: dict[str, str] = {}
    rows: list[tuple[float, float]] = []
    seen_ids: set[int] = set()
    in_coords = False
    lineno = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line == "EOF":
            break
        if in_coords:
            parts = line.split()
            if len(parts) != 3:
                raise RouteError(
                    f"{source}, line {lineno}: expected 'number x y', found {line!r}"
                )
            try:
                node = int(parts[0])
                x, y = float(parts[1]), float(parts[2])
            except ValueError:
                raise RouteError(
                    f"{source}, line {lineno}: node number and coordinates must be numbers,"
                    f" found {line!r}"
                ) from None
            if node != len(rows) + 1 or node in seen_ids:
                raise RouteError(
                    f"{source}, line {lineno}: expected node {len(rows) + 1}, found {node}"
                )
            if not (np.isfinite(x) and np.isfinite(y)):
                raise RouteError(f"{source}, line {lineno}: coordinates must be finite")
            seen_ids.add(node)
            rows.append((x, y))
            continue
        if line.startswith("NODE_COORD_SECTION"):
            in_coords = True
            continue
        if line.endswith("_SECTION"):
            raise RouteError(
                f"{source}, line {lineno}: section {line!r} is not supported"
                " (only NODE_COORD_SECTION)"
            )
        key, sep, value = line.partition(":")
        if not sep:
            raise RouteError(f"{source}, line {lineno}: expected 'KEY : value', found {line!r}")
        header[key.strip().upper()] = value.strip()
    return _build(header, rows, source=source, last_line=lineno)


def _build(
    header: dict[str, str], rows: list[tuple[float, float]], *, source: str, last_line: int
) -> TsplibInstance:
    kind = header.get("TYPE", "TSP").split()[0].upper() if header.get("TYPE") else "TSP"
    if kind != "TSP":
        raise RouteError(f"{source}: TYPE {kind} is not supported (only symmetric TSP)")
    ewt = header.get("EDGE_WEIGHT_TYPE", "").upper()
    if ewt not in SUPPORTED_TYPES:
        raise RouteError(
            f"{source}: EDGE_WEIGHT_TYPE {ewt or '(missing)'} is not supported"
            f" (one of {', '.join(SUPPORTED_TYPES)})"
        )
    if not rows:
        raise RouteError(f"{source}, line {last_line}: no NODE_COORD_SECTION with coordinates")
    dim_text = header.get("DIMENSION")
    if dim_text is not None:
        try:
            dim = int(dim_text)
        except ValueError:
            raise RouteError(f"{source}: DIMENSION {dim_text!r} is not a number") from None
        if dim != len(rows):
            raise RouteError(
                f"{source}, line {last_line}: DIMENSION says {dim} nodes but"
                f" {len(rows)} were listed"
            )
    return TsplibInstance(
        name=header.get("NAME", Path(source).stem),
        edge_weight_type=ewt,
        coords=np.asarray(rows, dtype=np.float64),
        comment=header.get("COMMENT", ""),
    )


def read(path: str | Path) -> TsplibInstance:
    """Read and parse a TSPLIB file.

    Raises
    ------
    RouteError
        The file cannot be read or is malformed.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RouteError(f"{p}: cannot read the file ({exc.strerror})") from None
    return parse(text, source=str(p))


def _geo_radians(values: np.ndarray) -> np.ndarray:
    deg = np.trunc(values)
    minutes = values - deg
    return _GEO_PI * (deg + 5.0 * minutes / 3.0) / 180.0


def distance_matrix(inst: TsplibInstance) -> np.ndarray:
    """Return the full integer distance matrix (int64) by the instance's TSPLIB rule."""
    x = inst.coords[:, 0]
    y = inst.coords[:, 1]
    if inst.edge_weight_type == "GEO":
        lat, lon = _geo_radians(x), _geo_radians(y)
        q1 = np.cos(lon[:, None] - lon[None, :])
        q2 = np.cos(lat[:, None] - lat[None, :])
        q3 = np.cos(lat[:, None] + lat[None, :])
        arg = np.clip(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3), -1.0, 1.0)
        d = (_GEO_RADIUS * np.arccos(arg) + 1.0).astype(np.int64)
    else:
        dx = x[:, None] - x[None, :]
        dy = y[:, None] - y[None, :]
        if inst.edge_weight_type == "ATT":
            r = np.sqrt((dx * dx + dy * dy) / 10.0)
            t = np.floor(r + 0.5)
            d = np.where(t < r, t + 1.0, t).astype(np.int64)
        elif inst.edge_weight_type == "CEIL_2D":
            d = np.ceil(np.sqrt(dx * dx + dy * dy)).astype(np.int64)
        else:
            d = np.floor(np.sqrt(dx * dx + dy * dy) + 0.5).astype(np.int64)
    np.fill_diagonal(d, 0)
    return d


def tour_length(dist: np.ndarray, tour: list[int] | np.ndarray) -> int:
    """Length of the closed tour (0-based city indices) over an integer matrix."""
    t = np.asarray(tour, dtype=np.int64)
    return int(dist[t, np.roll(t, -1)].sum())


def check_tour(tour: list[int], n: int) -> None:
    """Raise RouteError unless ``tour`` is a permutation of 0..n-1."""
    if len(tour) != n or sorted(tour) != list(range(n)):
        raise RouteError(f"tour is not a permutation of the {n} cities")


@dataclass(frozen=True, slots=True)
class TsplibSolution:
    name: str
    tour: tuple[int, ...]  # 1-based city numbers, as TSPLIB numbers them
    length: int
    seconds: float


def solve_file(path: str | Path, *, time_limit: float = 1.0) -> TsplibSolution:
    """Read a TSPLIB file and solve its closed tour within ``time_limit`` seconds in total.

    Raises
    ------
    RouteError
        The file is malformed, or the time limit is not positive.
    """
    from fieldcrm.geo.routing.tsp import solve_tsp

    if not time_limit > 0:
        raise RouteError("--time-limit must be a positive number of seconds")
    t0 = time.perf_counter()
    inst = read(path)
    dist = distance_matrix(inst)
    remaining = time_limit - (time.perf_counter() - t0)
    tour = solve_tsp(dist, time_limit=max(0.01, remaining * 0.93 - 0.01))
    check_tour(tour, inst.dimension)
    return TsplibSolution(
        name=inst.name,
        tour=tuple(i + 1 for i in tour),
        length=tour_length(dist, tour),
        seconds=time.perf_counter() - t0,
    )
