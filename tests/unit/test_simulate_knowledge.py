"""``simulate`` shows knowledge (issue 13): the ``similar`` line of a new ticket naming what was
solved before, the ``kb_candidate`` line of a successful close with a root cause (once), the
``kb_used`` control line — each a line of every field, as documented in the README."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.runtime.simulate import FIELDS
from tests.unit.test_simulate import down, run_simulate, write

FIX = "Root cause: a flapping SFP on Gi1/0/1\nReplaced the SFP module."


def lines() -> list[Any]:
    return [
        down("1", "2026-11-26T02:43:00+08:00"),
        {"type": "resolve", "external_id": "1", "at": "2026-11-26T03:00:00+08:00", "solution": FIX},
        {"type": "close", "external_id": "1", "at": "2026-11-26T04:00:00+08:00", "closure_code": "success"},
        {"type": "close", "external_id": "1", "at": "2026-11-26T04:05:00+08:00", "closure_code": "success"},
        down("2", "2026-11-30T09:00:00+08:00"),  # the same trigger on the same CI, days later
        {"type": "kb_used", "external_id": "2", "at": "2026-11-30T09:10:00+08:00", "by": "wangf"},
        down("3", "2026-11-30T09:01:00+08:00", ci="edge-sw07", title="Uplink down"),  # nothing alike
    ]


def test_similar_and_kb_candidate_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_simulate(capsys, "--input", str(write(tmp_path / "in.jsonl", lines())))
    actions = [(o["line"], o.get("action")) for o in out]
    assert actions == [
        (1, "create"),
        (2, "resolve"),
        (3, "close"),
        (3, "kb_candidate"),
        (4, "close"),  # read again: no second candidate
        (5, "recurrence"),
        (5, "similar"),
        (6, "kb_used"),
        (7, "create"),  # no similar line: nothing solved is alike
    ]
    kb = next(o for o in out if o["action"] == "kb_candidate")
    assert set(FIELDS) <= set(kb) and kb["ticket"] == "zabbix:1" and kb["ticket_id"] == "1"
    assert kb["root_cause"] == "a flapping SFP on Gi1/0/1" and kb["solution"] == FIX
    similar = next(o for o in out if o["action"] == "similar")
    assert set(FIELDS) <= set(similar) and similar["ticket"] == "zabbix:2" and similar["ticket_id"] == "2"
    [named] = similar["similar"]
    assert named == {
        "ticket": "zabbix:1",
        "ticket_id": "1",
        "match": "same_ci_symptom",
        "score": 100.0,
        "title": "Interface Gi1/0/1 down",
        "solution": FIX,
    }
    used = next(o for o in out if o["action"] == "kb_used")
    assert used["ticket"] == "zabbix:2" and "wangf" in used["reason"]


def test_without_a_root_cause_no_candidate_and_kb_used_needs_a_ticket(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = [
        down("1", "2026-11-26T02:43:00+08:00"),
        {"type": "resolve", "external_id": "1", "at": "2026-11-26T03:00:00+08:00", "solution": "rebooted it"},
        {"type": "close", "external_id": "1", "at": "2026-11-26T04:00:00+08:00"},
        {"type": "kb_used", "external_id": "nope", "at": "2026-11-26T04:01:00+08:00"},
    ]
    out = run_simulate(capsys, "--input", str(write(tmp_path / "in.jsonl", given)))
    assert [o.get("action") for o in out] == ["create", "resolve", "close", "dead_letter"]
    assert "no ticket was made for 'nope'" in out[-1]["reason"]
