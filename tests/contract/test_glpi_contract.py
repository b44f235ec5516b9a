"""The GLPI backend against the documented GLPI 10 REST API (``glpi_fake``), with failure injection.

Shapes follow /work/shared/reference/glpi-rest.md: ``initSession``/``Session-Token``, 201
``{"id": n}`` on create, ``[{"<id>": true}]`` on update, ``["ERROR_…", "message"]`` errors,
206 + ``Content-Range`` paging, multipart Document uploads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.contracts.adapters import PluginContext, Relation, Resolution
from connector.domain.clock import FakeClock
from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.domain.models import Impact, Priority, ResolutionCode, Ticket, TicketSource, TicketStatus, Urgency
from connector.integrations.glpi import GlpiBackend, GlpiSettings
from connector.integrations.glpi.client import GlpiConfigError
from connector.integrations.glpi.render import HEADER
from connector.plugins import glpi as plugin
from connector.state.spool import Spool
from tests.contract.glpi_fake import APP_TOKEN, URL, USER_TOKEN, GlpiFake

T0 = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fake(rsps: responses.RequestsMock, clock: FakeClock) -> GlpiFake:
    return GlpiFake(rsps, clock)


def make_backend(clock: FakeClock, session: requests.Session | None = None, **overrides: Any) -> GlpiBackend:
    values: dict[str, Any] = {"url": URL, "user_token": SecretStr(USER_TOKEN)}
    values.update(overrides)
    return GlpiBackend(GlpiSettings(**values), clock=clock, session=session or requests.Session())


@pytest.fixture
def backend(fake: GlpiFake, clock: FakeClock) -> Iterator[GlpiBackend]:
    instance = make_backend(clock)
    yield instance
    instance.close()


def a_ticket(key: str = "zabbix:1", **overrides: Any) -> Ticket:
    values: dict[str, Any] = {
        "title": "Disk full on web01",
        "description": "free < 5%",
        "key": key,
        "impact": Impact.SEVERE,
        "urgency": Urgency.URGENT,
        "priority": Priority.HIGH,
        "source": TicketSource.MONITORING,
        "ci": "web01",
        "outage_start": datetime(2026, 11, 26, 2, 38, tzinfo=UTC),
    }
    values.update(overrides)
    return Ticket(**values)


def sent(fake: GlpiFake, method: str, path: str) -> list[dict[str, Any]]:
    """The JSON inputs of every call ``method path``."""
    return [json.loads(body)["input"] for m, p, _, body in fake.bodies if m == method and p == path]


def queries(fake: GlpiFake, path: str) -> list[dict[str, str]]:
    """The query strings of the calls to ``path``, in order."""
    return [dict(parse_qsl(urlsplit(url).query)) for url in fake.urls if urlsplit(url).path.endswith("/" + path)]


# --- the wire: one session, headers only, explicit timeouts ----------------------------------------


class RecordingSession(requests.Session):
    """A session that remembers the keyword arguments of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.seen.append((str(method), str(url), kwargs))
        return super().request(method, url, *args, **kwargs)


def test_one_session_for_many_tickets_tokens_in_headers_only(fake: GlpiFake, clock: FakeClock) -> None:
    session = RecordingSession()
    backend = make_backend(clock, session=session, timeout_seconds=4.5, request_sources={"monitoring": "Other"})
    for n in range(5):
        backend.create_ticket(a_ticket(f"zabbix:{n}"))
    backend.close()

    assert fake.calls.count(("GET", "initSession")) == 1
    assert fake.calls[-1] == ("GET", "killSession") and fake.sessions == set()
    # 1 session + 1 request-source lookup (cached) + one POST per ticket + killSession
    assert fake.count("POST", "Ticket/") == 5 and len(fake.calls) == 8
    for method, url, kwargs in session.seen:
        assert kwargs["timeout"] == 4.5 and kwargs["allow_redirects"] is False, (method, url)
        assert USER_TOKEN not in url and "sess" not in url
        assert "Content-Type" not in session.headers
    init = next(h for m, p, h, _ in fake.bodies if p == "initSession")
    assert init["authorization"] == f"user_token {USER_TOKEN}" and "app-token" not in init
    for _, path, headers, _ in fake.bodies[1:]:
        assert headers["session-token"].startswith("sess") and "authorization" not in headers, path


def test_the_app_token_is_sent_only_when_configured(rsps: responses.RequestsMock, clock: FakeClock) -> None:
    fake = GlpiFake(rsps, clock, app_token=APP_TOKEN)
    make_backend(clock, app_token=SecretStr(APP_TOKEN)).create_ticket(a_ticket())
    assert all(headers["app-token"] == APP_TOKEN for _, _, headers, _ in fake.bodies)

    with pytest.raises(GlpiConfigError) as info:
        make_backend(clock).create_ticket(a_ticket())  # the API client requires one
    assert "ERROR_APP_TOKEN_PARAMETERS_MISSING" in str(info.value) and "set backend app_token" in str(info.value)


def test_an_app_token_the_client_does_not_have_is_a_config_error(fake: GlpiFake, clock: FakeClock) -> None:
    with pytest.raises(GlpiConfigError) as info:
        make_backend(clock, app_token=SecretStr(APP_TOKEN)).create_ticket(a_ticket())
    exc = info.value
    assert isinstance(exc, BackendUnavailable) and exc.code == "ERROR_WRONG_APP_TOKEN_PARAMETER"
    assert "leave it out when the client has none" in str(exc) and "view documentation" not in str(exc)
    assert APP_TOKEN not in str(exc)


