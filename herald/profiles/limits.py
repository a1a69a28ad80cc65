"""Limits on custom properties, the same for profiles and events (after Klaviyo's documented ones):
at most 300 properties, nesting at most 10 levels deep, and at most 100 kB per property value."""

from __future__ import annotations

import json
import math
from typing import Any

from herald.validation import NOT_FINITE, unstorable_reason

MAX_PROPERTIES = 300
MAX_DEPTH = 10
MAX_FIELD_BYTES = 100 * 1024
MAX_KEY_LENGTH = 255

# JSON writes a character in at most 6 bytes (a control character as \u001f; others take at
# most 4 in UTF-8), so a string's JSON is at most 6 bytes a character plus its quotes.
_CHAR_BYTES = 6
# Upper bounds of the JSON of scalars: a float's repr is at most 24 characters
# (-1.2345678901234567e-308), an int below 10^18 at most 20 with its sign.
_FLOAT_BYTES = 24
_INT_BYTES = 20
_INT_SMALL = 10**18
# json.dumps's default separators: ", " between items, ": " after a key.
_ITEM_BYTES = 2
_KEY_BYTES = 2


class _TooDeep(Exception):
    pass


class _Walk:
    """One pass over a property value: the first reason it cannot be stored (text with NUL or a
    lone surrogate, a non-finite number), and an upper bound of its JSON size (exact sizes cost
    an encoding, so they are taken only when the bound is over the limit). Raises _TooDeep past
    MAX_DEPTH levels."""

    __slots__ = ("unstorable",)

    def __init__(self) -> None:
        self.unstorable: str | None = None

    def _text(self, text: str) -> None:
        if self.unstorable is None:
            self.unstorable = unstorable_reason(text)

    def bound(self, value: Any, level: int) -> int:
        kind = type(value)
        if kind is str:
            self._text(value)
            return _CHAR_BYTES * len(value) + 2
        if kind is dict:
            # The top level counts as the first level of nesting.
            if level >= MAX_DEPTH:
                raise _TooDeep
            size = 2
            for key, item in value.items():
                text = key if type(key) is str else str(key)
                self._text(text)
                size += _CHAR_BYTES * len(text) + 2 + _KEY_BYTES + _ITEM_BYTES
                size += self.bound(item, level + 1)
            return size
        if kind is list:
            if level >= MAX_DEPTH:
                raise _TooDeep
            size = 2
            for item in value:
                size += self.bound(item, level + 1) + _ITEM_BYTES
            return size
        if kind is int:
            return _INT_BYTES if -_INT_SMALL < value < _INT_SMALL else len(str(value))
        if kind is float:
            if not math.isfinite(value) and self.unstorable is None:
                self.unstorable = NOT_FINITE
            return _FLOAT_BYTES
        if value is None or kind is bool:
            return 5
        # Not from JSON (a Python caller's own object): measured as it would be stored. A
        # container of another type is not walked for depth or NUL, as before.
        return _exact_size(value)


def _exact_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str).encode())


_PLAIN_SCALARS = (int, bool, type(None))


def _plainly_within_limits(properties: dict[str, Any]) -> bool:
    """True when the properties are flat scalars obviously within every limit of
    the full check (short names and text without NUL, no nesting): most events, checked
    here without its general walk. Anything else gets the full check."""
    if len(properties) > MAX_PROPERTIES:
        return False
    # Non-ASCII text (which may hold a lone surrogate) and non-finite floats take the full check.
    for key, value in properties.items():
        if not key or len(key) > MAX_KEY_LENGTH or "\x00" in key or not key.isascii():
            return False
        kind = type(value)
        if kind is str:
            if (
                "\x00" in value
                or not value.isascii()
                or _CHAR_BYTES * len(value) + 2 > MAX_FIELD_BYTES
            ):
                return False
        elif kind is float:
            if value - value != 0:  # NaN or an infinity
                return False
        elif kind not in _PLAIN_SCALARS:
            return False
    return True


def check_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """Return the properties unchanged, or raise ValueError naming the first limit they break.
    Each property is checked for its name, then its nesting, then NUL characters, then its
    size as JSON."""
    if _plainly_within_limits(properties):
        return properties
    if len(properties) > MAX_PROPERTIES:
        raise ValueError(f"at most {MAX_PROPERTIES} properties (got {len(properties)})")
    for key, value in properties.items():
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"property names must be 1 to {MAX_KEY_LENGTH} characters")
        walk = _Walk()
        try:
            size = walk.bound(value, 1)
        except _TooDeep:
            raise ValueError(
                f"property {key!r} is nested more than {MAX_DEPTH} levels deep"
            ) from None
        walk._text(key)
        if walk.unstorable is not None:
            raise ValueError(f"property {key!r}: {walk.unstorable}")
        if size > MAX_FIELD_BYTES:
            size = _exact_size(value)
            if size > MAX_FIELD_BYTES:
                raise ValueError(
                    f"property {key!r} is {size} bytes; the limit is {MAX_FIELD_BYTES}"
                )
    return properties
