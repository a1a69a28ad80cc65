"""Personalized email: checking templates at save time, compiling MJML, and rendering messages.

Other parts of Herald code against this module (campaign and flow sends, transactional email, the
render benchmark), so its names and signatures are a contract.

- `check_template` finds every problem a person can fix at save time: Jinja syntax errors and
  names that do not exist (with line and column), sandbox-escape attempts, and the unsubscribe
  link and postal address that marketing email must carry.
- `compile_body` turns MJML into HTML once, at save, with the Jinja in it untouched.
- `build_context` and `render_email` personalize a message. Rendering never fails for data that
  is missing: a missing property renders as nothing (the names were checked at save).

Templates run in Jinja's immutable sandbox with HTML autoescaping, so user-written templates never
reach Python internals. Compiled templates are cached by their source, and the plain-text part of
a template without one is derived once per HTML source (as a Jinja template itself), so a message
costs one pass of each compiled template.
"""

from __future__ import annotations

import html as html_lib
import re
import string
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import SecurityError
from jinja2.filters import do_capitalize, do_lower, do_title, do_upper
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

from herald.models.profile import DESCRIPTIVE_FIELDS, IDENTIFIERS

if TYPE_CHECKING:
    from herald.models import EmailSettings, EmailTemplate, Organization, Profile

__all__ = [
    "BODY_FORMATS",
    "CONTEXT_NAMES",
    "RenderedEmail",
    "TemplateError",
    "TemplateParts",
    "TemplateProblem",
    "build_context",
    "check_template",
    "compile_body",
    "html_to_text",
    "parts_of",
    "profile_context",
    "render_email",
    "sample_context",
]

# The names a template may use; `{% set %}`, loops and macros may define more.
CONTEXT_NAMES = frozenset(
    {"profile", "organization", "data", "event", "unsubscribe_url", "preferences_url"}
)
UNSUBSCRIBE_NAMES = frozenset({"unsubscribe_url", "preferences_url"})
ORGANIZATION_FIELDS = ("name", "postal_address", "timezone")
# Profile fields exposed by name; a custom property with one of these names is only reachable as
# `profile.properties.<name>`.
PROFILE_FIELDS = ("id", *IDENTIFIERS, *DESCRIPTIVE_FIELDS, "created_at", "properties")
BODY_FORMATS = ("mjml", "html")

# Problems reported per field: enough to fix, not a wall of text.
MAX_PROBLEMS = 20
TOO_DEEP = "expressions are nested too deeply"
# Sandbox limits on operators that can allocate a lot from a little template text.
MAX_REPEAT_LENGTH = 100_000
MAX_EXPONENT = 100


# --- The contract ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateProblem:
    field: str  # "subject", "preheader", "body" or "text_body"
    reason: str
    line: int | None = None
    column: int | None = None

    def describe(self) -> str:
        """The reason with its position first, as people read it: "line 3, column 5: ..."."""
        if self.line is None:
            return self.reason
        if self.column is None:
            return f"line {self.line}: {self.reason}"
        return f"line {self.line}, column {self.column}: {self.reason}"


class TemplateError(ValueError):
    def __init__(self, problems: list[TemplateProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.describe()}" for p in problems))


@dataclass(frozen=True)
class TemplateParts:
    subject: str
    preheader: str | None
    html: str  # HTML with Jinja in it (MJML already compiled)
    text: str | None  # None: generated from the HTML


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    preheader: str | None
    html: str
    text: str


# --- Jinja constructs in a source -----------------------------------------------------------------

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


# --- Sandbox --------------------------------------------------------------------------------------


class LenientUndefined(ChainableUndefined):
    """What a missing name, property or item renders as: nothing. Attribute and item access,
    calls, arithmetic and comparisons on it give more nothing instead of an error, so a message
    never fails because one profile lacks a property (names are checked at save time)."""

    __slots__ = ()

    def _nothing(self, *_args: Any, **_kwargs: Any) -> Any:
        return self

    def _false(self, *_args: Any, **_kwargs: Any) -> Any:
        return False

    def _zero(self, *_args: Any, **_kwargs: Any) -> Any:
        return 0

    __add__ = __radd__ = __sub__ = __rsub__ = _nothing
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _nothing
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _nothing
    __pos__ = __neg__ = __pow__ = __rpow__ = __call__ = _nothing
    __lt__ = __le__ = __gt__ = __ge__ = _false
    __int__ = __float__ = __complex__ = _zero


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with mapping keys before methods (`data.items` is the event's
    `items` property when it has one) and bounded repetition and exponents."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict or isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponents above {MAX_EXPONENT} are not allowed")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(count, int)
                    and len(sequence) * count > MAX_REPEAT_LENGTH
                ):
                    raise SecurityError("repetition result too long")
        return super().call_binop(context, operator, left, right)