def test_a_refused_user_token_waits_in_the_outbox_with_a_clear_message(fake: GlpiFake, clock: FakeClock) -> None:
    with pytest.raises(GlpiConfigError) as info:
        make_backend(clock, user_token=SecretStr("wrong-token-000")).create_ticket(a_ticket())
    assert str(info.value) == (
        "glpi GET initSession: HTTP 401 Unauthorized: ERROR_GLPI_LOGIN_USER_TOKEN parameter user_token seems "
        "invalid: GLPI refused the user token (wrong or regenerated, or the user is inactive): set backend "
        "user_token to the connector user's API token (preferences › Remote access keys); the work waits in "
        "the outbox"
    )
    assert fake.tickets == {}


def test_session_expiry_mid_run_reopens_once_and_repeats_the_call(
    fake: GlpiFake, backend: GlpiBackend, caplog: pytest.LogCaptureFixture
) -> None:
    first = backend.create_ticket(a_ticket("zabbix:1"))
    fake.expire_sessions()
    with caplog.at_level(logging.INFO, logger="connector.integrations.glpi"):
        second = backend.create_ticket(a_ticket("zabbix:2"))
    assert first.ticket_id != second.ticket_id and len(fake.tickets) == 2
    tail = fake.calls[-3:]
    assert tail == [("POST", "Ticket/"), ("GET", "initSession"), ("POST", "Ticket/")]
    assert any("session expired" in r.getMessage() for r in caplog.records)
    fake.expire_sessions()
    backend.add_note(second.ticket_id, "still here")
    assert fake.calls.count(("GET", "initSession")) == 3 and fake.followups_of(second.ticket_id) == ["still here"]


def test_a_session_refused_twice_is_a_config_error(fake: GlpiFake, backend: GlpiBackend) -> None:
    backend.create_ticket(a_ticket("zabbix:1"))
    fake.fail("POST", "Ticket/", 401, ["ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid"], times=2)
    with pytest.raises(GlpiConfigError, match="refused a freshly opened session too"):
        backend.create_ticket(a_ticket("zabbix:2"))
    assert fake.calls.count(("GET", "initSession")) == 2 and len(fake.tickets) == 1


def test_close_kills_the_session_and_leaves_an_injected_http_session_open(fake: GlpiFake, clock: FakeClock) -> None:
    closed: list[bool] = []

    class Tracking(requests.Session):
        def close(self) -> None:
            closed.append(True)
            super().close()

    backend = make_backend(clock, session=Tracking())
    backend.create_ticket(a_ticket())
    token = next(iter(fake.sessions))
    backend.close()
    assert fake.killed == [token] and closed == []
    make_backend(clock).close()  # never used: no session, nothing to kill
    assert fake.calls.count(("GET", "killSession")) == 1


def test_the_entity_is_activated_once_per_session(fake: GlpiFake, clock: FakeClock) -> None:
    fake.entities[3] = {"id": 3, "name": "Metro", "completename": "Root entity > Metro"}
    backend = make_backend(clock, entity=3)
    backend.create_ticket(a_ticket("zabbix:1"))
    backend.create_ticket(a_ticket("zabbix:2"))
    assert fake.calls[:2] == [("GET", "initSession"), ("POST", "changeActiveEntities")]
    assert fake.count("POST", "changeActiveEntities") == 1
    assert sent(fake, "POST", "Ticket/")[0]["entities_id"] == 3
    assert json.loads(fake.bodies[1][3]) == {"entities_id": 3, "is_recursive": True}

    with pytest.raises(GlpiConfigError, match="did not switch the session to entity 9"):
        make_backend(clock, entity=9).create_ticket(a_ticket("zabbix:3"))


# --- failure injection: one boundary, GLPI's error array ------------------------------------------


def test_an_error_array_on_one_ticket_is_rejected_with_glpis_message(fake: GlpiFake, backend: GlpiBackend) -> None:
    fake.mandatory = {"itilcategories_id"}
    with pytest.raises(BackendRejected) as info:
        backend.create_ticket(a_ticket())
    exc = info.value
    assert not isinstance(exc, BackendUnavailable)
    assert (
        str(exc) == "glpi POST Ticket/: HTTP 400 Bad Request: ERROR_GLPI_ADD Mandatory field missing: itilcategories_id"
    )
    assert getattr(exc, "code", None) == "ERROR_GLPI_ADD"
    assert getattr(exc, "detail", None) == "Mandatory field missing: itilcategories_id"


def test_the_documentation_tail_and_partial_results_are_cleaned(fake: GlpiFake, backend: GlpiBackend) -> None:
    tail = f"; view documentation in your browser at {URL}/#ERROR_ITEM_NOT_FOUND"
    fake.fail("POST", "ITILFollowup/", 404, ["ERROR_ITEM_NOT_FOUND", "Item not found" + tail])
    with pytest.raises(BackendRejected) as info:
        backend.add_note("5", "x")
    assert str(info.value) == "glpi POST ITILFollowup/: HTTP 404 Not Found: ERROR_ITEM_NOT_FOUND Item not found"

    partial = ["ERROR_GLPI_PARTIAL_ADD", [{"id": 8, "message": ""}, {"id": False, "message": "Duplicate entry"}]]
    fake.fail("POST", "ITILFollowup/", 207, partial)
    with pytest.raises(BackendRejected, match=r"HTTP 207 .*ERROR_GLPI_PARTIAL_ADD ; Duplicate entry"):
        backend.add_note("5", "x")


