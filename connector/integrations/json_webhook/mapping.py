"""A JSON body as Alerts through the source's JSONPath field mapping: pure, no I/O.

``items`` picks the list of alerts out of the body (none: the body is one alert); each field's
path is read from the item, the first match wins. A body whose ``items`` path finds nothing,
or finds something other than objects, raises ``PayloadError`` (the endpoint answers 400 and
dead-letters it); an item without an id or a title is a ``Rejected`` beside the good ones.
"""

from __future__ import annotations

__all__ = ["PayloadError", "map_body", "map_item", "parse_time"]

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from connector.contracts.adapters import Rejected
from connector.domain.errors import ConnectorError
from connector.domain.models import Alert, TicketSource
from connector.integrations.json_webhook.settings import JsonWebhookSettings, compile_path

#: an epoch number above this is in milliseconds (Uptime Kuma, JavaScript), not seconds
_MILLIS_FROM = 100_000_000_000


class PayloadError(ConnectorError, ValueError):
    """The body holds no alerts the mapping can read."""


def _first(item: Any, path: str | None) -> Any:
    if path is None:
        return None
    found = compile_path(path).find(item)
    return found[0].value if found else None


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value).strip()


def parse_time(value: Any, zone: ZoneInfo, what: str) -> datetime | None:
    """ISO 8601 (a space for the T is fine; no offset: ``zone``) or an epoch number; ``None`` when
    empty or Go's zero time (``0001-01-01T00:00:00Z``, what Grafana sends as a firing alert's ``endsAt``)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > _MILLIS_FROM else value
        return datetime.fromtimestamp(seconds, UTC)
    text = str(value).strip()
    if text.isdigit():
        return parse_time(int(text), zone, what)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} is not a time: {value!r}") from None
    if parsed.year <= 1:  # Go's zero time: Grafana's and Alertmanager's "not ended" endsAt
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)


def _severity(value: Any, settings: JsonWebhookSettings) -> int | None:
    text = _text(value).lower()
    if text.isdigit() and int(text) <= 5:
        return int(text)
    return settings.severities.get(text, settings.default_severity)


def map_item(item: Any, *, source: str, settings: JsonWebhookSettings, now: datetime) -> Alert | Rejected:
    """One item as an Alert, or a ``Rejected`` naming the field that could not be read."""
    paths = settings.fields
    raw = {"item": item}
    ids = paths.external_id if isinstance(paths.external_id, list) else [paths.external_id]
    parts = [_text(_first(item, p)) for p in ids]
    if not all(parts):
        return Rejected(source, None, f"no external_id at {', '.join(ids)}", raw)
    external_id = "@".join(parts)
    try:
        title = _text(_first(item, paths.title))
        if not title:
            raise ValueError(f"no title at {paths.title}")
        occurred_at = parse_time(_first(item, paths.occurred_at), settings.zone, "occurred_at") or now
        recovered_at = parse_time(_first(item, paths.recovered_at), settings.zone, "recovered_at")
        resolved = paths.status is not None and _text(_first(item, paths.status)).lower() in settings.resolved_values
        if recovered_at is None and resolved:
            recovered_at = now
        if recovered_at is not None:
            recovered_at = max(recovered_at, occurred_at)
        groups = _first(item, paths.host_groups)
        group_list = groups if isinstance(groups, list) else [groups]
        tags = _first(item, paths.tags)
        return Alert(
            source=source,
            external_id=external_id,
            title=title,
            description=_text(_first(item, paths.description)),
            ci=_text(_first(item, paths.ci)) or None,
            service=_text(_first(item, paths.service)) or None,
            host_groups=tuple(sorted({_text(g) for g in group_list if _text(g)})),
            tags={str(k): _text(v) for k, v in tags.items()} if isinstance(tags, Mapping) else {},
            severity=_severity(_first(item, paths.severity), settings),
            origin=TicketSource.MONITORING,
            occurred_at=occurred_at,
            recovered_at=recovered_at,
            raw=raw,
            symptom=_text(_first(item, paths.symptom)) or None,
        )
    except ValueError as exc:  # pydantic's ValidationError is one too
        return Rejected(source, external_id, f"item {external_id}: {_reason(exc)}", raw)


def map_body(body: Any, *, source: str, settings: JsonWebhookSettings, now: datetime) -> list[Alert | Rejected]:
    """A decoded body as alerts (and refused items); raises ``PayloadError`` when it has none."""
    if settings.items is None:
        items = [body]
    else:
        found = [m.value for m in compile_path(settings.items).find(body)]
        items = found[0] if len(found) == 1 and isinstance(found[0], list) else found
        if not items:
            raise PayloadError(f"no alerts at {settings.items}")
    if not all(isinstance(item, Mapping) for item in items):
        raise PayloadError("an alert is not a JSON object")
    return [map_item(item, source=source, settings=settings, now=now) for item in items]


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'alert'}: {err['msg']}" for err in exc.errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