def _blank(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, Undefined)
        or (isinstance(value, str) and not value.strip())
    )


def _default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """Jinja's `default`, which also stands in for None and blank text: a profile without a first
    name gets the default, as people expect."""
    if _blank(value) or (boolean and not value):
        return default_value
    return value


def _text_filter(function: Callable[[str], str]) -> Callable[[Any], str]:
    def apply(value: Any) -> str:
        if value is None or isinstance(value, Undefined):
            return ""
        return function(value)

    return apply


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _zone(name: Any) -> ZoneInfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _context_zone(context: Context) -> ZoneInfo:
    """The profile's time zone, else the organization's, else UTC (DESIGN: Time)."""
    for name in ("profile", "organization"):
        holder = context.get(name)
        if isinstance(holder, Mapping):
            zone = _zone(holder.get("timezone"))
            if zone is not None:
                return zone
    return ZoneInfo("UTC")


def _as_datetime(value: Any) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        try:
            if "T" in text or " " in text:
                return datetime.fromisoformat(text)
            return date.fromisoformat(text)
        except ValueError:
            return None
    return None


def _format_moment(moment: datetime | date, fmt: str) -> str:
    has_time = isinstance(moment, datetime)
    month = _MONTHS[moment.month - 1]
    day_text = {
        "short": f"{moment.month}/{moment.day}/{moment.year % 100:02d}",
        "medium": f"{month[:3]} {moment.day}, {moment.year}",
        "long": f"{month} {moment.day}, {moment.year}",
        "full": f"{_WEEKDAYS[moment.weekday()]}, {month} {moment.day}, {moment.year}",
    }
    if fmt in day_text:
        return day_text[fmt]
    if fmt == "iso":
        return moment.isoformat()
    if fmt in ("time", "datetime"):
        clock = moment if isinstance(moment, datetime) else datetime.combine(moment, time())
        hour = clock.hour % 12 or 12
        time_text = f"{hour}:{clock.minute:02d} {'AM' if clock.hour < 12 else 'PM'}"
        if fmt == "time":
            return time_text if has_time else ""
        return f"{day_text['medium']}, {time_text}" if has_time else day_text["medium"]
    return moment.strftime(fmt)


@pass_context
def _date(context: Context, value: Any, format: str = "medium", tz: str | None = None) -> str:
    """A date or time in the reader's time zone: `format` is short, medium, long, full, time,
    datetime, iso, or a strftime pattern. Values Herald cannot read come out unchanged."""
    if value is None or isinstance(value, Undefined):
        return ""
    moment = _as_datetime(value)
    if moment is None:
        return str(value)
    if isinstance(moment, datetime):
        zone = _zone(tz) or _context_zone(context)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(zone)
    try:
        return _format_moment(moment, str(format))
    except (ValueError, OverflowError):
        return str(value)


CURRENCY_SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CNY": "CN¥",
    "INR": "₹",
    "KRW": "₩",
    "CAD": "CA$",
    "AUD": "A$",
    "NZD": "NZ$",
    "MXN": "MX$",
    "BRL": "R$",
    "HKD": "HK$",
    "SGD": "S$",
    "ILS": "₪",
    "PLN": "zł",
    "TRY": "₺",
    "UAH": "₴",
    "VND": "₫",
    "PHP": "₱",
    "NGN": "₦",
}
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG"})


def _currency(value: Any, code: str = "USD") -> str:
    """An amount with its currency: `12.5|currency("EUR")` is "€12.50". Codes without a symbol
    here are written before the amount ("SEK 12.50")."""
    if value is None or isinstance(value, Undefined | bool):
        return ""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return str(value)
    if not amount.is_finite():
        return str(value)
    code = str(code).upper()
    places = 0 if code in ZERO_DECIMAL_CURRENCIES else 2
    amount = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    number = f"{abs(amount):,.{places}f}"
    symbol = CURRENCY_SYMBOLS.get(code)
    text = f"{symbol}{number}" if symbol else f"{code}\u00a0{number}"
    return f"-{text}" if amount < 0 else text


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def _environment(autoescape: bool) -> _Sandbox:
    environment = _Sandbox(
        autoescape=autoescape,
        undefined=LenientUndefined,
        finalize=_finalize,
        auto_reload=False,
        cache_size=0,
    )
    # Only the helpers a template needs: no lipsum, cycler or joiner objects to poke at.
    environment.globals = {
        name: environment.globals[name] for name in ("range", "dict", "namespace")
    }
    environment.filters.update(
        {
            "default": _default,
            "d": _default,
            "title": _text_filter(do_title),
            "upper": _text_filter(do_upper),
            "lower": _text_filter(do_lower),
            "capitalize": _text_filter(do_capitalize),
            "date": _date,
            "currency": _currency,
        }
    )
    return environment