def test_403_names_the_missing_right_and_waits(fake: GlpiFake, backend: GlpiBackend) -> None:
    fake.deny("POST", "ITILSolution")
    ticket = backend.create_ticket(a_ticket())
    with pytest.raises(BackendUnavailable) as info:
        backend.resolve_ticket(ticket.ticket_id, Resolution(at=T0, note="recovered"))
    exc = info.value
    assert isinstance(exc, GlpiConfigError) and exc.status == 403 and exc.code == "ERROR_RIGHT_MISSING"
    assert str(exc) == (
        "glpi POST ITILSolution/: HTTP 403 Forbidden: ERROR_RIGHT_MISSING You don't have permission to perform "
        "this action.: the connector's GLPI profile lacks Assistance › Tickets: 'Update' (a solution needs the "
        "right to solve the ticket); the work waits in the outbox"
    )
    assert fake.ticket(ticket.ticket_id)["status"] == 1


@pytest.mark.parametrize(
    ("method", "itemtype", "right"),
    [
        ("POST", "Ticket", "Assistance › Tickets: 'Create'"),
        ("POST", "ITILFollowup", "Assistance › Followups: 'Add to all tickets'"),
        ("POST", "Document", "Management › Documents: 'Create'"),
        ("POST", "Ticket_Ticket", "Assistance › Tickets: 'Update' (on both linked tickets)"),
        ("GET", "search", "Assistance › Tickets: 'See all tickets'"),
    ],
)
def test_every_403_says_which_right(
    fake: GlpiFake, backend: GlpiBackend, method: str, itemtype: str, right: str
) -> None:
    existing = [backend.create_ticket(a_ticket(f"k:{n}")).ticket_id for n in range(2)]
    fake.deny(method, itemtype)
    calls = {
        "Ticket": lambda: backend.create_ticket(a_ticket("k:3")),
        "ITILFollowup": lambda: backend.add_note(existing[0], "x"),
        "Document": lambda: backend.add_attachment(existing[0], "a.txt", b"x", "text/plain"),
        "Ticket_Ticket": lambda: backend.add_relation(existing[0], existing[1], Relation.RELATES),
        "search": lambda: backend.find_by_key("k:0"),
    }
    with pytest.raises(GlpiConfigError) as info:
        calls[itemtype]()
    assert right in str(info.value)


def test_500_with_retry_after_then_success_creates_one_ticket_through_the_engine(
    fake: GlpiFake, clock: FakeClock, tmp_path: Path
) -> None:
    from tests.conformance.harness import drive_engine_once

    fake.fail("POST", "Ticket/", 500, ["ERROR_SQL", "Unexpected SQL Error"], headers={"Retry-After": "30"})
    backend = make_backend(clock)
    engine, key = drive_engine_once(backend, clock, tmp_path)
    assert fake.tickets == {} and fake.statuses[-1] == ("Ticket/", 500)

    clock.advance(seconds=20)  # past the outbox's own 5 s backoff, not past GLPI's Retry-After
    assert engine.drain_outbox() == 0 and fake.count("POST", "Ticket/") == 1
    clock.advance(seconds=11)
    assert engine.drain_outbox() == 1
    assert len(fake.tickets) == 1 and fake.count("POST", "Ticket/") == 2
    # the retried create asked first whether the failed one had landed after all
    assert fake.count("GET", "search/Ticket") == 1
    found = backend.find_by_key(key)
    assert found is not None and found.ticket_id == str(next(iter(fake.tickets)))
    engine.store.close()


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ({"exception": requests.ConnectionError("[Errno 111] Connection refused")}, "cannot connect to"),
        (
            {"exception": requests.ReadTimeout("read timed out")},
            "no answer from http://glpi.test/apirest.php within 10s",
        ),
        ({"status": 503, "body": "<html>maintenance</html>"}, "HTTP 503 Service Unavailable"),
        ({"status": 429, "body": "", "headers": {"Retry-After": "7"}}, "HTTP 429 Too Many Requests (retry after 7s)"),
        ({"status": 302, "body": "", "headers": {"Location": "https://sso/login"}}, "redirected to https://sso/login"),
        ({"status": 201, "body": "<html>login</html>"}, "the body is not JSON"),
        ({"status": 201, "body": {"message": "no id"}}, "unexpected answer: id: Field required"),
        ({"status": 400, "body": ["ERROR", "API disabled"]}, "enable the REST API"),
        ({"status": 400, "body": ["ERROR_NOT_ALLOWED_IP", "no client"]}, "no active API client allows"),
    ],
)
def test_transient_and_config_failures_are_unavailable(
    fake: GlpiFake, backend: GlpiBackend, failure: dict[str, Any], expected: str
) -> None:
    fake.fail("POST", "Ticket/", **failure)
    with pytest.raises(BackendUnavailable) as info:
        backend.create_ticket(a_ticket())
    assert expected in str(info.value) and str(info.value).startswith("glpi POST Ticket/: ")
    assert USER_TOKEN not in str(info.value)
    if "exception" in failure:
        assert isinstance(info.value.__cause__, requests.RequestException)


def test_a_get_never_carries_a_body(fake: GlpiFake, backend: GlpiBackend) -> None:
    backend.create_ticket(a_ticket())
    backend.find_by_key("zabbix:1")
    list(backend.changed_since(T0))
    assert all(not body for method, _, _, body in fake.bodies if method == "GET")


def test_not_a_ticket_id_is_rejected_without_a_request(fake: GlpiFake, backend: GlpiBackend) -> None:
    with pytest.raises(BackendRejected, match=r"not a GLPI ticket id: '\.\./User/1'"):
        backend.add_note("../User/1", "x")
    assert fake.calls == []


# --- create: the seed fields, the scales, the escaping -------------------------------------------


@pytest.mark.parametrize(
    ("ours", "glpi"), [(Urgency.VERY_URGENT, 5), (Urgency.URGENT, 4), (Urgency.NORMAL, 3), (Urgency.SLIGHTLY_URGENT, 2)]
)
def test_every_urgency_maps_both_ways(fake: GlpiFake, backend: GlpiBackend, ours: Urgency, glpi: int) -> None:
    ref = backend.create_ticket(a_ticket(urgency=ours))
    assert fake.ticket(ref.ticket_id)["urgency"] == glpi
    [snapshot] = backend.changed_since(T0)
    assert snapshot.fields["urgency"] is ours


