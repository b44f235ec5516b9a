"""``simulate``'s problem and change lines (issue 13, item 6): the ``link_change`` and
``change_closed`` control lines, and a ``problem`` line wherever an incident raises or joins a
problem record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.cli.main import main


def run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[dict[str, Any]], *args: str
) -> list[dict[str, Any]]:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    assert main(["simulate", "--input", str(path), *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def alert(eid: str, at: str, **more: Any) -> dict[str, Any]:
    return {
        "source": "zabbix",
        "external_id": eid,
        "title": "core switch down",
        "ci": "core-sw01",
        "occurred_at": at,
        **more,
    }


def test_a_p1_raises_a_problem_and_the_same_fault_the_next_day_joins_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(
        tmp_path,
        capsys,
        [
            alert("a1", "2026-11-25T18:00:00Z", impact=1, urgency=1),
            alert("a1", "2026-11-25T18:00:00Z", impact=1, urgency=1, recovered_at="2026-11-25T18:20:00Z"),
            alert("a2", "2026-11-26T18:00:00Z", impact=1, urgency=1),
            alert("b1", "2026-11-26T19:00:00Z", ci="db01", title="disk full", impact=3, urgency=3),
        ],
        "--until",
        "2026-11-26T19:00:00Z",
    )
    problems = [line for line in out if line.get("type") == "problem"]
    assert [(p["ticket"], p["problem"], p["opens"], p["at"]) for p in problems] == [
        ("zabbix:a1", "problem:zabbix:a1", True, "2026-11-25T18:00:00+00:00"),
        ("zabbix:a2", "problem:zabbix:a1", False, "2026-11-26T18:00:00+00:00"),
    ]
    assert problems[0]["priority"] == 1 and "action" not in problems[0]
    assert "same root cause" in problems[1]["detail"]
    # each follows the answer line of the alert that made it
    assert out[out.index(problems[0]) - 1]["ticket"] == "zabbix:a1"


def test_without_until_the_output_stays_one_line_per_input_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(tmp_path, capsys, [alert("a1", "2026-11-25T18:00:00Z", impact=1, urgency=1)])
    assert [line["action"] for line in out] == ["create"]


def test_a_linked_change_holds_the_incident_until_the_change_closes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(
        tmp_path,
        capsys,
        [
            alert("b1", "2026-11-26T19:00:00Z", ci="db01", title="disk full", impact=3, urgency=3),
            {"type": "accept", "external_id": "b1", "at": "2026-11-26T19:05:00Z", "by": "wangf"},
            {"type": "link_change", "external_id": "b1", "at": "2026-11-26T19:10:00Z", "by": "wangf", "ref": "CHG-7"},
            {"type": "link_change", "external_id": "b1", "at": "2026-11-26T19:11:00Z", "by": "wangf", "ref": "CHG-7"},
            {"type": "change_closed", "ref": "CHG-8", "at": "2026-11-26T20:00:00Z"},
            {"type": "change_closed", "ref": "CHG-7", "at": "2026-11-26T21:00:00Z"},
            {"type": "resolve", "external_id": "b1", "at": "2026-11-26T21:10:00Z"},
            {
                "type": "close",
                "external_id": "b1",
                "at": "2026-11-26T21:20:00Z",
                "closure_code": "success_with_problem",
            },
        ],
        "--until",
        "2026-11-26T21:30:00Z",
    )
    actions = [(line["line"], line["action"]) for line in out if "action" in line]
    assert actions == [
        (1, "create"),
        (2, "accept"),
        (3, "change"),
        (4, "ignored"),
        (5, "ignored"),
        (6, "change"),
        (7, "resolve"),
        (8, "close"),
    ]
    linked = next(line for line in out if line.get("line") == 3)
    assert (linked["type"], linked["change"], linked["status"]) == ("link_change", "CHG-7", "pending_change")
    assert "SLA clocks are paused" in linked["reason"]
    closed = next(line for line in out if line.get("line") == 6 and line.get("action") == "change")
    assert (closed["type"], closed["change"], closed["status"], closed["external_id"], closed["tickets"]) == (
        "change_closed",
        "CHG-7",
        "in_progress",
        "b1",
        ["zabbix:b1"],
    )
    told = [line for line in out if line.get("type") == "status" and line.get("status") == "in_progress"]
    assert told and all(line["role"] == "assignee" for line in told)
    (problem,) = [line for line in out if line.get("type") == "problem"]
    assert (problem["ticket"], problem["opens"], problem["status"]) == ("zabbix:b1", True, "closed")
    assert "success with a problem" in problem["detail"]
