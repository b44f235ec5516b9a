"""Turn what the connector's Zabbix media type posts into ``Alert``s, or say why not.

Pure functions, no I/O. The media type (``zabbix/itsm_connector_media_type.yaml``) posts the
event macros as one JSON object of strings (``WEBHOOK_FIELDS``); Zabbix leaves a macro that
does not apply as its literal text (``{EVENT.RECOVERY.ID}`` in a problem alert), which is read
here as "absent".

A problem or recovery is rebuilt as the ``event.get`` dict the poll path would have read and
handed to ``map_problem`` / ``map_recovery``, so both paths give the same source name, external
id and event key: with poll and push both on, whichever arrives second is a repeat and the
journal drops it. What the payload says is classified by ``{EVENT.VALUE}`` and
``{EVENT.UPDATE.STATUS}``:

======  ======  ==========================================================================
value   update  meaning
======  ======  ==========================================================================
1       0       a new problem → its Alert
0       0       the recovery → the recovery Alert (``recovered_at`` set)
any     1       an update (acknowledge, message, severity, close) → ``Update``: a note on the
                ticket once it exists, or ``Ignored`` when the connector made it itself
======  ======  ==========================================================================
"""

from __future__ import annotations

__all__ = [
    "INTERNAL_TAG_PREFIX",
    "WEBHOOK_FIELDS",
    "Ignored",
    "Update",
    "classify",
    "update_user",
]

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from connector.contracts.adapters import Rejected
from connector.domain.models import Alert, TicketSource
from connector.integrations.zabbix.mapping import INTERNAL_TAG_PREFIX, map_problem, map_recovery
from connector.util.unicode_text import MAX_DEPTH, ascii_digits, loads_valid, tree_depth

#: every field the media type posts, and the macro it carries
WEBHOOK_FIELDS: dict[str, str] = {
    "event_source": "{EVENT.SOURCE}",
    "event_id": "{EVENT.ID}",
    "event_value": "{EVENT.VALUE}",
    "event_update_status": "{EVENT.UPDATE.STATUS}",
    "event_name": "{EVENT.NAME}",
    "event_nseverity": "{EVENT.NSEVERITY}",
    "event_opdata": "{EVENT.OPDATA}",
    "event_tags": "{EVENT.TAGSJSON}",
    "event_date": "{EVENT.DATE}",
    "event_time": "{EVENT.TIME}",
    "event_recovery_id": "{EVENT.RECOVERY.ID}",
    "event_recovery_date": "{EVENT.RECOVERY.DATE}",
    "event_recovery_time": "{EVENT.RECOVERY.TIME}",
    "event_update_action": "{EVENT.UPDATE.ACTION}",
    "event_update_message": "{EVENT.UPDATE.MESSAGE}",
    "event_update_date": "{EVENT.UPDATE.DATE}",
    "event_update_time": "{EVENT.UPDATE.TIME}",
    "event_update_user": "{USER.FULLNAME}",
    "host_id": "{HOST.ID}",
    "host_host": "{HOST.HOST}",
    "host_name": "{HOST.NAME}",
    "host_groups": "{TRIGGER.HOSTGROUP.NAME}",
    "trigger_id": "{TRIGGER.ID}",
}

_LITERAL_MACRO = re.compile(r"\{\$?[A-Z][A-Z0-9_.]*(?:\[[^\]]*\])?\}")
_TRAILING_LOGIN = re.compile(r"\(([^()]+)\)\s*$")
#: ``{EVENT.DATE}`` and ``{EVENT.TIME}`` as Zabbix writes them (ASCII digits, zero-padded)
_ZABBIX_DATE = re.compile(r"[0-9]{4}\.[0-9]{2}\.[0-9]{2}")
_ZABBIX_TIME = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}")


@dataclass(frozen=True)
class Ignored:
    """A payload that is understood and deliberately not journaled (our own acknowledgement,
    a non-trigger event); ``reason`` is what the answer and the log say."""

    reason: str


