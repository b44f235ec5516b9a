"""The desk's half of the process on the simulated clock (issue 12): a ticket a person opens in the
helpdesk is adopted (``open``), a priority changed by hand gets the matrix and a reason
(``priority``), a handler rejects an assignment (``reject``). Every rule is asserted with the
minute it acts and who hears of it (``config/people.example.yaml``)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from connector.cli.main import main
from tests.notify_helpers import PEOPLE_EXAMPLE

INCIDENT_MANAGER = "liao.qing@metro.example"
INCIDENT_MANAGER_PHONE = "+86 138 0000 0001"


def at(minute: int) -> str:
    return f"2026-11-26T02:{minute:02d}:00Z"


def opened(minute: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "open",
        "external_id": "d1",
        "at": at(minute),
        "by": "desk",
        "title": "财务系统无法登录 cannot log in to the finance system",
        "description": "phone call from the finance department",
        "reporter": "li.na",
        "ci": "erp-app02",
        "impact": 2,
        "urgency": 2,
        "source": "user_report",
        **extra,
    }


def control(kind: str, minute: int, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "external_id": "d1", "at": at(minute), **extra}


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[dict[str, Any]], until: str) -> list[Any]:
    (tmp_path / "people.yaml").write_text(PEOPLE_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    config = tmp_path / "connector.yaml"
    config.write_text(
        textwrap.dedent(
            """
            state: {path: state.db}
            backend: {type: local, path: tickets.db}
            notify:
              people: people.yaml
              service_desk: desk 8888
              channels:
                - {type: smtp, host: relay.metro.example, sender: 'ITSM <itsm@metro.example>'}
                - {type: webhook, url: 'https://gw.metro.example/sms'}
            """
        ),
        encoding="utf-8",
    )
    path = tmp_path / "desk.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert main(["simulate", "--config", str(config), "--input", str(path), "--until", until]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def events(out: list[Any], kind: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(minute, channel, recipients) of every event line of ``kind``."""
    return [(e["at"][11:16], e["channel"], tuple(e["recipients"])) for e in out if e.get("type") == kind]


def line(out: list[Any], number: int) -> dict[str, Any]:
    (found,) = [o for o in out if o.get("line") == number and "action" in o]
    return found


# --- open: adoption ------------------------------------------------------------------------------


def test_an_opened_ticket_is_adopted_with_the_matrix_priority_and_its_sla_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(tmp_path, capsys, [opened()], until="2026-11-26T02:30:00Z")
    adopt = line(out, 1)
    assert adopt["action"] == "adopt" and adopt["external_id"] == "d1" and adopt["ticket_id"] == "1"
    assert (adopt["impact"], adopt["urgency"], adopt["priority"]) == (2, 2, 2)
    assert adopt["sla_due"] == "2026-11-26T02:15:00+00:00"  # P2: the 1st-line response, 15 minutes
    assert adopt["ci"] == "erp-app02" and adopt["category"] and adopt["assignment_group"]
    assert adopt["reason"].startswith("接管 adopted into the incident process: P2")
    # a P2 interrupts a service: the outage notice at once, by e-mail (P2), the incident manager included
    assert ("02:00", "email", ("servicedesk@metro.example", INCIDENT_MANAGER)) in events(out, "outage")
    # the same ladder as an alert's: P2 level 1 after 5 minutes to the project manager
    escalations = [(e["at"][11:16], e["role"]) for e in out if e.get("type") == "escalation"]
    assert escalations[:2] == [("02:05", "project_manager"), ("02:10", "maintenance_engineer")]
    assert all(e["external_id"] == "d1" for e in out if "type" in e and "action" not in e)


def test_a_desk_priority_that_disagrees_with_the_matrix_keeps_the_matrix_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(tmp_path, capsys, [opened(impact=1, urgency=1, priority=4)], until=at(1))
    adopt = line(out, 1)
    assert adopt["priority"] == 1
    assert "the desk set P4, but impact 1 × urgency 1 gives P1: the priority is the matrix's" in adopt["reason"]
    assert ("02:00", "phone", ("+86 21 6000 8888", INCIDENT_MANAGER_PHONE)) in events(out, "outage")


def test_an_opened_ticket_is_a_duplicate_of_an_alert_made_one_when_it_reports_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alert = {
        "source": "zabbix",
        "external_id": "z1",
        "title": "Interface Gi1/0/1 down",
        "ci": "core-sw01",
        "host_groups": ["Metro/Network core"],
        "severity": 5,
        "occurred_at": at(0),
    }
    desk = opened(2, title="Interface Gi1/0/1 down", ci="core-sw01", source="monitoring", impact=1, urgency=1)
    out = run(tmp_path, capsys, [alert, desk], until=at(3))
    adopt = line(out, 2)
    assert adopt["action"] == "adopt" and adopt["duplicate_of"] == "z1" and adopt["ticket_id"] == "2"
    assert "duplicate #1 of master zabbix:z1" in adopt["reason"]


