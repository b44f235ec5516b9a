"""Numeric ids are ASCII digits only (issue 17): ``str.isdigit`` also takes Arabic-Indic,
fullwidth and superscript digits, which made ``zabbix:٨٨١٠٠٤`` keys or a raw ``int()`` error."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from connector.contracts.adapters import Rejected
from connector.domain.models import Alert
from connector.integrations.replay import parse_line
from connector.integrations.zabbix.mapping import map_problem
from connector.integrations.zabbix.webhook import classify
from connector.util.unicode_text import ascii_digits
from tests.unit.webhook_payloads import problem_payload, update_payload

ODD_DIGITS = ["٨٨١٠٠٤", "８８１", "²", "۳۲", "3²"]


def test_ascii_digits() -> None:
    assert ascii_digits("881004") and ascii_digits("0")
    assert not any(ascii_digits(text) for text in [*ODD_DIGITS, "", " 1", "-1", "1.0"])


@pytest.mark.parametrize("event_id", ODD_DIGITS)
def test_the_webhook_rejects_an_event_id_in_other_digits_with_a_clear_reason(event_id: str) -> None:
    for payload in (problem_payload(event_id=event_id), update_payload(event_id=event_id)):
        outcome = classify(payload, source="zabbix", tz=ZoneInfo("UTC"))
        assert isinstance(outcome, Rejected), outcome
        assert outcome.reason == (
            f"event_id is not a Zabbix event id (a positive number in ASCII digits 0-9): {event_id!r}"
        )
        assert "invalid literal" not in outcome.reason


def test_the_webhook_still_takes_an_ascii_event_id() -> None:
    outcome = classify(problem_payload(event_id="881004"), source="zabbix", tz=ZoneInfo("UTC"))
    assert isinstance(outcome, Alert) and outcome.key == "zabbix:881004"


@pytest.mark.parametrize("event_id", ODD_DIGITS)
def test_the_poll_path_rejects_an_event_id_in_other_digits(event_id: str) -> None:
    event = {
        "eventid": event_id,
        "name": "Disk full",
        "clock": "1764612903",
        "ns": "0",
        "severity": "4",
        "hosts": [{"hostid": "1", "host": "web01", "name": "web01"}],
        "tags": [],
    }
    assert isinstance(map_problem({**event, "eventid": "881004"}, source="zabbix", groups_by_hostid={}), Alert)
    assert isinstance(map_problem(event, source="zabbix", groups_by_hostid={}), Rejected)


@pytest.mark.parametrize(("field", "value"), [("clock", "١٧٦٤٦١٢٩٠٣"), ("ns", "²"), ("severity", "٤")])
def test_the_poll_path_rejects_other_digits_in_clock_ns_and_severity(field: str, value: str) -> None:
    event = {
        "eventid": "881004",
        "name": "Disk full",
        "clock": "1764612903",
        "ns": "0",
        "severity": "4",
        "hosts": [{"hostid": "1", "host": "web01", "name": "web01"}],
        field: value,
    }
    outcome = map_problem(event, source="zabbix", groups_by_hostid={})
    assert isinstance(outcome, Rejected) and f"bad {field}" in outcome.reason


@pytest.mark.parametrize("field", ["external_id", "reply_to"])
@pytest.mark.parametrize("value", ODD_DIGITS[:3])
def test_a_replay_line_with_an_id_in_other_digits_is_rejected(field: str, value: str) -> None:
    line = {"source": "zabbix", "external_id": "881004", "title": "Disk full", "occurred_at": "2026-12-01T00:00:00Z"}
    item = parse_line(json.dumps({**line, field: value}, ensure_ascii=False), 3)
    assert isinstance(item, Rejected)
    assert item.reason == f"line 3: {field} {value!r} is a number not written in the ASCII digits 0-9"
    assert isinstance(parse_line(json.dumps(line), 3), Alert)  # ASCII digits (and any text id) still pass
    assert isinstance(parse_line(json.dumps({**line, "external_id": "mail-٨"}, ensure_ascii=False), 3), Alert)
