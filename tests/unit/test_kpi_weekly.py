"""Weekly reports (issue 12; PROCESS §5: breaches are "reported in the weekly/monthly reports"):
``report --period 2026-W42`` is the ISO week, Monday to Sunday in the report's time zone, with
the previous week for the trend, and every table a month has."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connector.cli.main import main
from connector.kpi.periods import Period, PeriodError, parse_period

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kpi_2026-10.jsonl"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_an_iso_week_is_monday_to_sunday() -> None:
    week = parse_period("2026-W42")
    assert (week.kind, week.label, week.first_day, week.days) == ("week", "2026-W42", date(2026, 10, 12), 7)
    assert (week.previous().label, week.next().label) == ("2026-W41", "2026-W43")
    assert parse_period("2026-w42") == week


def test_weeks_cross_iso_years_and_53_week_years() -> None:
    last = parse_period("2026-W53")  # 28 December 2026 is in week 53: 2026 has 53 ISO weeks
    assert last.first_day == date(2026, 12, 28) and last.next() == Period(2027, "week", 1)
    assert parse_period("2027-W01").previous() == last
    assert parse_period("2027-W01").first_day == date(2027, 1, 4)
    with pytest.raises(PeriodError, match="2026-W42"):
        parse_period("2025-W53")  # 2025 has 52
    with pytest.raises(PeriodError):
        parse_period("2026-W00")


def test_report_period_week_counts_the_tickets_of_that_week_and_its_breaches() -> None:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["report", "--period", "2026-W42", "--input", str(FIXTURE), "--as-of", "2026-11-01T09:00:00+08:00"])
    assert code == 0, err.getvalue()
    data = json.loads(out.getvalue())
    assert data["period"] == "2026-W42"
    # the same week counted by hand from the fixture: occurred Monday 12 to Sunday 18 October (Beijing)
    records = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]
    start, end = datetime(2026, 10, 12, tzinfo=SHANGHAI), datetime(2026, 10, 19, tzinfo=SHANGHAI)

    def in_week(r: dict[str, object]) -> bool:
        return start <= datetime.fromisoformat(str(r["occurred_at"])) < end and not r.get("duplicate_of")

    assert data["kpis"]["total"] == sum(1 for r in records if in_week(r)) > 0
    assert data["previous"]["period"] == "2026-W41"
    assert set(data["reports"]) >= {"late_responses_by_user_priority", "late_resolutions_by_user_priority"}
