"""The ``json_webhook`` source's JSONPath mapping, with a Grafana-alert-shaped and an
Uptime-Kuma-shaped body, and its config errors with ``file:line``."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connector.cli.main import main
from connector.contracts.adapters import Rejected
from connector.domain.models import Alert
from connector.integrations.json_webhook import JsonWebhookSettings, PayloadError, map_body
from connector.util.secrets import SecretSource

SECRET = SecretSource("j" * 32)
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)

#: Grafana's unified alerting webhook contact point (its "version 1" body)
GRAFANA: dict[str, Any] = {
    "receiver": "itsm",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "grafana_folder": "Storage", "instance": "nas-01", "team": "infra"},
            "annotations": {"summary": "Disk / at 97% on nas-01", "description": "Free space below 3%."},
            "startsAt": "2026-11-26T02:40:00+08:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.example/alerting/grafana/abc/view",
            "fingerprint": "57c6d9296de2ad39",
            "values": {"B": 97.1},
        },
        {
            "status": "resolved",
            "labels": {"alertname": "DiskFull", "grafana_folder": "Storage", "instance": "nas-02"},
            "annotations": {"summary": "Disk / at 91% on nas-02"},
            "startsAt": "2026-11-26T01:00:00Z",
            "endsAt": "2026-11-26T02:30:00Z",
            "fingerprint": "1e2f3a4b5c6d7e8f",
        },
    ],
    "groupLabels": {"alertname": "DiskFull"},
    "externalURL": "https://grafana.example/",
    "version": "1",
    "title": "[FIRING:1, RESOLVED:1] DiskFull",
}
GRAFANA_MAPPING: dict[str, Any] = {
    "items": "$.alerts[*]",
    "fields": {
        "external_id": ["$.fingerprint", "$.startsAt"],
        "title": "$.annotations.summary",
        "description": "$.annotations.description",
        "ci": "$.labels.instance",
        "severity": "$.labels.severity",
        "host_groups": "$.labels.grafana_folder",
        "tags": "$.labels",
        "symptom": "$.labels.alertname",
        "occurred_at": "$.startsAt",
        "status": "$.status",
    },
    "default_severity": 3,
}

#: Uptime Kuma's webhook notification (application/json): one heartbeat of one monitor
KUMA: dict[str, Any] = {
    "heartbeat": {
        "monitorID": 7,
        "status": 0,
        "time": "2026-11-26 02:41:12.345",
        "msg": "timeout of 48000ms exceeded",
        "important": True,
    },
    "monitor": {"id": 7, "name": "Ticketing API", "url": "https://api.metro.example/health", "type": "http"},
    "msg": "[Ticketing API] [🔴 Down] timeout of 48000ms exceeded",
}
KUMA_MAPPING: dict[str, Any] = {
    "fields": {
        "external_id": "$.monitor.id",
        "title": "$.msg",
        "description": "$.heartbeat.msg",
        "ci": "$.monitor.name",
        "occurred_at": "$.heartbeat.time",
        "status": "$.heartbeat.status",
    },
    "resolved_values": ["1"],
    "severities": {},
    "default_severity": 4,
    "timezone": "Asia/Shanghai",
}


def settings(mapping: dict[str, Any], **more: Any) -> JsonWebhookSettings:
    return JsonWebhookSettings.model_validate({"secret": SECRET, **mapping, **more})


def test_a_grafana_body_is_one_alert_per_alert() -> None:
    firing, resolved = map_body(GRAFANA, source="grafana", settings=settings(GRAFANA_MAPPING), now=NOW)
    assert isinstance(firing, Alert) and isinstance(resolved, Alert)
    assert firing.external_id == "57c6d9296de2ad39@2026-11-26T02:40:00+08:00"
    assert firing.title == "Disk / at 97% on nas-01" and firing.description == "Free space below 3%."
    assert firing.ci == "nas-01" and firing.host_groups == ("Storage",) and firing.symptom == "DiskFull"
    assert firing.tags["team"] == "infra" and firing.severity == 3
    assert firing.occurred_at == datetime(2026, 11, 25, 18, 40, tzinfo=UTC) and firing.recovered_at is None
    assert resolved.recovered_at == NOW  # status "resolved": over when we were told


def test_endsat_as_recovered_at_is_empty_while_firing() -> None:
    mapping = {**GRAFANA_MAPPING, "fields": {**GRAFANA_MAPPING["fields"], "recovered_at": "$.endsAt"}}
    firing, resolved = map_body(GRAFANA, source="grafana", settings=settings(mapping), now=NOW)
    assert isinstance(firing, Alert) and firing.recovered_at is None  # 0001-01-01: Go's zero time
    assert isinstance(resolved, Alert) and resolved.recovered_at == datetime(2026, 11, 26, 2, 30, tzinfo=UTC)


def test_an_uptime_kuma_down_then_up() -> None:
    kuma = settings(KUMA_MAPPING)
    (down,) = map_body(KUMA, source="kuma", settings=kuma, now=NOW)
    assert isinstance(down, Alert)
    assert down.external_id == "7" and down.ci == "Ticketing API" and down.severity == 4
    assert down.title.startswith("[Ticketing API]") and down.description == "timeout of 48000ms exceeded"
    assert down.occurred_at == datetime(2026, 11, 25, 18, 41, 12, 345000, tzinfo=UTC)  # Asia/Shanghai
    up = copy.deepcopy(KUMA)
    up["heartbeat"].update(status=1, time="2026-11-26 02:45:00.000")
    (over,) = map_body(up, source="kuma", settings=kuma, now=NOW)
    assert isinstance(over, Alert) and over.external_id == "7" and over.recovered_at == NOW


def test_times_severities_and_a_missing_title() -> None:
    mapping = {"fields": {"external_id": "$.id", "title": "$.t", "occurred_at": "$.at", "severity": "$.sev"}}
    ms = map_body({"id": 1, "t": "x", "at": 1764124800000, "sev": "2"}, source="s", settings=settings(mapping), now=NOW)
    assert isinstance(ms[0], Alert) and ms[0].occurred_at == datetime(2025, 11, 26, 2, 40, tzinfo=UTC)
    assert ms[0].severity == 2
    named = settings(mapping, severities={"High": 4})
    (high,) = map_body({"id": 1, "t": "x", "sev": "high"}, source="s", settings=named, now=NOW)
    assert isinstance(high, Alert) and high.severity == 4 and high.occurred_at == NOW
    (bad,) = map_body({"id": 1, "t": "", "at": "soon"}, source="s", settings=settings(mapping), now=NOW)
    assert isinstance(bad, Rejected) and "no title at $.t" in bad.reason
    (no_id,) = map_body({"t": "x"}, source="s", settings=settings(mapping), now=NOW)
    assert isinstance(no_id, Rejected) and "no external_id" in no_id.reason
    (late,) = map_body({"id": 1, "t": "x", "at": "soon"}, source="s", settings=settings(mapping), now=NOW)
    assert isinstance(late, Rejected) and "occurred_at is not a time" in late.reason


@pytest.mark.parametrize("body", [{"alerts": []}, {"other": 1}, {"alerts": [1, 2]}])
def test_a_body_without_items_is_a_payload_error(body: Any) -> None:
    with pytest.raises(PayloadError):
        map_body(body, source="grafana", settings=settings(GRAFANA_MAPPING), now=NOW)


@pytest.mark.parametrize(
    "change",
    [
        {"items": "$.alerts[*"},
        {"fields": {"external_id": "$..[", "title": "$.t"}},
        {"fields": {"external_id": ["$.a", "$.b["], "title": "$.t"}},
        {"fields": {"title": "$.t"}},
        {"fields": {"external_id": "$.a", "title": "$.t", "colour": "$.c"}},
        {"timezone": "Mars/Olympus"},
        {"severities": {"high": 7}},
    ],
)
def test_bad_mappings_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        settings({**KUMA_MAPPING, **change})


def test_a_bad_jsonpath_is_a_config_error_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ITSM_WEBHOOK_SECRET", "j" * 32)
    config = tmp_path / "config.yaml"
    config.write_text(
        "state: {path: state.db}\n"
        "backend: {type: local, path: tickets.db}\n"
        "http: {port: 0}\n"
        "sources:\n"
        "  - type: json_webhook\n"
        "    name: kuma\n"
        "    secret: ${ITSM_WEBHOOK_SECRET}\n"
        "    fields:\n"
        "      external_id: $.monitor.id\n"
        "      title: $.msg[\n",
        encoding="utf-8",
    )
    assert main(["validate", "--config", str(config)]) != 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "config.yaml:10" in text and "not a JSONPath expression" in text, text
