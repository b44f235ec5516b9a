"""Alertmanager webhook notifications (payload version 4) as its documentation describes them:
a group of two ``HighCPU`` alerts of one job firing, then the same group resolved."""

from __future__ import annotations

import copy
from typing import Any

FIRING: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}:{alertname="HighCPU"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "itsm-connector",
    "groupLabels": {"alertname": "HighCPU"},
    "commonLabels": {"alertname": "HighCPU", "job": "node", "severity": "critical"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager.example:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighCPU",
                "instance": "web-01:9100",
                "job": "node",
                "severity": "critical",
            },
            "annotations": {
                "summary": "CPU above 95% on web-01:9100",
                "description": "5-minute load average is 12.4 on 4 cores.",
            },
            "startsAt": "2026-11-26T02:38:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=cpu",
            "fingerprint": "a1b2c3d4e5f60718",
        },
        {
            "status": "firing",
            "labels": {
                "alertname": "HighCPU",
                "instance": "web-02:9100",
                "job": "node",
                "severity": "critical",
            },
            "annotations": {"summary": "CPU above 95% on web-02:9100"},
            "startsAt": "2026-11-26T02:39:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=cpu",
            "fingerprint": "0f1e2d3c4b5a6978",
        },
    ],
}


def resolved(ends_at: str = "2026-11-26T02:50:00Z") -> dict[str, Any]:
    """The same group once both alerts have stopped firing."""
    payload = copy.deepcopy(FIRING)
    payload["status"] = "resolved"
    for alert in payload["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = ends_at
    return payload


def firing() -> dict[str, Any]:
    """A fresh copy of the firing notification."""
    return copy.deepcopy(FIRING)