_HTML_ENV = _environment(autoescape=True)
_TEXT_ENV = _environment(autoescape=False)
_ENVIRONMENTS = {"html": _HTML_ENV, "text": _TEXT_ENV}


def _neutralize(tree: nodes.Template) -> nodes.Template:
    """`self` is Jinja's reference to the template object; rename it so that it is just another
    undefined name (save-time checks refuse it; this covers templates that skipped them)."""
    for name in tree.find_all(nodes.Name):
        if name.name in ("self", "super"):
            name.name = "_unavailable"
    return tree


@lru_cache(maxsize=1024)
def _compiled(kind: str, source: str) -> JinjaTemplate:
    """A compiled template, cached by its source (TemplateSyntaxError if it has none)."""
    environment = _ENVIRONMENTS[kind]
    return environment.from_string(_neutralize(environment.parse(source)))


# --- Save-time checks -----------------------------------------------------------------------------


def _syntax_problem(field: str, source: str, exc: TemplateSyntaxError) -> TemplateProblem:
    message = exc.message or str(exc)
    constructs, unclosed_at = _scan(source)
    if unclosed_at is not None:
        opener_text = source[unclosed_at : unclosed_at + 2]
        where = _position(source, unclosed_at)
        return TemplateProblem(
            field, f"{opener_text} is never closed with {_CLOSERS[opener_text]}", *where
        )
    if "end of template" in message.lower():
        unclosed = _innermost_unclosed_block(constructs)
        if unclosed is not None:
            where = _position(source, unclosed.start)
            name = _tag_name(unclosed)
            return TemplateProblem(
                field, f"{{% {name} %}} is never closed with {{% end{name} %}}", *where
            )
    stray = _stray_closer(constructs)
    if stray is not None and "unknown tag" in message:
        where = _position(source, stray.start)
        return TemplateProblem(field, f"{{% {_tag_name(stray)} %}} closes nothing here", *where)
    line = exc.lineno or 1
    column: int | None = None
    for token in re.findall(r"'([^']+)'", message):
        found = _find_in_constructs(source, constructs, line, re.compile(re.escape(token)))
        if found is not None and found[0] == line:
            column = found[1]
            break
    if column is None:
        start, end = _line_span(source, line)
        on_line = [c for c in constructs if start <= c.start <= end]
        column = _position(source, on_line[0].start)[1] if on_line else _first_column(source, line)
    return TemplateProblem(field, message, line, column)


def _tag_name(construct: _Construct) -> str:
    match = _TAG_NAME.match(construct.text)
    return match.group(1) if match else ""


def _stray_closer(constructs: list[_Construct]) -> _Construct | None:
    """The first end tag (or else/elif) with no open block to close."""
    stack: list[str] = []
    for construct in constructs:
        if construct.kind != "s":
            continue
        name = _tag_name(construct)
        if name == "set" and "=" in construct.text:
            continue
        if name in _BLOCK_TAGS:
            stack.append(name)
        elif name.startswith("end"):
            if name[3:] not in stack:
                return construct
            while stack.pop() != name[3:]:
                pass
        elif name in ("else", "elif") and not stack:
            return construct
    return None


def _innermost_unclosed_block(constructs: list[_Construct]) -> _Construct | None:
    stack: list[_Construct] = []
    for construct in constructs:
        if construct.kind != "s":
            continue
        name = _tag_name(construct)
        if name == "set" and "=" in construct.text:
            continue  # `{% set x = 1 %}` needs no end tag
        if name in _BLOCK_TAGS:
            stack.append(construct)
        elif name.startswith("end"):
            opened = name[3:]
            while stack:
                if _tag_name(stack.pop()) == opened:
                    break
    return stack[-1] if stack else None


def _format_fields(text: str) -> list[str]:
    try:
        return [name for _literal, name, _spec, _conv in string.Formatter().parse(text) if name]
    except ValueError:
        return []


