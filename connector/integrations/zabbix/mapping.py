"""Turn Zabbix 6.0 ``event.get`` dicts into ``Alert``s, or say precisely why one cannot be.

Pure functions, no I/O: ``ZabbixSource`` fetches the events (with ``selectHosts`` and
``selectTags``), the host groups and the recovery events, and hands them here. Everything the
API returns is a string (``"eventid": "123"``, ``"clock": "1714557600"``), so every field is
converted and checked explicitly; a malformed event becomes a ``Rejected`` naming the field and
the value, and never stops the rest of its batch.
"""

from __future__ import annotations

__all__ = [
    "INTERNAL_TAG_PREFIX",
    "SEVERITY_NAMES",
    "event_clock",
    "map_problem",
    "map_recovery",
    "merge_tags",
    "suppressed_until",
    "trigger_symptom",
]

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from connector.contracts.adapters import Rejected
from connector.domain.models import Alert, TicketSource
from connector.util.unicode_text import ascii_digits

#: tags the connector's media type writes onto events (``process_tags``): ours, not the problem's
INTERNAL_TAG_PREFIX = "__itsm_"

#: Zabbix trigger severities (``event.severity``), as the frontend names them
SEVERITY_NAMES: dict[int, str] = {
    0: "Not classified",
    1: "Information",
    2: "Warning",
    3: "Average",
    4: "High",
    5: "Disaster",
}


def _eventid(event: Mapping[str, Any]) -> str | None:
    """The event id as text, or None when it is missing or not a positive integer string."""
    value = event.get("eventid")
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return text if ascii_digits(text) and int(text) > 0 else None


