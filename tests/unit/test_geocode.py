"""Geocoding: the offline gazetteer, and the online geocoder against a fake Nominatim on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from fieldcrm.domain.enums import GeocodeSource
from fieldcrm.errors import Cancelled, GeocodeError
from fieldcrm.geo.geocode import (
    Address,
    GazetteerGeocoder,
    MemoryGeocodeCache,
    OnlineGeocoder,
    OnlineSettings,
    geocode_missing,
)

# --- offline ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gazetteer() -> GazetteerGeocoder:
    return GazetteerGeocoder("SE")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (Address(city="Umeå"), "Umeå"),
        (Address(city="UMEA"), "Umeå"),
        (Address(city="903 26 Umeå"), "Umeå"),
        (Address(city="Göteborg"), "Gothenburg"),
        (Address(city="SE-411 01 Göteborg"), "Gothenburg"),
        (Address(city="Stockholm C"), "Stockholm"),
        (Address(street="Storgatan 1, 903 26 Umeå"), "Umeå"),
        (Address(city="Košice", country="SK"), "Košice"),
        (Address(city="Bratislava - Staré Mesto, Bratislava", country="SK"), "Bratislava"),
        (Address(city="北京市", country="CN"), "Beijing"),
        (Address(city="上海", country="cn"), "Shanghai"),
        (Address(street="广东省深圳市南山区海天二路33号", country="CN"), "Shenzhen"),
        (Address(street="北京市朝阳区建国路88号", country="CN"), "Beijing"),
    ],
)
def test_gazetteer_finds_towns(gazetteer: GazetteerGeocoder, address: Address, expected: str) -> None:
    result = gazetteer.geocode(address)
    assert result is not None and result.label.startswith(expected)
    assert result.source is GeocodeSource.TOWN and result.provider == "gazetteer"


def test_gazetteer_unknown_and_region_hint(gazetteer: GazetteerGeocoder) -> None:
    assert gazetteer.geocode(Address(city="Atlantis")) is None
    assert gazetteer.geocode(Address(city="Umeå", country="XX")) is None
    lund = gazetteer.geocode(Address(city="Lund"))
    assert lund is not None and 55.6 < lund.lat < 55.8  # the big Lund (Skåne) by default


def test_gazetteer_batch_progress_and_cancel(gazetteer: GazetteerGeocoder) -> None:
    addresses = [Address(city=c) for c in ("Umeå", "Lund", "Nowhere")] * 1_000
    seen: list[tuple[int, int]] = []
    results = gazetteer.geocode_many(addresses, progress=lambda d, t: seen.append((d, t)))
    assert sum(r is None for r in results) == 1_000 and seen[-1] == (3_000, 3_000)
    with pytest.raises(Cancelled):
        gazetteer.geocode_many(addresses, cancelled=lambda: True)


# --- online -----------------------------------------------------------------------------------

PLACES = {
    "storgatan 1": {"lat": "63.8260", "lon": "20.2610", "class": "place", "type": "house",
                    "place_rank": 30, "display_name": "Storgatan 1, Umeå"},
    "kungsgatan": {"lat": "59.3360", "lon": "18.0630", "class": "highway", "type": "residential",
                   "place_rank": 26, "display_name": "Kungsgatan, Stockholm"},
}


class FakeNominatim(BaseHTTPRequestHandler):
    """Nominatim's /search with format=json; 'quota' answers 429 and 'slow' sleeps."""

    requests: list[dict[str, list[str]]] = []
    delay = 0.0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        params = parse_qs(url.query)
        type(self).requests.append(params)
        street = params.get("street", [""])[0].casefold()
        if url.path != "/search" or params.get("format") != ["json"]:
            self._send(400, {"error": "bad request"})
        elif "quota" in street:
            self._send(429, {"error": "Too many requests"})
        elif "slow" in street:
            time.sleep(self.delay)
            self._send(200, [])
        else:
            self._send(200, [dict(PLACES[street], osm_id=1)] if street in PLACES else [])

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (timeout test)
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    FakeNominatim.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeNominatim)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _online(domain: str, cache: MemoryGeocodeCache | None = None, **overrides) -> OnlineGeocoder:
    options = {"timeout": 2.0, "min_delay_seconds": 0.0, **overrides}
    settings = OnlineSettings(domain=domain, scheme="http", **options)
    return OnlineGeocoder(settings, cache if cache is not None else MemoryGeocodeCache())