@pytest.mark.parametrize(
    ("ours", "glpi"), [(Impact.VERY_IMPORTANT, 5), (Impact.SEVERE, 4), (Impact.GENERAL, 3), (Impact.MINOR, 2)]
)
def test_every_impact_maps_both_ways(fake: GlpiFake, backend: GlpiBackend, ours: Impact, glpi: int) -> None:
    ref = backend.create_ticket(a_ticket(impact=ours))
    assert fake.ticket(ref.ticket_id)["impact"] == glpi
    [snapshot] = backend.changed_since(T0)
    assert snapshot.fields["impact"] is ours


@pytest.mark.parametrize(
    ("ours", "glpi"), [(Priority.HIGHEST, 5), (Priority.HIGH, 4), (Priority.MEDIUM, 3), (Priority.LOW, 2)]
)
def test_every_priority_maps_both_ways(fake: GlpiFake, backend: GlpiBackend, ours: Priority, glpi: int) -> None:
    ref = backend.create_ticket(a_ticket(priority=ours))
    assert fake.ticket(ref.ticket_id)["priority"] == glpi
    [snapshot] = backend.changed_since(T0)
    assert snapshot.fields["priority"] is ours


@pytest.mark.parametrize(
    ("ours", "glpi", "back"),
    [
        (TicketStatus.OPEN, 1, TicketStatus.OPEN),
        (TicketStatus.IN_PROGRESS, 2, TicketStatus.IN_PROGRESS),
        (TicketStatus.PENDING_CHANGE, 4, TicketStatus.PENDING_CHANGE),
        (TicketStatus.SUSPENDED, 4, TicketStatus.PENDING_CHANGE),  # GLPI has one "pending"
        (TicketStatus.RESOLVED, 5, TicketStatus.RESOLVED),
        (TicketStatus.CLOSED, 6, TicketStatus.CLOSED),
    ],
)
def test_every_status_maps_both_ways(
    fake: GlpiFake, backend: GlpiBackend, ours: TicketStatus, glpi: int, back: TicketStatus
) -> None:
    ref = backend.create_ticket(a_ticket())
    backend.update_ticket(ref.ticket_id, {"status": ours})
    assert fake.ticket(ref.ticket_id)["status"] == glpi
    [snapshot] = backend.changed_since(T0)
    assert snapshot.status is back


def test_a_configured_map_replaces_one_entry_and_the_mask_is_glpis(fake: GlpiFake, clock: FakeClock) -> None:
    backend = make_backend(clock, urgency_map={1: 4}, priority_map={1: 6})
    ref = backend.create_ticket(a_ticket(urgency=Urgency.VERY_URGENT, priority=Priority.HIGHEST))
    assert fake.ticket(ref.ticket_id)["urgency"] == 4 and fake.ticket(ref.ticket_id)["priority"] == 6
    with pytest.raises(ValueError, match="7 is not a GLPI priority"):
        GlpiSettings(url=URL, user_token=SecretStr(USER_TOKEN), priority_map={1: 7})
    fake.urgency_mask = 2 | 4 | 8 | 16  # "very high" (5) switched off in this GLPI
    other = backend.create_ticket(a_ticket("k:2", urgency=Urgency.URGENT, impact=Impact.VERY_IMPORTANT))
    assert fake.ticket(other.ticket_id)["urgency"] == 4 and fake.ticket(other.ticket_id)["impact"] == 5


def test_create_writes_the_seed_fields_where_glpi_keeps_them(fake: GlpiFake, clock: FakeClock) -> None:
    category = fake.add("ITILCategory", completename="ITSM > 网络 > 核心交换")
    group = fake.add("Group", completename="IT > Network")
    alice = fake.add("User", name="alice")
    bob = fake.add("User", name="bob")
    monitoring = fake.add("RequestType", name="Monitoring")
    hall = fake.add("Location", completename="Line 1 > Hall A")
    backend = make_backend(clock, category_root="ITSM", groups={"network": "IT > Network"}, timezone="Asia/Shanghai")
    ticket = a_ticket(
        category="网络",
        area="核心交换",
        assignment_group="network",
        assignee="alice",
        contact="bob",
        location="Line 1 > Hall A",
        registered_at=T0,
        sla_due=T0 + timedelta(hours=24),
        rule="core-switch",
    )

    backend.create_ticket(ticket)

    [item] = sent(fake, "POST", "Ticket/")
    assert item["name"] == "Disk full on web01" and item["type"] == 1
    assert (item["urgency"], item["impact"], item["priority"]) == (4, 4, 4)
    assert item["itilcategories_id"] == category and item["_groups_id_assign"] == group
    assert item["_users_id_assign"] == alice and item["_users_id_requester"] == bob
    assert item["requesttypes_id"] == monitoring and item["locations_id"] == hall
    # GLPI dates are in its own time zone (UTC+8 here), without an offset
    assert item["date"] == "2026-11-26 10:40:00"
    assert item["time_to_resolve"] == "2026-11-27 10:40:00"
    assert item["time_to_own"] == "2026-11-26 10:55:00"  # P2: 15 min response target
    assert "status" not in item and "entities_id" not in item
    content = item["content"]
    assert "Impact 影响度: 2 严重" in content and "Rule 规则: core-switch" in content
    assert "CI 配置项: web01" in content and "Outage start 故障开始: 2026-11-26T02:38:00Z" in content
    assert fake.ticket(next(iter(fake.tickets)))["status"] == 2  # GLPI: a New ticket with an assignee


