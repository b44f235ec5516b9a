"""Zabbix event dicts → Alert / Rejected (connector.integrations.zabbix.mapping): pure, no I/O.

The events are shaped like real Zabbix 6.0.14 ``event.get`` output (every value a string).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connector.contracts.adapters import Rejected
from connector.domain.models import Alert, TicketSource
from connector.integrations.zabbix.mapping import SEVERITY_NAMES, event_clock, map_problem, map_recovery, merge_tags

CLOCK = 1714557600  # 2024-05-01 10:00:00 UTC
GROUPS = {"10559": ["Linux servers", "Databases"], "10560": ["Databases", "Web"]}


def problem_event(**overrides: Any) -> dict[str, Any]:
    """A problem event as ``event.get(output=extend, selectHosts, selectTags)`` returns it."""
    event: dict[str, Any] = {
        "eventid": "123",
        "source": "0",
        "object": "0",
        "objectid": "23133",
        "clock": str(CLOCK),
        "value": "1",
        "acknowledged": "0",
        "ns": "95995266",
        "name": "Disk almost full on db01",
        "severity": "4",
        "r_eventid": "0",
        "c_eventid": "0",
        "correlationid": "0",
        "userid": "0",
        "opdata": "used: 95 %",
        "hosts": [{"hostid": "10559", "host": "db01", "name": "Database 01"}],
        "suppressed": "0",
        "urls": [],
        "tags": [
            {"tag": "service", "value": "billing"},
            {"tag": "scope", "value": "capacity"},
            {"tag": "scope", "value": "availability"},
        ],
    }
    event.update(overrides)
    return event


def alert_of(event: dict[str, Any], **kwargs: Any) -> Alert:
    result = map_problem(event, source="zbx-prod", groups_by_hostid=GROUPS, **kwargs)
    assert isinstance(result, Alert), result
    return result


def rejected_of(event: dict[str, Any]) -> Rejected:
    result = map_problem(event, source="zbx-prod", groups_by_hostid=GROUPS)
    assert isinstance(result, Rejected), result
    return result


# --- problems ----------------------------------------------------------------------------------


def test_problem_event_becomes_alert_with_every_field() -> None:
    event = problem_event()
    alert = alert_of(event)

    assert alert.source == "zbx-prod"
    assert alert.external_id == "123"
    assert alert.title == "Disk almost full on db01"
    assert alert.ci == "db01"  # technical name, not the visible one
    assert alert.service == "billing"
    assert alert.host_groups == ("Databases", "Linux servers")
    assert alert.tags == {"service": "billing", "scope": "capacity,availability"}
    assert alert.severity == 4
    assert alert.origin is TicketSource.MONITORING
    assert alert.occurred_at == datetime(2024, 5, 1, 10, 0, 0, 95995, tzinfo=UTC)
    assert alert.recovered_at is None
    assert alert.raw == event
    assert alert.key == "zbx-prod:123"


def test_description_is_readable_and_complete() -> None:
    text = alert_of(problem_event()).description

    assert text.splitlines() == [
        "Problem: Disk almost full on db01",
        "Host: Database 01 (db01)",
        "Host groups: Databases, Linux servers",
        "Severity: High (4)",
        "Operational data: used: 95 %",
        "Started: 2024-05-01 10:00:00 UTC",
        "Trigger id: 23133",
        "Event id: 123",
        "Tags: service=billing, scope=capacity,availability",
    ]


def test_description_skips_empty_parts_and_same_visible_name() -> None:
    event = problem_event(opdata="", tags=[], hosts=[{"hostid": "1", "host": "web", "name": "web"}])
    text = alert_of(event).description

    assert "Host: web\n" in text
    assert "Operational data" not in text
    assert "Tags" not in text
    assert "Host groups" not in text  # host 1 has no known groups


def test_without_service_tag_service_is_none() -> None:
    alert = alert_of(problem_event(tags=[{"tag": "env", "value": "prod"}, {"tag": "service", "value": ""}]))

    assert alert.service is None
    assert alert.tags == {"env": "prod", "service": ""}


def test_event_with_several_hosts_takes_first_as_ci_and_all_groups() -> None:
    event = problem_event(
        hosts=[
            {"hostid": "10560", "host": "web01", "name": "web01"},
            {"hostid": "10559", "host": "db01", "name": "Database 01"},
        ]
    )
    alert = alert_of(event)

    assert alert.ci == "web01"
    assert alert.host_groups == ("Databases", "Linux servers", "Web")
    assert "Host: web01\nHost: Database 01 (db01)" in alert.description


@pytest.mark.parametrize("severity", sorted(SEVERITY_NAMES))
def test_every_zabbix_severity_is_kept(severity: int) -> None:
    alert = alert_of(problem_event(severity=str(severity)))

    assert alert.severity == severity
    assert f"Severity: {SEVERITY_NAMES[severity]} ({severity})" in alert.description


def test_missing_ns_means_whole_second() -> None:
    event = problem_event()
    del event["ns"]

    assert alert_of(event).occurred_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_integer_ids_and_clock_are_accepted() -> None:
    alert = alert_of(problem_event(eventid=123, clock=CLOCK, ns=0, severity=2))

    assert (alert.external_id, alert.severity) == ("123", 2)
    assert alert.occurred_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


# --- malformed events --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"hosts": []}, "event 123 has no host"),
        ({"hosts": None}, "event 123 has no host"),
        ({"hosts": [{"hostid": "1", "host": "", "name": "x"}]}, "event 123 has no host"),
        ({"clock": "abc"}, "event 123 has a bad clock: 'abc'"),
        ({"clock": "0"}, "event 123 has a bad clock: '0'"),
        ({"clock": "-5"}, "event 123 has a bad clock: '-5'"),
        ({"clock": None}, "event 123 has a bad clock: None"),
        ({"clock": "99999999999999999"}, "event 123 has a bad clock: '99999999999999999'"),
        ({"ns": "x"}, "event 123 has a bad ns: 'x'"),
        ({"ns": "1000000000"}, "event 123 has a bad ns: '1000000000'"),
        ({"name": ""}, "event 123 has no name"),
        ({"name": None}, "event 123 has no name"),
        ({"severity": "7"}, "event 123 has a bad severity: '7'"),
        ({"severity": "high"}, "event 123 has a bad severity: 'high'"),
        ({"tags": "service=x"}, "event 123 has bad tags: 'service=x'"),
    ],
)
def test_malformed_event_is_rejected_with_precise_reason(overrides: dict[str, Any], reason: str) -> None:
    event = problem_event(**overrides)
    rejected = rejected_of(event)

    assert rejected == Rejected("zbx-prod", "123", reason, event)


def test_missing_name_key_is_rejected() -> None:
    event = problem_event()
    del event["name"]

    assert rejected_of(event).reason == "event 123 has no name"


@pytest.mark.parametrize("eventid", [None, "", "abc", "0", "-1"])
def test_event_without_usable_eventid_is_rejected_without_external_id(eventid: Any) -> None:
    event = problem_event(eventid=eventid)
    rejected = rejected_of(event)

    assert rejected.external_id is None
    assert rejected.reason == f"event has no eventid: {eventid!r}"
    assert rejected.raw == event


def test_missing_eventid_key_is_rejected() -> None:
    event = problem_event()
    del event["eventid"]

    assert rejected_of(event).reason == "event has no eventid: None"


def test_event_without_host_is_accepted_when_host_not_required() -> None:
    alert = alert_of(problem_event(hosts=[]), require_host=False)

    assert alert.ci is None
    assert alert.host_groups == ()
    assert "Host: unknown (no longer in Zabbix)" in alert.description


# --- recoveries --------------------------------------------------------------------------------


def test_recovery_alert_has_same_fields_plus_recovered_at() -> None:
    problem = alert_of(problem_event(r_eventid="130"))
    recovery = map_recovery(problem, {"eventid": "130", "clock": str(CLOCK + 600), "ns": "500000000"})

    assert isinstance(recovery, Alert)
    assert recovery.recovered_at == datetime(2024, 5, 1, 10, 10, 0, 500000, tzinfo=UTC)
    assert recovery.model_dump(exclude={"recovered_at"}) == problem.model_dump(exclude={"recovered_at"})
    assert recovery.event_key == "123/recovery"


def test_recovery_in_the_same_second_as_the_problem_is_fine() -> None:
    problem = alert_of(problem_event(r_eventid="130", ns="0"))
    recovery = map_recovery(problem, {"eventid": "130", "clock": str(CLOCK), "ns": "0"})

    assert isinstance(recovery, Alert)
    assert recovery.recovered_at == problem.occurred_at


def test_recovery_with_bad_clock_is_rejected() -> None:
    problem = alert_of(problem_event(r_eventid="130"))
    recovery = map_recovery(problem, {"eventid": "130", "clock": "soon"})

    assert isinstance(recovery, Rejected)
    assert recovery.external_id == "123"
    assert recovery.reason == "recovery event 130 of event 123 has a bad clock: 'soon'"


def test_recovery_before_problem_is_rejected() -> None:
    problem = alert_of(problem_event(r_eventid="130"))
    recovery = map_recovery(problem, {"eventid": "130", "clock": str(CLOCK - 60)})

    assert isinstance(recovery, Rejected)
    assert recovery.reason.startswith("recovery event 130 of event 123 has a clock before the problem")


def test_missing_recovery_event_is_rejected() -> None:
    problem = alert_of(problem_event(r_eventid="130"))
    recovery = map_recovery(problem, None)

    assert isinstance(recovery, Rejected)
    assert recovery.reason == "recovery event 130 of event 123 was not found"


# --- helpers -----------------------------------------------------------------------------------


def test_merge_tags_joins_repeated_names_and_drops_nameless() -> None:
    tags = [
        {"tag": "scope", "value": "cpu"},
        {"tag": "scope", "value": "load"},
        {"tag": "scope", "value": "cpu"},
        {"tag": "", "value": "orphan"},
        {"tag": "flag", "value": ""},
    ]

    assert merge_tags(tags) == {"scope": "cpu,load", "flag": ""}


def test_event_clock_adds_nanoseconds_as_microseconds() -> None:
    when = event_clock({"clock": "1714557600", "ns": "999999999"}, "event 1")

    assert when == datetime(2024, 5, 1, 10, 0, 0, 999999, tzinfo=UTC)
    assert when.tzinfo is UTC
