"""The Jinja sandbox templates run in: lenient undefined names, limits on operators that can
allocate a lot from a little template text, Herald's filters (dates, currencies, text), the HTML
(autoescaped) and text environments, and the cache of compiled templates by source.

User-written templates never reach Python internals: they run in Jinja's immutable sandbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import ChainableUndefined, nodes, pass_context
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import SecurityError
from jinja2.filters import do_capitalize, do_lower, do_title, do_upper
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

TOO_DEEP = "expressions are nested too deeply"
# Sandbox limits on operators that can allocate a lot from a little template text.
MAX_REPEAT_LENGTH = 100_000
MAX_EXPONENT = 100


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