def _structure_problems(field: str, source: str, tree: nodes.Template) -> list[TemplateProblem]:
    """Names that do not exist and constructs the sandbox would refuse at send time."""
    constructs = _constructs(source)
    problems: list[TemplateProblem] = []

    def at(node: nodes.Node, pattern: str, reason: str) -> None:
        if len(problems) >= MAX_PROBLEMS:
            return
        line = node.lineno
        found = _find_in_constructs(source, constructs, line, re.compile(pattern))
        column = found[1] if found and found[0] == line else _first_column(source, line)
        problems.append(TemplateProblem(field, reason, line, column))

    allowed = CONTEXT_NAMES | set(_HTML_ENV.globals)
    undeclared = find_undeclared_variables(tree) - allowed
    reported: set[str] = set()
    for name in tree.find_all(nodes.Name):
        if name.ctx != "load" or name.name in reported:
            continue
        if name.name in undeclared or name.name in ("self", "super"):
            reported.add(name.name)
            known = ", ".join(sorted(CONTEXT_NAMES))
            at(
                name,
                rf"(?<![\w.]){re.escape(name.name)}\b",
                f"'{name.name}' is not defined (templates can use {known})",
            )
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        attribute = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            attribute = node.arg.value if isinstance(node.arg.value, str) else None
        if attribute is None:
            continue
        if attribute.startswith("_"):
            at(node, re.escape(attribute), f"'{attribute}': names starting with _ are not allowed")
        elif (
            isinstance(node.node, nodes.Name)
            and node.node.name == "organization"
            and attribute not in ORGANIZATION_FIELDS
        ):
            at(
                node,
                rf"\b{re.escape(attribute)}\b",
                f"organization has no field '{attribute}' "
                f"(it has {', '.join(ORGANIZATION_FIELDS)})",
            )
    for call in tree.find_all(nodes.Call):
        target = call.node
        if (
            isinstance(target, nodes.Getattr)
            and target.attr in ("format", "format_map")
            and isinstance(target.node, nodes.Const)
            and isinstance(target.node.value, str)
            and any("." in f or "[" in f for f in _format_fields(target.node.value))
        ):
            at(call, r"format", "format fields may not reach into attributes or items")
    for filter_node in tree.find_all(nodes.Filter):
        if filter_node.name == "attr" and any(
            isinstance(arg, nodes.Const) and str(arg.value).startswith("_")
            for arg in filter_node.args
        ):
            at(filter_node, r"attr", "names starting with _ are not allowed")
    for statement in tree.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        keyword = type(statement).__name__.lower().replace("fromimport", "from")
        at(
            statement,
            rf"\b{keyword}\b",
            "templates cannot include, extend or import other templates",
        )
    return problems


def _uses_unsubscribe(tree: nodes.Template) -> bool:
    return any(n.name in UNSUBSCRIBE_NAMES and n.ctx == "load" for n in tree.find_all(nodes.Name))


def _uses_postal_address(tree: nodes.Template) -> bool:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        if not (isinstance(node.node, nodes.Name) and node.node.name == "organization"):
            continue
        if isinstance(node, nodes.Getattr) and node.attr == "postal_address":
            return True
        if isinstance(node, nodes.Getitem) and (
            isinstance(node.arg, nodes.Const) and node.arg.value == "postal_address"
        ):
            return True
    return False


UNSUBSCRIBE_REASON = (
    "marketing email needs an unsubscribe link: add "
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a> (or link to {{ preferences_url }})'
)
POSTAL_ADDRESS_REASON = (
    "marketing email must show your postal address (CAN-SPAM): add "
    "{{ organization.postal_address }}"
)


def _check_one(
    field: str, source: str, kind: str, marketing: bool
) -> tuple[list[TemplateProblem], nodes.Template | None]:
    environment = _ENVIRONMENTS[kind]
    try:
        tree = environment.parse(source)
        environment.compile(tree)  # unknown filters and tests surface here
        problems = _structure_problems(field, source, tree)[:MAX_PROBLEMS]
    except TemplateSyntaxError as exc:
        return [_syntax_problem(field, source, exc)], None
    except RecursionError:
        return [TemplateProblem(field, TOO_DEEP)], None
    if marketing:
        if not _uses_unsubscribe(tree):
            problems.append(TemplateProblem(field, UNSUBSCRIBE_REASON))
        if not _uses_postal_address(tree):
            problems.append(TemplateProblem(field, POSTAL_ADDRESS_REASON))
    return problems, tree


def check_template(
    *, subject: str, preheader: str | None, html: str, text: str | None, marketing: bool
) -> None:
    """Every problem a person can fix before sending, or nothing. `html` is the body as written
    (MJML or HTML; Jinja positions refer to it). Marketing templates must use `unsubscribe_url`
    (or `preferences_url`) and `organization.postal_address` in the HTML, and in the plain-text
    part when one is written."""
    problems: list[TemplateProblem] = []
    parts: list[tuple[str, str | None, str, bool]] = [
        ("subject", subject, "text", False),
        ("preheader", preheader, "text", False),
        ("body", html, "html", marketing),
        ("text_body", text, "text", marketing),
    ]
    for field, source, kind, required in parts:
        if source is None:
            continue
        found, _tree = _check_one(field, source, kind, required)
        problems.extend(found)
    if problems:
        raise TemplateError(problems)


