"""``ZabbixSource``: poll a Zabbix 6.0 server for problems and recoveries, acknowledge them.

This is the I/O shell around ``connector.integrations.zabbix.mapping``. It owns one pyzabbix client on an
injected ``requests.Session`` with an explicit timeout, logs in lazily (so building the source
never touches the network), and is the one place where requests and pyzabbix exceptions become
``SourceError`` — naming the API call that failed and never the token or password.

One ``poll`` costs a bounded number of calls whatever the batch size::

    event.get   new problem events after the cursor (one batch of ``batch_limit``)
    event.get   [eventid, r_eventid] of the open problems we were given (chunks of 500)
    event.get   the full problem events of those that recovered (chunks of 500)
    event.get   clock of every recovery event needed (chunks of 500)
    host.get    host groups of every host seen, in one call

Our own ``event.acknowledge`` makes Zabbix run the actions' *update operations*: a webhook
intake will receive an update notification for it. Those carry the ``ack_message`` text
(``{EVENT.UPDATE.MESSAGE}``) and must be ignored by whoever reads them, or each
acknowledgement would come back as a note on the ticket.
"""

from __future__ import annotations

__all__ = ["ACK_ACTION", "CHUNK", "ZabbixSource"]

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import requests
from pyzabbix.api import ZabbixAPI, ZabbixAPIException
from requests.adapters import HTTPAdapter

from connector.contracts.adapters import PollResult, Rejected
from connector.domain.clock import Clock
from connector.domain.errors import SourceError
from connector.domain.models import Alert, TicketRef
from connector.integrations.zabbix.mapping import map_problem, map_recovery
from connector.integrations.zabbix.settings import ZabbixSettings

log = logging.getLogger(__name__)

#: event.acknowledge action bits: 2 acknowledge + 4 add message
ACK_ACTION = 6
#: ids per ``event.get(eventids=…)`` call, to keep requests small
CHUNK = 500
#: Zabbix 6.0 stores at most this many characters of an acknowledge message
ACK_MESSAGE_MAX = 2048

_HOST_FIELDS = ["hostid", "host", "name"]
_RELOGIN_MARKERS = ("session terminated", "not authorized", "not authorised")

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _NoVerifyAdapter(HTTPAdapter):
    """An HTTPS adapter that never verifies certificates (``verify_tls: false``).

    ``session.verify = False`` alone is not enough: requests lets ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE`` from the environment override it (psf/requests#3829), so the setting
    would silently do nothing on hosts that export a CA bundle.
    """

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["verify"] = False
        return super().send(request, **kwargs)


