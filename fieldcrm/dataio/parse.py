"""Parse cell text in the file's locale: numbers, dates, countries, currencies and enum words."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation

from fieldcrm.domain.enums import AccountStatus, Tier, VisitStatus


class BadValue(ValueError):
    """A cell's text is not a valid value of its field; the message says why."""


_SPACES = re.compile(r"[\s\u00a0\u202f']")
_EDGES = re.compile(r"^[^\d+\-.,]+|[^\d.,]+$")
_NUMBER = {
    ",": re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d*)(,\d+)?$"),
    ".": re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d*)(\.\d+)?$"),
}


def _clean_number(text: str) -> str:
    return _EDGES.sub("", _SPACES.sub("", text.strip()))


def parse_decimal(text: str, decimal: str = ".") -> Decimal:
    """Parse ``text`` with ``decimal`` ("," or ".") as the decimal mark; spaces, thousands
    separators and a currency sign or code around the number are allowed.

    Raises
    ------
    BadValue
        If ``text`` is not such a number.
    """
    cleaned = _clean_number(text)
    if not any(c.isdigit() for c in cleaned) or not _NUMBER[decimal].match(cleaned):
        raise BadValue(f"{text.strip()!r} is not a number (decimal mark {decimal!r})")
    thousands = "." if decimal == "," else ","
    try:
        return Decimal(cleaned.replace(thousands, "").replace(decimal, "."))
    except InvalidOperation:
        raise BadValue(f"{text.strip()!r} is not a number") from None


def detect_decimal(values: Iterable[str], hint: str = "") -> str:
    """Return the decimal mark ("," or ".") that the column's values use.

    A value with both marks votes for the last one; a single mark followed by other than three
    digits is a decimal mark; repeated marks are thousands separators. With no evidence,
    ``hint`` (or ".") wins.
    """
    votes = {",": 0, ".": 0}
    for value in values:
        cleaned = _clean_number(value)
        has_comma, has_point = "," in cleaned, "." in cleaned
        if has_comma and has_point:
            votes["," if cleaned.rfind(",") > cleaned.rfind(".") else "."] += 1
        elif has_comma or has_point:
            mark = "," if has_comma else "."
            other = "." if mark == "," else ","
            if cleaned.count(mark) > 1:
                votes[other] += 1
            elif len(cleaned) - cleaned.index(mark) - 1 != 3:
                votes[mark] += 1
    if votes[","] != votes["."]:
        return "," if votes[","] > votes["."] else "."
    return hint or "."


