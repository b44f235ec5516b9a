"""``simulate``: one JSON line per input line, deterministic, the same decisions as the daemon's
path on the local backend, and a bad line never stops the ones after it."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.cli.main import main
from connector.domain.clock import FakeClock
from connector.plugins.local import LocalBackend
from connector.runtime.simulate import FIELDS
from connector.state.store import Store
from connector.util.synthetic import alert_stream


def run_simulate(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["simulate", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n" for line in lines),
        encoding="utf-8",
    )
    return path


def down(eid: str, at: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": "zabbix",
        "external_id": eid,
        "title": "Interface Gi1/0/1 down",
        "ci": "core-sw01",
        "host_groups": ["Metro/Network core"],
        "severity": 5,
        "occurred_at": at,
        **extra,
    }


def test_every_line_gets_an_answer_with_every_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path / "in.jsonl",
        [
            down("1", "2026-11-26T02:43:00+08:00"),
            down("1", "2026-11-26T02:43:00+08:00"),  # exact repeat
            "# a comment is not a line of output",
            down("2", "2026-11-26T02:44:00+08:00"),
            "{not json",
            {"source": "zabbix", "external_id": "3", "title": "no time"},
            down("1", "2026-11-26T02:43:00+08:00", recovered_at="2026-11-26T03:10:00+08:00"),
            {"type": "close", "external_id": "1", "at": "2026-11-26T04:00:00+08:00"},
            down("4", "2026-11-27T09:00:00+08:00"),
            {"type": "close", "external_id": "nope", "at": "2026-11-27T10:00:00+08:00"},
        ],
    )
    out = run_simulate(capsys, "--input", str(path))
    assert all(list(line) == [*FIELDS, *(["type"] if line["action"] == "close" else [])] for line in out)
    assert [(o["line"], o["action"]) for o in out] == [
        (1, "create"),
        (2, "ignored"),
        (4, "duplicate"),
        (5, "dead_letter"),
        (6, "dead_letter"),
        (7, "resolve"),
        (8, "close"),
        (9, "recurrence"),
        (10, "dead_letter"),
    ]
    first, repeat, dup, not_json, no_time, resolve, close, recurrence, nothing = out
    assert first["priority"] == 1 and first["category"] == "网络" and first["assignment_group"] == "网络组"
    assert first["sla_due"] == "2026-11-25T18:53:00+00:00"  # P1: the 1st-line response, 10 minutes
    assert first["fingerprint"] and first["ticket_id"] == "1"
    assert repeat["reason"] == "exact repeat of line 1: this event was already received (idempotency)"
    assert dup["duplicate_of"] == "1" and dup["fingerprint"] == first["fingerprint"] and dup["ticket_id"] == "2"
    assert not_json["reason"].startswith("line 5: not JSON")
    assert no_time["reason"] == "line 6: occurred_at: Field required" and no_time["external_id"] == "3"
    assert resolve["ticket"] == "zabbix:1" and resolve["at"] == "2026-11-25T19:10:00+00:00"
    assert close["ticket"] == "zabbix:1"
    assert recurrence["recurrence_of"] == "1" and "closed" in recurrence["reason"]
    assert nothing["reason"] == "line 10: no ticket was made for 'nope', so there is nothing to close"


def test_output_is_the_same_on_every_run_and_now_holds_the_clock_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "in.jsonl", list(alert_stream(200, hosts=10, triggers=5, seed=7)))
    once = run_simulate(capsys, "--input", str(path))
    assert once == run_simulate(capsys, "--input", str(path))
    late = run_simulate(capsys, "--input", str(path), "--now", "2027-01-01T00:00:00Z")
    assert {o["at"] for o in late} == {"2027-01-01T00:00:00+00:00"}
    assert [o["action"] for o in late] == [o["action"] for o in once]  # windows use the events' own times


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--input", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["simulate", "--input", "-", "--now", "yesterday"]) == 2
    assert "--now is not an ISO 8601 time" in capsys.readouterr().err


def test_a_rules_directory_changes_the_decisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "dedup.yaml").write_text("policy: append\n", encoding="utf-8")
    path = write(tmp_path / "in.jsonl", [down("1", "2026-11-26T02:43:00Z"), down("2", "2026-11-26T02:44:00Z")])
    out = run_simulate(capsys, "--input", str(path), "--rules", str(rules))
    assert [o["action"] for o in out] == ["create", "append"]
    assert out[1]["duplicate_of"] == "1" and out[1]["ticket"] == "zabbix:1"


# --- the same decisions as the daemon --------------------------------------------------------------


def test_simulate_decides_like_the_daemon_on_the_local_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1,000 lines with exact repeats, flaps, storms and recoveries: ``once`` against the local
    backend (journal, SQLite ledger, outbox) and ``simulate`` (memory ledger) agree on every
    event's action and on every ticket they make."""
    lines: list[Any] = list(alert_stream(1000, hosts=25, triggers=8, seed=3, mean_gap_seconds=20))
    lines[100] = "{broken"
    path = write(tmp_path / "alerts.jsonl", lines)
    # the stream has no closes: a site rule book that counts recurrences from the resolution
    # (the shipped one counts them from the close, PROCESS §10) lets both paths make some
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "dedup.yaml").write_text("recurrence: {days: 7, after: resolved}\n", encoding="utf-8")
    config = tmp_path / "connector.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            state: {{path: state.db}}
            backend: {{type: local, path: tickets.db}}
            rules_dir: {rules}
            sources:
              - {{type: replay, name: zabbix, path: {path}}}
            """
        ),
        encoding="utf-8",
    )
    assert main(["once", "--config", str(config)]) == 0
    simulated = run_simulate(capsys, "--input", str(path), "--rules", str(rules))
    actions = {o["action"] for o in simulated}
    assert {"create", "duplicate", "append", "resolve", "recurrence", "ignored", "dead_letter"} <= actions

    store = Store(tmp_path / "state.db")
    journal = {(source, key): outcome for source, key, status, outcome in store.journal_outcomes() if status == "done"}
    expected = {}
    for line, out in zip(lines, simulated, strict=True):
        if out["action"] in ("dead_letter",) or "exact repeat" in (out["reason"] or ""):
            continue
        event_key = line["external_id"] + ("/recovery" if line.get("recovered_at") else "")
        expected[(line["source"], event_key)] = out
    assert set(journal) == set(expected)
    for key, out in expected.items():
        assert journal[key].split(":", 1)[0] == out["action"], key
    assert len(store.dead_letters()) == sum(o["action"] == "dead_letter" for o in simulated) == 1

    backend = LocalBackend(tmp_path / "tickets.db", FakeClock(datetime(2026, 1, 1, tzinfo=UTC)))
    made = {t["key"]: t for t in backend.tickets()}
    created = [o for o in simulated if o["action"] in ("create", "duplicate", "recurrence")]
    assert [o["ticket"] for o in created] == [t["key"] for t in backend.tickets()]  # same tickets, same order
    for out in created:
        ticket = made[out["ticket"]]
        for name in (
            "category",
            "area",
            "subarea",
            "nature",
            "service",
            "ci",
            "assignment_group",
            "impact",
            "urgency",
            "priority",
            "fingerprint",
        ):
            assert ticket[name] == out[name], (out["ticket"], name)
        master = ticket["duplicate_of"] and made[ticket["duplicate_of"]]["external_id"]
        original = ticket["recurrence_of"] and made[ticket["recurrence_of"]]["external_id"]
        assert (master or None, original or None) == (out["duplicate_of"], out["recurrence_of"])
        assert str(ticket["id"]) == out["ticket_id"]
    statuses = {t["key"]: t["status"] for t in made.values()}
    assert statuses == {row["key"]: row["status"] for row in store.all_tickets()}


# --- simulate --until: the clock, and the helpdesk's control lines --------------------------------


def life_lines() -> list[Any]:
    def control(kind: str, minute: int, **extra: Any) -> dict[str, Any]:
        return {"type": kind, "external_id": "1", "at": f"2026-11-26T02:{minute:02d}:00Z", **extra}

    return [
        down("1", "2026-11-26T02:00:00Z"),
        control("assign", 4, group="网络组", assignee="zhangw"),
        control("reassign", 6, group="系统组", assignee="wulei", by="zhangw"),
        control("accept", 8, by="wulei"),
        control("suspend", 9),
        control("resume", 40),
        {"type": "resolve", "external_id": "1", "at": "2026-11-26T03:00:00Z", "by": "wulei"},
        {"type": "close", "external_id": "1", "at": "2026-11-26T03:30:00Z", "by": "desk", "closure_code": "success"},
    ]


def test_until_runs_the_sweep_on_the_simulated_clock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "life.jsonl", life_lines())
    out = run_simulate(capsys, "--input", str(path), "--until", "2026-11-26T12:00:00Z")
    events = [o for o in out if "action" not in o]
    actions = [o["action"] for o in out if "action" in o]
    assert actions == ["create", "assign", "reassign", "accept", "suspend", "resume", "resolve", "close"]
    steps = {(e["type"], e["role"], e["at"][11:16]) for e in events if e["type"] in ("escalation", "notice")}
    # P1 escalation at 10/15/30 and notices at 5/15/20/30 minutes of *active* time: the 31 minutes
    # suspended (02:09–02:40) move everything after 02:09; resolved at 03:00, L3 (03:01) never comes
    assert steps == {
        ("notice", "project_manager", "02:05"),
        ("escalation", "project_manager", "02:41"),
        ("escalation", "maintenance_engineer", "02:46"),
        ("notice", "maintenance_manager", "02:46"),
        ("notice", "product_manager", "02:51"),
    }
    assert {e["channel"] for e in events if e["type"] == "escalation"} == {"phone", "email"}  # P1
    (alert,) = {(e["detail"], e["role"]) for e in events if e["type"] == "reassignment_alert"}
    assert alert == ("cross-group reassignment #1: 网络组 → 系统组 by zhangw", "incident_manager")
    assert not any(e["type"].startswith("sla_") for e in events)  # assigned, accepted, resolved in time
    assert all(e["late"] is False and e["due"] == e["at"] for e in events if e["type"] in ("escalation", "notice"))
    status = [(e["status"], e["at"][11:16]) for e in events if e["type"] == "status"]
    assert status == [
        ("open", "02:00"),
        ("assigned", "02:04"),
        ("assigned", "02:06"),
        ("suspended", "02:09"),
        ("resolved", "03:00"),
        ("closed", "03:30"),
    ]


def test_until_an_untouched_p1_breaches_and_escalates_fully(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "one.jsonl", [down("1", "2026-11-26T02:00:00Z")])
    out = run_simulate(capsys, "--input", str(path), "--until", "2026-11-26T10:00:00Z")
    email = sorted((e["type"], e["stage"] or e["role"], e["at"][11:16]) for e in out if e.get("channel") == "email")
    assert ("sla_warning", "response", "02:05") in email and ("sla_breach", "response", "02:10") in email
    assert ("sla_breach", "restore", "10:00") in email  # urgency 1: 8 hours
    assert [e for e in email if e[0] == "escalation"] == [
        ("escalation", "maintenance_engineer", "02:15"),
        ("escalation", "maintenance_manager", "02:30"),
        ("escalation", "project_manager", "02:10"),
    ]


def test_a_bad_control_line_is_a_dead_letter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path / "bad.jsonl",
        [
            down("1", "2026-11-26T02:00:00Z"),
            {"type": "teleport", "external_id": "1", "at": "2026-11-26T02:01:00Z"},
            {"type": "close", "external_id": "1", "at": "2026-11-26T02:02:00Z", "closure_code": "meh"},
            {"type": "accept", "external_id": "nope", "at": "2026-11-26T02:03:00Z"},
        ],
    )
    out = run_simulate(capsys, "--input", str(path))
    reasons = [o["reason"] for o in out if o["action"] == "dead_letter"]
    assert reasons[0].startswith("line 2: unknown control type 'teleport' (known: assign, reassign, accept")
    assert reasons[1].startswith("line 3: closure_code 'meh' is not one of success, success_with_problem")
    assert reasons[2] == "line 4: no ticket was made for 'nope', so there is nothing to accept"
