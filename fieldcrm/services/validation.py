"""Field validation and normalisation shared by the services (phones, emails, coordinates)."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email


@dataclass(frozen=True, slots=True)
class Normalised:
    """A normalised value, the raw input, and whether normalisation succeeded."""

    value: str
    raw: str
    valid: bool


def normalise_phone(raw: str, default_country: str = "SE") -> Normalised:
    """Return the phone number in E.164; an unparseable one is kept raw and flagged, never dropped."""
    text = raw.strip()
    if not text:
        return Normalised("", "", True)
    try:
        number = phonenumbers.parse(text, default_country.upper())
    except phonenumbers.NumberParseException:
        return Normalised(text, text, False)
    if not phonenumbers.is_valid_number(number):
        return Normalised(text, text, False)
    return Normalised(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), text, True)


def normalise_email(raw: str) -> Normalised:
    """Return the email normalised; an invalid one is kept and flagged."""
    text = raw.strip()
    if not text:
        return Normalised("", "", True)
    try:
        info = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return Normalised(text, text, False)
    return Normalised(info.normalized, text, True)


def check_coordinates(lat: float | None, lon: float | None) -> dict[str, str]:
    """Return field errors for a latitude/longitude pair (both or neither, in range)."""
    errors: dict[str, str] = {}
    if (lat is None) != (lon is None):
        errors["lat" if lat is None else "lon"] = "Give both latitude and longitude, or neither."
        return errors
    if lat is not None and not -90 <= lat <= 90:
        errors["lat"] = f"Latitude {lat} is outside -90…90."
    if lon is not None and not -180 <= lon <= 180:
        errors["lon"] = f"Longitude {lon} is outside -180…180."
    return errors