def test_untrusted_text_is_escaped_in_content_and_notes(fake: GlpiFake, backend: GlpiBackend) -> None:
    evil = '<script>alert(1)</script> <img src=x onerror="alert(2)"> &amp; <a href="javascript:x">y</a>'
    ref = backend.create_ticket(a_ticket(title="Disk\n" + evil, description=evil + "\n\nsecond", ci=evil))
    backend.add_note(ref.ticket_id, evil)

    [item] = sent(fake, "POST", "Ticket/")
    for html_text in (item["content"], *(i["content"] for i in sent(fake, "POST", "ITILFollowup/"))):
        assert "<script>" not in html_text and "<img" not in html_text and "<a " not in html_text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text and "&amp;amp;" in html_text
    assert item["content"].startswith("<p>&lt;script&gt;") and "</p><p>second</p><hr>" in item["content"]
    assert item["name"] == "Disk " + evil  # a plain-text column: GLPI encodes it itself
    assert fake.followups_of(ref.ticket_id) == [evil]  # what a person reads is the text itself


def test_a_long_title_is_cut_to_glpis_column(fake: GlpiFake, backend: GlpiBackend) -> None:
    backend.create_ticket(a_ticket(title="x" * 300))
    [item] = sent(fake, "POST", "Ticket/")
    assert len(item["name"]) == 255 and item["name"].endswith("…")


def test_lookups_are_cached_and_a_missing_name_warns_once(
    fake: GlpiFake, backend: GlpiBackend, caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    fake.add("ITILCategory", completename="网络")
    with caplog.at_level(logging.WARNING, logger="connector.integrations.glpi"):
        for n in range(3):
            backend.create_ticket(a_ticket(f"k:{n}", category="网络", assignment_group="nobody"))
    assert fake.count("GET", "ITILCategory/") == 1 and fake.count("GET", "Group/") == 1
    assert all(t["itilcategories_id"] == fake.find("ITILCategory", "网络") for t in fake.tickets.values())
    assert all("_groups_id_assign" not in i for i in sent(fake, "POST", "Ticket/"))
    warnings = [r.getMessage() for r in caplog.records if "Group 'nobody'" in r.getMessage()]
    assert len(warnings) == 1 and "setup glpi" in warnings[0]
    assert "Assignment group 处理组: nobody" in sent(fake, "POST", "Ticket/")[0]["content"]

    fake.add("Group", completename="nobody")
    clock.advance(minutes=11)  # a miss is asked again after a while: an admin may have added it
    backend.create_ticket(a_ticket("k:9", assignment_group="nobody"))
    assert sent(fake, "POST", "Ticket/")[-1]["_groups_id_assign"] == fake.find("Group", "nobody")


def test_a_lookup_the_user_may_not_make_does_not_hold_the_ticket(
    fake: GlpiFake, backend: GlpiBackend, caplog: pytest.LogCaptureFixture
) -> None:
    fake.deny("GET", "Group")
    with caplog.at_level(logging.ERROR, logger="connector.integrations.glpi"):
        ref = backend.create_ticket(a_ticket(assignment_group="network"))
    assert ref.ticket_id in {str(i) for i in fake.tickets}
    assert any("Administration › Groups: 'Read'" in r.getMessage() for r in caplog.records)


def test_a_lookup_of_a_down_glpi_fails_the_create_for_a_retry(fake: GlpiFake, backend: GlpiBackend) -> None:
    fake.fail("GET", "ITILCategory/", 503)
    with pytest.raises(BackendUnavailable):
        backend.create_ticket(a_ticket(category="网络"))
    assert fake.tickets == {}


# --- find_by_key ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["zabbix:1", "mail:<CAF+x_1%@mail.example>", "replay:^a$|b", "邮件:报告_1", "zabbix:1 2"],
)
def test_find_by_key_is_exact_whatever_the_key_holds(fake: GlpiFake, backend: GlpiBackend, key: str) -> None:
    ref = backend.create_ticket(a_ticket(key))
    longer = backend.create_ticket(a_ticket(key + "0"))
    backend.update_ticket(ref.ticket_id, {"status": TicketStatus.CLOSED})  # any status counts
    found = backend.find_by_key(key)
    assert found is not None and found.ticket_id == ref.ticket_id != longer.ticket_id
    assert found.url == f"http://glpi.test/front/ticket.form.php?id={ref.ticket_id}"
    assert backend.find_by_key(key[:-1]) is None
    assert backend.find_by_key(key.upper()) is None or key.upper() == key


def test_find_by_key_searches_the_content_in_every_status(fake: GlpiFake, backend: GlpiBackend) -> None:
    assert backend.find_by_key("zabbix:7") is None
    [query] = queries(fake, "search/Ticket")
    assert query["criteria[0][field]"] == "21" and query["criteria[0][searchtype]"] == "contains"
    assert query["criteria[0][value]"] == "[itsm-key:7a61626269783a37]"
    assert query["criteria[1][field]"] == "12" and query["criteria[1][value]"] == "all"
    assert query["range"] == "0-99" and query["sort"] == "2"


def test_a_forged_marker_in_alert_text_does_not_claim_another_key(fake: GlpiFake, backend: GlpiBackend) -> None:
    from connector.integrations.glpi.fields import key_marker

    victim = "zabbix:42"
    forged = backend.create_ticket(a_ticket("mail:1", description=f"see {key_marker(victim)} here"))
    assert backend.find_by_key(victim) is None
    assert backend.find_by_key("mail:1") == forged
    [snapshot] = backend.changed_since(T0)
    assert snapshot.key == "mail:1"


