"""Dates, numbers and money written the current locale's way (Babel's CLDR data), and times
shown in the current user's time zone.

Each function takes ``locale=`` to write in another locale than the request's. Naive
datetimes are taken as UTC, the way they are stored.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Literal

from babel import dates, numbers

from bastion.i18n._context import UTC, get_locale, get_timezone

Number = int | float | Decimal
Width = Literal["full", "long", "medium", "short"]


def to_user_timezone(value: datetime) -> datetime:
    """``value`` in the user's time zone (a naive ``value`` is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(get_timezone())


def format_date(
    value: date | None = None, format: Width | str = "medium", *, locale: str | None = None
) -> str:
    """``format_date(date(2024, 3, 1))`` → "Mar 1, 2024" (en), "1 mars 2024" (fr).
    A datetime is first moved to the user's time zone, so its day is theirs."""
    if isinstance(value, datetime):
        value = to_user_timezone(value)
    return dates.format_date(value, format, locale=locale or get_locale())


def format_time(
    value: time | datetime | None = None,
    format: Width | str = "medium",
    *,
    tzinfo: tzinfo | None = None,
    locale: str | None = None,
) -> str:
    """A time of day; a datetime is shown in the user's (or ``tzinfo``'s) time zone."""
    if isinstance(value, datetime):
        return dates.format_time(
            value if value.tzinfo else value.replace(tzinfo=UTC),
            format,
            tzinfo=tzinfo or get_timezone(),
            locale=locale or get_locale(),
        )
    return dates.format_time(value, format, locale=locale or get_locale())


def format_datetime(
    value: datetime | None = None,
    format: Width | str = "medium",
    *,
    tzinfo: tzinfo | None = None,
    locale: str | None = None,
) -> str:
    """A date and time in the user's (or ``tzinfo``'s) time zone:
    "Mar 1, 2024, 10:30:00 AM" (en), "1 mars 2024, 10:30:00" (fr)."""
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return dates.format_datetime(
        value, format, tzinfo=tzinfo or get_timezone(), locale=locale or get_locale()
    )


def format_timedelta(
    delta: timedelta | int,
    *,
    granularity: Literal["year", "month", "week", "day", "hour", "minute", "second"] = "second",
    add_direction: bool = False,
    format: Literal["narrow", "short", "long"] = "long",
    locale: str | None = None,
) -> str:
    """A duration in words: "3 hours" (en), "3 heures" (fr); ``add_direction`` gives
    "in 3 hours" / "3 hours ago"."""
    return dates.format_timedelta(
        delta,
        granularity=granularity,
        add_direction=add_direction,
        format=format,
        locale=locale or get_locale(),
    )


def format_number(value: Number, *, locale: str | None = None) -> str:
    """``1234567.5`` → "1,234,567.5" (en), "1 234 567,5" (fr), "1.234.567,5" (de)."""
    return numbers.format_decimal(value, locale=locale or get_locale())


def format_decimal(value: Number, format: str | None = None, *, locale: str | None = None) -> str:
    """A number with a CLDR pattern (``"#,##0.00"``) or the locale's own."""
    return numbers.format_decimal(value, format, locale=locale or get_locale())


def format_percent(value: Number, format: str | None = None, *, locale: str | None = None) -> str:
    """``0.25`` → "25%" (en), "25 %" (fr)."""
    return numbers.format_percent(value, format, locale=locale or get_locale())


def format_currency(
    value: Number, currency: str, format: str | None = None, *, locale: str | None = None
) -> str:
    """``format_currency(1234.5, "EUR")`` → "€1,234.50" (en), "1 234,50 €" (fr)."""
    return numbers.format_currency(value, currency, format, locale=locale or get_locale())


__all__ = [
    "format_currency",
    "format_date",
    "format_datetime",
    "format_decimal",
    "format_number",
    "format_percent",
    "format_time",
    "format_timedelta",
    "to_user_timezone",
]
