"""Geocode addresses: the offline gazetteer (town level, fast, batch) and an online geopy
geocoder (Nominatim by default, rate-limited, every answer cached)."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fieldcrm.domain.enums import GeocodeSource
from fieldcrm.errors import Cancelled, GeocodeError
from fieldcrm.geo import gazetteer

Progress = Callable[[int, int], None]
IsCancelled = Callable[[], bool]
GAZETTEER = "gazetteer"
_PROGRESS_EVERY = 1_000


@dataclass(frozen=True, slots=True)
class Address:
    """The parts of a postal address that geocoders use; ``country`` is ISO 3166-1 alpha-2."""

    street: str = ""
    postcode: str = ""
    city: str = ""
    region: str = ""
    country: str = ""

    def query(self) -> str:
        """Return the address as one normalised line (the cache key)."""
        town = " ".join(p for p in (self.postcode.strip(), self.city.strip()) if p)
        parts = (self.street.strip(), town, self.region.strip(), self.country.strip().upper())
        return " ".join(", ".join(p for p in parts if p).casefold().split())


@dataclass(frozen=True, slots=True)
class GeocodeResult:
    """Where an address is, how precisely (``source``) and who said so (``provider``)."""

    lat: float
    lon: float
    source: GeocodeSource
    provider: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A provider's answer as cached; ``lat is None`` records "not found" so it is not asked again."""

    lat: float | None
    lon: float | None
    source: GeocodeSource = GeocodeSource.NONE
    raw_json: str = "{}"


class GeocodeCache(Protocol):
    """Where online answers are kept (the app's ``geocode_cache`` table; a dict in tests)."""

    def get(self, query: str, provider: str) -> CachedAnswer | None: ...

    def put(self, query: str, provider: str, answer: CachedAnswer) -> None: ...


@dataclass
class MemoryGeocodeCache:
    """A :class:`GeocodeCache` in a dict."""

    answers: dict[tuple[str, str], CachedAnswer] = field(default_factory=dict)

    def get(self, query: str, provider: str) -> CachedAnswer | None:
        return self.answers.get((query, provider))

    def put(self, query: str, provider: str, answer: CachedAnswer) -> None:
        self.answers[(query, provider)] = answer


def _tick(i: int, total: int, progress: Progress | None, cancelled: IsCancelled | None,
          every: int = _PROGRESS_EVERY) -> None:
    if i % every:
        return
    if cancelled is not None and cancelled():
        raise Cancelled("Geocoding cancelled.")
    if progress:
        progress(i, total)


# --- Offline: the gazetteer --------------------------------------------------------------------

_POSTCODE = re.compile(r"\b[A-Z]{1,2}-?\s?\d[\d ]{2,}\d\b|\b\d[\d\s-]{2,}\d\b", re.IGNORECASE)
_TRAILING_DISTRICT = re.compile(r"\s+(c|n|s|v|o|ö|centrum|city)$", re.IGNORECASE)


_CHINESE_CITY = re.compile(r"^(?:[^,，市]*?[省区])?([^,，省]+?市)")


def _town_candidates(address: Address) -> list[str]:
    """Town names to try, best first: the city field cleaned of postcodes and districts, then
    each comma-separated part of the city and street fields ("Storgatan 1, 903 26 Umeå"); a
    Chinese address gives its city ("广东省深圳市南山区…" → "深圳市")."""
    seen: list[str] = []
    parts = (address.city, *reversed(address.city.split(",")), *reversed(address.street.split(",")))
    for text in parts:
        name = " ".join(_POSTCODE.sub(" ", text).split()).strip(" ,.")
        chinese = _CHINESE_CITY.match(name)
        for option in (name, _TRAILING_DISTRICT.sub("", name), chinese.group(1) if chinese else ""):
            if option and not option.isdigit() and option not in seen:
                seen.append(option)
    return seen


