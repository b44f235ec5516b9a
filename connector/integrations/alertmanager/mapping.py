"""Alertmanager's webhook payload (version 4) as Alerts: pure, no I/O, no clock.

One notification carries a *group* of alerts (``alerts[]``, grouped by the route's
``group_by``), and Alertmanager sends the group again on every change and every
``repeat_interval``: each element becomes one ``Alert`` and the journal's de-duplication makes
the repeats harmless. What identifies a problem is the element's ``fingerprint`` (a hash of its
labels) **plus** its ``startsAt``: the same labels firing again after a resolve is a new
problem, with a new ticket, not a reopened old one.

A payload that is not a version-4 notification at all raises ``PayloadError`` (the endpoint
answers 400 and dead-letters the body); one element that cannot become an alert is a
``Rejected`` with the reason, beside the good ones of the same group.
"""

from __future__ import annotations

__all__ = ["Batch", "PayloadError", "map_alert", "map_payload", "parse_time"]

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from connector.contracts.adapters import Rejected
from connector.domain.errors import ConnectorError
from connector.domain.models import Alert, TicketSource
from connector.integrations.alertmanager.settings import AlertmanagerSettings

#: the payload version this mapping reads (Alertmanager has sent "4" since 0.x)
VERSION = "4"
#: Alertmanager's "not ended" ``endsAt`` (Go's zero time) starts with year 1
_ZERO_YEAR = 1
#: RFC 3339 as Go writes it: fractions up to nanoseconds, Z or an offset
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class PayloadError(ConnectorError, ValueError):
    """The body is not an Alertmanager notification this mapping can read."""


@dataclass(frozen=True)
class Batch:
    """What one notification says: its alerts (and refused elements), and what Alertmanager left out."""

    items: list[Alert | Rejected]
    #: alerts the receiver's ``max_alerts`` cut off (they were never sent)
    truncated: int
    receiver: str


def parse_time(value: Any, what: str) -> datetime | None:
    """An RFC 3339 time (nanoseconds allowed) as aware UTC; ``None`` for Go's zero time."""
    match = _RFC3339.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{what} is not an RFC 3339 time: {value!r}")
    whole, fraction, zone = match.groups()
    micro = (fraction or ".0")[1:7].ljust(6, "0")
    parsed = datetime.fromisoformat(f"{whole}.{micro}{'+00:00' if zone == 'Z' else zone}")
    if parsed.year <= _ZERO_YEAR:
        return None
    return parsed.astimezone(UTC)


def _strings(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} is not an object: {type(value).__name__}")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


def _describe(labels: Mapping[str, str], annotations: Mapping[str, str], generator: str) -> str:
    """The ticket's description: what the rule author wrote, then where to look, then the labels."""
    lines: list[str] = []
    for name in ("description", "summary"):
        if annotations.get(name):
            lines.append(annotations[name])
    for name, text in sorted(annotations.items()):
        if name not in ("description", "summary") and text:
            lines.append(f"{name}: {text}")
    if generator:
        lines.append(f"Source: {generator}")
    if labels:
        lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
    return "\n".join(lines)


def map_alert(element: Any, *, source: str, settings: AlertmanagerSettings, raw: dict[str, Any]) -> Alert | Rejected:
    """One element of ``alerts[]`` as an Alert, or a ``Rejected`` naming the bad field.

    :param raw: what is kept for audit (the element, with the notification's receiver and group).
    """
    if not isinstance(element, Mapping):
        return Rejected(source, None, f"an alert is not an object: {type(element).__name__}", raw)
    fingerprint = element.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint.strip():
        return Rejected(source, None, f"an alert has no fingerprint: {fingerprint!r}", raw)
    fingerprint = fingerprint.strip()
    try:
        labels = _strings(element.get("labels"), "labels")
        annotations = _strings(element.get("annotations"), "annotations")
        status = element.get("status")
        if status not in ("firing", "resolved"):
            raise ValueError(f"status is neither firing nor resolved: {status!r}")
        started = parse_time(element.get("startsAt"), "startsAt")
        if started is None:
            raise ValueError("startsAt is the zero time")
        ended = parse_time(element.get("endsAt", "0001-01-01T00:00:00Z"), "endsAt")
        recovered_at = None
        if status == "resolved":
            if ended is None:
                raise ValueError("a resolved alert has no endsAt")
            recovered_at = max(ended, started)
        alertname = labels.get("alertname", "").strip()
        title = annotations.get("summary", "").strip() or alertname
        if not title:
            raise ValueError("neither annotations.summary nor labels.alertname")
        ci = next((labels[n].strip() for n in settings.ci_labels if labels.get(n, "").strip()), None)
        severity_name = labels.get(settings.severity_label, "").strip().lower()
        severity = settings.severities.get(severity_name, settings.default_severity)
        groups = sorted({labels[n].strip() for n in settings.host_group_labels if labels.get(n, "").strip()})
        generator = element.get("generatorURL")
        return Alert(
            source=source,
            external_id=f"{fingerprint}@{started:%Y-%m-%dT%H:%M:%S.%fZ}",
            title=title,
            description=_describe(labels, annotations, generator if isinstance(generator, str) else ""),
            ci=ci,
            service=labels.get(settings.service_label, "").strip() or None,
            host_groups=tuple(groups),
            tags=labels,
            severity=severity,
            origin=TicketSource.MONITORING,
            occurred_at=started,
            recovered_at=recovered_at,
            raw=raw,
            symptom=alertname or None,
        )
    except ValueError as exc:  # pydantic's ValidationError is one too
        return Rejected(source, fingerprint, f"alert {fingerprint}: {_reason(exc)}", raw)


def map_payload(payload: Any, *, source: str, settings: AlertmanagerSettings) -> Batch:
    """A decoded notification as a ``Batch``; raises ``PayloadError`` when it is not one."""
    if not isinstance(payload, Mapping):
        raise PayloadError(f"body is JSON but not an object: {type(payload).__name__}")
    version = payload.get("version")
    if str(version) != VERSION:
        raise PayloadError(f"not an Alertmanager webhook payload version {VERSION}: version {version!r}")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError(f"alerts is not a list: {type(alerts).__name__}")
    receiver = payload.get("receiver")
    receiver = receiver if isinstance(receiver, str) else ""
    group = payload.get("groupKey")
    truncated = payload.get("truncatedAlerts", 0)
    truncated = truncated if isinstance(truncated, int) and not isinstance(truncated, bool) else 0
    items = [
        map_alert(
            element,
            source=source,
            settings=settings,
            raw={"receiver": receiver, "groupKey": group, "alert": element},
        )
        for element in alerts
    ]
    return Batch(items=items, truncated=max(truncated, 0), receiver=receiver)


def _reason(exc: Exception) -> str:
    """A one-line reason; pydantic errors are shortened to ``field: message``."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'alert'}: {err['msg']}" for err in exc.errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
