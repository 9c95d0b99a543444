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


def haversine_matrix(points: np.ndarray) -> np.ndarray:
    """Great-circle distances in km between every pair of (lat, lon) points (degrees)."""
    pts = np.radians(as_points(points))
    lat = pts[:, 0]
    lon = pts[:, 1]
    sin_dlat = np.sin((lat[:, None] - lat[None, :]) * 0.5)
    sin_dlon = np.sin((lon[:, None] - lon[None, :]) * 0.5)
    cos_lat = np.cos(lat)
    a = sin_dlat * sin_dlat + np.outer(cos_lat, cos_lat) * (sin_dlon * sin_dlon)
    np.clip(a, 0.0, 1.0, out=a)
    return (2.0 * EARTH_RADIUS_KM) * np.arcsin(np.sqrt(a))


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in km between two (lat, lon) points in degrees."""
    lat1, lon1, lat2, lon2 = map(np.radians, (a[0], a[1], b[0], b[1]))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
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
        km = haversine_matrix(points)
        km *= self.detour_factor
        minutes = km * (60.0 / self.speed_kmh)
        return km, minutes