class GazetteerGeocoder:
    """Town-level geocoding from the gazetteer that ships with fieldcrm (no network)."""

    provider = GAZETTEER

    def __init__(self, default_country: str = "SE") -> None:
        self.default_country = default_country.upper()
        self._memo: dict[tuple[str, str, str, str], GeocodeResult | None] = {}

    def geocode(self, address: Address) -> GeocodeResult | None:
        """Return the town of ``address``, or None when the gazetteer does not know it."""
        country = (address.country or self.default_country).upper()
        key = (address.city, address.street if not address.city else "", address.region, country)
        if key in self._memo:
            return self._memo[key]
        result = None
        for name in _town_candidates(address):
            place = gazetteer.lookup_town(name, country, address.region)
            if place is not None:
                label = f"{place.name}, {place.region}" if place.region else place.name
                result = GeocodeResult(place.lat, place.lon, GeocodeSource.TOWN, GAZETTEER, label)
                break
        self._memo[key] = result
        return result

    def geocode_many(self, addresses: Sequence[Address], *, progress: Progress | None = None,
                     cancelled: IsCancelled | None = None) -> list[GeocodeResult | None]:
        """Geocode a batch (repeated towns cost one dict look-up each).

        Raises
        ------
        Cancelled
            If ``cancelled()`` turns true.
        """
        results: list[GeocodeResult | None] = []
        for i, address in enumerate(addresses):
            _tick(i, len(addresses), progress, cancelled)
            results.append(self.geocode(address))
        if progress:
            progress(len(addresses), len(addresses))
        return results


# --- Online: geopy -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OnlineSettings:
    """How to reach the online geocoder. Nominatim's usage policy asks for at most one request
    per second and an identifying user agent; keep ``min_delay_seconds`` at 1.0 for it."""

    provider: str = "nominatim"
    domain: str = "nominatim.openstreetmap.org"
    scheme: str = "https"
    api_key: str = ""
    user_agent: str = "fieldcrm/0.1 (offline-first field sales CRM)"
    timeout: float = 10.0
    min_delay_seconds: float = 1.0
    max_retries: int = 0

    @property
    def cache_provider(self) -> str:
        """The provider name under which answers are cached (provider and server)."""
        return f"{self.provider}:{self.domain}"


def _precision(raw: dict[str, Any]) -> GeocodeSource:
    """Map a provider's answer to a precision (Nominatim's class/type/place_rank; Google's
    location_type); unknown answers count as town level."""
    kind, cls = str(raw.get("type", "")), str(raw.get("class", ""))
    addresstype = str(raw.get("addresstype", ""))
    try:
        rank = int(raw.get("place_rank") or 0)
    except (TypeError, ValueError):
        rank = 0
    location_type = str((raw.get("geometry") or {}).get("location_type", "")) if isinstance(
        raw.get("geometry"), dict) else ""
    if kind in ("house", "building") or cls == "building" or rank >= 30 or location_type == "ROOFTOP":
        return GeocodeSource.ROOFTOP
    if cls == "highway" or addresstype == "road" or rank >= 26 or location_type == "RANGE_INTERPOLATED":
        return GeocodeSource.STREET
    if kind == "postcode" or addresstype == "postcode" or cls == "postcode":
        return GeocodeSource.POSTCODE
    return GeocodeSource.TOWN


def _caused_by_os_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, OSError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _geopy_error(exc: Exception, settings: OnlineSettings) -> GeocodeError:
    from geopy import exc as gexc

    where = f"The geocoding service {settings.domain}"
    if isinstance(exc, gexc.GeocoderQuotaExceeded):  # HTTP 429 and 402, Nominatim's policy
        return GeocodeError(f"{where} refused: too many requests or quota used up. Try again later.")
    if isinstance(exc, gexc.GeocoderTimedOut):
        return GeocodeError(f"{where} did not answer within {settings.timeout:g} s.")
    if isinstance(exc, gexc.GeocoderAuthenticationFailure | gexc.GeocoderInsufficientPrivileges):
        return GeocodeError(f"{where} refused the API key or user agent ({exc}).")
    if isinstance(exc, gexc.GeocoderUnavailable) or _caused_by_os_error(exc):
        return GeocodeError(f"{where} cannot be reached (offline?).")
    return GeocodeError(f"{where} failed: {exc}")


