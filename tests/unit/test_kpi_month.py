"""A hand-computed month: tests/fixtures/kpi_2026-10.jsonl gives exactly these numbers.

The expected values below were worked out by hand from the fixture, ticket by ticket, without
running the KPI code; the comments show the arithmetic. Times are Beijing time (+08:00) unless
marked Z. ``AS_OF`` is when the history was taken: stages still running are judged then.

SLA targets (DEFAULT_POLICY, seed §3.1.3.5): response P1 10 / P2 15 / P3–P4 15 min;
resolution P1 30 / P2 60 / P3–P4 120 min; restore by urgency U1 8 h, U2 24 h, U3 48 h, U4 72 h.

The fixture's lines, and what each one tests:

====  =====  ==========================================================================
line  id     what it is
====  =====  ==========================================================================
1     T01    运营部 P2 closed success, 2nd line, on time
2     T02    运营部 P2 closed success, 1st line, response late (18 > 15), resolution on time, kb
3     T03    票务中心 P3 closed success, 2nd line, resolution late (135 > 120)
4     T04    票务中心 P3 closed success_with_problem; suspended 90 of 150 min → on time; kb
5     T05    调度中心 P1 closed success, on time (response 8 ≤ 10, resolution 28 ≤ 30)
6     T06    调度中心 P1 closed not_completed, response late (11), resolution late (35)
7     T07    duplicate of T05 (late, kb): counted nowhere
8     T08    duplicate of T01: counted nowhere
9     T09    票务中心 P3 third party (third_party_at → resolved 180 min), resolution late (240)
10    T10    运营部 P4 third party, resolved not closed; 120-min suspension: 100 ≤ 120, tp 60 min; kb
11    T11    调度中心 P3 open, unassigned: response late; restore U3 at 47.5 h of 48: not yet late
12    T12    运营部 P3 U2 open, unassigned: response late and restore (24 h) late; a long CI name
13    T13    调度中心 P4 occurred 31 Oct 23:50, registered 1 Nov 08:50 (540 min); 10 min old: on time
14    T14    票务中心 P2 in progress since acceptance on 25 Oct: resolution late
15    T15    票务中心 P3 suspended (open suspension): clocks paused, nothing late
16    T16    运营部 P3 pending change: response late (25), resolution running for days: late
17    T17    运营部 P3, occurred 2026-09-30T16:30Z = 1 Oct 00:30 Beijing: October; 1st line, kb
18    B1     no "ci" field: skipped
19    T18    occurred 30 Sep 23:59 Beijing: September (the previous period)
20    T19    occurred 2026-10-31T16:00Z = 1 Nov 00:00 Beijing: outside both periods
21    T20    no reporter, CI, category or registrar; P4 closed success, 1st line
22    T21    调度中心 P4 resolved by the 1st line without assignment at 10 min: on time; kb
23    T22    调度中心 P4 resolved without assignment at 20 min: response late, resolution on time
24    B2     registered_at 2026-10-32: skipped
25    T23    票务中心 P3 closed not_completed, 2nd line
26    T24    运营部 P2 closed success_with_problem, response late (29), resolution late (80 > 60)
27    T25    调度中心 P1 U1: stages on time but 8 h 05 from registration: restore late
28    T26    票务中心 P3 resolved (not closed, no closure code), 2nd line, kb
29    T27    duplicate of T18 (a September master), occurred 1 Oct: counted nowhere
30    T28    调度中心 P2: 20-min suspension before assignment (30 raw, 10 active): on time
31    T29    票务中心 P4 closed success, 1st line
32           blank: ignored, not a problem
33    T05    T05 again: skipped ("already on line 5")
34    T31    September: 运营部 P2 closed success_with_problem, response late (19)
35    T32    September: 票务中心 P4 in progress since 20 Sep: resolution late
36    T33    December: outside
====  =====  ==========================================================================

October's total: T01–T06, T09–T17, T20–T26, T28, T29 = 24 tickets (27 occurred, 3 duplicates).
"""

from __future__ import annotations

import io
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connector.cli.main import main
from connector.kpi.history import open_history
from connector.kpi.periods import parse_period
from connector.kpi.render_json import report_json
from connector.kpi.report import Report, build_report

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kpi_2026-10.jsonl"
AS_OF = "2026-11-01T09:00:00+08:00"
N = 24  # the total