def test_online_answers_with_precision_and_cache(server: str) -> None:
    cache = MemoryGeocodeCache()
    geocoder = _online(server, cache)
    house = geocoder.geocode(Address("Storgatan 1", "903 26", "Umeå", "", "SE"))
    assert house is not None and (house.lat, house.lon) == (63.826, 20.261)
    assert house.source is GeocodeSource.ROOFTOP and house.label == "Storgatan 1, Umeå"
    street = geocoder.geocode(Address("Kungsgatan", "", "Stockholm", "", "SE"))
    assert street is not None and street.source is GeocodeSource.STREET
    assert geocoder.geocode(Address("Nowhere 9", "", "Umeå", "", "SE")) is None
    first = FakeNominatim.requests[0]
    assert first["street"] == ["Storgatan 1"] and first["postalcode"] == ["903 26"]
    assert first["countrycodes"] == ["se"] and first["format"] == ["json"]
    # Asked again, nothing reaches the server: found and not-found answers are both cached.
    geocoder.geocode(Address("Storgatan 1", "903 26", "Umeå", "", "SE"))
    geocoder.geocode(Address("Nowhere 9", "", "Umeå", "", "SE"))
    assert len(FakeNominatim.requests) == 3 and len(cache.answers) == 3
    # A new geocoder with the same cache (next session) does not ask either.
    _online(server, cache).geocode(Address("Kungsgatan", "", "Stockholm", "", "SE"))
    assert len(FakeNominatim.requests) == 3


def test_online_rate_limit_is_enforced(server: str) -> None:
    geocoder = _online(server, min_delay_seconds=0.3)
    started = time.monotonic()
    geocoder.geocode_many([Address(f"Gata {i}", "", "Umeå", "", "SE") for i in range(3)])
    assert time.monotonic() - started >= 0.55  # two waits between three requests


def test_online_quota_429_is_a_clear_error(server: str) -> None:
    geocoder = _online(server)
    with pytest.raises(GeocodeError, match="too many requests or quota"):
        geocoder.geocode(Address("Quota 1", "", "Umeå", "", "SE"))


def test_online_timeout_is_a_clear_error(server: str) -> None:
    FakeNominatim.delay = 1.5
    geocoder = _online(server, timeout=0.3)
    with pytest.raises(GeocodeError, match=r"did not answer within 0.3 s"):
        geocoder.geocode(Address("Slow 1", "", "Umeå", "", "SE"))


def test_online_unreachable_is_a_clear_error() -> None:
    geocoder = _online("127.0.0.1:9", timeout=1.0)
    with pytest.raises(GeocodeError, match="cannot be reached|did not answer"):
        geocoder.geocode(Address("Storgatan 1", "", "Umeå", "", "SE"))


def test_geocode_missing_refines_towns_online_and_resumes_after_errors(server: str,
                                                                       gazetteer: GazetteerGeocoder) -> None:
    cache = MemoryGeocodeCache()
    online = _online(server, cache)
    addresses = [Address("Storgatan 1", "", "Umeå", "", "SE"), Address("", "", "Lund", "", "SE"),
                 Address("Nowhere 9", "", "Umeå", "", "SE"), Address("", "", "Atlantis", "", "SE")]
    results = geocode_missing(addresses, offline=gazetteer, online=online)
    assert [r.source if r else None for r in results] == [
        GeocodeSource.ROOFTOP, GeocodeSource.TOWN, GeocodeSource.TOWN, None]
    batch = [Address("Storgatan 1", "", "Umeå", "", "SE"), Address("Quota", "", "Umeå", "", "SE")]
    with pytest.raises(GeocodeError):
        geocode_missing(batch, offline=gazetteer, online=online)
    asked = len(FakeNominatim.requests)
    with pytest.raises(Cancelled):
        geocode_missing(batch, offline=gazetteer, online=online, cancelled=lambda: True)
    assert len(FakeNominatim.requests) == asked


def test_default_settings_follow_nominatims_policy() -> None:
    settings = OnlineSettings()
    assert settings.min_delay_seconds >= 1.0 and settings.timeout > 0
    assert "fieldcrm" in settings.user_agent and settings.domain == "nominatim.openstreetmap.org"
    with pytest.raises(GeocodeError, match="Unknown geocoding provider"):
        OnlineGeocoder(OnlineSettings(provider="nosuch"), MemoryGeocodeCache())