def test_find_by_key_takes_the_oldest_of_copies(
    fake: GlpiFake, backend: GlpiBackend, caplog: pytest.LogCaptureFixture
) -> None:
    first = backend.create_ticket(a_ticket())
    backend.create_ticket(a_ticket())
    with caplog.at_level(logging.WARNING, logger="connector.integrations.glpi"):
        found = backend.find_by_key("zabbix:1")
    assert found is not None and found.ticket_id == first.ticket_id
    assert any("2 tickets carry key" in r.getMessage() for r in caplog.records)


# --- update, note --------------------------------------------------------------------------------


def test_update_puts_glpis_fields_and_follows_up_with_the_rest(fake: GlpiFake, backend: GlpiBackend) -> None:
    ref = backend.create_ticket(a_ticket())
    before = len(fake.calls)
    backend.update_ticket(
        ref.ticket_id,
        {"impact": Impact.VERY_IMPORTANT, "priority": Priority.HIGHEST, "title": "New\ttitle", "kb_used": True},
        note="escalated to line 2",
    )
    assert fake.calls[before:] == [("PUT", f"Ticket/{ref.ticket_id}"), ("POST", "ITILFollowup/")]
    [change] = sent(fake, "PUT", f"Ticket/{ref.ticket_id}")
    assert change == {"impact": 5, "priority": 5, "name": "New title"}
    assert fake.followups_of(ref.ticket_id) == [f"escalated to line 2\n{HEADER}\nKB used 使用知识库: yes 是"]

    before = len(fake.calls)
    backend.update_ticket(ref.ticket_id, {"urgency": Urgency.SLIGHTLY_URGENT})  # GLPI's own field only
    assert fake.calls[before:] == [("PUT", f"Ticket/{ref.ticket_id}")]


def test_an_update_naming_what_glpi_lacks_says_it_in_the_followup(fake: GlpiFake, backend: GlpiBackend) -> None:
    fake.add("Group", completename="network")
    ref = backend.create_ticket(a_ticket())
    backend.update_ticket(ref.ticket_id, {"assignment_group": "network", "assignee": "ghost", "area": "核心交换"})
    [change] = sent(fake, "PUT", f"Ticket/{ref.ticket_id}")
    assert change == {"_groups_id_assign": fake.find("Group", "network")}
    assert fake.followups_of(ref.ticket_id) == [f"{HEADER}\nAssignee 处理人: ghost\nArea 子类: 核心交换"]


def test_update_refuses_names_that_are_not_ticket_fields(fake: GlpiFake, backend: GlpiBackend) -> None:
    with pytest.raises(ValueError, match="not a Ticket field: 'impactt'"):
        backend.update_ticket("5", {"impactt": 1})
    with pytest.raises(ValueError, match="'key' identifies the ticket"):
        backend.update_ticket("5", {"key": "other"})
    assert fake.calls == []


def test_a_status_the_lifecycle_forbids_is_rejected(fake: GlpiFake, backend: GlpiBackend) -> None:
    ref = backend.create_ticket(a_ticket())
    fake.forbidden_status = {4}
    with pytest.raises(BackendRejected, match="ERROR_GLPI_UPDATE Status transition not allowed"):
        backend.update_ticket(ref.ticket_id, {"status": TicketStatus.SUSPENDED}, note="customer agreed")
    assert fake.followups_of(ref.ticket_id) == []  # nothing half-written


def test_add_note_is_one_followup_and_blank_adds_nothing(fake: GlpiFake, clock: FakeClock) -> None:
    backend = make_backend(clock, private_followups=True)
    ref = backend.create_ticket(a_ticket())
    backend.add_note(ref.ticket_id, "line 1\nline 2")
    backend.add_note(ref.ticket_id, "   ")
    [item] = sent(fake, "POST", "ITILFollowup/")
    assert item == {
        "itemtype": "Ticket",
        "items_id": int(ref.ticket_id),
        "content": "<p>line 1<br>line 2</p>",
        "is_private": 1,
    }


# --- links, resolve, cascade ---------------------------------------------------------------------


def test_links_are_ticket_ticket_rows_and_idempotent(fake: GlpiFake, backend: GlpiBackend) -> None:
    master, dup, rec = (backend.create_ticket(a_ticket(f"k:{n}")).ticket_id for n in range(3))
    backend.add_relation(dup, master, Relation.DUPLICATES)
    backend.add_relation(dup, master, Relation.DUPLICATES)
    backend.add_relation(rec, master, Relation.RELATES)
    backend.add_relation(master, rec, Relation.RELATES)  # "linked to" has no direction
    rows = sorted((r["tickets_id_1"], r["tickets_id_2"], r["link"]) for r in fake.links.values())
    assert rows == sorted([(int(dup), int(master), 2), (int(rec), int(master), 1)])
    assert sent(fake, "POST", "Ticket_Ticket/")[0] == {"tickets_id_1": int(dup), "tickets_id_2": int(master), "link": 2}

    with pytest.raises(BackendRejected, match="ERROR_GLPI_ADD"):  # another type between a linked pair
        backend.add_relation(master, dup, Relation.RELATES)
    with pytest.raises(BackendRejected, match="cannot be linked to itself"):
        backend.add_relation(dup, dup, Relation.DUPLICATES)


