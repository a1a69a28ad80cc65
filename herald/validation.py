"""Field checks shared across domains: each takes a raw value and returns the stored form, or
raises ValueError with a reason a person can act on (Pydantic turns it into a field error)."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import available_timezones

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import AfterValidator, StringConstraints

from herald.errors import FieldError

# The deepest nesting a JSON body may have: more is refused before anything walks it (the
# deepest thing Herald stores, custom properties, is 10 levels deep).
MAX_JSON_DEPTH = 64

# U+D800 to U+DFFF: JSON's \\ud800 escape decodes to one when it is not half of a pair, and no
# database can store it (it has no UTF-8 form).
_SURROGATE = re.compile("[\ud800-\udfff]")


class NotJson(ValueError):
    """Text that is not a JSON document Herald reads; the message is the reason."""


def parse_json(raw: str | bytes) -> Any:
    """A JSON document as Python values, or NotJson. NaN, Infinity and numbers beyond a float's
    range are read (as non-finite floats) so that `unstorable_values` can name the field that
    holds them; a document nested too deeply for the parser is refused here."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise NotJson(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError:
        raise NotJson("not valid JSON") from None


def unstorable_reason(text: str) -> str | None:
    """Why a string cannot be stored, or None: PostgreSQL's text and JSON types hold no NUL
    (U+0000), and a lone surrogate cannot be encoded at all."""
    if "\x00" in text:
        return "must not contain NUL characters"
    # isascii() is a flag check for most strings: the search runs only on non-ASCII text.
    if not text.isascii() and _SURROGATE.search(text):
        return "must not contain a lone surrogate (U+D800 to U+DFFF)"
    return None


def storable_text(value: str) -> str:
    reason = unstorable_reason(value)
    if reason is not None:
        raise ValueError(reason)
    return value


NOT_FINITE = "must be a finite number (NaN, Infinity and numbers beyond 1.8e308 are not stored)"


def unstorable_values(value: Any, path: str = "") -> list[FieldError]:
    """Every place in parsed JSON that no database can store: text with NUL or a lone surrogate
    (in a value or a key), a non-finite number, nesting deeper than MAX_JSON_DEPTH. Fields are
    named as validation errors name them (`events[3].properties.x`), below `path`."""
    problems: list[FieldError] = []
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        kind = type(item)
        if kind is str:
            reason = unstorable_reason(item)
            if reason is not None:
                problems.append(FieldError(where or "body", reason))
        elif kind is float:
            if not math.isfinite(item):
                problems.append(FieldError(where or "body", NOT_FINITE))
        elif kind is dict or kind is list:
            if depth >= MAX_JSON_DEPTH:
                problems.append(
                    FieldError(where or "body", f"nested more than {MAX_JSON_DEPTH} levels deep")
                )
                continue
            if kind is list:
                stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item))
                continue
            for key, child in item.items():
                text = key if type(key) is str else str(key)
                name = f"{where}.{text}" if where else text
                reason = unstorable_reason(text)
                if reason is not None:
                    problems.append(FieldError(name, f"the name {reason}"))
                else:
                    stack.append((child, name, depth + 1))
    problems.sort(key=lambda problem: problem.field)
    return problems


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

# Text that can be stored: no NUL, no lone surrogate (see unstorable_reason).
StorableText = AfterValidator(storable_text)
# Stripped strings of bounded length that can be stored, for request models.
Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), StorableText
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), StorableText
]
Text255 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255), StorableText]
Text64 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), StorableText]
TimeZoneName = Annotated[str, AfterValidator(check_timezone)]
RegionCode = Annotated[str, AfterValidator(check_region)]