# --- MJML -----------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"zqj([sec])(\d{6})q")


def _protect(source: str) -> tuple[str, list[_Construct]]:
    """The source with each Jinja construct replaced by a plain-word placeholder that MJML and
    HTML parsers leave alone (quotes and < > inside Jinja would otherwise confuse them)."""
    constructs = _constructs(source)
    pieces: list[str] = []
    last = 0
    for index, construct in enumerate(constructs):
        pieces.append(source[last : construct.start])
        pieces.append(f"zqj{construct.kind}{index:06d}q")
        last = construct.end
    pieces.append(source[last:])
    return "".join(pieces), constructs


def _original_offset(offset: int, constructs: list[_Construct]) -> int:
    """An offset in `_protect`'s output as an offset in the source it protected."""
    shift = 0
    for index, construct in enumerate(constructs):
        start = construct.start - shift
        width = len(f"zqj{construct.kind}{index:06d}q")
        if offset < start:
            break
        if offset < start + width:
            return construct.start
        shift += (construct.end - construct.start) - width
    return offset + shift


def _restore(text: str, constructs: list[_Construct]) -> str:
    return _PLACEHOLDER.sub(lambda m: constructs[int(m.group(2))].text, text)


def _blank_jinja(source: str) -> str:
    """The source with Jinja replaced by spaces, offsets and line breaks kept."""
    pieces: list[str] = []
    last = 0
    for construct in _constructs(source):
        pieces.append(source[last : construct.start])
        pieces.append(re.sub(r"[^\n]", " ", construct.text))
        last = construct.end
    pieces.append(source[last:])
    return "".join(pieces)