def test_resolve_is_one_solution_with_the_process_fields(fake: GlpiFake, backend: GlpiBackend) -> None:
    ref = backend.create_ticket(a_ticket())
    before = len(fake.calls)
    backend.resolve_ticket(
        ref.ticket_id,
        Resolution(
            at=T0,
            note="Zabbix reports recovery",
            outage_end=datetime(2026, 11, 26, 2, 59, 30, tzinfo=UTC),
            resolution_code=ResolutionCode.RESOLVED_BY_WORKAROUND,
            solution="restarted nginx",
        ),
    )
    assert fake.calls[before:] == [("GET", "Ticket_Ticket/"), ("POST", "ITILSolution/")]
    assert fake.ticket(ref.ticket_id)["status"] == 5
    assert fake.solutions_of(ref.ticket_id) == [
        f"Zabbix reports recovery\n{HEADER}\nOutage end 故障结束: 2026-11-26T02:59:30Z\n"
        "Resolution code 解决代码: resolved_by_workaround 通过应对措施解决\nSolution 解决方案: restarted nginx"
    ]
    backend.resolve_ticket(ref.ticket_id, Resolution(at=T0, note="again"))  # a retry: not an error
    assert len(fake.solutions_of(ref.ticket_id)) == 1


def test_a_refused_solution_on_an_open_ticket_is_rejected(fake: GlpiFake, backend: GlpiBackend) -> None:
    ref = backend.create_ticket(a_ticket())
    fake.forbidden_status = {5}
    with pytest.raises(BackendRejected, match="Status transition not allowed"):
        backend.resolve_ticket(ref.ticket_id, Resolution(at=T0, note="x"))


def test_solving_the_master_solves_its_duplicates_in_glpi(fake: GlpiFake, backend: GlpiBackend) -> None:
    master, one, two = (backend.create_ticket(a_ticket(f"k:{n}")).ticket_id for n in range(3))
    backend.add_relation(one, master, Relation.DUPLICATES)
    backend.add_relation(two, master, Relation.DUPLICATES)
    backend.resolve_ticket(master, Resolution(at=T0, note="core switch replaced"))
    assert [fake.ticket(t)["status"] for t in (master, one, two)] == [5, 5, 5]
    assert fake.solutions_of(one) == ["core switch replaced"]
    assert backend.resolves_duplicates is True


def test_solving_a_duplicate_first_leaves_its_master_open(fake: GlpiFake, backend: GlpiBackend) -> None:
    """GLPI would solve the master with it (links are walked both ways): the backend makes the
    link "linked to" first, and the master later still solves the other duplicates."""
    master, early, late = (backend.create_ticket(a_ticket(f"k:{n}")).ticket_id for n in range(3))
    backend.add_relation(early, master, Relation.DUPLICATES)
    backend.add_relation(late, master, Relation.DUPLICATES)

    backend.resolve_ticket(early, Resolution(at=T0, note="this access switch recovered"))

    assert [fake.ticket(t)["status"] for t in (master, early, late)] == [1, 5, 1]
    link = next(r for r in fake.links.values() if r["tickets_id_1"] == int(early))
    assert link["link"] == 1
    assert f"Solved before its master #{master}" in fake.solutions_of(early)[0]
    backend.resolve_ticket(master, Resolution(at=T0, note="core switch replaced"))
    assert fake.ticket(late)["status"] == 5 and fake.solutions_of(early) != ["core switch replaced"]


def test_a_duplicate_of_a_solved_master_keeps_its_link(fake: GlpiFake, backend: GlpiBackend) -> None:
    master, dup = (backend.create_ticket(a_ticket(f"k:{n}")).ticket_id for n in range(2))
    backend.resolve_ticket(master, Resolution(at=T0, note="done"))
    backend.add_relation(dup, master, Relation.DUPLICATES)
    backend.resolve_ticket(dup, Resolution(at=T0, note="done too"))
    assert [r["link"] for r in fake.links.values()] == [2] and fake.ticket(dup)["status"] == 5


def test_closing_a_duplicate_by_update_also_spares_the_master(fake: GlpiFake, backend: GlpiBackend) -> None:
    master, dup = (backend.create_ticket(a_ticket(f"k:{n}")).ticket_id for n in range(2))
    backend.add_relation(dup, master, Relation.DUPLICATES)
    backend.update_ticket(dup, {"status": TicketStatus.CLOSED})
    assert fake.ticket(master)["status"] == 1 and fake.ticket(dup)["status"] == 6


# --- attachments ---------------------------------------------------------------------------------


