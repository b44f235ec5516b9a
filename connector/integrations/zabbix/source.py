"""``ZabbixSource``: poll a Zabbix 6.0 server for problems and recoveries, acknowledge them.

This is the I/O shell around ``connector.integrations.zabbix.mapping``: which events to ask for
and how they become alerts and recoveries. The API itself — one pyzabbix client on an injected
``requests.Session`` with an explicit timeout, the lazy login, and the one place where requests
and pyzabbix exceptions become ``SourceError`` — is ``connection.ZabbixConnection``.

One ``poll`` costs a bounded number of calls whatever the batch size::

    event.get   new problem events after the cursor (one batch of ``batch_limit``)
    event.get   [eventid, r_eventid] of the open problems we were given (chunks of 500)
    event.get   the full problem events of those that recovered (chunks of 500)
    event.get   clock of every recovery event needed (chunks of 500)
    event.get   the suppression data (maintenance end) of suppressed new problems, if any
    trigger.get the dependencies of new problems' triggers, and their hosts (cached;
                ``trigger_dependencies: true``)
    host.get    host groups of every host seen, in one call

Our own ``event.acknowledge`` makes Zabbix run the actions' *update operations*: a webhook
intake will receive an update notification for it. Those carry the ``ack_message`` text
(``{EVENT.UPDATE.MESSAGE}``) and must be ignored by whoever reads them, or each
acknowledgement would come back as a note on the ticket.
"""

from __future__ import annotations

__all__ = ["ACK_ACTION", "CHUNK", "ZabbixSource"]

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import requests

from connector.contracts.adapters import PollResult, Rejected
from connector.domain.clock import Clock
from connector.domain.errors import SourceError
from connector.domain.models import Alert, TicketRef
from connector.integrations.zabbix.connection import ZabbixConnection
from connector.integrations.zabbix.dependencies import TriggerDependencies
from connector.integrations.zabbix.mapping import map_problem, map_recovery
from connector.integrations.zabbix.settings import ZabbixSettings
from connector.util.unicode_text import ascii_digits

log = logging.getLogger(__name__)

#: event.acknowledge action bits: 2 acknowledge + 4 add message
ACK_ACTION = 6
#: ids per ``event.get(eventids=…)`` call, to keep requests small
CHUNK = 500
#: Zabbix 6.0 stores at most this many characters of an acknowledge message
ACK_MESSAGE_MAX = 2048