_MJ_TAG = re.compile(r"<(/?)(mjml|mj-[a-z-]+)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_MJ_RAW = re.compile(r"(<mj-raw\b[^>]*>)(.*?)(</mj-raw\s*>)", re.S | re.I)


def _mjml_structure_problem(source: str) -> TemplateProblem | None:
    """Where an MJML document's tags stop matching, for an error mjml-python reports without a
    position."""
    text = _blank_jinja(source)
    text = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    text = _MJ_RAW.sub(lambda m: m.group(1) + re.sub(r"[^\n]", " ", m.group(2)) + m.group(3), text)
    if "<mjml" not in text.lower():
        return TemplateProblem("body", "an MJML body starts with <mjml> (or choose HTML)", 1, 1)
    stack: list[tuple[str, int]] = []
    for match in _MJ_TAG.finditer(text):
        closing, name, rest = match.group(1), match.group(2).lower(), match.group(3)
        if not closing:
            if not rest.rstrip().endswith("/"):
                stack.append((name, match.start()))
            continue
        line, column = _position(source, match.start())
        if not stack:
            return TemplateProblem("body", f"</{name}> closes nothing", line, column)
        opened, offset = stack.pop()
        if opened != name:
            opened_line, opened_column = _position(source, offset)
            return TemplateProblem(
                "body",
                f"</{name}> does not close <{opened}> "
                f"(opened at line {opened_line}, column {opened_column})",
                line,
                column,
            )
    if stack:
        name, offset = stack[-1]
        line, column = _position(source, offset)
        return TemplateProblem("body", f"<{name}> is never closed", line, column)
    return None


_ANY_TAG = re.compile(r"<(/?)([a-zA-Z][\w:.-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
# mjml-python recurses per nesting level and overflows the stack (killing the process) some
# thousand levels down; no email needs a tenth of these.
MAX_MJML_DEPTH = 100
MAX_TAG_DEPTH = 500


def _nesting_problem(source: str) -> TemplateProblem | None:
    depth = {"mj": 0, "all": 0}
    for match in _ANY_TAG.finditer(_blank_jinja(source)):
        closing, name, rest = match.group(1), match.group(2).lower(), match.group(3)
        if name in _VOID or rest.rstrip().endswith("/"):
            continue
        step = -1 if closing else 1
        is_mjml = name == "mjml" or name.startswith("mj-")
        for kind in ("mj", "all") if is_mjml else ("all",):
            depth[kind] = max(0, depth[kind] + step)
        if depth["mj"] > MAX_MJML_DEPTH or depth["all"] > MAX_TAG_DEPTH:
            line, column = _position(source, match.start())
            return TemplateProblem("body", "elements are nested too deeply", line, column)
    return None


def compile_body(body_format: str, body: str) -> str:
    """The body as HTML with its Jinja intact: MJML is compiled (TemplateError naming `body` when
    it does not compile), HTML passes through."""
    if body_format == "html":
        return body
    if body_format != "mjml":
        raise TemplateError([TemplateProblem("body_format", "must be mjml or html")])
    from mjml import mjml2html  # a native extension: load it only where MJML is compiled

    too_deep = _nesting_problem(body)
    if too_deep is not None:
        raise TemplateError([too_deep])
    protected, constructs = _protect(body)
    try:
        # No automatic web-font imports: a self-hosted install should not make every open ping
        # a font CDN. <mj-font> still adds fonts explicitly.
        compiled = mjml2html(protected, fonts={})
    except ValueError as exc:
        problem = _mjml_structure_problem(body)
        if problem is None:
            message = str(exc)
            where: tuple[int | None, int | None] = (None, None)
            found = re.search(r" at position (\d+):\d+", message)
            if found:
                message = message[: found.start()] + message[found.end() :]
                where = _position(body, _original_offset(int(found.group(1)), constructs))
            problem = TemplateProblem("body", f"MJML could not be compiled: {message}", *where)
        raise TemplateError([problem]) from exc
    seen = {int(m.group(2)) for m in _PLACEHOLDER.finditer(compiled)}
    for index, construct in enumerate(constructs):
        if construct.kind != "c" and index not in seen:
            line, column = _position(body, construct.start)
            raise TemplateError(
                [
                    TemplateProblem(
                        "body",
                        f"MJML dropped {construct.text[:40]} here: put Jinja that sits between "
                        "MJML elements inside <mj-raw>",
                        line,
                        column,
                    )
                ]
            )
    html = _restore(compiled, constructs)
    try:
        _compiled("html", html)
    except RecursionError as exc:
        raise TemplateError([TemplateProblem("body", TOO_DEEP)]) from exc
    except TemplateSyntaxError as exc:  # MJML moved Jinja apart (it was valid in the source)
        raise TemplateError(
            [
                TemplateProblem(
                    "body",
                    f"the Jinja no longer fits together after MJML compiled it ({exc.message}): "
                    "put Jinja that sits between MJML elements inside <mj-raw>",
                )
            ]
        ) from exc
    return html


# --- Plain text from HTML -------------------------------------------------------------------------

_SKIPPED = frozenset({"head", "style", "script", "title", "template", "noscript"})
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "ul", "ol", "hr", "pre"}
)
_LINE = frozenset(
    {"div", "tr", "br", "li", "section", "article", "header", "footer", "center", "address"}
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.I)
_STATEMENT = re.compile(r"zqjs\d{6}q")
_STATEMENT_SPLIT = re.compile(r"(zqjs\d{6}q)")
_CLOSING_TAGS = frozenset({"else", "elif"}) | {f"end{name}" for name in _BLOCK_TAGS}


