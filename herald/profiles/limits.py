"""Limits on custom properties, the same for profiles and events (after Klaviyo's documented ones):
at most 300 properties, nesting at most 10 levels deep, and at most 100 kB per property value."""

from __future__ import annotations

import json
from typing import Any

from herald.validation import has_nul

MAX_PROPERTIES = 300
MAX_DEPTH = 10
MAX_FIELD_BYTES = 100 * 1024
MAX_KEY_LENGTH = 255


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


_PLAIN_SCALARS = (int, float, bool, type(None))


def _plainly_within_limits(properties: dict[str, Any]) -> bool:
    """True when the properties are flat scalars obviously within every limit of
    the full check (short names and text without NUL, no nesting): most events, checked
    here without its general walk. Anything else gets the full check."""
    if len(properties) > MAX_PROPERTIES:
        return False
    for key, value in properties.items():
        if not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
            return False
        if type(value) is str:
            if "\x00" in value or 4 * len(value) + 2 > MAX_FIELD_BYTES:
                return False
        elif type(value) not in _PLAIN_SCALARS:
            return False
    return True


def check_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """Return the properties unchanged, or raise ValueError naming the first limit they break."""
    if _plainly_within_limits(properties):
        return properties
    if len(properties) > MAX_PROPERTIES:
        raise ValueError(f"at most {MAX_PROPERTIES} properties (got {len(properties)})")
    for key, value in properties.items():
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"property names must be 1 to {MAX_KEY_LENGTH} characters")
        # The top level counts as the first level of nesting.
        if 1 + _depth(value) > MAX_DEPTH:
            raise ValueError(f"property {key!r} is nested more than {MAX_DEPTH} levels deep")
        if has_nul(key) or has_nul(value):
            # PostgreSQL's JSONB cannot hold U+0000.
            raise ValueError(f"property {key!r} contains a NUL character")
        if isinstance(value, str | int | float | bool) or value is None:
            # A scalar's JSON is at most its text quoted, four bytes a character: skip encoding
            # the common small ones, which is most of the cost of checking an event.
            if isinstance(value, str) and 4 * len(value) + 2 > MAX_FIELD_BYTES:
                size = len(json.dumps(value, ensure_ascii=False).encode())
            else:
                continue
        else:
            size = len(json.dumps(value, ensure_ascii=False, default=str).encode())
        if size > MAX_FIELD_BYTES:
            raise ValueError(f"property {key!r} is {size} bytes; the limit is {MAX_FIELD_BYTES}")
    return properties