def test_an_open_line_without_a_title_is_a_dead_letter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(tmp_path, capsys, [opened(title=""), opened(1, external_id="d2")], until=at(2))
    assert line(out, 1)["action"] == "dead_letter" and "title" in line(out, 1)["reason"]
    assert line(out, 2)["ticket_id"] == "1"  # the refused line took no number


# --- reject --------------------------------------------------------------------------------------


def test_a_rejection_without_a_reason_is_refused_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [opened(), control("assign", 3, group="finance-apps", assignee="wangf"), control("reject", 5, by="wangf")]
    out = run(tmp_path, capsys, rows, until=at(5))
    reject = line(out, 3)
    assert reject["refused"].startswith("拒绝被撤销 rejection refused: wangf rejected the assignment without a reason")
    assert reject["assignment_group"] == "finance-apps"  # the assignment stands
    assert events(out, "policy_alert") == [("02:05", "email", (INCIDENT_MANAGER,))]


def test_a_rejection_goes_back_to_the_first_line_and_the_second_escalates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        opened(),
        control("assign", 3, group="finance-apps", assignee="wangf"),
        control("reject", 6, by="wangf", reason="not ours: the login service is the network's"),
        control("assign", 7, group="network", assignee="zhangw"),
        control("reject", 8, by="zhangw", reason="not network either"),
    ]
    out = run(tmp_path, capsys, rows, until=at(9))
    first = line(out, 3)
    assert "refused" not in first and first["assignment_group"] == "service-desk"
    assert first["reason"].startswith("退回一线 assignment rejected #1 by wangf (finance-apps): not ours")
    # back with the 1st line: the service desk group's handlers hear of it
    assigned = [(e["at"][11:16], tuple(e["recipients"])) for e in out if e.get("status") == "assigned"]
    assert ("02:06", ("servicedesk@metro.example", "zhou.min@metro.example")) in assigned
    second = line(out, 5)
    assert second["assignment_group"] == "service-desk"
    escalated = [e for e in out if e.get("type") == "reassignment_alert" and "rejected 2 times" in e["detail"]]
    assert [(e["at"][11:16], e["recipients"]) for e in escalated] == [("02:08", [INCIDENT_MANAGER])]
    assert not any("rejected 1 times" in (e.get("detail") or "") for e in out)


# --- priority ------------------------------------------------------------------------------------


def test_raising_to_p1_is_a_major_incident_with_the_p1_ladder_from_then_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [opened(), control("priority", 20, by="desk", impact=1, urgency=1, reason="the whole finance department")]
    out = run(tmp_path, capsys, rows, until="2026-11-26T02:40:00Z")
    change = line(out, 2)
    assert change["priority"] == 1 and "refused" not in change
    assert change["reason"].startswith(
        "优先级变更 priority changed P2 → P1 (impact 1 × urgency 1) by desk: the whole finance department"
    )
    outage = [(m, c, r) for m, c, r in events(out, "outage") if m == "02:20"]
    assert outage == [
        ("02:20", "phone", ("+86 21 6000 8888", INCIDENT_MANAGER_PHONE)),
        ("02:20", "email", ("servicedesk@metro.example", INCIDENT_MANAGER)),
    ]
    assert events(out, "policy_alert") == []  # it had a reason
    # the P1 ladder and notices from then on: the deputy director at 30 minutes (P2: 60), by phone too
    deputy = [(e["at"][11:16], e["channel"], e["late"]) for e in out if e.get("role") == "deputy_director"]
    assert deputy == [("02:30", "phone", False), ("02:30", "email", False)]