@dataclass(frozen=True)
class Update:
    """A person updated a problem in Zabbix: it becomes a note on the problem's ticket.

    The ticket id is not in the payload (Zabbix knows only the connector key), so the caller
    looks the ticket up by ``ticket_key`` and calls ``alert(ticket_id)``.
    """

    ticket_key: str
    source: str
    external_id: str
    event_id: str
    title: str
    description: str
    user: str
    occurred_at: datetime
    raw: dict[str, Any]

    def alert(self, ticket_id: str) -> Alert:
        """The Alert that carries this update to ticket ``ticket_id`` (``reply_to``)."""
        return Alert(
            source=self.source,
            external_id=self.external_id,
            title=self.title,
            description=self.description,
            reporter=self.user or None,
            origin=TicketSource.MONITORING,
            occurred_at=self.occurred_at,
            reply_to=ticket_id,
            raw=self.raw,
        )


def _text(payload: Mapping[str, Any], name: str) -> str:
    """The field as stripped text; missing, null or an unresolved macro is ``""``."""
    value = payload.get(name)
    if type(value) is str:  # what the media type sends: only a text starting with "{" can be a macro
        value = value.strip()
        return "" if value[:1] == "{" and _LITERAL_MACRO.fullmatch(value) else value
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} is not text: {type(value).__name__}")
    value = value.strip()
    return "" if _LITERAL_MACRO.fullmatch(value) else value


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _when(payload: Mapping[str, Any], date_field: str, time_field: str, tz: ZoneInfo) -> datetime:
    """``{EVENT.DATE}`` ``{EVENT.TIME}`` (``2026.11.26`` ``10:40:00``, the server's local time)."""
    date, time = _text(payload, date_field), _text(payload, time_field)
    try:
        local = _zabbix_time(date, time) or datetime.strptime(f"{date} {time}", "%Y.%m.%d %H:%M:%S")
    except ValueError:
        raise ValueError(f"{date_field}/{time_field} is not a Zabbix date and time: {date!r} {time!r}") from None
    return local.replace(tzinfo=tz)


def _zabbix_time(date: str, time: str) -> datetime | None:
    """``2026.11.26`` ``10:40:00`` read without ``strptime`` (a tenth of its cost): only the
    zero-padded form Zabbix sends, each part in range; anything else is ``None`` and goes to
    ``strptime``, which then decides as it always did."""
    if not _ZABBIX_DATE.fullmatch(date) or not _ZABBIX_TIME.fullmatch(time):
        return None
    try:
        return datetime(int(date[:4]), int(date[5:7]), int(date[8:10]), int(time[:2]), int(time[3:5]), int(time[6:8]))
    except ValueError:
        return None


def update_user(fullname: str) -> str:
    """The login in ``{USER.FULLNAME}`` (``Zabbix Administrator (Admin)`` → ``Admin``)."""
    match = _TRAILING_LOGIN.search(fullname)
    return match.group(1).strip() if match else fullname.strip()


