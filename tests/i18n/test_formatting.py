"""Dates, numbers and money per locale; times per user's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bastion.i18n import (
    format_currency,
    format_date,
    format_datetime,
    format_decimal,
    format_number,
    format_percent,
    format_time,
    format_timedelta,
    get_timezone,
    to_user_timezone,
    use_locale,
)
from bastion.testing import TestClient
from tests.i18n._apps import app_with

NOON_UTC = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("locale", "number", "money", "percent", "day"),
    [
        ("en", "1,234,567.5", "€1,234.50", "25%", "Mar 1, 2024"),
        ("fr", "1\u202f234\u202f567,5", "1\u202f234,50\xa0€", "25\xa0%", "1 mars 2024"),
        ("de", "1.234.567,5", "1.234,50\xa0€", "25\xa0%", "01.03.2024"),
    ],
)
def test_numbers_money_and_dates_follow_the_locale(locale, number, money, percent, day):
    with use_locale(locale):
        assert format_number(1234567.5) == number
        assert format_currency(Decimal("1234.5"), "EUR") == money
        assert format_percent(0.25) == percent
        assert format_date(date(2024, 3, 1)) == day


def test_an_explicit_locale_wins():
    with use_locale("fr"):
        assert format_number(1234.5, locale="en") == "1,234.5"
        assert format_decimal(3.14159, "#.##", locale="de") == "3,14"


def test_durations_in_words():
    with use_locale("de"):
        assert format_timedelta(timedelta(hours=3)) == "3 Stunden"
        assert format_timedelta(timedelta(hours=-3), add_direction=True) == "vor 3 Stunden"


def test_times_are_shown_in_the_users_time_zone():
    with use_locale("en", timezone="America/New_York"):
        assert get_timezone() == ZoneInfo("America/New_York")
        assert to_user_timezone(NOON_UTC).hour == 7
        assert to_user_timezone(datetime(2024, 3, 1, 12, 0)).hour == 7  # naive means UTC
        assert format_datetime(NOON_UTC, "short") == "3/1/24, 7:00\u202fAM"
        assert format_time(NOON_UTC, "short") == "7:00\u202fAM"
        assert format_time(time(9, 30), "short") == "9:30\u202fAM"  # a bare time is not moved
    with use_locale("de", timezone="Asia/Tokyo"):
        assert format_datetime(NOON_UTC, "short") == "01.03.24, 21:00"
        # the day is the user's: late on 1 March in UTC is already 2 March in Tokyo
        assert format_date(datetime(2024, 3, 1, 23, 0, tzinfo=UTC)) == "02.03.2024"


def test_outside_any_request_the_time_zone_is_utc():
    assert get_timezone() == ZoneInfo("UTC")
    assert format_datetime(NOON_UTC, "short", locale="en") == "3/1/24, 12:00\u202fPM"


def test_the_time_zone_comes_from_the_hook_then_the_cookie_then_the_settings():
    app = app_with(user_timezone=lambda request: request.headers.get("x-tz"))

    @app.get("/tz")
    async def tz() -> str:
        return str(get_timezone())

    with TestClient(app) as client:
        assert client.get("/tz").text == "UTC"
        assert client.get("/tz", headers={"cookie": "timezone=Europe/Berlin"}).text == (
            "Europe/Berlin"
        )
        both = {"x-tz": "Asia/Tokyo", "cookie": "timezone=Europe/Berlin"}
        assert client.get("/tz", headers=both).text == "Asia/Tokyo"
        # a zone that does not exist, or a path trick, is ignored rather than an error
        for bad in ("Mars/Olympus", "../../etc/passwd", "x" * 500, ""):
            assert client.get("/tz", headers={"x-tz": bad}).text == "UTC"


def test_the_default_time_zone_is_a_setting():
    from bastion import App, Settings
    from bastion.i18n import I18nPlugin

    app = App(
        settings=Settings(profile="test", default_timezone="Europe/Paris"), plugins=[I18nPlugin()]
    )

    @app.get("/tz")
    async def tz() -> str:
        return str(get_timezone())

    with TestClient(app) as client:
        assert client.get("/tz").text == "Europe/Paris"


def test_use_locale_keeps_the_users_time_zone_unless_given_one():
    with use_locale("fr", timezone="Asia/Tokyo"), use_locale("de"):
        assert get_timezone() == ZoneInfo("Asia/Tokyo")
    with pytest.raises(ValueError, match="'Mars/Olympus' is not a time zone"):
        with use_locale("fr", timezone="Mars/Olympus"):
            pass