def _keep_pyzabbix_quiet() -> None:
    """pyzabbix logs whole request payloads — tokens and passwords included — at DEBUG."""
    top = logging.getLogger("pyzabbix")
    if top.level == logging.NOTSET or top.level < logging.INFO:
        top.setLevel(logging.INFO)
    api = logging.getLogger("pyzabbix.api")
    if api.level != logging.NOTSET and api.level < logging.INFO:
        api.setLevel(logging.INFO)


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
        self._register_secret = register_secret or (lambda _value: None)
        self._session = session if session is not None else requests.Session()
        self._session.verify = settings.verify_tls
        if not settings.verify_tls:
            self._session.mount("https://", _NoVerifyAdapter())
        _keep_pyzabbix_quiet()
        self._api: Any = ZabbixAPI(settings.url, session=self._session, timeout=settings.timeout_seconds)
        self._logged_in = False
        self._groups_param = "selectGroups"
        self._groups_key = "groups"

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
            if eventid.isdigit():
                new_cursor = max(new_cursor or 0, int(eventid))
            if self.settings.ignore_suppressed and str(event.get("suppressed", "0")) == "1":
                log.debug("%s: skipping suppressed event %s", self.name, eventid)
                continue
            kept.append(event)
        batch_ids = {str(e.get("eventid")) for e in events if isinstance(e, Mapping)}

        recovered = self._recovered_open_problems([i for i in open_ids if i not in batch_ids])
        r_eventids = [str(e.get("r_eventid")) for e in [*kept, *recovered] if _recovered(e)]
        recovery_events = self._events_by_id(r_eventids, {"output": ["eventid", "clock", "ns"]}, "recovery events")
        groups = self._groups_by_hostid([*kept, *recovered])

        for event in kept:
            alert = map_problem(event, source=self.name, groups_by_hostid=groups)
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
        if not str(external_id).isdigit():
            raise SourceError(f"event.acknowledge: not a Zabbix event id: {external_id!r}", source=self.name)
        text = message if message.strip() else self.ack_text(ref)
        self._call(
            "event.acknowledge",
            {"eventids": str(external_id), "action": ACK_ACTION, "message": text[:ACK_MESSAGE_MAX]},
        )

    def ack_text(self, ref: TicketRef) -> str:
        """The configured ``ack_message`` filled in for ``ref``."""
        return self.settings.format_ack_message(ticket_id=ref.ticket_id, url=ref.url)

    def close(self) -> None:
        """Log out a user/password session (tokens have none) and close the HTTP session."""
        try:
            if self._logged_in and self.settings.api_token is None:
                self._api.do_request("user.logout", [])
        except (ZabbixAPIException, requests.RequestException) as exc:
            log.debug("%s: user.logout failed at close (%s)", self.name, type(exc).__name__)
        finally:
            self._logged_in = False
            self._session.close()

    # --- reading -------------------------------------------------------------------------------

    def _parse_cursor(self, cursor: str | None) -> int | None:
        if cursor is None or cursor == "":
            return None
        if not str(cursor).isdigit():
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
        return self._list("event.get", params, "new problem events")

    def _recovered_open_problems(self, open_ids: Sequence[str]) -> list[Mapping[str, Any]]:
        """The full problem events (hosts, tags) of those ``open_ids`` that have recovered."""
        ids = [str(i) for i in open_ids if str(i).isdigit()]
        if len(ids) != len(open_ids):
            log.warning(
                "%s: ignoring open ids that are not Zabbix event ids: %s",
                self.name,
                [i for i in open_ids if not str(i).isdigit()],
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
            for event in self._list("event.get", {**params, "eventids": list(chunk)}, what):
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
        params = {"hostids": hostids, "output": ["hostid"], self._groups_param: ["groupid", "name"]}
        groups: dict[str, list[str]] = {}
        for host in self._list("host.get", params, "host groups"):
            if isinstance(host, Mapping) and "hostid" in host:
                entries = host.get(self._groups_key) or []
                groups[str(host["hostid"])] = [
                    str(g["name"]) for g in entries if isinstance(g, Mapping) and g.get("name")
                ]
        return groups

    def _list(self, method: str, params: Mapping[str, Any], what: str) -> list[Any]:
        result = self._call(method, params)
        if not isinstance(result, list):
            raise SourceError(f"{method} ({what}) returned {type(result).__name__}, expected a list", source=self.name)
        return result

    # --- the one boundary to pyzabbix / requests -----------------------------------------------

    def _call(self, method: str, params: Mapping[str, Any]) -> Any:
        """One API call, logging in first if needed; re-logs in once when a session expired."""
        if not self._logged_in:
            self._login()
        try:
            return self._request(method, params)
        except ZabbixAPIException as exc:
            if self.settings.api_token is not None or not _session_expired(exc):
                raise self._error(method, exc) from exc
            log.info("%s: Zabbix session expired during %s; logging in again", self.name, method)
        except requests.RequestException as exc:
            raise self._error(method, exc) from exc
        self._logged_in = False
        self._login()
        try:
            return self._request(method, params)
        except (ZabbixAPIException, requests.RequestException) as exc:
            raise self._error(method, exc) from exc

    def _request(self, method: str, params: Mapping[str, Any]) -> Any:
        """The ``result`` of one JSON-RPC call; a reply without one is an API error too."""
        response = self._api.do_request(method, dict(params))
        if not isinstance(response, Mapping) or "result" not in response:
            what = f"Zabbix API answer without a result: {_short(response, 200)}"
            raise SourceError(self._redact(f"{method} failed: {what}"), source=self.name)
        return response["result"]

    def _login(self) -> None:
        """Detect the API version, then store the token or open a user/password session."""
        settings = self.settings
        self._api.version = None  # so a failure below names the right call
        try:
            if settings.api_token is not None:
                self._api.login(api_token=settings.api_token.get_secret_value())
            else:
                assert settings.user is not None and settings.password is not None  # the validator
                self._api.login(user=settings.user, password=settings.password.get_secret_value())
                if isinstance(self._api.auth, str) and self._api.auth:
                    self._register_secret(self._api.auth)
            version = str(self._api.version or self._api.api_version())
        except (ZabbixAPIException, requests.RequestException) as exc:
            call = "apiinfo.version" if self._api.version is None else "user.login"
            raise self._error(f"login ({call})", exc) from exc
        if _version_at_least(version, 6, 2):
            self._groups_param, self._groups_key = "selectHostGroups", "hostgroups"
        else:
            self._groups_param, self._groups_key = "selectGroups", "groups"
        self._logged_in = True
        log.debug("%s: connected to Zabbix API %s", self.name, version)

    def _error(self, call: str, exc: Exception) -> SourceError:
        """Translate a requests / pyzabbix failure of ``call`` into a ``SourceError``."""
        url = self._api.url
        if isinstance(exc, requests.Timeout):
            what = f"no answer from {url} within {self.settings.timeout_seconds:g}s"
        elif isinstance(exc, requests.ConnectionError):
            what = f"cannot connect to {url}: {_short(exc)}"
        elif isinstance(exc, requests.HTTPError):
            status = exc.response.status_code if exc.response is not None else "?"
            what = f"HTTP {status} from {url}"
        elif isinstance(exc, requests.RequestException):
            what = f"request to {url} failed: {_short(exc)}"
        elif isinstance(exc, ZabbixAPIException):
            what = _describe_api_error(exc)
            if self.settings.api_token is not None and _session_expired(exc):
                what += " (the API token was refused: wrong, expired or disabled?)"
        else:  # pragma: no cover - callers pass only the types above
            what = _short(exc)
        return SourceError(self._redact(f"{call} failed: {what}"), source=self.name)

    def _redact(self, text: str) -> str:
        """``text`` without the token, the password or the session id, whatever happens."""
        secrets = [s.get_secret_value() for s in (self.settings.api_token, self.settings.password) if s is not None]
        auth = getattr(self._api, "auth", "")
        if isinstance(auth, str):
            secrets.append(auth)
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def _recovered(event: Mapping[str, Any]) -> bool:
    """True when the problem event already has a recovery event (``r_eventid`` not "0")."""
    r_eventid = str(event.get("r_eventid") or "0")
    return r_eventid.isdigit() and r_eventid != "0"


def _session_expired(exc: Exception) -> bool:
    """The session id (or token) is no longer accepted: ``-32602 Session terminated/Not authorized``."""
    text = str(getattr(exc, "error", None) or exc).lower()
    return any(marker in text for marker in _RELOGIN_MARKERS)


def _describe_api_error(exc: Exception) -> str:
    """``Zabbix API error -32500: Application error. No permissions…`` (code when there is one)."""
    error = getattr(exc, "error", None)
    if isinstance(error, Mapping):
        message = str(error.get("message", "")).strip()
        data = str(error.get("data", "")).strip()
        detail = " ".join(part for part in (message, data if data != "No data" else "") if part)
        return f"Zabbix API error {error.get('code', '?')}: {_short(detail, 500)}"  # data may echo input
    return f"Zabbix API error: {_short(exc)}"  # empty or non-JSON body: no code


def _short(what: object, limit: int = 300) -> str:
    """``what`` as one line of at most ``limit`` characters (library messages can be huge)."""
    text = " ".join(str(what).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _version_at_least(version: str, major: int, minor: int) -> bool:
    match = re.match(r"\s*(\d+)\.(\d+)", version)
    if match is None:
        return False
    return (int(match.group(1)), int(match.group(2))) >= (major, minor)