def test_a_p1_step_already_past_when_the_priority_is_raised_fires_at_once_marked_late(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [opened(), control("priority", 40, by="desk", impact=1, urgency=1, reason="the whole line is down")]
    out = run(tmp_path, capsys, rows, until="2026-11-26T02:50:00Z")
    deputy = [(e["at"][11:16], e["due"][11:16], e["late"]) for e in out if e.get("role") == "deputy_director"]
    assert deputy == [("02:40", "02:30", True), ("02:40", "02:30", True)]  # P1: 30 minutes, phone and e-mail
    assert [m for m, _, _ in events(out, "outage")] == ["02:00", "02:40", "02:40"]


def test_a_priority_change_without_a_reason_is_noted_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(tmp_path, capsys, [opened(), control("priority", 10, by="desk", urgency=3)], until=at(10))
    change = line(out, 2)
    assert change["priority"] == 3 and change["urgency"] == 3
    assert change["reason"].startswith("优先级变更无原因 priority changed P2 → P3 (impact 2 × urgency 3) by desk")
    assert events(out, "policy_alert") == [("02:10", "email", (INCIDENT_MANAGER,))]
    assert events(out, "outage")[-1][0] == "02:00"  # lowered: no new outage notice


def test_a_priority_line_with_a_level_out_of_range_is_a_dead_letter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(tmp_path, capsys, [opened(), control("priority", 1, impact=7)], until=at(1))
    assert line(out, 2)["action"] == "dead_letter"
    assert line(out, 2)["reason"] == "line 2: impact 7 is not one of 1, 2, 3, 4"


# --- the closing gate (§3.1.3.10, IM 5.x) --------------------------------------------------------


def test_a_close_of_a_ticket_never_resolved_is_reverted_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        opened(),
        control("assign", 2, group="network", assignee="zhangw"),
        control("accept", 3, by="zhangw"),
        control("close", 4, by="desk", closure_code="success"),
    ]
    out = run(tmp_path, capsys, rows, until=at(4))
    close = line(out, 4)
    assert close["refused"].startswith("关闭被撤销 close reverted: the ticket is in_progress, never resolved")
    assert "(reverted to in_progress)" in close["reason"]
    assert events(out, "policy_alert") == [("02:04", "email", (INCIDENT_MANAGER,))]


def test_a_close_after_the_user_rejected_the_resolution_is_reverted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        opened(),
        control("assign", 2, group="network", assignee="zhangw"),
        control("accept", 3, by="zhangw"),
        control("resolve", 10, by="zhangw"),
        control("reopen", 12, by="li.na", reason="still cannot log in"),  # the user rejects (IM 5.2)
        control("close", 13, by="desk", closure_code="success"),
        control("resolve", 20, by="zhangw"),
        control("close", 25, by="desk", closure_code="success"),
    ]
    out = run(tmp_path, capsys, rows, until=at(25))
    assert "refused" in line(out, 6) and line(out, 6)["reason"].endswith("(reverted to in_progress)")
    assert "refused" not in line(out, 8)  # resolved again: the desk's close stands
    assert events(out, "policy_alert") == [("02:13", "email", (INCIDENT_MANAGER,))]


# --- verification by the duty-group leader (§3.1.3.10.2) ---------------------------------------


def closed_ticket() -> list[dict[str, Any]]:
    return [
        opened(),
        control("assign", 2, group="network", assignee="zhangw"),
        control("accept", 3, by="zhangw"),
        control("resolve", 10, by="zhangw"),
        control("close", 20, by="desk", closure_code="success"),
    ]


def test_only_a_duty_group_leader_verifies_a_closed_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        *closed_ticket(),
        control("verify", 21, by="zhangw", verdict="ok"),  # an engineer: refused, reported
        control("verify", 22, by="zhou.min", verdict="ok"),  # the duty-group leader
    ]
    out = run(tmp_path, capsys, rows, until=at(22))
    refused = line(out, 6)
    assert refused["refused"] == (
        "核查被拒绝 verification refused: zhangw is not a duty-group leader (PROCESS §1, seed §3.1.3.10.2)"
    )
    assert events(out, "policy_alert") == [("02:21", "email", (INCIDENT_MANAGER,))]
    verified = line(out, 7)
    assert "refused" not in verified and verified["reason"] == "已核查 verified by the duty-group leader zhou.min"


def test_a_leader_sends_a_record_back_with_a_reason_and_it_is_open_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        *closed_ticket(),
        control("verify", 21, by="zhou.min", verdict="reopen"),  # no reason: refused
        control("verify", 22, by="zhou.min", verdict="reopen", reason="the solution field is empty"),
        control("close", 23, by="desk", closure_code="success"),  # not resolved again: refused
    ]
    out = run(tmp_path, capsys, rows, until=at(23))
    assert line(out, 6)["refused"].endswith("sends the record back without a reason")
    back = line(out, 7)
    assert back["reason"] == (
        "核查退回 verification: zhou.min sends the record back (reopened): the solution field is empty"
    )
    assert "refused" in line(out, 8)
    assert [m for m, _, _ in events(out, "policy_alert")] == ["02:21", "02:23"]


def test_a_record_not_closed_cannot_be_verified(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(tmp_path, capsys, [opened(), control("verify", 5, by="zhou.min", verdict="ok")], until=at(5))
    assert line(out, 2)["refused"].endswith("the ticket is open; only a closed record is verified")