def test_a_document_upload_is_multipart_with_a_manifest_and_one_file(fake: GlpiFake, backend: GlpiBackend) -> None:
    ref = backend.create_ticket(a_ticket())
    content = "磁盘报告\n".encode() + bytes(range(256))
    before = len(fake.calls)

    backend.add_attachment(ref.ticket_id, "C:\\Users\\zw\\../报告 disk.txt", content, "text/plain")

    assert fake.calls[before:] == [("POST", "Document/")]
    _, _, headers, body = fake.bodies[-1]
    assert headers["content-type"].startswith("multipart/form-data; boundary=")
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + body)
    parts = list(message.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["uploadManifest", "filename[0]"]
    manifest, upload = parts
    assert manifest.get_content_type() == "application/json" and manifest.get_filename() is None
    assert json.loads(manifest.get_payload(decode=True)) == {
        "input": {
            "name": "报告 disk.txt",
            "_filename": ["报告 disk.txt"],
            "itemtype": "Ticket",
            "items_id": int(ref.ticket_id),
        }
    }
    assert upload.get_filename() == "报告 disk.txt" and upload.get_content_type() == "text/plain"
    assert upload.get_payload(decode=True) == content
    [document] = fake.documents_of(ref.ticket_id)
    assert document["content"] == content and document["filename"] == "报告 disk.txt"


def test_a_refused_file_type_is_rejected_with_the_remedy(fake: GlpiFake, backend: GlpiBackend) -> None:
    ref = backend.create_ticket(a_ticket())
    with pytest.raises(BackendRejected) as info:
        backend.add_attachment(ref.ticket_id, "zabbix.log", b"x", "text/plain")
    assert str(info.value) == (
        "glpi POST Document/: HTTP 400 Bad Request: ERROR_GLPI_ADD Failed to add document: file type log is not "
        "allowed (GLPI accepts only the file types Setup › Dropdowns › Document types allows for upload; allow "
        "the extension there, or zip the file)"
    )
    assert fake.documents == {}


def test_a_multipart_without_a_file_gets_glpis_misleading_error(fake: GlpiFake, clock: FakeClock) -> None:
    """Why the client never sets a session-wide Content-Type: GLPI then sees no file at all."""
    broken = requests.Session()
    broken.headers["Content-Type"] = "application/json"
    backend = make_backend(clock, session=broken)
    ref = backend.create_ticket(a_ticket())
    with pytest.raises(BackendRejected, match="ERROR_JSON_PAYLOAD_INVALID"):
        backend.add_attachment(ref.ticket_id, "a.txt", b"x", "text/plain")


# --- changed_since -------------------------------------------------------------------------------


def test_changed_since_pages_along_content_range_and_decodes(
    fake: GlpiFake, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add("ITILCategory", completename="ITSM > 网络 > 核心交换")
    fake.add("Group", completename="IT > Network")
    alice = fake.add("User", name="alice")
    backend = make_backend(clock, category_root="ITSM", groups={"network": "IT > Network"})
    old = backend.create_ticket(a_ticket("k:old"))
    clock.advance(seconds=10)
    since = clock.now() + timedelta(microseconds=400)
    refs = [backend.create_ticket(a_ticket(f"k:{n}")) for n in range(230)]
    first = refs[0].ticket_id
    backend.update_ticket(
        first,
        {"category": "网络", "area": "核心交换", "assignment_group": "network", "assignee": "alice",
         "status": TicketStatus.IN_PROGRESS, "sla_due": T0 + timedelta(hours=8)},
    )  # fmt: skip

    snapshots = list(backend.changed_since(since))

    assert [s.ticket_id for s in snapshots] == [r.ticket_id for r in refs] and old.ticket_id not in {
        s.ticket_id for s in snapshots
    }
    pages = queries(fake, "search/Ticket")
    assert [p["range"] for p in pages] == ["0-99", "100-199", "200-299"]
    assert [c for c in fake.statuses if c[0] == "search/Ticket"] == [
        ("search/Ticket", 206)
    ] * 3  # the last page is partial too
    assert pages[0]["criteria[0][field]"] == "19" and pages[0]["criteria[0][searchtype]"] == "morethan"
    assert pages[0]["criteria[0][value]"] == "2026-11-26 02:40:09"  # > since - 1s, whole seconds
    one = snapshots[0]
    assert one.key == "k:0" and one.status is TicketStatus.IN_PROGRESS and one.assignee == "alice"
    assert one.fields["category"] == "网络" and one.fields["area"] == "核心交换"
    assert one.fields["assignment_group"] == "network"
    assert one.fields["sla_due"] == T0 + timedelta(hours=8)
    assert one.fields["impact"] is Impact.SEVERE and one.fields["priority"] is Priority.HIGH
    assert one.updated_at == clock.now()
    assert int(alice) in fake.tickets[int(first)]["_users_assign"]


def test_changed_since_with_nothing_changed_stops_at_once(
    fake: GlpiFake, backend: GlpiBackend, clock: FakeClock
) -> None:
    backend.create_ticket(a_ticket())
    assert list(backend.changed_since(clock.now() + timedelta(days=1))) == []
    assert fake.statuses[-1] == ("search/Ticket", 200)


def test_changed_since_survives_rows_going_away_while_paging(fake: GlpiFake, backend: GlpiBackend) -> None:
    for n in range(120):
        backend.create_ticket(a_ticket(f"k:{n}"))
    snapshots = backend.changed_since(T0)
    first_page = [next(snapshots) for _ in range(100)]
    for ticket in list(fake.tickets.values())[:50]:
        ticket["is_deleted"] = 1  # trashed meanwhile: the next range starts past the total
    assert list(snapshots) == [] and len(first_page) == 100


# --- plugin --------------------------------------------------------------------------------------


def test_plugin_registers_the_type_and_hides_every_token(fake: GlpiFake, tmp_path: Path, clock: FakeClock) -> None:
    [backend_type] = plugin.register_backend_types()
    assert backend_type.name == "glpi" and backend_type.settings is GlpiSettings
    secrets: list[str] = []
    ctx = PluginContext(
        clock=clock, name="helpdesk", data_dir=tmp_path, register_secret=secrets.append, spool=Spool(tmp_path / "s")
    )
    settings = GlpiSettings(url=URL, user_token=SecretStr(USER_TOKEN), app_token=None)
    backend = backend_type.factory(settings, ctx)
    assert isinstance(backend, GlpiBackend) and backend.name == "helpdesk"
    backend.create_ticket(a_ticket())
    assert secrets == [USER_TOKEN, next(iter(fake.sessions))]
    assert USER_TOKEN not in repr(backend)
    backend.close()


def test_plugin_is_declared_in_the_entry_point_group() -> None:
    from importlib.metadata import entry_points

    [ep] = [ep for ep in entry_points(group="itsm_connector") if ep.name == "glpi"]
    assert ep.value == "connector.plugins.glpi"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://glpi.example.com", "ending in /apirest.php"),
        ("ftp://glpi.example.com/apirest.php", "http:// or https://"),
        ("https://glpi.example.com/apirest.php?x=1", "without a query string"),
    ],
)
def test_settings_refuse_a_url_that_is_not_the_api_base(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        GlpiSettings(url=url, user_token=SecretStr(USER_TOKEN))


def test_settings_refuse_a_token_written_in_the_file() -> None:
    with pytest.raises(ValueError, match=r"\$\{ENV_VAR\}"):
        GlpiSettings.model_validate({"url": URL, "user_token": "pasted-token"})
