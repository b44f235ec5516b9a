"""Alertmanager's payload version 4 → one Alert per element of ``alerts[]`` (pure mapping)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from connector.contracts.adapters import Rejected
from connector.domain.models import Alert
from connector.integrations.alertmanager import AlertmanagerSettings, PayloadError, map_payload
from connector.integrations.alertmanager.mapping import parse_time
from connector.util.secrets import SecretSource
from tests.unit.alertmanager_payloads import firing, resolved

SECRET = SecretSource("s" * 32)


def settings(**fields: Any) -> AlertmanagerSettings:
    return AlertmanagerSettings.model_validate({"secret": SECRET, **fields})


def alerts(payload: Any, **fields: Any) -> list[Alert]:
    items = map_payload(payload, source="prom", settings=settings(**fields)).items
    assert all(isinstance(item, Alert) for item in items), items
    return [item for item in items if isinstance(item, Alert)]


def test_a_firing_group_is_one_alert_per_element() -> None:
    first, second = alerts(firing())
    assert first.source == "prom"
    assert first.external_id == "a1b2c3d4e5f60718@2026-11-26T02:38:00.123456Z"
    assert first.title == "CPU above 95% on web-01:9100"
    assert first.ci == "web-01:9100" and second.ci == "web-02:9100"
    assert first.severity == 5
    assert first.symptom == "HighCPU"
    assert first.occurred_at == datetime(2026, 11, 26, 2, 38, 0, 123456, tzinfo=UTC)
    assert first.recovered_at is None
    assert first.tags == {"alertname": "HighCPU", "instance": "web-01:9100", "job": "node", "severity": "critical"}
    assert "5-minute load average" in first.description and "prometheus.example" in first.description
    assert first.raw["receiver"] == "itsm-connector" and first.raw["alert"]["fingerprint"] == "a1b2c3d4e5f60718"


def test_resolved_keeps_the_ids_and_sets_recovered_at() -> None:
    fired = alerts(firing())
    done = alerts(resolved("2026-11-26T04:50:00+01:00"))
    assert [a.external_id for a in done] == [a.external_id for a in fired]
    assert done[0].recovered_at == datetime(2026, 11, 26, 3, 50, tzinfo=UTC)
    # an endsAt before startsAt (clock skew between Prometheus servers) ends when it began
    early = alerts(resolved("2026-11-26T02:00:00Z"))[0]
    assert early.recovered_at == early.occurred_at


def test_a_refire_after_a_resolve_is_a_new_problem() -> None:
    again = firing()
    again["alerts"][0]["startsAt"] = "2026-11-26T03:30:00Z"
    assert alerts(again)[0].external_id != alerts(firing())[0].external_id


def test_labels_choose_ci_severity_groups_and_service() -> None:
    payload = firing()
    labels = payload["alerts"][0]["labels"]
    del labels["instance"]
    labels.update(host="db-01", severity="Warning", service="Billing", team="dba")
    del payload["alerts"][0]["annotations"]["summary"]
    alert = alerts(payload, host_group_labels=["job", "team"])[0]
    assert alert.ci == "db-01" and alert.severity == 3 and alert.service == "Billing"
    assert alert.host_groups == ("dba", "node")
    assert alert.title == "HighCPU"  # no summary: the alert name
    labels["severity"] = "page"
    assert alerts(payload)[0].severity is None
    assert alerts(payload, default_severity=2)[0].severity == 2
    assert alerts(payload, severities={"PAGE": 4})[0].severity == 4
    assert alerts(payload, ci_labels=["nodename"])[0].ci is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"fingerprint": ""}, "no fingerprint"),
        ({"status": "pending"}, "neither firing nor resolved"),
        ({"startsAt": "yesterday"}, "startsAt is not an RFC 3339 time"),
        ({"status": "resolved"}, "a resolved alert has no endsAt"),
        ({"labels": {"job": "node"}, "annotations": {}}, "neither annotations.summary nor labels.alertname"),
        ({"labels": ["alertname"]}, "labels is not an object"),
    ],
)
def test_a_bad_element_is_rejected_beside_the_good_one(change: dict[str, Any], reason: str) -> None:
    payload = firing()
    payload["alerts"][0].update(change)
    first, second = map_payload(payload, source="prom", settings=settings()).items
    assert isinstance(first, Rejected) and reason in first.reason, first
    assert isinstance(second, Alert)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "not an object"),
        ({**firing(), "version": "3"}, "version '3'"),
        ({**firing(), "alerts": {}}, "alerts is not a list"),
        ({"version": "4"}, "alerts is not a list"),
    ],
)
def test_a_payload_that_is_not_a_notification_is_an_error(payload: Any, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        map_payload(payload, source="prom", settings=settings())


def test_truncated_alerts_are_reported() -> None:
    payload = {**firing(), "truncatedAlerts": 7}
    assert map_payload(payload, source="prom", settings=settings()).truncated == 7


def test_times() -> None:
    assert parse_time("0001-01-01T00:00:00Z", "endsAt") is None
    assert parse_time("2026-11-26T02:38:00.5-02:00", "t") == datetime(2026, 11, 26, 4, 38, 0, 500000, tzinfo=UTC)
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_time("2026-11-26 02:38:00", "t")


@pytest.mark.parametrize(
    "fields",
    [
        {"secret": SecretSource("short")},
        {"secret": "s" * 32},  # written in the file,
        {"secret": SECRET, "path": "alertmanager"},
        {"secret": SECRET, "path": "/am/"},
        {"secret": SECRET, "path": "/healthz"},
        {"secret": SECRET, "severities": {"critical": 9}},
        {"secret": SECRET, "ci_labels": []},
        {"secret": SECRET, "unknown": 1},
    ],
)
def test_bad_settings_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AlertmanagerSettings.model_validate(fields)