class _TextMaker(HTMLParser):
    """Readable plain text from (placeholder-protected) HTML: paragraphs and lines, "- " list
    items, links as "text (url)"; no head, style, script or hidden elements. Jinja statements
    are kept wherever they occur, so the result is a template with the same logic."""

    def __init__(self, constructs: list[_Construct] | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.constructs = constructs or []
        self.out: list[str] = []
        self.breaks = 0
        self.skip: list[str] = []  # tags of the skipped elements we are inside
        self.links: list[tuple[str, int]] = []
        self.lists: list[list[int]] = []  # per open list: [next number] or [] for bullets

    def _break(self, count: int) -> None:
        self.breaks = max(self.breaks, count)

    def _write(self, text: str) -> None:
        if not text:
            return
        if self.breaks and self.out:
            self.out.append("\n" * self.breaks)
        self.breaks = 0
        self.out.append(text)

    def _keep_statements(self, text: str) -> None:
        for statement in _STATEMENT.findall(text):
            self.out.append(statement)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        raw = self.get_starttag_text() or ""
        href = values.get("href") or ""
        self._keep_statements(raw.replace(href, "") if href else raw)
        if self.skip:
            if tag == self.skip[0]:
                self.skip.append(tag)
            return
        if tag in _SKIPPED or _HIDDEN_STYLE.search(values.get("style") or ""):
            if tag not in ("br", "hr", "img", "meta", "link", "input"):
                self.skip.append(tag)
            return
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)
        if tag in ("ul", "ol"):
            self.lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            self._break(1)
            marker = "- "
            if self.lists and self.lists[-1]:
                marker = f"{self.lists[-1][0]}. "
                self.lists[-1][0] += 1
            self._write(marker)
        elif tag == "a":
            self.links.append((href.strip(), len(self.out)))
        elif tag == "img" and self.links and values.get("alt"):
            self._write(_literal(values["alt"] or ""))
        elif tag in ("td", "th"):
            self._write(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr", "img"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag == self.skip[0]:
                self.skip.pop()
            return
        if tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        if tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.out[start:]).strip()
            shown = href.removeprefix("mailto:")
            if href and not href.startswith("#") and shown != label:
                text = _literal(href)
                self._write(f" ({text})" if label else text)
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            self._keep_statements(data)
            return
        for piece in _STATEMENT_SPLIT.split(data):
            if _STATEMENT.fullmatch(piece):
                self._statement(piece)
            elif piece:
                self._text(piece)

    def _statement(self, placeholder: str) -> None:
        # Line breaks owed before an opening tag belong outside it; those owed before a closing
        # tag stay owed, so that a loop body does not end with the break its next item repeats.
        if _tag_name(self.constructs[int(placeholder[4:10])]) not in _CLOSING_TAGS:
            if self.breaks and self.out:
                self.out.append("\n" * self.breaks)
            self.breaks = 0
        self.out.append(placeholder)

    def _text(self, data: str) -> None:
        text = re.sub(r"\s+", " ", data)
        if not text.strip():
            if self.out and not self.breaks and not self.out[-1].endswith((" ", "\n")):
                self.out.append(" ")
            return
        if self.breaks or not self.out or self.out[-1].endswith("\n"):
            text = text.lstrip()
        self._write(_literal(text))

    def handle_comment(self, data: str) -> None:
        self._keep_statements(data)

    def text(self) -> str:
        return "".join(self.out)


def _literal(text: str) -> str:
    """Text from the HTML, safe to put in a Jinja template (placeholders pass)."""
    return text.replace("{", "{{ '{' }}")


