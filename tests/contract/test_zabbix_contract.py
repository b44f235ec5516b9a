"""ZabbixSource against a fake Zabbix 6.0 JSON-RPC API (``responses`` + one dispatching callback).

The fake mimics what the real 6.0.14 server does (checked against it): HTTP 200 with an
``error`` object for API errors, string-typed ids, ``auth`` in the body, no credentials on
``apiinfo.version``/``user.login``, ``Session terminated, re-login, please.`` for a dead session
or a bad token. Failures are injected per method: connection refused, timeout, HTTP 500,
JSON-RPC error, empty body.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr, ValidationError

from connector.contracts.adapters import PluginContext, Rejected, SourceType
from connector.domain.clock import FakeClock
from connector.domain.errors import SourceError
from connector.domain.models import Alert, TicketRef
from connector.integrations.zabbix import ZabbixSettings, ZabbixSource
from connector.plugins import zabbix as zabbix_plugin
from connector.state.spool import Spool
from connector.util.secrets import SecretSource

URL = "http://zabbix.test/api_jsonrpc.php"
TOKEN = "tok-5b1d0c7e9a8f4e2d8c6b4a2f0e1d3c5b"
PASSWORD = "pa55-w0rd-secret"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T0 = int(NOW.timestamp()) - 1800  # problems started half an hour ago
ANONYMOUS = {"apiinfo.version", "user.login", "user.checkAuthentication"}

# --- the fake server ---------------------------------------------------------------------------

Failure = Exception | tuple[Any, ...]


@dataclass
class Call:
    method: str
    params: Any
    auth: str | None


@dataclass
class FakeZabbix:
    """Just enough of Zabbix 6.x: events, hosts with groups, acknowledges, sessions."""

    version: str = "6.0.14"
    token: str = TOKEN
    users: dict[str, str] = field(default_factory=lambda: {"Admin": PASSWORD})
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    acknowledges: list[dict[str, Any]] = field(default_factory=list)

    # -- building state --

    def add_host(self, hostid: str, host: str, name: str, groups: list[str]) -> None:
        self.hosts[hostid] = {
            "hostid": hostid,
            "host": host,
            "name": name,
            "groups": [{"groupid": str(100 + i), "name": g} for i, g in enumerate(groups)],
        }

    def add_problem(
        self,
        eventid: int,
        *,
        hostid: str | None = "10501",
        clock: int = T0,
        severity: int = 4,
        name: str | None = None,
        tags: list[dict[str, str]] | None = None,
        suppressed: bool = False,
        **overrides: Any,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "eventid": str(eventid),
            "source": "0",
            "object": "0",
            "objectid": str(20000 + eventid),
            "clock": str(clock),
            "value": "1",
            "acknowledged": "0",
            "ns": "250000000",
            "name": name if name is not None else f"Problem {eventid}",
            "severity": str(severity),
            "r_eventid": "0",
            "c_eventid": "0",
            "correlationid": "0",
            "userid": "0",
            "opdata": "",
            "suppressed": "1" if suppressed else "0",
            "urls": [],
            "_hostid": hostid,
            "_tags": tags if tags is not None else [{"tag": "service", "value": "mail"}],
        }
        event.update(overrides)
        self.events[eventid] = event
        return event

    def recover(self, problem_id: int, recovery_id: int, *, clock: int | None = None) -> None:
        problem = self.events[problem_id]
        self.events[recovery_id] = {
            **problem,
            "eventid": str(recovery_id),
            "value": "0",
            "severity": "0",
            "clock": str(clock if clock is not None else int(problem["clock"]) + 300),
            "ns": "0",
            "_tags": [],
        }
        problem["r_eventid"] = str(recovery_id)

    def fail_next(self, method: str, *failures: Failure) -> None:
        """Make the next calls of ``method`` fail, one failure per call."""
        self.failures.setdefault(method, []).extend(failures)

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def params_of(self, method: str) -> list[Any]:
        return [c.params for c in self.calls if c.method == method]

    # -- the HTTP side --

    def callback(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str] | Exception:
        assert request.headers["Content-Type"] == "application/json-rpc"
        body = json.loads(request.body or b"{}")
        method, params = body["method"], body.get("params")
        auth = body.get("auth")
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer "):
            auth = bearer.removeprefix("Bearer ")
        self.calls.append(Call(method, params, auth))
        if method in ANONYMOUS:
            assert auth is None, f"{method} must be called without credentials"
        queue = self.failures.get(method)
        if queue:
            failure = queue.pop(0)
            if isinstance(failure, Exception):
                return failure
            kind, *rest = failure
            if kind == "http":
                return (rest[0], {}, "<html>Internal Server Error</html>")
            if kind == "body":
                return (200, {}, rest[0])
            if kind == "rpc":
                return self._error(body, *rest)
            if kind == "expire":  # every session dies (the server restarted, the user timed out)
                self.sessions.clear()
            else:  # pragma: no cover - a typo in a test
                raise AssertionError(f"unknown failure {failure!r}")
        if method not in ANONYMOUS and auth != self.token and auth not in self.sessions:
            return self._error(body, -32602, "Invalid params.", "Session terminated, re-login, please.")
        try:
            result = getattr(self, "_" + method.replace(".", "_"))(params)
        except _RpcError as exc:
            return self._error(body, *exc.args)
        return (200, {}, json.dumps({"jsonrpc": "2.0", "result": result, "id": body["id"]}))

    @staticmethod
    def _error(body: dict[str, Any], code: int, message: str, data: str) -> tuple[int, dict[str, str], str]:
        error = {"code": code, "message": message, "data": data}
        return (200, {}, json.dumps({"jsonrpc": "2.0", "error": error, "id": body["id"]}))

    # -- API methods --

    def _apiinfo_version(self, params: Any) -> str:
        return self.version

    def _user_login(self, params: dict[str, Any]) -> str:
        name = str(params.get("username", params.get("user")))
        if self.users.get(name) != params.get("password"):
            raise _RpcError(-32500, "Application error.", "Incorrect user name or password or account is ...")
        session = f"sess{len(self.sessions) + len(self.calls):028d}"
        self.sessions.add(session)
        return session

    def _user_logout(self, params: Any) -> bool:
        return True

    def _event_get(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        selected = sorted(self.events.values(), key=lambda e: int(e["eventid"]))
        if "eventids" in params:
            ids = params["eventids"]
            wanted = {str(i) for i in (ids if isinstance(ids, list) else [ids])}
            selected = [e for e in selected if e["eventid"] in wanted]
        if "eventid_from" in params:
            selected = [e for e in selected if int(e["eventid"]) >= int(params["eventid_from"])]
        if "time_from" in params:
            selected = [e for e in selected if int(e["clock"]) >= int(params["time_from"])]
        for key in ("value", "source", "object"):
            if key in params:
                selected = [e for e in selected if e[key] == str(params[key])]
        if "severities" in params:
            selected = [e for e in selected if int(e["severity"]) in params["severities"]]
        if params.get("sortorder") == "DESC":
            selected.reverse()
        if "limit" in params:
            selected = selected[: int(params["limit"])]
        return [self._render_event(e, params) for e in selected]

    def _render_event(self, event: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        output = params.get("output", "extend")
        out = {k: v for k, v in event.items() if not k.startswith("_") and (output == "extend" or k in output)}
        if "selectHosts" in params:
            host = self.hosts.get(event["_hostid"] or "")
            out["hosts"] = [{k: host[k] for k in params["selectHosts"]}] if host else []
        if "selectTags" in params:
            out["tags"] = list(event["_tags"])
        return out

    def _host_get(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        six_two = tuple(int(x) for x in self.version.split(".")[:2]) >= (6, 2)
        if ("selectHostGroups" if six_two else "selectGroups") not in params:
            raise _RpcError(-32602, "Invalid params.", "wrong group selector for this version")
        key = "hostgroups" if six_two else "groups"
        return [
            {"hostid": h["hostid"], key: h["groups"]}
            for hid, h in sorted(self.hosts.items())
            if hid in params["hostids"]
        ]

    def _event_acknowledge(self, params: dict[str, Any]) -> dict[str, Any]:
        ids = params["eventids"] if isinstance(params["eventids"], list) else [params["eventids"]]
        for eventid in ids:
            if int(eventid) not in self.events:
                raise _RpcError(-32500, "Application error.", "No permissions to referred object or it does not exist!")
        self.acknowledges.append(params)
        return {"eventids": [int(i) for i in ids]}


class _RpcError(Exception):
    """Raised by a fake API method: becomes a JSON-RPC error object."""


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def fake() -> FakeZabbix:
    server = FakeZabbix()
    server.add_host("10501", "db01", "Database 01", ["Linux servers", "Databases"])
    server.add_host("10502", "web01", "Web 01", ["Web"])
    return server


@pytest.fixture
def api(fake: FakeZabbix) -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.POST, URL, callback=fake.callback)
        yield rsps


def settings(**overrides: Any) -> ZabbixSettings:
    values: dict[str, Any] = {"url": URL, "api_token": SecretStr(TOKEN)}
    if "user" in overrides:
        values.pop("api_token")
    values.update(overrides)
    return ZabbixSettings(**values)


def password_settings(**overrides: Any) -> ZabbixSettings:
    return settings(user="Admin", password=SecretStr(PASSWORD), **overrides)


def make_source(config: ZabbixSettings | None = None, **kwargs: Any) -> ZabbixSource:
    return ZabbixSource(config or settings(), name="zbx", clock=FakeClock(NOW), **kwargs)


def alerts(items: Any) -> list[Alert]:
    return [i for i in items if isinstance(i, Alert)]


# --- polling: new problems ---------------------------------------------------------------------


def test_building_the_source_does_not_touch_the_network(fake: FakeZabbix, api: Any) -> None:
    make_source()

    assert fake.calls == []


def test_first_poll_reads_the_lookback_window_and_maps_every_field(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(7, tags=[{"tag": "service", "value": "billing"}, {"tag": "env", "value": "prod"}])
    fake.add_problem(9, hostid="10502", severity=2)

    result = make_source().poll(None, [])

    first = fake.params_of("event.get")[0]
    assert first == {
        "source": 0,
        "object": 0,
        "value": 1,
        "output": "extend",
        "selectHosts": ["hostid", "host", "name"],
        "selectTags": "extend",
        "severities": [0, 1, 2, 3, 4, 5],
        "sortfield": "eventid",
        "sortorder": "ASC",
        "limit": 500,
        "time_from": int((NOW - timedelta(minutes=60)).timestamp()),
    }
    assert result.cursor == "9"
    db, web = result.items
    assert isinstance(db, Alert) and isinstance(web, Alert)
    assert (db.source, db.external_id, db.title, db.ci) == ("zbx", "7", "Problem 7", "db01")
    assert db.host_groups == ("Databases", "Linux servers")
    assert db.tags == {"service": "billing", "env": "prod"}
    assert db.service == "billing"
    assert db.severity == 4
    assert db.occurred_at == datetime.fromtimestamp(T0, UTC) + timedelta(milliseconds=250)
    assert db.raw["eventid"] == "7" and db.raw["hosts"][0]["host"] == "db01"
    assert (web.ci, web.host_groups, web.severity) == ("web01", ("Web",), 2)


def test_lookback_is_configurable_and_taken_from_the_injected_clock(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(1, clock=int(NOW.timestamp()) - 3 * 3600)  # older than the window
    fake.add_problem(2, clock=int(NOW.timestamp()) - 600)

    result = make_source(settings(initial_lookback_minutes=15)).poll(None, [])

    assert fake.params_of("event.get")[0]["time_from"] == int(NOW.timestamp()) - 900
    assert [a.external_id for a in alerts(result.items)] == ["2"]


def test_host_groups_of_the_whole_batch_come_from_one_host_get(fake: FakeZabbix, api: Any) -> None:
    for eventid in range(1, 7):
        fake.add_problem(eventid, hostid="10501" if eventid % 2 else "10502")

    make_source().poll(None, [])

    assert fake.methods().count("host.get") == 1
    assert fake.params_of("host.get")[0] == {
        "hostids": ["10501", "10502"],
        "output": ["hostid"],
        "selectGroups": ["groupid", "name"],
    }


@pytest.mark.parametrize("version", ["6.2.0", "6.4.12", "7.0.3"])
def test_newer_servers_get_the_host_groups_selector(fake: FakeZabbix, api: Any, version: str) -> None:
    fake.version = version
    fake.add_problem(1)

    result = make_source().poll(None, [])

    assert "selectHostGroups" in fake.params_of("host.get")[0]
    assert alerts(result.items)[0].host_groups == ("Databases", "Linux servers")


def test_on_6_4_the_token_travels_as_bearer_header(fake: FakeZabbix, api: Any) -> None:
    fake.version = "6.4.0"
    fake.add_problem(1)

    make_source().poll(None, [])

    assert api.calls[-1].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "auth" not in json.loads(api.calls[-1].request.body)


def test_poll_with_cursor_asks_for_later_events_only(fake: FakeZabbix, api: Any) -> None:
    for eventid in (3, 5, 8):
        fake.add_problem(eventid)

    result = make_source().poll("5", [])

    params = fake.params_of("event.get")[0]
    assert params["eventid_from"] == "6"
    assert "time_from" not in params
    assert [a.external_id for a in alerts(result.items)] == ["8"]
    assert result.cursor == "8"


def test_nothing_new_keeps_the_cursor_and_skips_host_get(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(3)

    result = make_source().poll("3", [])

    assert result.items == []
    assert result.cursor == "3"
    assert "host.get" not in fake.methods()


def test_first_poll_with_nothing_returns_no_cursor(fake: FakeZabbix, api: Any) -> None:
    result = make_source().poll(None, [])

    assert (list(result.items), result.cursor) == ([], None)


def test_cursor_compares_ids_as_numbers_not_strings(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(9)
    fake.add_problem(10)

    assert make_source().poll("8", []).cursor == "10"


def test_min_severity_is_sent_as_severities(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(1, severity=2)
    fake.add_problem(2, severity=3)
    fake.add_problem(3, severity=5)

    result = make_source(settings(min_severity=3)).poll(None, [])

    assert fake.params_of("event.get")[0]["severities"] == [3, 4, 5]
    assert [a.external_id for a in alerts(result.items)] == ["2", "3"]


def test_batch_limit_bounds_one_poll_and_the_rest_comes_next(fake: FakeZabbix, api: Any) -> None:
    for eventid in range(1, 6):
        fake.add_problem(eventid)
    source = make_source(settings(batch_limit=2))

    first = source.poll(None, [])
    second = source.poll(first.cursor, [])
    third = source.poll(second.cursor, [])

    assert fake.params_of("event.get")[0]["limit"] == 2
    assert [a.external_id for a in alerts(first.items)] == ["1", "2"]
    assert [a.external_id for a in alerts(second.items)] == ["3", "4"]
    assert [a.external_id for a in alerts(third.items)] == ["5"]
    assert third.cursor == "5"


def test_malformed_event_is_rejected_and_the_rest_of_the_batch_goes_on(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(1)
    fake.add_problem(2, clock=0)
    fake.add_problem(3, hostid=None)
    fake.add_problem(4, name="")
    fake.add_problem(5)
    fake.add_problem(6, ns="x")  # the highest id is malformed: the cursor still moves past it

    result = make_source().poll("0", [])

    assert [(type(i).__name__, i.external_id) for i in result.items] == [
        ("Alert", "1"),
        ("Rejected", "2"),
        ("Rejected", "3"),
        ("Rejected", "4"),
        ("Alert", "5"),
        ("Rejected", "6"),
    ]
    reasons = [i.reason for i in result.items if isinstance(i, Rejected)]
    assert reasons == [
        "event 2 has a bad clock: '0'",
        "event 3 has no host",
        "event 4 has no name",
        "event 6 has a bad ns: 'x'",
    ]
    assert all(i.source == "zbx" for i in result.items)
    assert result.cursor == "6"


def test_event_ids_that_are_not_ascii_digits_neither_move_the_cursor_nor_stop_the_poll(
    fake: FakeZabbix, api: Any
) -> None:
    """An API answer with Arabic-Indic or fullwidth digits in an event id (a broken proxy, a
    hostile upstream): ``int()`` reads them as 881 and 8. Neither may move the cursor (to 881,
    skipping every real event up to it); the events are rejected and the batch goes on."""
    fake.add_problem(5)["eventid"] = "\u0668\u0668\u0661"  # ٨٨١, which int() reads as 881
    fake.add_problem(6)["eventid"] = "\uff18"  # a fullwidth ８
    fake.add_problem(7)

    result = make_source().poll("4", [])

    assert result.cursor == "7"
    assert [a.external_id for a in alerts(result.items)] == ["7"]
    assert len([i for i in result.items if isinstance(i, Rejected)]) == 2


def test_suppressed_events_are_kept_by_default(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(1, suppressed=True)

    result = make_source().poll(None, [])

    assert [a.external_id for a in alerts(result.items)] == ["1"]


def test_suppressed_events_are_skipped_when_asked_and_the_cursor_passes_them(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(1)
    fake.add_problem(2, suppressed=True)

    result = make_source(settings(ignore_suppressed=True)).poll(None, [])

    assert [a.external_id for a in alerts(result.items)] == ["1"]
    assert result.cursor == "2"


def test_bad_cursor_is_a_source_error(fake: FakeZabbix, api: Any) -> None:
    with pytest.raises(SourceError, match="cursor 'abc' is not a Zabbix event id"):
        make_source().poll("abc", [])


# --- polling: recoveries -----------------------------------------------------------------------


def test_event_already_recovered_yields_problem_then_recovery(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(10)
    fake.recover(10, 11, clock=T0 + 120)

    result = make_source().poll(None, [])

    problem, recovery = result.items
    assert isinstance(problem, Alert) and isinstance(recovery, Alert)
    assert (problem.external_id, problem.recovered_at) == ("10", None)
    assert (recovery.external_id, recovery.title, recovery.ci) == ("10", "Problem 10", "db01")
    assert recovery.recovered_at == datetime.fromtimestamp(T0 + 120, UTC)
    assert recovery.event_key == "10/recovery"
    assert {"eventids": ["11"], "output": ["eventid", "clock", "ns"]} in fake.params_of("event.get")
    assert result.cursor == "10"  # the recovery event (value 0) is not a new problem


def test_recovered_open_problem_yields_recovery_with_its_details(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(20, hostid="10502", name="Web down")
    fake.add_problem(21)  # still open
    fake.recover(20, 30, clock=T0 + 900)

    result = make_source().poll("30", ["20", "21"])

    assert result.cursor == "30"
    (recovery,) = result.items
    assert isinstance(recovery, Alert)
    assert (recovery.external_id, recovery.title, recovery.ci, recovery.host_groups) == (
        "20",
        "Web down",
        "web01",
        ("Web",),
    )
    assert recovery.recovered_at == datetime.fromtimestamp(T0 + 900, UTC)
    gets = fake.params_of("event.get")
    assert gets[1] == {"eventids": ["20", "21"], "output": ["eventid", "r_eventid"]}
    assert gets[2] == {
        "eventids": ["20"],
        "output": "extend",
        "selectHosts": ["hostid", "host", "name"],
        "selectTags": "extend",
    }
    assert gets[3] == {"eventids": ["30"], "output": ["eventid", "clock", "ns"]}
    assert fake.methods().count("host.get") == 1


def test_nothing_recovered_costs_one_status_call(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(20)

    result = make_source().poll("20", ["20"])

    assert result.items == []
    assert fake.methods() == ["apiinfo.version", "event.get", "event.get"]


def test_open_ids_are_looked_up_in_chunks_of_500(fake: FakeZabbix, api: Any) -> None:
    open_ids = [str(i) for i in range(1, 1202)]

    make_source().poll("5000", open_ids)

    status_calls = [p for p in fake.params_of("event.get") if p.get("output") == ["eventid", "r_eventid"]]
    assert [len(p["eventids"]) for p in status_calls] == [500, 500, 201]
    assert [i for p in status_calls for i in p["eventids"]] == open_ids


def test_recovered_open_problem_of_a_deleted_host_still_recovers(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(20, hostid=None)  # Zabbix keeps the events of a deleted host, without hosts
    fake.recover(20, 21)

    (recovery,) = make_source().poll("21", ["20"]).items

    assert isinstance(recovery, Alert)
    assert (recovery.external_id, recovery.ci, recovery.recovered_at is not None) == ("20", None, True)


def test_open_ids_zabbix_no_longer_knows_are_logged_not_reported(
    fake: FakeZabbix, api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="connector.integrations.zabbix.source"):
        result = make_source().poll("100", ["77", "not-an-id"])

    assert result.items == []
    assert "unknown to Zabbix (deleted?): ['77']" in caplog.text
    assert "not Zabbix event ids: ['not-an-id']" in caplog.text
    assert all("not-an-id" not in str(p) for p in fake.params_of("event.get"))


def test_open_id_in_the_new_batch_is_reported_once(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(40)
    fake.recover(40, 41)

    result = make_source().poll("39", ["40"])

    assert [(a.external_id, a.recovered_at is not None) for a in alerts(result.items)] == [
        ("40", False),
        ("40", True),
    ]


# --- acknowledgement ---------------------------------------------------------------------------

REF = TicketRef(ticket_id="4242", url="https://desk.example/issues/4242")


def test_acknowledge_sends_ack_plus_message(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(7)

    make_source().acknowledge("7", REF, "ticket #4242 opened")

    assert fake.acknowledges == [{"eventids": "7", "action": 6, "message": "ticket #4242 opened"}]


def test_acknowledge_without_message_uses_the_configured_template(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(7)
    source = make_source(settings(ack_message="[itsm] #{ticket_id} -> {url}"))

    source.acknowledge("7", REF, "")

    assert fake.acknowledges[0]["message"] == "[itsm] #4242 -> https://desk.example/issues/4242"
    assert source.ack_text(REF) == "[itsm] #4242 -> https://desk.example/issues/4242"


def test_default_ack_text_carries_the_loop_guard_prefix() -> None:
    text = make_source().ack_text(REF)

    assert text == "[itsm-connector] ticket #4242: https://desk.example/issues/4242"


def test_acknowledge_twice_is_fine(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(7)
    source = make_source()

    source.acknowledge("7", REF, "one")
    source.acknowledge("7", REF, "two")

    assert [a["message"] for a in fake.acknowledges] == ["one", "two"]


def test_acknowledge_disabled_sends_nothing(fake: FakeZabbix, api: Any) -> None:
    source = make_source(settings(acknowledge=False))

    source.acknowledge("7", REF, "x")

    assert fake.calls == []
    assert source.acknowledge_enabled is False
    assert make_source().acknowledge_enabled is True


def test_acknowledge_of_unknown_event_is_a_source_error(fake: FakeZabbix, api: Any) -> None:
    with pytest.raises(SourceError) as caught:
        make_source().acknowledge("999", REF, "x")

    assert str(caught.value) == (
        "source 'zbx': event.acknowledge failed: Zabbix API error -32500: Application error. "
        "No permissions to referred object or it does not exist!"
    )


def test_acknowledge_refuses_a_non_zabbix_id_without_calling(fake: FakeZabbix, api: Any) -> None:
    with pytest.raises(SourceError, match="not a Zabbix event id: 'mail-17'"):
        make_source().acknowledge("mail-17", REF, "x")

    assert fake.calls == []


def test_long_ack_message_is_cut_to_what_zabbix_stores(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(7)

    make_source().acknowledge("7", REF, "x" * 5000)

    assert len(fake.acknowledges[0]["message"]) == 2048


# --- authentication ----------------------------------------------------------------------------


def test_token_login_sends_the_token_in_the_body_on_6_0(fake: FakeZabbix, api: Any) -> None:
    make_source().poll(None, [])

    assert fake.methods() == ["apiinfo.version", "event.get"]
    assert [c.auth for c in fake.calls] == [None, TOKEN]


def test_password_login_happens_once_lazily(fake: FakeZabbix, api: Any) -> None:
    registered: list[str] = []
    source = make_source(password_settings(), register_secret=registered.append)
    assert fake.calls == []

    source.poll(None, [])
    source.poll(None, [])

    assert fake.methods() == ["apiinfo.version", "user.login", "event.get", "event.get"]
    assert fake.params_of("user.login") == [{"username": "Admin", "password": PASSWORD}]
    session = fake.calls[2].auth
    assert session in fake.sessions
    assert registered == [session]  # the session id is a secret too


@pytest.mark.parametrize(
    "message", ["Session terminated, re-login, please.", "Not authorized."], ids=["terminated", "not-auth"]
)
def test_expired_session_logs_in_again_once_and_retries(fake: FakeZabbix, api: Any, message: str) -> None:
    fake.add_problem(1)
    source = make_source(password_settings())
    source.poll(None, [])
    fake.calls.clear()
    if message.startswith("Session"):
        fake.fail_next("event.get", ("expire",))
    else:
        fake.fail_next("event.get", ("rpc", -32602, "Invalid params.", message))

    result = source.poll(None, [])

    assert fake.methods()[:4] == ["event.get", "apiinfo.version", "user.login", "event.get"]
    assert [a.external_id for a in alerts(result.items)] == ["1"]


def test_second_expiry_in_a_row_is_a_source_error(fake: FakeZabbix, api: Any) -> None:
    source = make_source(password_settings())
    source.poll(None, [])
    fake.fail_next("event.get", ("expire",), ("expire",))

    with pytest.raises(SourceError, match=r"event\.get failed: .*Session terminated"):
        source.poll(None, [])

    assert fake.methods().count("user.login") == 2


def test_refused_token_is_not_retried_and_says_so(fake: FakeZabbix, api: Any) -> None:
    fake.token = "another-token"

    with pytest.raises(SourceError) as caught:
        make_source().poll(None, [])

    assert "user.login" not in fake.methods()
    assert fake.methods() == ["apiinfo.version", "event.get"]
    assert "event.get failed: Zabbix API error -32602" in str(caught.value)
    assert "API token was refused" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_wrong_password_names_the_login_call(fake: FakeZabbix, api: Any) -> None:
    fake.users["Admin"] = "something else"

    with pytest.raises(SourceError) as caught:
        make_source(password_settings()).poll(None, [])

    assert str(caught.value).startswith("source 'zbx': login (user.login) failed: Zabbix API error -32500")
    assert PASSWORD not in str(caught.value)


def test_close_logs_out_a_password_session(fake: FakeZabbix, api: Any) -> None:
    source = make_source(password_settings())
    source.poll(None, [])

    source.close()

    assert fake.methods()[-1] == "user.logout"


def test_close_without_login_or_with_token_sends_nothing(fake: FakeZabbix, api: Any) -> None:
    make_source(password_settings()).close()
    token_source = make_source()
    token_source.poll(None, [])
    token_source.close()

    assert "user.logout" not in fake.methods()


def test_close_survives_a_failing_logout(fake: FakeZabbix, api: Any) -> None:
    source = make_source(password_settings())
    source.poll(None, [])
    fake.fail_next("user.logout", requests.ConnectionError("refused"))

    source.close()  # no exception

    assert fake.methods()[-1] == "user.logout"


# --- transport and API failures ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "failure", "expected"),
    [
        (
            "event.get",
            requests.ConnectionError("[Errno 111] Connection refused"),
            f"event.get failed: cannot connect to {URL}: [Errno 111] Connection refused",
        ),
        (
            "event.get",
            requests.ReadTimeout("read timed out"),
            f"event.get failed: no answer from {URL} within 10s",
        ),
        ("event.get", ("http", 500), f"event.get failed: HTTP 500 from {URL}"),
        ("event.get", ("http", 412), f"event.get failed: HTTP 412 from {URL}"),
        (
            "event.get",
            ("rpc", -32602, "Invalid params.", 'Incorrect API "event.get".'),
            'event.get failed: Zabbix API error -32602: Invalid params. Incorrect API "event.get".',
        ),
        ("event.get", ("body", ""), "event.get failed: Zabbix API error: Received empty response"),
        ("host.get", ("http", 502), f"host.get failed: HTTP 502 from {URL}"),
        ("event.get", ("body", "<html>"), "event.get failed: Zabbix API error: Unable to parse json: <html>"),
        (
            "apiinfo.version",
            requests.ConnectionError("refused"),
            f"login (apiinfo.version) failed: cannot connect to {URL}: refused",
        ),
    ],
)
def test_failures_become_source_errors_naming_the_call(
    fake: FakeZabbix, api: Any, method: str, failure: Failure, expected: str
) -> None:
    fake.add_problem(1)
    fake.fail_next(method, failure)

    with pytest.raises(SourceError) as caught:
        make_source().poll(None, [])

    assert str(caught.value) == f"source 'zbx': {expected}"
    assert caught.value.source == "zbx"
    assert caught.value.__cause__ is not None


def test_answer_without_result_is_a_source_error(fake: FakeZabbix, api: Any) -> None:
    fake.fail_next("event.get", ("body", '{"jsonrpc": "2.0", "id": 1}'))

    with pytest.raises(SourceError) as caught:
        make_source().poll(None, [])

    assert str(caught.value) == (
        "source 'zbx': event.get failed: Zabbix API answer without a result: {'jsonrpc': '2.0', 'id': 1}"
    )


def test_cause_keeps_the_zabbix_error_code(fake: FakeZabbix, api: Any) -> None:
    fake.fail_next("event.get", ("rpc", -32500, "Application error.", "boom"))

    with pytest.raises(SourceError) as caught:
        make_source().poll(None, [])

    cause = caught.value.__cause__
    assert cause is not None and cause.args[1] == -32500
    assert "-32500" in str(caught.value)


def test_huge_error_data_is_cut_short(fake: FakeZabbix, api: Any) -> None:
    fake.fail_next("event.get", ("rpc", -32500, "Application error.", "x" * 5000))

    with pytest.raises(SourceError) as caught:
        make_source().poll(None, [])

    assert len(str(caught.value)) < 600
    assert str(caught.value).endswith("x…")


def test_source_recovers_on_the_next_poll_after_a_failure(fake: FakeZabbix, api: Any) -> None:
    fake.add_problem(1)
    source = make_source()
    fake.fail_next("event.get", requests.ConnectionError("refused"))

    with pytest.raises(SourceError):
        source.poll(None, [])
    result = source.poll(None, [])

    assert [a.external_id for a in alerts(result.items)] == ["1"]


@pytest.mark.parametrize("config", [settings, password_settings], ids=["token", "password"])
def test_secrets_never_reach_an_error_message(fake: FakeZabbix, api: Any, config: Callable[[], ZabbixSettings]) -> None:
    source = make_source(config())
    source.poll(None, [])
    secrets = [TOKEN] if source.settings.api_token else [PASSWORD, *fake.sessions]
    fake.fail_next("event.get", ("rpc", -32500, "Application error.", "bad auth " + " / ".join(secrets)))

    with pytest.raises(SourceError) as caught:
        source.poll(None, [])

    text = str(caught.value)
    assert text.endswith("bad auth " + " / ".join(["***"] * len(secrets)))
    assert all(secret not in text for secret in secrets)


def test_every_request_has_the_configured_timeout(fake: FakeZabbix, api: Any) -> None:
    make_source(settings(timeout_seconds=3.5)).poll(None, [])

    assert [c.request.req_kwargs["timeout"] for c in api.calls] == [3.5, 3.5]


@pytest.mark.parametrize("verify", [True, False])
def test_tls_verification_follows_the_setting_even_with_a_ca_bundle_in_the_environment(
    fake: FakeZabbix, api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, verify: bool
) -> None:
    https = URL.replace("http://", "https://")
    api.add_callback(responses.POST, https, callback=fake.callback)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")

    make_source(settings(url=https, verify_tls=verify)).poll(None, [])

    sent = [c.request.req_kwargs["verify"] for c in api.calls]  # type: ignore[attr-defined]
    if verify:
        assert sent == ["/etc/ssl/certs/ca-certificates.crt"] * 2
    else:
        assert sent == [False, False]


def test_pyzabbix_debug_logging_is_turned_down(api: Any) -> None:
    logger = logging.getLogger("pyzabbix")
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        make_source()
        assert logger.level == logging.INFO
    finally:
        logger.setLevel(previous)


def test_on_recovery_is_exposed_on_the_source() -> None:
    assert make_source(settings(on_recovery="note")).on_recovery == "note"
    assert make_source().on_recovery == "resolve"


# --- settings ----------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    config = settings()

    assert (config.timeout_seconds, config.verify_tls, config.initial_lookback_minutes) == (10, True, 60)
    assert (config.batch_limit, config.min_severity, config.on_recovery) == (500, 0, "resolve")
    assert (config.acknowledge, config.ignore_suppressed) == (True, False)
    assert config.ack_message == "[itsm-connector] ticket #{ticket_id}: {url}"


def test_every_settings_field_is_documented() -> None:
    undocumented = [n for n, f in ZabbixSettings.model_fields.items() if not f.description]

    assert undocumented == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "no credentials: give api_token, or user and password"),
        ({"user": "Admin"}, "user is set but password is missing"),
        ({"password": SecretStr("x")}, "password is set but user is missing"),
        (
            {"api_token": SecretStr("t"), "user": "Admin"},
            "give either api_token or user + password, not both",
        ),
        (
            {"api_token": SecretStr("t"), "user": "Admin", "password": SecretStr("p")},
            "give either api_token or user + password, not both",
        ),
    ],
)
def test_exactly_one_auth_style(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        ZabbixSettings(url=URL, **values)


def test_password_written_in_the_file_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"must be given as \$\{ENV_VAR\}"):
        ZabbixSettings(url=URL, user="Admin", password="plain")


def test_secret_from_env_reference_is_accepted() -> None:
    config = ZabbixSettings(url=URL, api_token=SecretSource("from-env"))

    assert config.api_token is not None and config.api_token.get_secret_value() == "from-env"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("ticket {id}", "may only use {ticket_id} and {url}, not 'id'"),
        ("ticket {}", "may only use {ticket_id} and {url}, not '{}'"),
        ("ticket {0}", "not '0'"),
        ("ticket {url.netloc}", "not 'url.netloc'"),
        ("ticket {ticket_id:{url}}", "nested field"),
        ("ticket {ticket_id", "is not a valid format string"),
    ],
)
def test_ack_message_may_only_use_ticket_id_and_url(template: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(ack_message=template)


def test_ack_message_may_escape_braces() -> None:
    config = settings(ack_message="{{itsm}} {ticket_id!s} {url:>5}")

    assert config.format_ack_message("7", "u") == "{itsm} 7     u"


@pytest.mark.parametrize(
    "values",
    [
        {"url": "zabbix.example"},
        {"min_severity": 6},
        {"batch_limit": 0},
        {"timeout_seconds": 0},
        {"on_recovery": "close"},
        {"unknown_key": 1},
    ],
)
def test_bad_settings_are_refused(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        settings(**values)


# --- the plugin --------------------------------------------------------------------------------


def test_plugin_offers_the_zabbix_source_type(tmp_path: Path, api: Any, fake: FakeZabbix) -> None:
    registered: list[str] = []
    ctx = PluginContext(
        clock=FakeClock(NOW),
        name="zbx-prod",
        data_dir=tmp_path,
        register_secret=registered.append,
        spool=Spool(tmp_path / "spool"),
    )

    (source_type,) = zabbix_plugin.register_source_types()
    source = source_type.factory(password_settings(on_recovery="note"), ctx)

    assert isinstance(source_type, SourceType)
    assert (source_type.name, source_type.settings) == ("zabbix", ZabbixSettings)
    assert source_type.description
    assert isinstance(source, ZabbixSource)
    assert (source.name, source.on_recovery) == ("zbx-prod", "note")
    assert registered == [PASSWORD]
    assert fake.calls == []


def test_plugin_registers_the_token(tmp_path: Path) -> None:
    registered: list[str] = []
    ctx = PluginContext(
        clock=FakeClock(NOW),
        name="z",
        data_dir=tmp_path,
        register_secret=registered.append,
        spool=Spool(tmp_path / "spool"),
    )

    zabbix_plugin.build_zabbix_source(settings(), ctx)

    assert registered == [TOKEN]


def test_plugin_is_a_trylast_hookimpl_declared_as_entry_point() -> None:
    marker = zabbix_plugin.register_source_types.itsm_connector_impl  # type: ignore[attr-defined]
    declared = {ep.name: ep.value for ep in entry_points(group="itsm_connector")}

    assert marker["trylast"] is True
    assert declared["zabbix"] == "connector.plugins.zabbix"
