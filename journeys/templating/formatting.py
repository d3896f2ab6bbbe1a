"""Numbers, money and dates in the customer's locale and time zone (babel), as Jinja2 filters.

    {{ order.total | money("EUR") }}     19,50 € for fr, €19.50 for en
    {{ n | number }}  {{ rate | percent }}
    {{ order.placed_at | date("medium") }}  {{ when | datetime("short") }}  {{ when | time }}

The locale is the customer's (``customer.locale``, or the ``locale=`` given to the
renderer), else the template's default language; the zone is ``customer.timezone`` (IANA),
else UTC. Values usually arrive as JSON, so strings are read too: "19.50" as a decimal
(never a float: 0.1 + 0.2 is not money), "2024-06-03T10:00:00Z" as a moment, "2024-06-03"
as a calendar date (no zone to convert). A naive moment is UTC, as everywhere in Journeys.

Missing values (and JSON null) render empty, or fail in a strict template like any
missing variable; a value that is not a number or a date fails the render, naming it:
sending "€NaN" is worse than not sending, so "NaN" and "Infinity" are refused too.
``date`` with a pattern that asks for a time or a zone ("d MMM, HH:mm") formats the moment
on the customer's clock, as ``datetime`` would; given a day without a time, it fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from jinja2 import Undefined, pass_context
from jinja2.runtime import Context

from journeys.templating.variants import fallback_chain

# Where a render keeps its locale and zone in the Jinja2 context: not a Python name, so no
# template can read or shadow it.
STATE_KEY = "journeys.render"


@dataclass(frozen=True)
class RenderState:
    locale: Locale  # babel's, for the filters
    zone: tzinfo
    chain: tuple[str, ...]  # the variant's fallback chain, for localized() partials


@lru_cache(maxsize=512)
def babel_locale(tag: str | None, default: str = "en") -> Locale:
    """The first locale babel knows along ``tag``'s fallback chain, else ``default``'s, else
    English. Cached: parsing a locale and loading its data costs more than a whole render."""
    for candidate in (*fallback_chain(tag), *fallback_chain(default), "en"):
        try:
            return Locale.parse(candidate, sep="-")
        except (UnknownLocaleError, ValueError):
            continue
    raise AssertionError("babel always knows en")


def known_locale(tag: str) -> bool:
    """Whether babel has data for this tag itself (not only for a fallback)."""
    try:
        Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError):
        return False
    return True


@lru_cache(maxsize=512)
def zone(name: object) -> tzinfo:
    """The customer's IANA zone; UTC when they have none (intake refuses names that are not zones)."""
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        # Not a zone: unknown, a folder of them ("Europe": IsADirectoryError), a name too
        # long for a file name (OSError), a path that leaves the zone database (ValueError).
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    return timezone.utc


def _state(context: Context) -> RenderState:
    state = context.get(STATE_KEY)
    if isinstance(state, RenderState):
        return state
    # Rendered without the renderer's state (a bare part): English, UTC.
    return RenderState(babel_locale(None), timezone.utc, ())


