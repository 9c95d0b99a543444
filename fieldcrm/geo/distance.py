"""Distance models: great-circle matrices scaled to road estimates, behind one Protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

EARTH_RADIUS_KM = 6371.0088


@runtime_checkable
class DistanceModel(Protocol):
    """Anything that turns points into road distance and driving time matrices.

    A road-network engine can implement this later; the planner only calls ``matrices``.
    """

    def matrices(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(km, minutes)``, both float64 of shape (n, n), for ``points`` (n, 2) lat/lon.

        Row i, column j is the trip from point i to point j; the diagonal is 0.
        """
        ...


def as_points(latlon: Sequence[tuple[float, float]] | np.ndarray) -> np.ndarray:
    """Return an (n, 2) float64 array of (lat, lon) degrees."""
    arr = np.asarray(latlon, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    return arr.reshape(-1, 2)


def haversine_matrix(points: np.ndarray, *, scale: float = 1.0) -> np.ndarray:
    """Great-circle distances in km (times ``scale``) between every pair of (lat, lon) points.

    Uses the chord between unit vectors, ``2R·asin(|u_i − u_j| / 2)``, which equals the
    haversine formula but needs only one trigonometric call per pair.
    """
    r = np.radians(as_points(points))
    cos_lat = np.cos(r[:, 0])
    u = np.column_stack([cos_lat * np.cos(r[:, 1]), cos_lat * np.sin(r[:, 1]), np.sin(r[:, 0])])
    n = u.shape[0]
    d = np.zeros((n, n), dtype=np.float64)
    for k in range(3):
        diff = u[:, k, None] - u[None, :, k]
        diff *= diff
        d += diff
    np.sqrt(d, out=d)
    d *= 0.5
    np.clip(d, 0.0, 1.0, out=d)
    np.arcsin(d, out=d)
    d *= 2.0 * EARTH_RADIUS_KM * scale
    return d


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in km between two (lat, lon) points in degrees."""
    lat1, lon1, lat2, lon2 = map(np.radians, (a[0], a[1], b[0], b[1]))
    h = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return float(2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(min(1.0, h))))


@dataclass(frozen=True, slots=True)
class HaversineModel:
    """Straight-line distance × a detour factor, driven at an average speed.

    Parameters
    ----------
    detour_factor
        Road distance over great-circle distance (1.3 is typical for mixed roads).
    speed_kmh
        Average driving speed including towns and junctions.
    """

    detour_factor: float = 1.3
    speed_kmh: float = 60.0

    def __post_init__(self) -> None:
        if not self.detour_factor >= 1.0:
            raise ValueError("detour_factor must be at least 1")
        if not self.speed_kmh > 0:
            raise ValueError("speed_kmh must be positive")

    def matrices(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        km = haversine_matrix(points, scale=self.detour_factor)
        minutes = km * (60.0 / self.speed_kmh)
        return km, minutes