_DATE = re.compile(
    r"^(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([AaPp][Mm])?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_CJK_DATE = str.maketrans({"年": "-", "月": "-", "日": " ", "/": "/"})
DATE_ORDERS = ("DMY", "MDY", "YMD")
MONTH_FIRST_COUNTRIES = frozenset({"US", "PH", "FM", "MH", "PW"})


_MONTHS: dict[str, int] = {}
for _number, _names in enumerate((
    "january jan januari januar januara", "february feb februari februar februara",
    "march mar mars marec marca", "april apr aprila", "may maj maja", "june jun juni jun juna",
    "july jul juli jul jula", "august aug augusti augusta", "september sep sept septembra",
    "october oct okt oktober oktobra", "november nov novembra", "december dec decembra",
), start=1):
    _MONTHS.update(dict.fromkeys(_names.split(), _number))
_DAY_MONTH = re.compile(r"^(\d{1,2})\.?\s+([^\W\d_]+)\.?,?\s+(\d{4})(.*)$")
_WORD = re.compile(r"[^\W\d_]{3}")
_MONTH_DAY = re.compile(r"^([^\W\d_]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(.*)$")


def _month_names_to_iso(text: str) -> str:
    """Turn "5 Mar 2024", "March 5, 2024", "5. marca 2024", "5 mars 2024" into "2024-03-05"."""
    for pattern, day_first in ((_DAY_MONTH, True), (_MONTH_DAY, False)):
        match = pattern.match(text)
        if match:
            a, b, year, rest = match.groups()
            day, name = (a, b) if day_first else (b, a)
            month = _MONTHS.get(fold(name))
            if month:
                return f"{year}-{month:02d}-{int(day):02d}{rest}"
    return text


def _date_parts(text: str) -> tuple[tuple[str, ...], str]:
    cleaned = unicodedata.normalize("NFKC", text.strip()).translate(_CJK_DATE).strip()
    if _WORD.search(cleaned):
        cleaned = _month_names_to_iso(cleaned)
    match = _DATE.match(cleaned)
    if not match:
        raise BadValue(f"{text.strip()!r} is not a date")
    return match.groups(), cleaned


def detect_date_order(values: Iterable[str], country: str = "SE") -> str:
    """Return "DMY", "MDY" or "YMD": the order that every value of the column fits."""
    possible = {"DMY", "MDY"}
    dotted = numeric = False
    for value in values:
        try:
            groups, cleaned = _date_parts(value)
        except BadValue:
            continue
        first, second = int(groups[0]), int(groups[1])
        if len(groups[0]) == 4:
            continue  # year first (ISO, or a month name made ISO) reads the same in any order
        numeric = True
        dotted = dotted or "." in cleaned[:10]
        if first > 12:
            possible.discard("MDY")
        if second > 12:
            possible.discard("DMY")
    if not numeric:
        return "YMD"
    if len(possible) == 1:
        return possible.pop()
    if possible:
        return "MDY" if country.upper() in MONTH_FIRST_COUNTRIES and not dotted else "DMY"
    return "DMY"  # the values contradict each other; the wrong ones are reported row by row


def _year(text: str) -> int:
    year = int(text)
    if len(text) <= 2:
        year += 2000 if year < 70 else 1900
    return year


def parse_datetime(text: str, order: str) -> tuple[datetime, bool]:
    """Return the moment and whether it had a time of day. A time without a zone is local time.

    Raises
    ------
    BadValue
        If ``text`` is not a date in ``order``.
    """
    groups, _ = _date_parts(text)
    a, b, c, hour, minute, second, ampm, zone = groups
    if len(a) == 4:
        y, m, d = int(a), int(b), int(c)
    elif order == "MDY":
        m, d, y = int(a), int(b), _year(c)
    else:
        d, m, y = int(a), int(b), _year(c)
    try:
        day = date(y, m, d)
        clock = time(int(hour or 12), int(minute or 0), int(second or 0))
        if ampm:
            h = clock.hour % 12 + (12 if ampm.lower() == "pm" else 0)
            clock = clock.replace(hour=h)
    except ValueError as exc:
        raise BadValue(f"{text.strip()!r} is not a valid date ({exc})") from None
    moment = datetime.combine(day, clock)
    if zone:
        moment = datetime.fromisoformat(f"{moment.isoformat()}{'+00:00' if zone == 'Z' else zone}")
    else:
        moment = moment.astimezone()  # the file's times are the user's local times
    return moment.astimezone(UTC), hour is not None


def parse_date(text: str, order: str) -> date:
    """Return the calendar date of ``text`` (a time of day, if any, is ignored)."""
    groups, _ = _date_parts(text)
    if len(groups[0]) == 4:
        y, m, d = int(groups[0]), int(groups[1]), int(groups[2])
    elif order == "MDY":
        m, d, y = int(groups[0]), int(groups[1]), _year(groups[2])
    else:
        d, m, y = int(groups[0]), int(groups[1]), _year(groups[2])
    try:
        return date(y, m, d)
    except ValueError as exc:
        raise BadValue(f"{text.strip()!r} is not a valid date ({exc})") from None


def fold(text: str) -> str:
    """Lower-case ``text`` without diacritics (for matching words)."""
    decomposed = unicodedata.normalize("NFKD", text.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


_LOCAL_COUNTRIES = {
    "sverige": "SE", "sweden": "SE", "schweden": "SE", "suede": "SE", "瑞典": "SE",
    "slovensko": "SK", "slovakia": "SK", "slovenska republika": "SK", "斯洛伐克": "SK",
    "cesko": "CZ", "ceska republika": "CZ", "czechia": "CZ", "czech republic": "CZ",
    "norge": "NO", "danmark": "DK", "suomi": "FI", "deutschland": "DE", "osterreich": "AT",
    "polska": "PL", "magyarorszag": "HU", "uk": "GB", "england": "GB", "usa": "US",
    "中国": "CN", "中國": "CN", "中华人民共和国": "CN", "中華人民共和國": "CN", "china": "CN",
    "台湾": "TW", "台灣": "TW", "臺灣": "TW", "taiwan": "TW", "香港": "HK", "澳门": "MO",
    "澳門": "MO", "新加坡": "SG",
}


@functools.lru_cache(maxsize=4096)
def parse_country(text: str) -> str:
    """Return the ISO 3166-1 alpha-2 code of a country code or name (English or local).

    Raises
    ------
    BadValue
        If the country is unknown.
    """
    import pycountry

    key = fold(text)
    if key in _LOCAL_COUNTRIES:
        return _LOCAL_COUNTRIES[key]
    try:
        return str(pycountry.countries.lookup(text.strip()).alpha_2)
    except LookupError:
        raise BadValue(f"unknown country {text.strip()!r}") from None


_CURRENCY_SIGNS = {"€": "EUR", "$": "USD", "us$": "USD", "£": "GBP", "¥": "CNY", "元": "CNY",
                   "人民币": "CNY", "rmb": "CNY", "nt$": "TWD", "kč": "CZK", "kc": "CZK",
                   "zł": "PLN", "zl": "PLN", "ft": "HUF"}


@functools.lru_cache(maxsize=1024)
def parse_currency(text: str) -> str:
    """Return the ISO 4217 code of a currency code or unambiguous sign.

    Raises
    ------
    BadValue
        If the currency is unknown or ambiguous (``kr`` could be SEK, NOK, DKK or ISK).
    """
    import pycountry

    key = text.strip().casefold()
    if key in _CURRENCY_SIGNS:
        return _CURRENCY_SIGNS[key]
    if len(key) == 3 and pycountry.currencies.get(alpha_3=key.upper()):
        return key.upper()
    raise BadValue(f"unknown currency {text.strip()!r} (use a code such as SEK, EUR, CNY)")


_STATUS_WORDS: dict[AccountStatus, tuple[str, ...]] = {
    AccountStatus.FORMER: ("former", "inactive", "churn", "lost", "closed", "tidigare",
                           "inaktiv", "byvaly", "neaktiv", "流失", "停用", "前"),
    AccountStatus.CUSTOMER: ("customer", "client", "active", "kund", "aktiv", "zakaznik",
                             "klient", "客户", "客戶", "合作"),
    AccountStatus.PROSPECT: ("prospect", "opportunity", "potential", "mql", "sql", "prospekt",
                             "potenciál", "potencial", "潜在客户", "潛在客戶", "意向"),
    AccountStatus.LEAD: ("lead", "new", "subscriber", "ny", "novy", "线索", "線索", "潜在", "潛在"),
}
_TIER_WORDS = {"a": Tier.A, "1": Tier.A, "hot": Tier.A, "high": Tier.A, "het": Tier.A,
               "b": Tier.B, "2": Tier.B, "warm": Tier.B, "medium": Tier.B, "varm": Tier.B,
               "c": Tier.C, "3": Tier.C, "cold": Tier.C, "low": Tier.C, "kall": Tier.C}
_VISIT_WORDS: dict[VisitStatus, tuple[str, ...]] = {
    VisitStatus.CANCELLED: ("cancel", "inställ", "installd", "avbok", "zrus", "取消"),
    VisitStatus.COMPLETED: ("complet", "done", "held", "visited", "genomförd", "genomford",
                            "klar", "utford", "vykonan", "hotov", "已完成", "完成", "已拜访"),
    VisitStatus.PLANNED: ("plan", "schedul", "open", "not started", "bokad", "naplan", "计划",
                          "計劃", "待"),
}


@functools.lru_cache(maxsize=1024)
def parse_status(text: str) -> AccountStatus | None:
    """Return the account status a CRM's status/type/lifecycle word means, or None."""
    key = fold(text)
    for status, words in _STATUS_WORDS.items():
        if any(fold(w) in key for w in words):
            return status
    return None


def parse_tier(text: str) -> Tier | None:
    """Return the tier of A/B/C, 1/2/3 or hot/warm/cold (and high/medium/low), or None."""
    return _TIER_WORDS.get(fold(text))


@functools.lru_cache(maxsize=1024)
def parse_visit_status(text: str) -> VisitStatus | None:
    """Return the visit status a word means, or None."""
    key = fold(text)
    for status, words in _VISIT_WORDS.items():
        if any(fold(w) in key for w in words):
            return status
    return None
