"""When the scheduled report job publishes: the month that ended, once its 1st's hour has come,
and the quarter with it on the 1st of a quarter — in the configured time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from connector.runtime.config import ReportSettings
from connector.runtime.report_job import due_periods

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("local", "due"),
    [
        (datetime(2026, 11, 1, 5, 59), ["2026-09", "2026-Q3"]),  # before 06:00 on the 1st: still September's turn
        (datetime(2026, 11, 1, 6, 0), ["2026-10"]),
        (datetime(2026, 11, 15, 12, 0), ["2026-10"]),
        (datetime(2026, 10, 1, 6, 30), ["2026-09", "2026-Q3"]),
        (datetime(2027, 1, 1, 7, 0), ["2026-12", "2026-Q4"]),
        (datetime(2027, 1, 1, 0, 30), ["2026-11"]),
    ],
)
def test_due_periods(local: datetime, due: list[str]) -> None:
    now = local.replace(tzinfo=SHANGHAI)
    assert [p.label for p in due_periods(now, ReportSettings(publish=True))] == due


def test_the_zone_decides_which_day_it_is() -> None:
    # 23:30 UTC on 31 October is already 07:30 on 1 November in Shanghai
    now = datetime(2026, 10, 31, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert [p.label for p in due_periods(now, ReportSettings())] == ["2026-10"]
    assert [p.label for p in due_periods(now, ReportSettings(timezone="UTC"))] == ["2026-09", "2026-Q3"]


def test_quarters_can_be_left_out() -> None:
    now = datetime(2026, 10, 1, 9, 0, tzinfo=SHANGHAI)
    assert [p.label for p in due_periods(now, ReportSettings(quarterly=False))] == ["2026-09"]