def _event(payload: Mapping[str, Any], event_id: str, tz: ZoneInfo) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The payload as the ``event.get`` dict (and host groups) ``map_problem`` reads."""
    occurred = _when(payload, "event_date", "event_time", tz)
    raw_tags = _text(payload, "event_tags") or "[]"
    try:
        tags = loads_valid(raw_tags)
    except ValueError as exc:
        raise ValueError(f"event_tags is not JSON ({_first_line(exc)}): {raw_tags[:80]!r}") from None
    if not isinstance(tags, list):
        raise ValueError(f"event_tags is not a list: {raw_tags[:80]!r}")
    host_id = _text(payload, "host_id") or "0"
    groups = [g.strip() for g in _text(payload, "host_groups").split(", ") if g.strip()]
    host = {"hostid": host_id, "host": _text(payload, "host_host"), "name": _text(payload, "host_name")}
    event: dict[str, Any] = {
        "eventid": event_id,
        "name": _text(payload, "event_name"),
        "clock": str(int(occurred.timestamp())),
        "ns": "0",
        "severity": _text(payload, "event_nseverity"),
        "hosts": [host] if host["host"] else [],
        "tags": [t for t in tags if isinstance(t, Mapping)],
        "opdata": _text(payload, "event_opdata"),
        "objectid": _text(payload, "trigger_id"),
    }
    return event, {host_id: groups}


def classify(
    payload: Mapping[str, Any],
    *,
    source: str,
    tz: ZoneInfo,
    ignore_update_prefixes: Sequence[str] = (),
    ignore_update_users: Sequence[str] = (),
) -> Alert | Rejected | Ignored | Update:
    """What one webhook payload means.

    :param payload: the JSON object the media type posted (becomes ``Alert.raw["webhook"]``).
    :param source: the name alerts carry: the paired poll source's, so both paths make one ticket.
    :param tz: the Zabbix server's time zone (``{EVENT.DATE}``/``{EVENT.TIME}`` are local times).
    :param ignore_update_prefixes: an update whose message starts with one of these is the
        connector's own acknowledgement (its ``ack_message`` prefix) and is ignored.
    :param ignore_update_users: logins whose updates are ignored (the connector's API user).
    :returns: the Alert; an ``Update`` waiting for its ticket id; ``Ignored``; or a ``Rejected``
        naming the field that is wrong.
    """
    # a flat object of texts (what the media type posts) is one level deep: no walk needed
    flat = all(type(value) is str for value in payload.values())
    depth = 1 if flat else tree_depth(payload, MAX_DEPTH)
    if depth > MAX_DEPTH:  # kept out of raw too: the dead letter must be writable
        reason = f"payload nested deeper than {MAX_DEPTH} levels (at least {depth})"
        return Rejected(source, None, reason, {"webhook": f"<{len(payload)} fields, not kept: {reason}>"})
    raw = {"webhook": dict(payload)}
    event_id = ""
    try:
        event_id = _text(payload, "event_id")
        if not ascii_digits(event_id) or int(event_id) <= 0:
            reason = f"event_id is not a Zabbix event id (a positive number in ASCII digits 0-9): {event_id!r}"
            return Rejected(source, None, reason, raw)
        event_source = _text(payload, "event_source")
        if event_source != "0":
            return Ignored(f"event {event_id} is not a trigger event (source {event_source or '?'}): not handled")
        value = _text(payload, "event_value")
        update_status = _text(payload, "event_update_status")
        if value not in ("0", "1"):
            raise ValueError(f"event_value must be 0 or 1, got {payload.get('event_value')!r}")
        if update_status not in ("0", "1"):
            raise ValueError(f"event_update_status must be 0 or 1, got {payload.get('event_update_status')!r}")
        if update_status == "1":
            return _update(payload, event_id, source, tz, raw, ignore_update_prefixes, ignore_update_users)
        event, groups = _event(payload, event_id, tz)
        problem = map_problem(event, source=source, groups_by_hostid=groups)
        if isinstance(problem, Rejected):
            return Rejected(source, event_id, problem.reason, raw)
        problem = problem.model_copy(update={"raw": raw})
        if value == "1":
            return problem
        recovery_id = _text(payload, "event_recovery_id")
        recovered = _when(payload, "event_recovery_date", "event_recovery_time", tz)
        recovery = map_recovery(
            problem.model_copy(update={"raw": {**raw, "r_eventid": recovery_id or "?"}}),
            {"eventid": recovery_id, "clock": str(int(recovered.timestamp())), "ns": "0"},
        )
        if isinstance(recovery, Rejected):
            return Rejected(source, event_id, recovery.reason, raw)
        return recovery.model_copy(update={"raw": raw})
    except ValueError as exc:
        return Rejected(source, event_id or None, str(exc), raw)


def _update(
    payload: Mapping[str, Any],
    event_id: str,
    source: str,
    tz: ZoneInfo,
    raw: dict[str, Any],
    prefixes: Sequence[str],
    users: Sequence[str],
) -> Ignored | Update:
    message = _text(payload, "event_update_message")
    fullname = _text(payload, "event_update_user")
    login = update_user(fullname)
    if any(message.startswith(p) for p in prefixes if p):
        return Ignored(f"update of event {event_id} is the connector's own acknowledgement")
    if login and login in users:
        return Ignored(f"update of event {event_id} was made by {login}, whose updates are ignored")
    when = _when(payload, "event_update_date", "event_update_time", tz)
    action = _text(payload, "event_update_action") or "updated"
    name = _text(payload, "event_name") or f"event {event_id}"
    # the same update retried by Zabbix carries the same fields: the same external id, a repeat
    identity = json.dumps([event_id, when.isoformat(), fullname, action, message], ensure_ascii=False)
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
    lines = [f"Zabbix: {fullname or 'a user'} {action} at {when.astimezone(tz):%Y-%m-%d %H:%M:%S %Z}."]
    if message:
        lines.append(message)
    return Update(
        ticket_key=f"{source}:{event_id}",
        source=source,
        external_id=f"{event_id}/update/{digest}",
        event_id=event_id,
        title=f"Zabbix update: {name}"[:255],
        description="\n".join(lines),
        user=fullname,
        occurred_at=when,
        raw=raw,
    )