_HOST_FIELDS = ["hostid", "host", "name"]

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ZabbixSource:
    """A ``Source`` reading trigger problems from one Zabbix 6.0 server.

    :param settings: the validated ``sources[]`` section.
    :param name: the source instance name (``Alert.source``, error messages).
    :param clock: where "now" comes from (the first poll's look-back window).
    :param session: the HTTP session to use (tests inject one); its ``verify`` is set from
        ``settings.verify_tls``.
    :param register_secret: hides a value from every log line; called with the session id
        of a user/password login (the token and password are registered by the factory).
    """

    def __init__(
        self,
        settings: ZabbixSettings,
        *,
        name: str,
        clock: Clock,
        session: requests.Session | None = None,
        register_secret: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        #: what the core does with a recovery Alert: "resolve" the ticket or only add a "note"
        self.on_recovery = settings.on_recovery
        #: whether the core should queue acknowledgements at all (``acknowledge: false`` turns them off)
        self.acknowledge_enabled = settings.acknowledge
        self._clock = clock
        self._zabbix = ZabbixConnection(
            settings,
            name=name,
            session=session if session is not None else requests.Session(),
            register_secret=register_secret or (lambda _value: None),
        )
        #: trigger dependencies → ``Alert.depends_on`` (cause correlation), when enabled
        self._dependencies = (
            TriggerDependencies(self._zabbix, clock, timedelta(minutes=settings.dependencies_refresh_minutes))
            if settings.trigger_dependencies
            else None
        )

    # --- Source protocol -----------------------------------------------------------------------

    def poll(self, cursor: str | None, open_ids: Sequence[str]) -> PollResult:
        """New problem events after ``cursor`` and the recoveries among ``open_ids``.

        The cursor is the highest event id seen (rejected and skipped events included, so a
        malformed event is read once, not forever). Only one batch is read per call; a
        backlog drains over the next polls.
        """
        last = self._parse_cursor(cursor)
        events = self._new_problem_events(last)

        items: list[Alert | Rejected] = []
        new_cursor = last
        kept: list[Mapping[str, Any]] = []
        for event in events:
            if not isinstance(event, Mapping):
                items.append(Rejected(self.name, None, f"event.get returned a non-object: {event!r}", event))
                continue
            eventid = str(event.get("eventid", ""))
            if ascii_digits(eventid):
                new_cursor = max(new_cursor or 0, int(eventid))
            if self.settings.ignore_suppressed and str(event.get("suppressed", "0")) == "1":
                log.debug("%s: skipping suppressed event %s", self.name, eventid)
                continue
            kept.append(event)
        kept = self._with_suppression_data(kept)
        batch_ids = {str(e.get("eventid")) for e in events if isinstance(e, Mapping)}

        recovered = self._recovered_open_problems([i for i in open_ids if i not in batch_ids])
        r_eventids = [str(e.get("r_eventid")) for e in [*kept, *recovered] if _recovered(e)]
        recovery_events = self._events_by_id(r_eventids, {"output": ["eventid", "clock", "ns"]}, "recovery events")
        groups = self._groups_by_hostid([*kept, *recovered])

        upstreams = self._upstream_hosts(kept)
        for event in kept:
            alert = map_problem(event, source=self.name, groups_by_hostid=groups)
            if isinstance(alert, Alert) and upstreams.get(str(event.get("objectid"))):
                alert = alert.model_copy(update={"depends_on": upstreams[str(event.get("objectid"))]})
            items.append(alert)
            if isinstance(alert, Alert) and _recovered(event):
                items.append(map_recovery(alert, recovery_events.get(str(event["r_eventid"]))))
        for event in recovered:
            problem = map_problem(event, source=self.name, groups_by_hostid=groups, require_host=False)
            if isinstance(problem, Rejected):
                items.append(problem)
                continue
            items.append(map_recovery(problem, recovery_events.get(str(event["r_eventid"]))))

        log.debug(
            "%s: poll after %s: %d new event(s), %d recovered of %d open, cursor -> %s",
            self.name,
            cursor,
            len(events),
            len(recovered),
            len(open_ids),
            new_cursor,
        )
        return PollResult(items=items, cursor=None if new_cursor is None else str(new_cursor))

    def acknowledge(self, external_id: str, ref: TicketRef, message: str) -> None:
        """Acknowledge problem ``external_id`` with a message saying which ticket handles it.

        ``message`` is sent as given; when it is empty the configured ``ack_message`` is used
        (see ``ack_text``). Acknowledging an already acknowledged or resolved problem is fine:
        Zabbix then only adds the message. Does nothing when ``acknowledge: false``.
        """
        if not self.settings.acknowledge:
            return
        if not ascii_digits(str(external_id)):
            raise SourceError(f"event.acknowledge: not a Zabbix event id: {external_id!r}", source=self.name)
        text = message if message.strip() else self.ack_text(ref)
        self._zabbix.call(
            "event.acknowledge",
            {"eventids": str(external_id), "action": ACK_ACTION, "message": text[:ACK_MESSAGE_MAX]},
        )

    def ack_text(self, ref: TicketRef) -> str:
        """The configured ``ack_message`` filled in for ``ref``."""
        return self.settings.format_ack_message(ticket_id=ref.ticket_id, url=ref.url)

    def close(self) -> None:
        """Log out a user/password session (tokens have none) and close the HTTP session."""
        self._zabbix.close()

    # --- reading -------------------------------------------------------------------------------

    def _parse_cursor(self, cursor: str | None) -> int | None:
        if cursor is None or cursor == "":
            return None
        if not ascii_digits(str(cursor)):
            raise SourceError(f"cursor {cursor!r} is not a Zabbix event id", source=self.name)
        return int(cursor)

    def _new_problem_events(self, last: int | None) -> list[Any]:
        params: dict[str, Any] = {
            "source": 0,
            "object": 0,
            "value": 1,
            "output": "extend",
            "selectHosts": _HOST_FIELDS,
            "selectTags": "extend",
            "severities": list(range(self.settings.min_severity, 6)),
            "sortfield": "eventid",
            "sortorder": "ASC",
            "limit": self.settings.batch_limit,
        }
        if last is None:
            since = self._clock.now() - timedelta(minutes=self.settings.initial_lookback_minutes)
            params["time_from"] = int(since.timestamp())
        else:
            params["eventid_from"] = str(last + 1)
        return self._zabbix.list("event.get", params, "new problem events")

    def _upstream_hosts(self, events: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
        """Trigger id → the hosts of the triggers it depends on (``trigger_dependencies: true``)."""
        if self._dependencies is None or not events:
            return {}
        return self._dependencies.upstream_hosts(str(e.get("objectid", "")) for e in events)

    def _with_suppression_data(self, events: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The events, those suppressed by a maintenance period with its ``suppression_data``
        (when it ends: ``maintenance.yaml`` opens a still-active problem then). One more
        ``event.get`` only when the batch has a suppressed event."""
        suppressed = [str(e.get("eventid")) for e in events if str(e.get("suppressed", "0")) == "1"]
        if not suppressed:
            return events
        extra = self._events_by_id(
            suppressed, {"output": ["eventid"], "selectSuppressionData": "extend"}, "suppression data"
        )
        return [
            {**e, "suppression_data": extra[str(e.get("eventid"))].get("suppression_data", [])}
            if str(e.get("eventid")) in extra
            else e
            for e in events
        ]

    def _recovered_open_problems(self, open_ids: Sequence[str]) -> list[Mapping[str, Any]]:
        """The full problem events (hosts, tags) of those ``open_ids`` that have recovered."""
        ids = [str(i) for i in open_ids if ascii_digits(str(i))]
        if len(ids) != len(open_ids):
            log.warning(
                "%s: ignoring open ids that are not Zabbix event ids: %s",
                self.name,
                [i for i in open_ids if not ascii_digits(str(i))],
            )
        if not ids:
            return []
        status = self._events_by_id(ids, {"output": ["eventid", "r_eventid"]}, "open problems")
        missing = [i for i in ids if i not in status]
        if missing:
            log.warning("%s: open problem event(s) unknown to Zabbix (deleted?): %s", self.name, missing)
        done = [i for i in ids if i in status and _recovered(status[i])]
        if not done:
            return []
        problems = self._events_by_id(
            done,
            {"output": "extend", "selectHosts": _HOST_FIELDS, "selectTags": "extend"},
            "recovered problems",
        )
        return [problems[i] for i in done if i in problems]

    def _events_by_id(self, ids: Sequence[str], params: Mapping[str, Any], what: str) -> dict[str, Mapping[str, Any]]:
        """``event.get(eventids=…, **params)`` in chunks of ``CHUNK`` ids, keyed by event id."""
        found: dict[str, Mapping[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            for event in self._zabbix.list("event.get", {**params, "eventids": list(chunk)}, what):
                if isinstance(event, Mapping) and "eventid" in event:
                    found[str(event["eventid"])] = event
        return found

    def _groups_by_hostid(self, events: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
        """Host group names of every host of ``events``, in one ``host.get``."""
        hostids: list[str] = []
        for event in events:
            hosts = event.get("hosts")
            for host in hosts if isinstance(hosts, list) else []:
                if isinstance(host, Mapping) and host.get("hostid") and str(host["hostid"]) not in hostids:
                    hostids.append(str(host["hostid"]))
        if not hostids:
            return {}
        params = {"hostids": hostids, "output": ["hostid"], self._zabbix.groups_param: ["groupid", "name"]}
        groups: dict[str, list[str]] = {}
        for host in self._zabbix.list("host.get", params, "host groups"):
            if isinstance(host, Mapping) and "hostid" in host:
                entries = host.get(self._zabbix.groups_key) or []
                groups[str(host["hostid"])] = [
                    str(g["name"]) for g in entries if isinstance(g, Mapping) and g.get("name")
                ]
        return groups


def _recovered(event: Mapping[str, Any]) -> bool:
    """True when the problem event already has a recovery event (``r_eventid`` not "0")."""
    r_eventid = str(event.get("r_eventid") or "0")
    return ascii_digits(r_eventid) and r_eventid != "0"
