"""Benchmark: offline gazetteer geocoding of imported addresses (target: >= 5,000 addresses/s).

Addresses: N rows of Swedish, Slovak and Chinese towns weighted by population, written the way
exports write them ("903 26 Umeå", "UMEÅ", "Umea", "SE-411 01 Göteborg", "北京市", "Stockholm C",
a street with the town after a comma, 5 % unknown places).
Ours: ``fieldcrm.geo.geocode.GazetteerGeocoder.geocode_many`` (town level), timed cold (a new
geocoder, the gazetteer already loaded) and on addresses that are all different towns.
The one-off gazetteer load is timed separately.
Peer, side by side, stated and not called: geopy's Nominatim under the OSM usage policy,
1 request/s (``RateLimiter(min_delay_seconds=1)``), i.e. 1 address/s, N seconds.
Run: ``.venv/bin/python bench/gazetteer_geocode.py [N]``. Ends with one JSON line.
"""

from __future__ import annotations

import json
import random
import sys
import time

from fieldcrm.geo import gazetteer
from fieldcrm.geo.geocode import Address, GazetteerGeocoder

COUNTRIES = {"SE": 0.5, "SK": 0.3, "CN": 0.2}


def _write_like_an_export(place: gazetteer.Place, country: str, rng: random.Random) -> Address:
    style = rng.random()
    postcode = f"{rng.randint(100, 999)} {rng.randint(10, 99)}"
    if style < 0.3:
        return Address(postcode=postcode, city=place.name, country=country)
    if style < 0.45:
        return Address(city=f"{postcode} {place.name}".upper(), country=country)
    if style < 0.6:
        return Address(city=gazetteer.fold(place.name), country=country)
    if style < 0.7:
        return Address(street=f"Storgatan {rng.randint(1, 99)}, {postcode} {place.name}", country=country)
    if style < 0.8:
        return Address(city=f"{place.name} C", region=place.region, country=country)
    return Address(street=f"Hlavná {rng.randint(1, 99)}", city=place.name, country=country)


def make_addresses(n: int, seed: int = 5) -> list[Address]:
    rng = random.Random(seed)
    pools = {c: list(gazetteer.places(c)[:3_000]) for c in COUNTRIES}
    weights = {c: [p.population ** 0.6 for p in pools[c]] for c in COUNTRIES}
    out = []
    for _ in range(n):
        if rng.random() < 0.05:
            out.append(Address(city=f"Nowhere{rng.randint(1, 10**6)}", country="SE"))
            continue
        country = rng.choices(list(COUNTRIES), weights=list(COUNTRIES.values()))[0]
        place = rng.choices(pools[country], weights=weights[country])[0]
        out.append(_write_like_an_export(place, country, rng))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    started = time.perf_counter()
    for country in COUNTRIES:
        gazetteer.lookup_town("x", country)
    load_seconds = time.perf_counter() - started
    addresses = make_addresses(n)
    started = time.perf_counter()
    results = GazetteerGeocoder("SE").geocode_many(addresses)
    seconds = time.perf_counter() - started
    found = sum(r is not None for r in results)
    unique = [Address(city=p.name, region=p.region, country=c)
              for c in COUNTRIES for p in gazetteer.places(c)]
    started = time.perf_counter()
    GazetteerGeocoder("SE").geocode_many(unique)
    unique_seconds = time.perf_counter() - started
    rate, unique_rate = n / seconds, len(unique) / unique_seconds
    print(f"gazetteer load (once per process): {load_seconds:.1f} s")
    print(f"ours: {n:,} addresses in {seconds:.2f} s = {rate:,.0f} addresses/s (target >= 5,000); "
          f"{found / n:.1%} found at town level")
    print(f"ours, every address a different town ({len(unique):,} places in SE, SK, CN): "
          f"{unique_rate:,.0f} addresses/s")
    print(f"peer (stated, not called): Nominatim usage policy 1 request/s -> {n:,} addresses "
          f"take {n / 3600:.1f} h")
    print(json.dumps({"bench": "gazetteer_geocode", "addresses": n, "seconds": round(seconds, 3),
                      "addresses_per_s": round(rate), "unique_towns_per_s": round(unique_rate),
                      "found_share": round(found / n, 3), "load_seconds": round(load_seconds, 1),
                      "target_per_s": 5000, "peer": "nominatim policy", "peer_per_s": 1}))


if __name__ == "__main__":
    main()
