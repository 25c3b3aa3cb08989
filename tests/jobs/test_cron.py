"""Cron schedules (bastion/jobs/cron.py): parsing, seconds, time zones and DST, bad input.

The scheduler itself is tested in test_cron_scheduler.py; two processes on real backends in
test_cron_processes.py.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bastion.exceptions import ConfigurationError
from bastion.jobs.cron import Cron

PARIS = ZoneInfo("Europe/Paris")


def epoch(*fields: int, tz: ZoneInfo | None = None, fold: int = 0) -> float:
    return datetime(*fields, tzinfo=tz or UTC, fold=fold).timestamp()  # type: ignore[misc]


def local(tick: float, tz: ZoneInfo = PARIS) -> str:
    return datetime.fromtimestamp(tick, tz).isoformat()


def utc(tick: float) -> str:
    return datetime.fromtimestamp(tick, UTC).strftime("%Y-%m-%d %H:%M:%S")


# -- expressions ---------------------------------------------------------------------------


def test_five_fields_are_minute_hour_day_month_weekday() -> None:
    cron = Cron("app.report", "*/15 9 * * mon")
    ticks = cron.ticks(epoch(2024, 1, 1), epoch(2024, 1, 9))  # 2024-01-01 is a Monday
    assert [utc(t) for t in ticks] == [
        "2024-01-01 09:00:00",
        "2024-01-01 09:15:00",
        "2024-01-01 09:30:00",
        "2024-01-01 09:45:00",
        "2024-01-08 09:00:00",
        "2024-01-08 09:15:00",
        "2024-01-08 09:30:00",
        "2024-01-08 09:45:00",
    ]


def test_six_fields_put_seconds_first_like_quartz() -> None:
    every_ten_seconds = Cron("app.poll", "*/10 * * * * *")
    start = epoch(2024, 1, 1, 12, 0, 3)
    assert [t - start for t in every_ten_seconds.ticks(start, start + 40)] == [7, 17, 27, 37]
    # seconds first: "0 */2 * * * *" is second 0 of every second minute, not every second
    # of every other minute (croniter's default puts seconds last)
    two_minutes = Cron("app.poll", "0 */2 * * * *")
    assert [utc(t) for t in two_minutes.ticks(start, start + 400)] == [
        "2024-01-01 12:02:00",
        "2024-01-01 12:04:00",
        "2024-01-01 12:06:00",
    ]


def test_every_second() -> None:
    cron = Cron("app.tick", "* * * * * *")
    start = epoch(2024, 1, 1)
    assert cron.ticks(start, start + 60) == [start + n for n in range(1, 61)]


@pytest.mark.parametrize(
    ("alias", "first"),
    [
        ("@hourly", "2024-01-03 11:00:00"),
        ("@daily", "2024-01-04 00:00:00"),
        ("@midnight", "2024-01-04 00:00:00"),
        ("@weekly", "2024-01-07 00:00:00"),
        ("@monthly", "2024-02-01 00:00:00"),
        ("@yearly", "2025-01-01 00:00:00"),
        ("@annually", "2025-01-01 00:00:00"),
    ],
)
def test_aliases(alias: str, first: str) -> None:
    assert utc(Cron("app.job", alias).next_after(epoch(2024, 1, 3, 10, 30))) == first


def test_h_hashed_values_are_refused_with_a_reason() -> None:
    with pytest.raises(ConfigurationError, match="H, a hashed value, is not supported"):
        Cron("app.prune", "H * * * *")


def test_whitespace_is_normalised() -> None:
    assert Cron("app.job", "  */5   *  * * * ").expression == "*/5 * * * *"


def test_next_after_is_strict_and_last_at_or_before_is_inclusive() -> None:
    cron = Cron("app.tick", "*/10 * * * * *")
    t = epoch(2024, 1, 1, 0, 0, 10)
    assert cron.next_after(t) == t + 10
    assert cron.next_after(t - 0.000001) == t
    assert cron.next_after(t - 0.5) == t
    assert cron.last_at_or_before(t) == t
    assert cron.last_at_or_before(t + 0.999) == t
    assert cron.last_at_or_before(t - 0.001) == t - 10
    assert cron.ticks(t, t + 20) == [t + 10, t + 20]  # (after, until]


def test_a_schedule_with_a_year_ends() -> None:
    cron = Cron("app.new_year", "0 0 0 1 1 * 2040")
    assert utc(cron.next_after(epoch(2024, 1, 1))) == "2040-01-01 00:00:00"
    assert cron.next_after(epoch(2040, 1, 1)) == math.inf
    assert cron.last_at_or_before(epoch(2039, 1, 1)) is None
    assert cron.ticks(epoch(2040, 1, 1), epoch(2080, 1, 1)) == []


def test_record_is_the_ticks_job_with_its_unique_key() -> None:
    cron = Cron(
        "app.prune",
        "*/10 * * * * *",
        name="prune-often",
        queue="low",
        args=b'{"days":7}',
        priority=3,
        max_attempts=2,
        timeout=5.0,
        tags=("cron",),
        catch_up=30,
    )
    tick = epoch(2024, 1, 1, 0, 0, 10)
    record = cron.record(tick)
    assert record.name == "app.prune"
    assert record.unique_key == f"cron:prune-often:{int(tick)}"
    assert record.run_at == tick
    assert record.unique_until is not None and record.unique_until >= tick + 30
    assert (record.queue, record.args, record.priority) == ("low", b'{"days":7}', 3)
    assert (record.max_attempts, record.timeout, record.tags) == (2, 5.0, ("cron",))
    assert cron.record(tick).id != record.id


def test_name_defaults_to_the_job() -> None:
    assert Cron("app.prune", "@daily").name == "app.prune"


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "   ",
        "* * * *",
        "* * * * * * * *",
        "61 * * * *",
        "60 * * * * *",
        "*/0 * * * *",
        "a b c d e",
        "* * * * funday",
        "@reboot",
        "@fortnightly",
        "0 0 1 13 *",
    ],
)
def test_a_bad_expression_is_a_configuration_error_that_says_what_to_write(
    expression: str,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Cron("app.report", expression)
    message = str(caught.value)
    assert "cron schedule 'app.report'" in message
    assert "write 5 fields (minute hour day month weekday" in message
    assert "6 with seconds first" in message


@pytest.mark.parametrize("expression", ["0 0 31 2 *", "0 0 0 30 2 *", "0 0 0 1 1 * 2020"])
def test_an_expression_that_never_fires_is_a_configuration_error(expression: str) -> None:
    with pytest.raises(ConfigurationError, match="never matches a date from now on"):
        Cron("app.report", expression)


def test_an_unknown_time_zone_is_a_configuration_error_with_a_suggestion() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Cron("app.report", "0 7 * * *", tz="Europe/Pari")
    message = str(caught.value)
    assert "unknown time zone 'Europe/Pari'" in message
    assert "did you mean 'Europe/Paris'?" in message
    assert "IANA name" in message


@pytest.mark.parametrize("tz", ["", "../etc/passwd", "Not/AZone", "europe/paris "])
def test_malformed_time_zones_are_configuration_errors(tz: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown time zone"):
        Cron("app.report", "0 7 * * *", tz=tz)


def test_a_time_zone_that_is_not_a_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="IANA time zone name"):
        Cron("app.report", "0 7 * * *", tz=2)  # type: ignore[arg-type]


def test_negative_catch_up_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="catch_up"):
        Cron("app.report", "0 7 * * *", catch_up=-1)


# -- time zones and DST --------------------------------------------------------------------


def test_no_time_zone_means_utc() -> None:
    cron = Cron("app.report", "0 7 * * *")
    assert cron.next_after(epoch(2024, 6, 1)) == epoch(2024, 6, 1, 7)


def test_a_time_zone_reads_the_fields_in_local_time() -> None:
    cron = Cron("app.report", "0 7 * * *", tz="Europe/Paris")
    assert local(cron.next_after(epoch(2024, 1, 10))) == "2024-01-10T07:00:00+01:00"  # CET
    assert local(cron.next_after(epoch(2024, 7, 10))) == "2024-07-10T07:00:00+02:00"  # CEST
    assert cron.next_after(epoch(2024, 7, 10)) == epoch(2024, 7, 10, 5)  # 05:00 UTC


def test_tz_accepts_a_tzinfo() -> None:
    cron = Cron("app.report", "0 7 * * *", tz=ZoneInfo("Asia/Tokyo"))
    assert cron.next_after(epoch(2024, 1, 10)) == epoch(2024, 1, 10, 22)


def test_spring_forward_a_skipped_time_fires_once_at_the_end_of_the_gap() -> None:
    # Paris, 2024-03-31: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day;
    # croniter moves the tick to the first instant after the gap, and it fires once.
    cron = Cron("app.report", "30 2 * * *", tz="Europe/Paris")
    ticks = cron.ticks(epoch(2024, 3, 30, 12, tz=PARIS), epoch(2024, 4, 1, 12, tz=PARIS))
    assert [local(t) for t in ticks] == [
        "2024-03-31T03:00:00+02:00",
        "2024-04-01T02:30:00+02:00",
    ]


def test_spring_forward_two_skipped_times_fire_once_together() -> None:
    cron = Cron("app.report", "15,45 2 * * *", tz="Europe/Paris")
    ticks = cron.ticks(epoch(2024, 3, 31, tz=PARIS), epoch(2024, 4, 1, 12, tz=PARIS))
    assert [local(t) for t in ticks] == [
        "2024-03-31T03:00:00+02:00",
        "2024-04-01T02:15:00+02:00",
        "2024-04-01T02:45:00+02:00",
    ]


def test_fall_back_a_repeated_time_fires_at_both_instants() -> None:
    # Paris, 2024-10-27: 03:00 CEST goes back to 02:00 CET, so 02:30 happens twice, an hour
    # apart; they are two instants, and each fires (as croniter and Quartz document).
    cron = Cron("app.report", "30 2 * * *", tz="Europe/Paris")
    ticks = cron.ticks(epoch(2024, 10, 26, 12, tz=PARIS), epoch(2024, 10, 28, 12, tz=PARIS))
    assert [local(t) for t in ticks] == [
        "2024-10-27T02:30:00+02:00",
        "2024-10-27T02:30:00+01:00",
        "2024-10-28T02:30:00+01:00",
    ]
    assert ticks[1] - ticks[0] == 3600
    assert len({cron.record(t).unique_key for t in ticks}) == 3


def test_hourly_and_seconds_schedules_keep_real_time_spacing_across_dst() -> None:
    hourly = Cron("app.hourly", "0 * * * *", tz="Europe/Paris")
    every_5s = Cron("app.often", "*/5 * * * * *", tz="Europe/Paris")
    for day in (epoch(2024, 3, 31, tz=PARIS), epoch(2024, 10, 27, tz=PARIS)):
        ticks = hourly.ticks(day, day + 6 * 3600)
        assert {b - a for a, b in zip(ticks, ticks[1:], strict=False)} == {3600}
        ticks = every_5s.ticks(day + 3000, day + 4 * 3600)
        assert {b - a for a, b in zip(ticks, ticks[1:], strict=False)} == {5}
    # the seconds around each change, in local time
    spring = every_5s.ticks(epoch(2024, 3, 31, 1, 59, 50, tz=PARIS), epoch(2024, 3, 31, 1, 0, 5))
    assert [local(t)[11:] for t in spring] == [
        "01:59:55+01:00",
        "03:00:00+02:00",
        "03:00:05+02:00",
    ]
    fall_start = epoch(2024, 10, 27, 2, 59, 50, tz=PARIS)  # the first 02:59:50, CEST
    fall = every_5s.ticks(fall_start, fall_start + 15)
    assert [local(t)[11:] for t in fall] == [
        "02:59:55+02:00",
        "02:00:00+01:00",
        "02:00:05+01:00",
    ]


def test_last_at_or_before_across_the_fall_back() -> None:
    cron = Cron("app.report", "30 2 * * *", tz="Europe/Paris")
    second = epoch(2024, 10, 27, 2, 30, tz=PARIS, fold=1)
    assert local(cron.last_at_or_before(second + 60) or 0) == "2024-10-27T02:30:00+01:00"
    assert local(cron.last_at_or_before(second - 60) or 0) == "2024-10-27T02:30:00+02:00"