def same(actual: Any, expected: Any, where: str = "") -> None:
    """``actual == expected``, with floats compared to 1e-9 (a sum of minutes divided)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), f"{where}: {actual!r}"
        for key in expected:
            same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            same(a, e, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert isinstance(actual, int | float) and math.isclose(actual, expected, rel_tol=1e-9), f"{where}: {actual}"
    else:
        assert actual == expected and type(actual) is type(expected), f"{where}: {actual!r} != {expected!r}"


def share(count: int, total: int = N) -> dict[str, Any]:
    return {"count": count, "ratio": count / total}


EXPECTED_KPIS: dict[str, Any] = {
    "total": N,
    # closed: T01 T02 T03 T04 T05 T06 T09 T17 T20 T21 T22 T23 T24 T25 T28 T29 (T10, T26 only resolved)
    "closed": share(16),
    # closure success: T01 T02 T03 T05 T09 T17 T20 T21 T22 T25 T28 T29
    "closed_success": share(12),
    # success_with_problem: T04 T24
    "escalated_to_problem": share(2),
    # success and resolution not late: the 12 above minus T03, T09, T25 (late) = 9
    "resolved_in_time": share(9),
    # response late: T02 T06 T11 T12 T16 T22 T24 = 7 → 24 − 7 = 17
    "responded_in_time": share(17),
    # registered − occurred: T01 5 + T02 2 + T03 10 + T04 0 + T05 1 + T06 0 + T09 20 + T10 5 + T11 30
    # + T12 10 + T13 540 + T14 3 + T15 5 + T16 5 + T17 10 + T20 30 + T21 2 + T22 0 + T23 10 + T24 1
    # + T25 0 + T26 15 + T28 0 + T29 45 = 749 → 749 / 24
    "mean_response_minutes": 749 / 24,
    # done by the 1st/2nd line, registered → resolved minus suspensions:
    # T01 65, T02 58, T03 155, T04 165−90=75, T05 39, T06 50, T17 80, T20 60, T21 10, T22 20,
    # T23 50, T24 119, T25 485, T26 75, T28 80−20=60, T29 45 → 1446 / 16
    "mean_resolution_minutes": 1446 / 16,
    # KPI 8 as the seed writes it (issue 12): the same tickets in wall time, T04's 90 and T28's 20
    # suspended minutes included → (1446 + 90 + 20) / 16
    "mean_resolution_wall_minutes": (1446 + 90 + 20) / 16,
    # the verified ratio (issue 12, §3.1.3.10.2): no record of the month carries a verification → 0 of the 16 closed
    "verified": share(0, 16),
    # third party → resolved: T09 10:40→13:40 = 180; T10 11:00→14:00 minus 120 suspended = 60 → 240 / 2
    "third_party_mean_resolution_minutes": 120.0,
    # resolved/closed by the 1st line: T02 T17 T20 T21 T22 T28 T29
    "first_line_resolution": share(7),
    # by the 2nd line: T01 T03 T04 T05 T06 T23 T24 T25 T26
    "second_line_resolution": share(9),
    # P1: T05 T06 T25; P2: T01 T02 T14 T24 T28
    "major": share(8),
    # kb used: T02 T04 T10 T17 T21 T26 (T07's kb is a duplicate's)
    "kb_use": share(6),
    "staff": {
        # registrar 张伟: T01 T02 T10 T12 T16 T17 T21 T22 T24 T28 = 10; work log: T01 T02 T05 T10 T16 T17
        # T21 T22 T24 T28 (twice in T28's log, counted once) = 10; resolved: T02 T17 T21 T22 T28 = 5
        "张伟": {"registered": 10, "worked_on": 10, "resolved": 5, "registered_ratio": 10 / N, "resolved_ratio": 5 / N},
        # registrar 王芳: T03 T04 T11 T14 T15 T23 T26 = 7; log: T01 T03 T05 T06 T14 T24 T25 T26 = 8;
        # resolved: T01 T05 T06 T24 T25 = 5
        "王芳": {"registered": 7, "worked_on": 8, "resolved": 5, "registered_ratio": 7 / N, "resolved_ratio": 5 / N},
        # registrar 李娜: T09 T13 T29 = 3; log: T03 T04 T09 T14 T15 T20 T23 T26 T29 = 9;
        # resolved: T03 T04 T20 T23 T26 T29 = 6
        "李娜": {"registered": 3, "worked_on": 9, "resolved": 6, "registered_ratio": 3 / N, "resolved_ratio": 6 / N},
        # the connector registered the monitoring tickets T05 T06 T25
        "itsm-connector": {
            "registered": 3,
            "worked_on": 0,
            "resolved": 0,
            "registered_ratio": 3 / N,
            "resolved_ratio": 0.0,
        },
        # the third party resolved T09 T10
        "华为技术服务": {
            "registered": 0,
            "worked_on": 0,
            "resolved": 2,
            "registered_ratio": 0.0,
            "resolved_ratio": 2 / N,
        },
    },
}

# September: T18 (P3 1st line, closed success, on time), T31 (P2 2nd line, closed
# success_with_problem, response late 19 > 15), T32 (P4 in progress since 20 Sep: resolution late)
EXPECTED_PREVIOUS: dict[str, Any] = {
    "total": 3,
    "closed": share(2, 3),
    "closed_success": share(1, 3),
    "escalated_to_problem": share(1, 3),
    "resolved_in_time": share(1, 3),  # T18
    "responded_in_time": share(2, 3),  # T31 late
    "mean_response_minutes": (5 + 1 + 10) / 3,
    "mean_resolution_minutes": (56 + 59) / 2,  # T18 00:04→01:00, T31 10:01→11:00
    "mean_resolution_wall_minutes": (56 + 59) / 2,  # neither was suspended
    "verified": share(0, 2),  # two closed, neither verified
    "third_party_mean_resolution_minutes": None,  # nothing resolved by a third party: no mean
    "first_line_resolution": share(1, 3),
    "second_line_resolution": share(1, 3),
    "major": share(1, 3),
    "kb_use": share(0, 3),
}

A, B, C = "运营部", "票务中心", "调度中心"


@pytest.fixture(scope="module")
def report() -> Report:
    with open_history(FIXTURE) as reader:
        built = build_report(reader, parse_period("2026-10"), as_of=datetime.fromisoformat(AS_OF))
    return built.with_input(reader.stats())


@pytest.fixture(scope="module")
def data(report: Report) -> dict[str, Any]:
    return report_json(report, "zh")


def test_every_kpi_is_the_hand_computed_number(data: dict[str, Any]) -> None:
    same(data["kpis"], EXPECTED_KPIS)
    assert (data["occurred"], data["duplicates"]) == (27, 3)  # T07, T08, T27


def test_the_previous_period_comes_from_the_same_input(data: dict[str, Any]) -> None:
    previous = data["previous"]
    assert previous["period"] == "2026-09"
    kpis = {k: v for k, v in previous["kpis"].items() if k != "staff"}
    same(kpis, EXPECTED_PREVIOUS)
    assert previous["daily"][29] == 1  # T18 on 30 September, Beijing time
    assert sum(previous["daily"]) == 3


def test_the_report_says_which_lines_it_skipped(data: dict[str, Any]) -> None:
    assert data["input"]["lines"] == 36
    assert data["input"]["records"] == 32  # 36 lines − 1 blank − 3 skipped
    assert data["input"]["skipped"] == 3
    problems = {p["line"]: p["reason"] for p in data["input"]["problems"]}
    assert problems.keys() == {18, 24, 33}
    assert problems[18] == "missing field ci"
    assert problems[24].startswith("registered_at: bad date '2026-10-32T08:00:00+08:00'")
    assert problems[33] == "ticket T05 is already on line 5"


def rows(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return list(data["reports"][key]["rows"])


def test_report_1_counts_by_user_and_priority(data: dict[str, Any]) -> None:
    # 票务中心 T03 T04 T09 T15 T23 T26 (P3) T14 (P2) T29 (P4); 调度中心 T05 T06 T25 (P1) T28 (P2) T11 (P3)
    # T13 T21 T22 (P4); 运营部 T01 T02 T24 (P2) T12 T16 T17 (P3) T10 (P4); no reporter: T20 (P4).
    # 8 and 8 tie and sort by name (票 U+7968 before 调 U+8C03).
    assert rows(data, "by_user_priority") == [
        {"user": B, "p1": 0, "p2": 1, "p3": 6, "p4": 1, "total": 8},
        {"user": C, "p1": 3, "p2": 1, "p3": 1, "p4": 3, "total": 8},
        {"user": A, "p1": 0, "p2": 3, "p3": 3, "p4": 1, "total": 7},
        {"user": None, "p1": 0, "p2": 0, "p3": 0, "p4": 1, "total": 1},
    ]
    assert data["reports"]["by_user_priority"]["total"] == {
        "user": "",
        "p1": 3,
        "p2": 5,
        "p3": 10,
        "p4": 6,
        "total": 24,
    }


def test_report_2_counts_by_user_and_device(data: dict[str, Any]) -> None:
    assert rows(data, "by_user_ci") == [
        {"user": B, "ci": "gate-07", "count": 3},  # T03 T04 T23
        {"user": B, "ci": "srv-02", "count": 2},  # T14 T15
        {"user": B, "ci": "ups-03", "count": 2},  # T09 T29
        {"user": B, "ci": "app-oa", "count": 1},  # T26
        {"user": C, "ci": "srv-01", "count": 3},  # T05 T06 T25
        {"user": C, "ci": "gate-01", "count": 2},  # T13 T28
        {"user": C, "ci": "pc-05", "count": 2},  # T21 T22
        {"user": C, "ci": None, "count": 1},  # T11
        {"user": A, "ci": "sw-01", "count": 3},  # T01 T02 T17
        {"user": A, "ci": "app-erp", "count": 2},  # T16 T24
        {"user": A, "ci": "ups-03", "count": 1},  # T10
        {"user": A, "ci": "workstation-desk-11.ops-floor-3.metro.example.com", "count": 1},  # T12
        {"user": None, "ci": None, "count": 1},  # T20
    ]


def test_report_3_counts_by_user_and_category(data: dict[str, Any]) -> None:
    assert rows(data, "by_user_category") == [
        {"user": B, "category": "应用系统/AFC", "count": 3},  # T03 T04 T23
        {"user": B, "category": "其他", "count": 2},  # T09 T29
        {"user": B, "category": "服务器", "count": 2},  # T14 T15
        {"user": B, "category": "应用系统/OA", "count": 1},  # T26
        {"user": C, "category": "服务器", "count": 3},  # T05 T06 T25
        {"user": C, "category": "桌面终端", "count": 3},  # T11 T21 T22
        {"user": C, "category": "应用系统/AFC", "count": 2},  # T13 T28
        {"user": A, "category": "网络", "count": 3},  # T01 T02 T17
        {"user": A, "category": "应用系统/ERP", "count": 2},  # T16 T24
        {"user": A, "category": "其他", "count": 1},  # T10
        {"user": A, "category": "桌面终端", "count": 1},  # T12
        {"user": None, "category": None, "count": 1},  # T20
    ]


def test_reports_4_and_5_count_late_tickets_by_user_and_priority(data: dict[str, Any]) -> None:
    # late responses: 运营部 T02 T24 (P2) T12 T16 (P3); 调度中心 T06 (P1) T11 (P3) T22 (P4); 票务中心 none
    assert rows(data, "late_responses_by_user_priority") == [
        {"user": A, "p1": 0, "p2": 2, "p3": 2, "p4": 0, "total": 4},
        {"user": C, "p1": 1, "p2": 0, "p3": 1, "p4": 1, "total": 3},
    ]
    # late resolutions: 票务中心 T14 (P2) T03 T09 (P3); 运营部 T24 (P2) T12 T16 (P3); 调度中心 T06 T25 (P1)
    assert rows(data, "late_resolutions_by_user_priority") == [
        {"user": B, "p1": 0, "p2": 1, "p3": 2, "p4": 0, "total": 3},
        {"user": A, "p1": 0, "p2": 1, "p3": 2, "p4": 0, "total": 3},
        {"user": C, "p1": 2, "p2": 0, "p3": 0, "p4": 0, "total": 2},
    ]
    assert data["reports"]["late_resolutions_by_user_priority"]["total"]["total"] == 8


def test_report_6_means_by_priority(data: dict[str, Any]) -> None:
    same(
        rows(data, "mean_times_by_priority"),
        [
            # P1 T05 T06 T25: response 1, 0, 0; resolution 39, 50, 485
            {"priority": "P1", "count": 3, "mean_response_minutes": 1 / 3, "mean_resolution_minutes": 574 / 3,
             "third_party_mean_resolution_minutes": None},
            # P2 T01 T02 T14 T24 T28: response 5 2 3 1 0; resolution T01 65, T02 58, T24 119, T28 60
            {"priority": "P2", "count": 5, "mean_response_minutes": 11 / 5, "mean_resolution_minutes": 302 / 4,
             "third_party_mean_resolution_minutes": None},
            # P3 T03 T04 T09 T11 T12 T15 T16 T17 T23 T26: response 10 0 20 30 10 5 5 10 10 15;
            # resolution T03 155, T04 75, T17 80, T23 50, T26 75; third party T09 180
            {"priority": "P3", "count": 10, "mean_response_minutes": 115 / 10, "mean_resolution_minutes": 435 / 5,
             "third_party_mean_resolution_minutes": 180.0},
            # P4 T10 T13 T20 T21 T22 T29: response 5 540 30 2 0 45; resolution T20 60, T21 10, T22 20,
            # T29 45; third party T10 60
            {"priority": "P4", "count": 6, "mean_response_minutes": 622 / 6, "mean_resolution_minutes": 135 / 4,
             "third_party_mean_resolution_minutes": 60.0},
        ]
    )  # fmt: skip


def test_report_7_line_rates_by_category(data: dict[str, Any]) -> None:
    def row(category: str | None, count: int, first: int, second: int) -> dict[str, Any]:
        return {"category": category, "count": count, "first_line": first, "first_line_ratio": first / count,
                "second_line": second, "second_line_ratio": second / count}  # fmt: skip

    same(
        rows(data, "line_rates_by_category"),
        [
            row("应用系统/AFC", 5, 1, 3),  # T03 T04 T23 (2nd), T28 (1st), T13 (open)
            row("服务器", 5, 0, 3),  # T05 T06 T25 (2nd), T14 T15 (open)
            row("桌面终端", 4, 2, 0),  # T21 T22 (1st), T11 T12 (open)
            row("其他", 3, 1, 0),  # T29 (1st), T09 T10 (third party)
            row("网络", 3, 2, 1),  # T02 T17 (1st), T01 (2nd)
            row("应用系统/ERP", 2, 0, 1),  # T24 (2nd), T16 (pending change)
            row("应用系统/OA", 1, 0, 1),  # T26
            row(None, 1, 1, 0),  # T20
        ],
    )


def test_report_8_by_staff(data: dict[str, Any]) -> None:
    table = data["reports"]["by_staff"]
    # sorted by registered + resolved: 张伟 15, 王芳 12, 李娜 9, itsm-connector 3, 华为技术服务 2
    assert [r["staff"] for r in table["rows"]] == ["张伟", "王芳", "李娜", "itsm-connector", "华为技术服务"]
    for r in table["rows"]:
        same(r, {"staff": r["staff"], **EXPECTED_KPIS["staff"][r["staff"]]})
    # T20 has no registrar: 23 of 24 are registered to someone; 18 resolved in all
    same(
        table["total"],
        {"staff": "", "registered": 23, "worked_on": None, "resolved": 18, "registered_ratio": 23 / N,
         "resolved_ratio": 18 / N}
    )  # fmt: skip


def test_the_command_prints_the_same_report_as_json(tmp_path: Path, data: dict[str, Any]) -> None:
    out = io.StringIO()
    err = io.StringIO()
    from contextlib import redirect_stderr, redirect_stdout

    with redirect_stdout(out), redirect_stderr(err):
        code = main(["report", "--period", "2026-10", "--input", str(FIXTURE), "--as-of", AS_OF])
    assert code == 0
    printed = json.loads(out.getvalue())
    same(printed["kpis"], EXPECTED_KPIS)
    assert printed["reports"] == data["reports"]
    lines = err.getvalue().splitlines()
    assert f"{FIXTURE}:18: missing field ci" in lines
    assert f"{FIXTURE}: skipped 3 of 36 lines" in lines
