"""Where the Jinja constructs (`{{ }}`, `{% %}`, `{# #}`) are in a template source, and their lines
and columns. The save-time checks, the MJML compilation and the plain-text maker work on these."""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPENER = re.compile(r"\{\{|\{%|\{#")
_CLOSERS = {"{{": "}}", "{%": "%}", "{#": "#}"}
_RAW_START = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}")
_RAW_END = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
_TAG_NAME = re.compile(r"\{%[-+]?\s*(\w+)")
_BLOCK_TAGS = frozenset(
    {"for", "if", "block", "macro", "call", "filter", "with", "autoescape", "trans", "set"}
)


@dataclass(frozen=True)
class _Construct:
    start: int
    end: int
    text: str

    @property
    def kind(self) -> str:
        """ "s" for a statement, "e" for output (an expression or a raw block), "c" a comment."""
        if self.text.startswith("{#"):
            return "c"
        if self.text.startswith("{%") and not re.match(r"\{%[-+]?\s*raw\b", self.text):
            return "s"
        return "e"


def _scan(source: str) -> tuple[list[_Construct], int | None]:
    """The Jinja constructs of a source in order (a raw block is one), and the offset of an
    opener that is never closed (scanning stops there). Linear in the source's length."""
    found: list[_Construct] = []
    position = 0
    while True:
        opener = _OPENER.search(source, position)
        if opener is None:
            return found, None
        start = opener.start()
        raw = _RAW_START.match(source, start) if opener.group() == "{%" else None
        end_raw = _RAW_END.search(source, raw.end()) if raw else None
        if end_raw is not None:
            end = end_raw.end()
        else:
            closer = source.find(_CLOSERS[opener.group()], start + 2)
            if closer < 0:
                return found, start
            end = closer + 2
        found.append(_Construct(start, end, source[start:end]))
        position = end


def _constructs(source: str) -> list[_Construct]:
    return _scan(source)[0]


def _position(source: str, offset: int) -> tuple[int, int]:
    """1-based line and column of an offset."""
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _line_span(source: str, line: int) -> tuple[int, int]:
    start = 0
    for _ in range(line - 1):
        found = source.find("\n", start)
        if found < 0:
            return len(source), len(source)
        start = found + 1
    end = source.find("\n", start)
    return start, len(source) if end < 0 else end


def _first_column(source: str, line: int) -> int | None:
    start, end = _line_span(source, line)
    text = source[start:end]
    stripped = len(text) - len(text.lstrip())
    return stripped + 1 if text.strip() else None


def _find_in_constructs(
    source: str, constructs: list[_Construct], line: int, pattern: re.Pattern[str]
) -> tuple[int, int] | None:
    """Where `pattern` first matches inside a Jinja construct on `line` (else anywhere on it)."""
    start, end = _line_span(source, line)
    for construct in constructs:
        if construct.end < start or construct.start > end:
            continue
        for match in pattern.finditer(construct.text):
            offset = construct.start + match.start()
            if start <= offset <= end:
                return _position(source, offset)
    anywhere = pattern.search(source, start, end)
    return _position(source, anywhere.start()) if anywhere else None


def _tag_name(construct: _Construct) -> str:
    match = _TAG_NAME.match(construct.text)
    return match.group(1) if match else ""