_SPACE_BEFORE_BREAK = re.compile(r"[ \t\u00a0]+\n")
_SPACE_AFTER_BREAK = re.compile(r"\n[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


_UNTIDY = re.compile(r"[ \t\u00a0]\n|\n[ \t\u00a0]|\n\n\n")


def _tidy_text(text: str) -> str:
    if _UNTIDY.search(text):
        text = _SPACE_BEFORE_BREAK.sub("\n", text)
        text = _SPACE_AFTER_BREAK.sub("\n", text)
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip() + "\n"


def html_to_text(html: str) -> str:
    """Readable plain text of rendered HTML (no Jinja in it)."""
    maker = _TextMaker()
    maker.feed(html)
    maker.close()
    return _tidy_text(html_lib.unescape(maker.text().replace("{{ '{' }}", "{")))


@dataclass(frozen=True)
class _TextTemplate:
    template: JinjaTemplate
    # Whether its statements ({% if %}, loops) can leave blank lines to tidy in each message;
    # output alone cannot, beyond what values bring (left as they are).
    tidy: bool

    def render(self, context: Mapping[str, Any]) -> str:
        text = self.template.render(context)
        return _tidy_text(text) if self.tidy else text.strip() + "\n"


@lru_cache(maxsize=256)
def _text_template(html: str) -> _TextTemplate | None:
    """The plain-text part of a Jinja-in-HTML template, as a template of its own, or None when
    its Jinja cannot be separated from the HTML (then each rendered message is converted)."""
    protected, constructs = _protect(html)
    maker = _TextMaker(constructs)
    maker.feed(protected)
    maker.close()
    text = _tidy_text(maker.text())
    source = _restore(text, constructs)
    try:
        template = _compiled("text", source)
    except (TemplateSyntaxError, RecursionError):
        return None
    return _TextTemplate(template, tidy=_STATEMENT.search(text) is not None)


# --- Context --------------------------------------------------------------------------------------


def profile_context(profile: Profile | None) -> dict[str, Any]:
    """A profile as templates see it: the fields in PROFILE_FIELDS that are set, and its custom
    properties twice, as `profile.properties.<name>` and as `profile.<name>` unless a field
    has that name (then only the first way reaches the property)."""
    if profile is None:
        return {}
    properties = dict(profile.properties or {})
    view: dict[str, Any] = {
        name: value for name, value in properties.items() if name not in PROFILE_FIELDS
    }
    for name in PROFILE_FIELDS:
        value = properties if name == "properties" else getattr(profile, name, None)
        if name == "id" and value is not None:
            value = str(value)
        if value is not None:
            view[name] = value
        else:
            view.pop(name, None)
    return view


def build_context(
    *,
    profile: Profile | None,
    organization: Organization,
    settings: EmailSettings | None,
    data: Mapping[str, Any] | None = None,
    event: Mapping[str, Any] | None = None,
    unsubscribe_url: str = "",
    preferences_url: str = "",
) -> dict[str, Any]:
    """Everything a template can use. `data` is what the sender passed (a transactional send's
    data, a campaign's extra fields); `event` is the event that triggered a flow."""
    return {
        "profile": profile_context(profile),
        "organization": {
            "name": organization.name,
            "postal_address": (settings.postal_address if settings else None) or "",
            "timezone": organization.timezone,
        },
        "data": dict(data or {}),
        "event": dict(event or {}),
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
    }


# --- Rendering ------------------------------------------------------------------------------------

_LINE_BREAKS = re.compile(r"[\r\n\v\f\x00\x85\u2028\u2029]+")
_BODY_TAG = re.compile(r"<body\b[^>]*>", re.I)
_PREHEADER_STYLE = (
    "display:none !important;visibility:hidden;mso-hide:all;font-size:1px;line-height:1px;"
    "max-height:0;max-width:0;opacity:0;overflow:hidden;color:transparent"
)
# Keeps the start of the body text out of the inbox preview after a short preheader.
_PREHEADER_PADDING = "&#847;&zwnj;&nbsp;" * 40


def _single_line(text: str) -> str:
    """Header-safe text: line breaks (and NUL) become spaces, so nobody can inject headers."""
    return " ".join(_LINE_BREAKS.sub(" ", text).split())


def _error_line(exc: BaseException) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def _render(kind: str, source: str, context: Mapping[str, Any], field: str) -> str:
    try:
        template = _compiled(kind, source)
    except TemplateSyntaxError as exc:
        raise TemplateError([_syntax_problem(field, source, exc)]) from exc
    except RecursionError as exc:
        raise TemplateError([TemplateProblem(field, TOO_DEEP)]) from exc
    try:
        return template.render(context)
    except Exception as exc:  # anything a template does wrong is the template's error
        reason = str(exc) if isinstance(exc, SecurityError) else f"{type(exc).__name__}: {exc}"
        raise TemplateError([TemplateProblem(field, reason, _error_line(exc))]) from exc


def render_text(source: str, context: Mapping[str, Any], field: str) -> str:
    """A text template (no escaping), such as a webhook step's body, in the same sandbox as
    email; TemplateError names `field` when it goes wrong."""
    return _render("text", source, context, field)


def _insert_preheader(html: str, preheader: str) -> str:
    span = (
        f'<span style="{_PREHEADER_STYLE}" aria-hidden="true">{escape(preheader)}'
        f"{_PREHEADER_PADDING}</span>"
    )
    index = html.find("<body")
    if index < 0:
        index = html.lower().find("<body")
    if index >= 0:
        match = _BODY_TAG.match(html, index)
        if match:
            return html[: match.end()] + span + html[match.end() :]
    return span + html


def render_email(parts: TemplateParts, context: Mapping[str, Any]) -> RenderedEmail:
    """One personalized message. The subject and preheader are single lines of text; the HTML
    is autoescaped, with the preheader as hidden preview text at the start of its body; the text
    part is rendered without escaping or, when the template has none, made from the HTML."""
    subject = _single_line(_render("text", parts.subject, context, "subject"))
    preheader: str | None = None
    if parts.preheader:
        preheader = _single_line(_render("text", parts.preheader, context, "preheader")) or None
    html = _render("html", parts.html, context, "body")
    if parts.text is not None:
        text = _render("text", parts.text, context, "text_body")
    else:
        text_template = _text_template(parts.html)
        if text_template is None:
            text = html_to_text(html)
        else:
            try:
                text = text_template.render(context)
            except Exception as exc:
                raise TemplateError(
                    [TemplateProblem("body", f"{type(exc).__name__}: {exc}", _error_line(exc))]
                ) from exc
    if preheader:
        html = _insert_preheader(html, preheader)
    return RenderedEmail(subject=subject, preheader=preheader, html=html, text=text)


def parts_of(template: EmailTemplate) -> TemplateParts:
    return TemplateParts(
        subject=template.subject,
        preheader=template.preheader,
        html=template.compiled_html,
        text=template.text_body,
    )


def sample_context(organization: Organization, settings: EmailSettings | None) -> dict[str, Any]:
    """A context for previews without a profile: the organization's own fields and `data`
    left to the caller."""
    return build_context(
        profile=None,
        organization=organization,
        settings=settings,
        unsubscribe_url="#unsubscribe",
        preferences_url="#preferences",
    )
