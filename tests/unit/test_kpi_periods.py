"""Report periods: months and quarters on the calendar of a time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.kpi.periods import Period, PeriodError, parse_period, zone

SHANGHAI = zone("Asia/Shanghai")


@pytest.mark.parametrize(
    ("text", "label", "first", "days"),
    [
        ("2026-10", "2026-10", "2026-10-01", 31),
        ("2026-02", "2026-02", "2026-02-01", 28),
        ("2028-02", "2028-02", "2028-02-01", 29),
        ("2026-Q4", "2026-Q4", "2026-10-01", 92),
        ("2026-q1", "2026-Q1", "2026-01-01", 90),
        (" 2026-Q2 ", "2026-Q2", "2026-04-01", 91),
    ],
)
def test_periods_parse_to_their_calendar_days(text: str, label: str, first: str, days: int) -> None:
    period = parse_period(text)
    assert period.label == label == str(period)
    assert period.first_day.isoformat() == first
    assert period.days == days


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-Q5", "2026-10-01", "Oct 2026", "26-10", ""])
def test_anything_else_is_refused_with_the_expected_forms(text: str) -> None:
    with pytest.raises(PeriodError, match="2026-Q4"):
        parse_period(text)


@pytest.mark.parametrize(
    ("text", "previous", "following"),
    [
        ("2026-10", "2026-09", "2026-11"),
        ("2026-01", "2025-12", "2026-02"),
        ("2026-12", "2026-11", "2027-01"),
        ("2026-Q1", "2025-Q4", "2026-Q2"),
        ("2026-Q4", "2026-Q3", "2027-Q1"),
    ],
)
def test_previous_and_next_cross_year_ends(text: str, previous: str, following: str) -> None:
    period = parse_period(text)
    assert period.previous().label == previous
    assert period.next().label == following


def test_bounds_are_local_midnights_of_the_zone() -> None:
    october = parse_period("2026-10")
    assert october.start(SHANGHAI) == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    assert october.end(SHANGHAI) == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert october.start(zone("UTC")) == datetime(2026, 10, 1, tzinfo=UTC)


def test_a_moment_falls_on_the_local_day_of_the_zone() -> None:
    october = parse_period("2026-10")
    first_moment = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)  # 00:00 on 1 October in Beijing
    assert october.day_index(first_moment, SHANGHAI) == 0
    assert october.day_index(first_moment - timedelta(seconds=1), SHANGHAI) is None
    assert october.day_index(datetime(2026, 10, 31, 15, 59, tzinfo=UTC), SHANGHAI) == 30
    assert october.day_index(datetime(2026, 10, 31, 16, 0, tzinfo=UTC), SHANGHAI) is None
    assert october.day_index(first_moment, zone("UTC")) is None  # still 30 September in UTC
    assert october.day(30).isoformat() == "2026-10-31"


def test_a_zone_with_daylight_saving_keeps_whole_local_days() -> None:
    berlin = zone("Europe/Berlin")
    october = parse_period("2026-10")  # summer time ends on 25 October 2026
    # (aware datetimes of one zone subtract as wall times in Python: compare them in UTC)
    assert october.end(berlin).astimezone(UTC) - october.start(berlin).astimezone(UTC) == timedelta(days=31, hours=1)


def test_an_unknown_zone_is_a_period_error() -> None:
    with pytest.raises(PeriodError, match="unknown time zone 'Mars/Olympus'"):
        zone("Mars/Olympus")


def test_a_period_cannot_be_built_out_of_range() -> None:
    with pytest.raises(PeriodError):
        Period(2026, "quarter", 5)
