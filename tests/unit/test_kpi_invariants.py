"""Invariants on a generated month of 20,000 tickets (plus the month before, for the trend).

Whatever the mix, counts stay within the total, ratios are count/total in [0, 1], every table
adds up to the headline it breaks down, duplicates never count, and the order of the input
does not matter.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from connector.kpi.history import HistoryRecord
from connector.kpi.periods import parse_period
from connector.kpi.render_json import report_json
from connector.kpi.report import build_report
from connector.kpi.synthetic import generate_history

OCTOBER, SEPTEMBER = parse_period("2026-10"), parse_period("2026-09")
AS_OF = datetime.fromisoformat("2026-11-01T09:00:00+08:00")
SHARES = (
    "closed",
    "closed_success",
    "escalated_to_problem",
    "resolved_in_time",
    "responded_in_time",
    "first_line_resolution",
    "second_line_resolution",
    "major",
    "kb_use",
)


def _records(count: int, period_seed: int) -> list[HistoryRecord]:
    lines = [
        *({**r, "id": f"S{r['id']}", "duplicate_of": r["duplicate_of"] and f"S{r['duplicate_of']}"}
          for r in generate_history(count // 4, SEPTEMBER, seed=period_seed)),
        *generate_history(count, OCTOBER, seed=period_seed + 1),
    ]  # fmt: skip
    return [HistoryRecord.model_validate(line) for line in lines]


@pytest.fixture(scope="module")
def records() -> list[HistoryRecord]:
    return _records(20_000, 11)


@pytest.fixture(scope="module")
def data(records: list[HistoryRecord]) -> dict[str, Any]:
    return report_json(build_report(records, OCTOBER, as_of=AS_OF))


def test_the_month_is_big_and_has_every_branch(records: list[HistoryRecord], data: dict[str, Any]) -> None:
    october = [r for r in records if r.id.startswith("G")]
    assert len(october) == 20_000
    assert data["occurred"] == 20_000 and data["duplicates"] > 500
    assert {r.status.value for r in october} == {
        "open",
        "in_progress",
        "pending_change",
        "suspended",
        "resolved",
        "closed",
    }
    assert {r.closure_code.value for r in october if r.closure_code} == {
        "success",
        "success_with_problem",
        "not_completed",
    }
    assert {r.resolver_role.value for r in october if r.resolver_role} == {"first_line", "second_line", "third_party"}
    assert sum(1 for r in october if r.suspensions) > 500
    assert 0 < data["kpis"]["responded_in_time"]["count"] < data["kpis"]["total"]
    assert 0 < data["kpis"]["resolved_in_time"]["count"] < data["kpis"]["total"]


def test_counts_stay_within_the_total_and_ratios_are_count_over_total(data: dict[str, Any]) -> None:
    kpis = data["kpis"]
    total = kpis["total"]
    assert total == data["occurred"] - data["duplicates"]
    for name in SHARES:
        count, ratio = kpis[name]["count"], kpis[name]["ratio"]
        assert 0 <= count <= total, name
        assert ratio == count / total and 0 <= ratio <= 1, name
    assert kpis["resolved_in_time"]["count"] <= kpis["closed_success"]["count"]
    closed_codes = kpis["closed_success"]["count"] + kpis["escalated_to_problem"]["count"]
    assert closed_codes <= kpis["closed"]["count"]
    assert kpis["first_line_resolution"]["count"] + kpis["second_line_resolution"]["count"] <= total
    for name in ("mean_response_minutes", "mean_resolution_minutes", "third_party_mean_resolution_minutes"):
        assert kpis[name] is not None and kpis[name] >= 0, name
    for figures in kpis["staff"].values():
        assert 0 <= figures["registered"] <= total and 0 <= figures["resolved"] <= total
        assert 0 <= figures["registered_ratio"] <= 1 and 0 <= figures["resolved_ratio"] <= 1
    assert sum(f["registered"] for f in kpis["staff"].values()) <= total
    assert sum(data["daily"]) == total == sum(data["by_priority"])


def _sum(rows: list[dict[str, Any]], key: str) -> int:
    return sum(int(r[key]) for r in rows)


def test_every_table_adds_up_to_its_headline(data: dict[str, Any]) -> None:
    kpis, reports = data["kpis"], data["reports"]
    total = kpis["total"]
    by_priority = reports["by_user_priority"]
    for row in by_priority["rows"]:
        assert row["total"] == row["p1"] + row["p2"] + row["p3"] + row["p4"]
    assert _sum(by_priority["rows"], "total") == total == by_priority["total"]["total"]
    for p in (1, 2, 3, 4):
        assert _sum(by_priority["rows"], f"p{p}") == data["by_priority"][p - 1]
    assert by_priority["total"]["p1"] + by_priority["total"]["p2"] == kpis["major"]["count"]

    per_user = {r["user"]: r["total"] for r in by_priority["rows"]}
    for key in ("by_user_ci", "by_user_category"):
        rows = reports[key]["rows"]
        assert _sum(rows, "count") == total
        sums: Counter[str | None] = Counter()
        for row in rows:
            sums[row["user"]] += row["count"]
        assert dict(sums) == per_user, key

    late_responses = reports["late_responses_by_user_priority"]
    assert _sum(late_responses["rows"], "total") == total - kpis["responded_in_time"]["count"]
    assert late_responses["total"]["total"] == total - kpis["responded_in_time"]["count"]
    for key in ("late_responses_by_user_priority", "late_resolutions_by_user_priority"):
        for row in reports[key]["rows"]:
            assert 0 < row["total"] <= per_user[row["user"]]
            for p in (1, 2, 3, 4):
                assert row[f"p{p}"] <= next(r for r in by_priority["rows"] if r["user"] == row["user"])[f"p{p}"]

    means = reports["mean_times_by_priority"]
    assert _sum(means["rows"], "count") == total
    assert [r["count"] for r in means["rows"]] == data["by_priority"]
    assert means["total"]["mean_response_minutes"] == pytest.approx(kpis["mean_response_minutes"])
    weighted = sum(r["mean_response_minutes"] * r["count"] for r in means["rows"] if r["count"])
    assert weighted / total == pytest.approx(kpis["mean_response_minutes"])

    lines = reports["line_rates_by_category"]
    assert _sum(lines["rows"], "count") == total
    assert _sum(lines["rows"], "first_line") == kpis["first_line_resolution"]["count"]
    assert _sum(lines["rows"], "second_line") == kpis["second_line_resolution"]["count"]
    for row in lines["rows"]:
        assert row["first_line_ratio"] == row["first_line"] / row["count"]

    staff = reports["by_staff"]
    assert {r["staff"] for r in staff["rows"]} == set(kpis["staff"])
    for row in staff["rows"]:
        assert {k: v for k, v in row.items() if k != "staff"} == kpis["staff"][row["staff"]]


def test_duplicates_never_count(records: list[HistoryRecord], data: dict[str, Any]) -> None:
    """Scrambling everything about the duplicates changes nothing; dropping them changes nothing."""
    rng = random.Random(3)
    scrambled = [
        r.model_copy(
            update={
                "priority": rng.choice([1, 2, 3, 4]),
                "reporter": "someone else",
                "registrar": "nobody",
                "kb_used": True,
                "worklog_staff": ("nobody",),
            }
        )
        if r.duplicate_of
        else r
        for r in records
    ]
    again = report_json(build_report(scrambled, OCTOBER, as_of=AS_OF))
    assert again["kpis"] == data["kpis"] and again["reports"] == data["reports"]
    without = report_json(build_report([r for r in records if not r.duplicate_of], OCTOBER, as_of=AS_OF))
    assert without["kpis"] == data["kpis"] and without["duplicates"] == 0


def test_the_order_of_the_input_does_not_matter(records: list[HistoryRecord], data: dict[str, Any]) -> None:
    shuffled = list(records)
    random.Random(5).shuffle(shuffled)
    again = report_json(build_report(iter(shuffled), OCTOBER, as_of=AS_OF))
    assert json.dumps(again, sort_keys=True) == json.dumps(data, sort_keys=True)


def test_the_previous_period_is_only_its_own_tickets(records: list[HistoryRecord], data: dict[str, Any]) -> None:
    previous = data["previous"]
    september = [r for r in records if r.id.startswith("S")]
    assert previous["occurred"] == len(september)
    assert previous["kpis"]["total"] == sum(1 for r in september if not r.duplicate_of)
    alone = report_json(build_report([r for r in records if r.id.startswith("G")], OCTOBER, as_of=AS_OF))
    assert alone["kpis"] == data["kpis"] and alone["previous"]["kpis"]["total"] == 0
    assert alone["previous"]["kpis"]["mean_response_minutes"] is None
    assert alone["previous"]["kpis"]["closed"] == {"count": 0, "ratio": None}