def _missing(value: Any) -> bool:
    """Missing renders empty; in a strict template, touching the Undefined raises, naming it."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises here; the lenient kinds give ""
        return True
    return value is None


# Beyond this many digits left of the point no amount is real: babel would write them all
# out (1e999999999 is a billion digits), or fail to round past decimal's 28 digits.
_MAX_DIGITS = 24


def _decimal(value: Any, filter_name: str) -> Decimal:
    if isinstance(value, bool):  # True is an int to Python, never an amount
        raise ValueError(f"{filter_name}: {value!r} is not a number")
    try:
        if isinstance(value, float):
            number = Decimal(repr(value))  # 9.5 -> Decimal("9.5"), not its binary expansion
        else:
            number = Decimal(value) if isinstance(value, (int, Decimal)) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise ValueError(f"{filter_name}: {value!r} is not a number") from None
    if not number.is_finite():  # "NaN", "Infinity": JSON strings the API lets through
        raise ValueError(f"{filter_name}: {value!r} is not a finite number")
    if number.adjusted() >= _MAX_DIGITS:
        raise ValueError(f"{filter_name}: {value!r} is too large to be a number to show")
    return number


def _formatted(filter_name: str, format_number: Callable[[], str]) -> str:
    """babel's answer; its errors (a pattern it cannot read, a decimal it cannot round) name the filter."""
    try:
        return format_number()
    except (ArithmeticError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{filter_name}: cannot format it: {type(exc).__name__}: {exc}") from exc


def _moment(value: Any, filter_name: str) -> date | datetime:
    if isinstance(value, (date, datetime)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:  # 2024-06-03: a calendar day, not a moment
                return date.fromisoformat(text)
            return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
    raise ValueError(f"{filter_name}: {value!r} is not a date (ISO 8601, e.g. 2024-06-03 or 2024-06-03T10:00:00Z)")


def _local(moment: datetime, state: RenderState) -> datetime:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(state.zone)


@pass_context
def money(context: Context, value: Any, currency: Any = "USD", format: str | None = None) -> str:
    """``{{ 19.5 | money("EUR") }}``: the amount in the customer's locale (€19.50, 19,50 €)."""
    if _missing(value) or _missing(currency):  # an amount in no known currency says nothing
        return ""
    if not isinstance(currency, str):
        raise ValueError(f"money: currency must be an ISO 4217 code such as \"EUR\", got {currency!r}")
    amount = _decimal(value, "money")
    locale = _state(context).locale
    return _formatted("money", lambda: babel_numbers.format_currency(amount, currency.upper(), format=format, locale=locale))


@pass_context
def number(context: Context, value: Any, format: str | None = None) -> str:
    """``{{ 1234.5 | number }}``: 1,234.5 (en), 1 234,5 (fr)."""
    if _missing(value):
        return ""
    amount, locale = _decimal(value, "number"), _state(context).locale
    return _formatted("number", lambda: babel_numbers.format_decimal(amount, format=format, locale=locale))


@pass_context
def percent(context: Context, value: Any, format: str | None = None) -> str:
    """``{{ 0.25 | percent }}``: 25%, 25 % (fr)."""
    if _missing(value):
        return ""
    amount, locale = _decimal(value, "percent"), _state(context).locale
    return _formatted("percent", lambda: babel_numbers.format_percent(amount, format=format, locale=locale))


@pass_context
def date_filter(context: Context, value: Any, format: str = "medium") -> str:
    """``{{ order.placed_at | date("long") }}``: the day on the customer's calendar.
    ``format``: short, medium, long, full, or a CLDR pattern ("d MMMM")."""
    if _missing(value):
        return ""
    state = _state(context)
    moment = _moment(value, "date")
    if _has_time_fields(format):
        # "d MMM, HH:mm": a moment, on the customer's clock (babel's format_date would
        # look for the hour on a day and fail).
        if not isinstance(moment, datetime):
            raise ValueError(f"date: the pattern {format!r} shows a time or a zone, and {value!r} is a day without a time")
        return babel_dates.format_datetime(_local(moment, state), format=format, tzinfo=state.zone, locale=state.locale)
    day = _local(moment, state).date() if isinstance(moment, datetime) else moment
    return babel_dates.format_date(day, format=format, locale=state.locale)


# CLDR pattern letters of the time of day and of the zone (a, h, H, m, s, z, ...).
_TIME_FIELDS = frozenset("aBbhHkKmsSAzZOvVxX")
_FIELD = re.compile(r"%\((\w+)\)s")


@lru_cache(maxsize=256)
def _has_time_fields(format: str) -> bool:
    """Whether a CLDR date pattern (not short/medium/long/full) shows a time or a zone."""
    if format in ("short", "medium", "long", "full"):
        return False
    try:
        pattern = str(babel_dates.parse_pattern(format).format)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"date: {format!r} is not a date pattern ({exc})") from exc
    return any(field[0] in _TIME_FIELDS for field in _FIELD.findall(pattern))


@pass_context
def datetime_filter(context: Context, value: Any, format: str = "medium") -> str:
    """``{{ when | datetime("short") }}``: date and time on the customer's clock."""
    if _missing(value):
        return ""
    state = _state(context)
    moment = _moment(value, "datetime")
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(), tzinfo=state.zone)
    return babel_dates.format_datetime(_local(moment, state), format=format, tzinfo=state.zone, locale=state.locale)


@pass_context
def time_filter(context: Context, value: Any, format: str = "short") -> str:
    """``{{ when | time }}``: the time on the customer's clock (9:30 AM, 09:30)."""
    if _missing(value):
        return ""
    state = _state(context)
    moment = _moment(value, "time")
    if not isinstance(moment, datetime):
        raise ValueError(f"time: {value!r} is a day without a time")
    return babel_dates.format_time(_local(moment, state), format=format, tzinfo=state.zone, locale=state.locale)


@pass_context
def localized(context: Context, path: str) -> list[str]:
    """``{% include localized("_partials/footer.html") %}``: the partial in the email's
    language (``_partials/footer.fr.html``) if there is one, else the default. Jinja2's
    include takes the first of the list that exists."""
    stem, dot, ext = path.rpartition(".")
    if not dot:
        return [path]
    return [f"{stem}.{tag}.{ext}" for tag in _state(context).chain] + [path]


FILTERS = {"money": money, "number": number, "percent": percent, "date": date_filter,
           "datetime": datetime_filter, "time": time_filter}
GLOBALS = {"localized": localized}