class OnlineGeocoder:
    """geopy geocoder with a rate limit and a cache: each distinct address is asked once, ever.

    ``geocoder`` may be any geopy geocoder (tests and other providers); by default it is built
    from ``settings`` through ``geopy.geocoders.get_geocoder_for_service``.
    """

    def __init__(self, settings: OnlineSettings, cache: GeocodeCache, *, geocoder: Any = None) -> None:
        from geopy.extra.rate_limiter import RateLimiter

        self.settings = settings
        self.cache = cache
        self._geocoder = geocoder or self._build()
        self._limited = RateLimiter(
            self._geocoder.geocode, min_delay_seconds=settings.min_delay_seconds,
            max_retries=settings.max_retries, error_wait_seconds=max(settings.min_delay_seconds, 1.0),
            swallow_exceptions=False,
        )

    def _build(self) -> Any:
        from geopy.adapters import URLLibAdapter
        from geopy.geocoders import get_geocoder_for_service

        try:
            cls = get_geocoder_for_service(self.settings.provider)
        except Exception as exc:
            raise GeocodeError(f"Unknown geocoding provider {self.settings.provider!r}.") from exc
        # urllib, not requests: requests would retry a timed-out request twice behind our back.
        kwargs: dict[str, Any] = {"timeout": self.settings.timeout, "scheme": self.settings.scheme,
                                  "user_agent": self.settings.user_agent,
                                  "adapter_factory": URLLibAdapter}
        if self.settings.provider == "nominatim":
            kwargs["domain"] = self.settings.domain
        if self.settings.api_key:
            kwargs["api_key"] = self.settings.api_key
        try:
            return cls(**kwargs)
        except Exception as exc:  # a provider that needs other arguments (a key...)
            raise GeocodeError(f"Cannot set up {self.settings.provider}: {exc}") from None

    def _ask(self, address: Address) -> CachedAnswer:
        from geopy import exc as gexc

        query: dict[str, str] | str = address.query()
        kwargs: dict[str, Any] = {}
        if self.settings.provider == "nominatim":
            query = {k: v for k, v in (("street", address.street), ("postalcode", address.postcode),
                                       ("city", address.city), ("state", address.region))
                     if v.strip()}
            if address.country:
                kwargs["country_codes"] = address.country.lower()
        try:
            location = self._limited(query, **kwargs)
        except gexc.GeopyError as exc:
            raise _geopy_error(exc, self.settings) from None
        if location is None:
            return CachedAnswer(None, None)
        raw = location.raw if isinstance(location.raw, dict) else {}
        return CachedAnswer(float(location.latitude), float(location.longitude), _precision(raw),
                            json.dumps(raw, ensure_ascii=False, default=str))

    def geocode(self, address: Address) -> GeocodeResult | None:
        """Return where ``address`` is, from the cache or (rate-limited) from the provider.

        Raises
        ------
        GeocodeError
            If the provider cannot be reached, times out, or refuses (quota, key).
        """
        query, provider = address.query(), self.settings.cache_provider
        if not query:
            return None
        answer = self.cache.get(query, provider)
        if answer is None:
            answer = self._ask(address)
            self.cache.put(query, provider, answer)
        if answer.lat is None or answer.lon is None:
            return None
        label = ""
        with contextlib.suppress(ValueError, AttributeError):
            label = str(json.loads(answer.raw_json).get("display_name", ""))
        return GeocodeResult(answer.lat, answer.lon, answer.source, self.settings.provider, label)

    def geocode_many(self, addresses: Sequence[Address], *, progress: Progress | None = None,
                     cancelled: IsCancelled | None = None) -> list[GeocodeResult | None]:
        """Geocode a batch at the provider's pace; the cache keeps every answer already got, so
        a batch stopped by an error or a cancel resumes where it stopped.

        Raises
        ------
        GeocodeError
            On the first provider failure.
        Cancelled
            If ``cancelled()`` turns true (checked before each address).
        """
        results: list[GeocodeResult | None] = []
        for i, address in enumerate(addresses):
            _tick(i, len(addresses), progress, cancelled, every=1)
            results.append(self.geocode(address))
        if progress:
            progress(len(addresses), len(addresses))
        return results


def geocode_missing(
    addresses: Sequence[Address],
    *,
    offline: GazetteerGeocoder,
    online: OnlineGeocoder | None = None,
    progress: Progress | None = None,
    cancelled: IsCancelled | None = None,
) -> list[GeocodeResult | None]:
    """Geocode with the gazetteer, then refine addresses that have a street online (if given).

    The online answer replaces the town only when it is more precise; an address the provider
    does not know keeps its town.

    Raises
    ------
    GeocodeError
        If the online provider fails (the gazetteer results are lost only to this call; the
        online answers got so far stay in the cache).
    Cancelled
        If ``cancelled()`` turns true.
    """
    with_street = [i for i, a in enumerate(addresses) if a.street.strip()] if online else []
    total = len(addresses) + len(with_street)

    def offline_progress(done: int, _n: int) -> None:
        if progress:
            progress(done, total)

    results = offline.geocode_many(addresses, progress=offline_progress, cancelled=cancelled)
    for step, i in enumerate(with_street):
        _tick(step, total, None, cancelled, every=1)
        if progress:
            progress(len(addresses) + step, total)
        found = online.geocode(addresses[i]) if online else None
        if found is not None and _RANK[found.source] < _RANK[results[i].source if results[i] else GeocodeSource.NONE]:
            results[i] = found
    if progress:
        progress(total, total)
    return results


_RANK = {source: rank for rank, source in enumerate(GeocodeSource)}