def event_clock(event: Mapping[str, Any], label: str) -> datetime:
    """The event time (``clock`` seconds + ``ns`` nanoseconds) as an aware UTC datetime.

    Raises ``ValueError`` with a reason such as ``event 123 has a bad clock: 'abc'``. A zero or
    negative clock is refused too: Zabbix never writes one, so it means a broken payload.
    """
    clock = event.get("clock")
    if isinstance(clock, bool) or not isinstance(clock, int | str) or not ascii_digits(str(clock).strip()):
        raise ValueError(f"{label} has a bad clock: {clock!r}")
    seconds = int(str(clock).strip())
    if seconds <= 0:
        raise ValueError(f"{label} has a bad clock: {clock!r}")
    ns = event.get("ns", "0")
    if ns is None or ns == "":
        ns = "0"
    if isinstance(ns, bool) or not isinstance(ns, int | str) or not ascii_digits(str(ns)) or int(ns) >= 10**9:
        raise ValueError(f"{label} has a bad ns: {ns!r}")
    try:
        start = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{label} has a bad clock: {clock!r}") from None
    return start + timedelta(microseconds=int(ns) // 1000)


def merge_tags(tags: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``[{tag, value}, …]`` as ``{tag: value}``; a repeated tag keeps every value, joined by ",".

    Zabbix allows the same tag name several times (``scope:cpu``, ``scope:load``); a dict
    cannot, and losing values silently would make rules match on half the data. The connector's
    own tags (``__itsm_*``, the ticket link its media type adds) are left out: they describe the
    ticket, not the problem, and the poll path must read the same tags as the push path.
    """
    merged: dict[str, list[str]] = {}
    for entry in tags:
        name = str(entry.get("tag", "")).strip()
        if not name or name.startswith(INTERNAL_TAG_PREFIX):
            continue
        value = str(entry.get("value", "") or "")
        values = merged.setdefault(name, [])
        if value not in values:
            values.append(value)
    return {name: ",".join(v for v in values if v) for name, values in merged.items()}


def _hosts(event: Mapping[str, Any], label: str) -> list[Mapping[str, Any]]:
    hosts = event.get("hosts")
    if not isinstance(hosts, list):
        raise ValueError(f"{label} has no host")
    usable = [h for h in hosts if isinstance(h, Mapping) and str(h.get("host") or "").strip()]
    if not usable:
        raise ValueError(f"{label} has no host")
    return usable


def _severity(event: Mapping[str, Any], label: str) -> int:
    value = event.get("severity")
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not ascii_digits(text) or int(text) not in SEVERITY_NAMES:
        raise ValueError(f"{label} has a bad severity: {value!r}")
    return int(text)


def _describe(
    *,
    name: str,
    hosts: Sequence[Mapping[str, Any]],
    groups: Sequence[str],
    severity: int,
    event: Mapping[str, Any],
    tags: Mapping[str, str],
    occurred_at: datetime,
) -> str:
    """The readable text a ticket's description starts from."""
    lines = [f"Problem: {name}"]
    if not hosts:
        lines.append("Host: unknown (no longer in Zabbix)")
    for host in hosts:
        technical = str(host.get("host"))
        visible = str(host.get("name") or technical)
        lines.append(f"Host: {visible}" if visible == technical else f"Host: {visible} ({technical})")
    if groups:
        lines.append(f"Host groups: {', '.join(groups)}")
    lines.append(f"Severity: {SEVERITY_NAMES[severity]} ({severity})")
    opdata = str(event.get("opdata") or "").strip()
    if opdata:
        lines.append(f"Operational data: {opdata}")
    lines.append(f"Started: {occurred_at:%Y-%m-%d %H:%M:%S} UTC")
    if event.get("objectid"):
        lines.append(f"Trigger id: {event['objectid']}")
    lines.append(f"Event id: {event.get('eventid')}")
    if tags:
        lines.append("Tags: " + ", ".join(f"{k}={v}" if v else k for k, v in tags.items()))
    return "\n".join(lines)


def trigger_symptom(event: Mapping[str, Any]) -> str | None:
    """The problem's symptom as dedup compares it: its trigger (``objectid`` of a trigger
    event), so "metric 7 above 90" and "metric 8 above 90" — two triggers — are two problems,
    while one trigger whose name carries a changing value stays one. ``None`` without one."""
    objectid = event.get("objectid")
    text = str(objectid).strip() if isinstance(objectid, int | str) and not isinstance(objectid, bool) else ""
    return f"trigger:{text}" if text.isdigit() else None


def suppressed_until(event: Mapping[str, Any]) -> datetime | None:
    """When the maintenance suppressing the event ends (``selectSuppressionData``: the latest
    ``suppress_until``); ``None`` when it is not suppressed, or indefinitely (``0``)."""
    if str(event.get("suppressed", "0")) != "1":
        return None
    data = event.get("suppression_data")
    ends = []
    for entry in data if isinstance(data, list) else []:
        until = entry.get("suppress_until") if isinstance(entry, Mapping) else None
        text = str(until) if isinstance(until, int | str) and not isinstance(until, bool) else ""
        if not text.isdigit() or int(text) == 0:
            return None  # suppressed without an end (or one we cannot read): the rule book's windows decide
        ends.append(int(text))
    return datetime.fromtimestamp(max(ends), UTC) if ends else None


def map_problem(
    event: Mapping[str, Any],
    *,
    source: str,
    groups_by_hostid: Mapping[str, Sequence[str]],
    require_host: bool = True,
) -> Alert | Rejected:
    """One problem event (``event.get`` with ``selectHosts`` and ``selectTags``) as an Alert.

    :param event: the event dict exactly as the API returned it; it becomes ``Alert.raw``.
    :param source: the source instance name (``Alert.source``).
    :param groups_by_hostid: host group names per host id, from one ``host.get``.
    :param require_host: refuse an event without a host. Pass False for a problem that already
        has a ticket and only needs its recovery reported: Zabbix keeps the events of a deleted
        host with an empty host list, and refusing them would leave the ticket open forever.
    :returns: the Alert, or a ``Rejected`` whose reason names the bad field and value.
    """
    eventid = _eventid(event)
    raw = dict(event)
    if eventid is None:
        return Rejected(source, None, f"event has no eventid: {event.get('eventid')!r}", raw)
    label = f"event {eventid}"
    try:
        name = str(event.get("name") or "").strip()
        if not name:
            raise ValueError(f"{label} has no name")
        try:
            hosts = _hosts(event, label)
        except ValueError:
            if require_host:
                raise
            hosts = []
        occurred_at = event_clock(event, label)
        severity = _severity(event, label)
        raw_tags = event.get("tags") or []
        if not isinstance(raw_tags, list):
            raise ValueError(f"{label} has bad tags: {raw_tags!r}")
        tags = merge_tags(t for t in raw_tags if isinstance(t, Mapping))
        groups: list[str] = []
        for host in hosts:
            for group in groups_by_hostid.get(str(host.get("hostid")), ()):
                if group not in groups:
                    groups.append(group)
        groups.sort()
        return Alert(
            source=source,
            external_id=eventid,
            title=name,
            description=_describe(
                name=name,
                hosts=hosts,
                groups=groups,
                severity=severity,
                event=event,
                tags=tags,
                occurred_at=occurred_at,
            ),
            ci=str(hosts[0]["host"]).strip() if hosts else None,
            service=tags.get("service") or None,
            host_groups=tuple(groups),
            tags=tags,
            severity=severity,
            origin=TicketSource.MONITORING,
            occurred_at=occurred_at,
            raw=raw,
            symptom=trigger_symptom(event),
            maintenance=str(event.get("suppressed", "0")) == "1",
            maintenance_until=suppressed_until(event),
        )
    except ValueError as exc:
        # every check raises ValueError with the reason; pydantic's ValidationError is one too
        return Rejected(source, eventid, _reason(exc), raw)


def map_recovery(problem: Alert, recovery_event: Mapping[str, Any] | None) -> Alert | Rejected:
    """The recovery Alert of ``problem``: the same fields plus ``recovered_at``.

    :param problem: the Alert ``map_problem`` made of the problem event (its ``raw`` carries
        ``r_eventid``, the id of the recovery event).
    :param recovery_event: the recovery event (``eventid``, ``clock``, ``ns``), or None when
        Zabbix did not return it.
    :returns: the recovery Alert, or a ``Rejected`` when the recovery time is unusable.
    """
    r_eventid = str(problem.raw.get("r_eventid", "?"))
    label = f"recovery event {r_eventid} of event {problem.external_id}"
    if recovery_event is None:
        return Rejected(problem.source, problem.external_id, f"{label} was not found", dict(problem.raw))
    try:
        recovered_at = event_clock(recovery_event, label)
        if recovered_at < problem.occurred_at:
            raise ValueError(
                f"{label} has a clock before the problem: {recovered_at:%Y-%m-%d %H:%M:%S} "
                f"< {problem.occurred_at:%Y-%m-%d %H:%M:%S}"
            )
        return Alert(**{**dict(problem), "recovered_at": recovered_at})
    except ValueError as exc:
        return Rejected(problem.source, problem.external_id, _reason(exc), dict(problem.raw))


def _reason(exc: Exception) -> str:
    """A one-line reason; pydantic errors are shortened to ``field: message``."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'alert'}: {err['msg']}" for err in exc.errors())
    return str(exc)
