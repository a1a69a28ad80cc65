"""Field checks shared across domains: each takes a raw value and returns the stored form, or
raises ValueError with a reason a person can act on (Pydantic turns it into a field error)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import available_timezones

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import AfterValidator, StringConstraints


def has_nul(value: Any) -> bool:
    """Whether text, or any string inside parsed JSON, holds a NUL character: PostgreSQL's text
    and JSON types cannot store one, and no person types one."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def reject_nul(value: str) -> str:
    if has_nul(value):
        raise ValueError("must not contain NUL characters")
    return value


# Plain ASCII addresses, most of what arrives, in a shape that email-validator accepts with no
# change but the case: a dot-atom of common characters (at most 64), domain labels of letters,
# digits and inner hyphens, a top-level domain of letters. With the checks of _plainly_valid
# this is a subset of its rules (tests/test_validation.py compares the two), and the answer is
# the address lowercased, in a microsecond instead of email-validator's 36.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,63})"
)
_SPECIAL_USE_DOMAINS = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def _plainly_valid(address: str) -> bool:
    match = _PLAIN_EMAIL.fullmatch(address)
    if match is None or len(address) > 254:
        return False
    at = address.index("@")
    # "--" in a domain may be Punycode (which email-validator decodes) or refused: its call.
    return at <= 64 and "--" not in address[at:] and match[1].lower() not in _SPECIAL_USE_DOMAINS


@lru_cache(maxsize=65536)
def normalize_email(value: str) -> str:
    """Validate an address and return it lowercased, as stored and compared. Cached: the same
    people arrive again and again in event batches, and validation is not cheap."""
    address = value.strip()
    if _plainly_valid(address):
        return address.lower()
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return result.normalized.lower()


def normalize_phone(value: str, default_region: str | None = None) -> str:
    """Parse a phone number (with the organization's region when it has no country code) and
    return it in E.164, for example +14155550100."""
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number for its region")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(value: str) -> str:
    if value not in _timezones():
        raise ValueError("not an IANA time zone name (for example Europe/Berlin)")
    return value


def check_region(value: str) -> str:
    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("not a two-letter region code that phone numbers use (for example US)")
    return region


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(normalize_email)]

NoNul = AfterValidator(reject_nul)
# Stripped strings of bounded length without NUL characters, for request models.
Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), NoNul
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul]
Text255 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255), NoNul]
Text64 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), NoNul]
TimeZoneName = Annotated[str, AfterValidator(check_timezone)]
RegionCode = Annotated[str, AfterValidator(check_region)]
