"""Regressions of issue 12, item 8 (b)–(d), found by trying the connector as a new user would:
``simulate`` shows where an assignment moved the ticket, a ticket opened by a *not completed*
close names its report, and a repeat of a ticket resolved but not closed is not a recurrence
(PROCESS §10: recurrence is of a *closed* incident)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.cli.main import main


def at(minute: int) -> str:
    return f"2026-11-26T02:{minute:02d}:00Z"


def down(eid: str, minute: int, **extra: Any) -> dict[str, Any]:
    return {
        "source": "zabbix",
        "external_id": eid,
        "title": "Interface Gi1/0/1 down",
        "ci": "core-sw01",
        "host_groups": ["Metro/Network core"],
        "severity": 5,
        "occurred_at": at(minute),
        **extra,
    }


def control(kind: str, minute: int, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "external_id": "1", "at": at(minute), **extra}


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[dict[str, Any]], *args: str) -> list[Any]:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert main(["simulate", "--input", str(path), *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_b_an_assign_line_shows_the_group_the_ticket_moved_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(
        tmp_path,
        capsys,
        [
            down("1", 0),
            control("assign", 2, group="系统组", assignee="wulei"),
            control("reassign", 4, group="应用支持组", assignee="lina", by="wulei"),
            control("accept", 5, by="lina"),
        ],
    )
    groups = [(o["action"], o["assignment_group"]) for o in out]
    assert groups == [("create", "网络组"), ("assign", "系统组"), ("reassign", "应用支持组"), ("accept", "应用支持组")]


def test_c_the_ticket_a_not_completed_close_opens_names_its_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(
        tmp_path,
        capsys,
        [
            down("1", 0),
            control("assign", 1, group="网络组", assignee="zhangw"),
            control("accept", 2, by="zhangw"),
            control("resolve", 3, by="zhangw"),
            control("close", 4, by="desk", closure_code="not_completed"),
            control("accept", 6, by="zhangw"),  # acts on the new ticket, the original is closed
        ],
        "--until",
        "2026-11-26T03:00:00Z",
    )
    reopened = [o for o in out if o.get("ticket") == "zabbix:1/reopen-1"]
    assert reopened, "the new ticket made no line"
    assert {o["external_id"] for o in reopened} == {"1"}
    (accept,) = [o for o in out if o.get("action") == "accept" and o["line"] == 6]
    assert (accept["ticket"], accept["ticket_id"]) == ("zabbix:1/reopen-1", "2")
    # its own clocks: accepted at 02:06, the P1 resolution target (30 min) breaches at 02:36, to the
    # incident manager; nothing about the closed original after its close
    breaches = {(o["stage"], o["at"][11:16], o["role"]) for o in reopened if o.get("type") == "sla_breach"}
    assert breaches == {("resolution", "02:36", "incident_manager")}
    assert not any(o.get("type") == "sla_breach" and o["ticket"] == "zabbix:1" for o in out)


def test_d_a_repeat_of_a_resolved_ticket_not_yet_closed_is_new_work_not_a_recurrence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(
        tmp_path,
        capsys,
        [
            down("1", 0),
            down("1", 0, recovered_at=at(10)),
            down("2", 20),  # resolved at 10, never closed
            control("close", 30, by="desk", closure_code="success"),  # 1 closed: a recurrence from now on
            {**down("3", 40), "title": "Interface Gi1/0/1 down"},
        ],
    )
    _, resolve, repeat, close, after_close = out
    assert resolve["action"] == "resolve"
    assert repeat["action"] == "create" and repeat["recurrence_of"] is None
    assert "zabbix:1 is resolved but not closed, so this is not a recurrence" in repeat["reason"]
    assert close["action"] == "close"
    # the repeat at 20 is itself unresolved, so the report at 40 is its duplicate: close it first
    assert after_close["action"] == "duplicate" and after_close["duplicate_of"] == "2"


def test_d_a_repeat_after_the_close_is_a_recurrence_of_the_closed_ticket(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(
        tmp_path,
        capsys,
        [
            down("1", 0),
            down("1", 0, recovered_at=at(10)),
            control("close", 30, by="desk", closure_code="success"),
            down("2", 40),
        ],
    )
    assert [o["action"] for o in out] == ["create", "resolve", "close", "recurrence"]
    assert out[3]["recurrence_of"] == "1" and "closed" in out[3]["reason"]
