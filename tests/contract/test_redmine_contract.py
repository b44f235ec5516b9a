"""The Redmine backend against recorded Redmine 5 answers (``responses``), with failure injection.

Shapes follow reference/redmine-rest.md: 201 with the issue on create, 204 with no body on
update, 422 ``{"errors": [...]}`` in the user's language, empty bodies on every other error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.contracts.adapters import PluginContext, Relation, Resolution
from connector.domain.clock import FakeClock
from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.domain.fields import CATALOGUE, KEY_FIELD
from connector.domain.models import Impact, Priority, ResolutionCode, Ticket, TicketSource, TicketStatus
from connector.integrations.redmine import RedmineBackend, RedmineSettings
from connector.plugins import redmine as plugin
from connector.state.spool import Spool

URL = "http://redmine.test"
KEY = "0123456789abcdef0123456789abcdef01234567"
NOW = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
KEY_CF = 100
# custom field ids: External ID is 100, the others 101.. in catalogue order
CF_IDS = {spec.key: KEY_CF + i for i, spec in enumerate(CATALOGUE)}
STATUSES = [
    {"id": 1, "name": "New", "is_closed": False},
    {"id": 2, "name": "In Progress", "is_closed": False},
    {"id": 3, "name": "Resolved", "is_closed": False},
    {"id": 4, "name": "Feedback", "is_closed": False},
    {"id": 5, "name": "Closed", "is_closed": True},
    {"id": 6, "name": "Rejected", "is_closed": True},
]
PRIORITIES = [
    {"id": 1, "name": "Low", "is_default": False, "active": True},
    {"id": 2, "name": "Normal", "is_default": True, "active": True},
    {"id": 3, "name": "High", "is_default": False, "active": True},
    {"id": 4, "name": "Urgent", "is_default": False, "active": True},
    {"id": 5, "name": "Immediate", "is_default": False, "active": True},
]
TRACKERS = [{"id": 1, "name": "Bug"}, {"id": 2, "name": "Feature"}, {"id": 3, "name": "Support"}]


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_backend(session: requests.Session | None = None, **overrides: Any) -> RedmineBackend:
    values: dict[str, Any] = {"url": URL, "api_key": SecretStr(KEY), "project": "ops"}
    values.update(overrides)
    return RedmineBackend(
        RedmineSettings(**values), name="redmine", clock=FakeClock(NOW), session=session or requests.Session()
    )


def cf_def(key: str, *, is_filter: bool | None = None, trackers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec = next(s for s in CATALOGUE if s.key == key)
    return {
        "id": CF_IDS[key],
        "name": spec.name,
        "customized_type": "issue",
        "field_format": spec.field_format,
        "is_filter": spec.is_filter if is_filter is None else is_filter,
        "multiple": False,
        "visible": True,
        "trackers": TRACKERS if trackers is None else trackers,
    }


def mock_lookups(
    rsps: responses.RequestsMock,
    *,
    fields: list[str] | None = None,
    admin: bool = True,
    key_is_filter: bool = True,
    project_trackers: list[dict[str, Any]] | None = None,
    sample_issue: dict[str, Any] | None = None,
) -> None:
    """Register the lookup endpoints of a Redmine with the given custom fields."""
    keys = [spec.key for spec in CATALOGUE] if fields is None else fields
    rsps.get(f"{URL}/users/current.json", json={"user": {"id": 5, "login": "connector", "admin": admin}})
    rsps.get(
        f"{URL}/projects/ops.json",
        json={
            "project": {
                "id": 7,
                "name": "Operations",
                "identifier": "ops",
                "trackers": TRACKERS if project_trackers is None else project_trackers,
                "issue_custom_fields": [],
            }
        },
    )
    rsps.get(f"{URL}/trackers.json", json={"trackers": TRACKERS})
    rsps.get(f"{URL}/issue_statuses.json", json={"issue_statuses": STATUSES})
    rsps.get(f"{URL}/enumerations/issue_priorities.json", json={"issue_priorities": PRIORITIES})
    if admin:
        defs = [cf_def(k, is_filter=key_is_filter if k == KEY_FIELD else None) for k in keys]
        rsps.get(f"{URL}/custom_fields.json", json={"custom_fields": defs})
    else:
        rsps.get(f"{URL}/custom_fields.json", status=403)
    sample = [sample_issue] if sample_issue is not None else []
    rsps.get(
        f"{URL}/issues.json",
        json={"issues": sample, "total_count": len(sample), "offset": 0, "limit": 1},
        match=[responses.matchers.query_param_matcher({"limit": "1"}, strict_match=False)],
    )


def issue_json(
    issue_id: int,
    *,
    key: str | None = "zabbix:1",
    values: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    tracker: str = "Support",
    omit: tuple[str, ...] = (),
    updated_on: str = "2024-05-01T10:05:00Z",
    assignee: str | None = None,
) -> dict[str, Any]:
    """An issue as Show/List answer it, with every catalogue field applicable (``omit`` removes
    fields Redmine does not apply to it)."""
    custom = []
    for spec in CATALOGUE:
        if spec.key in omit:
            continue
        value = key if spec.key == KEY_FIELD else (values or {}).get(spec.key, "")
        custom.append({"id": CF_IDS[spec.key], "name": spec.name, "value": value})
    issue: dict[str, Any] = {
        "id": issue_id,
        "project": {"id": 7, "name": "Operations"},
        "tracker": next(t for t in TRACKERS if t["name"] == tracker),
        "status": status or STATUSES[0],
        "priority": {"id": 3, "name": "High"},
        "author": {"id": 5, "name": "Connector"},
        "subject": "Disk full",
        "description": "",
        "custom_fields": custom,
        "created_on": "2024-05-01T10:00:00Z",
        "updated_on": updated_on,
        "closed_on": None,
    }
    if assignee:
        issue["assigned_to"] = {"id": 9, "name": assignee}
    return issue


def a_ticket(**overrides: Any) -> Ticket:
    values: dict[str, Any] = {
        "title": "Disk full on web01",
        "description": "free < 5%",
        "key": "zabbix:1",
        "impact": Impact.SEVERE,
        "priority": Priority.HIGH,
        "source": TicketSource.MONITORING,
        "ci": "web01",
        "outage_start": datetime(2024, 5, 1, 9, 58, tzinfo=UTC),
    }
    values.update(overrides)
    return Ticket(**values)


def body(call: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(call.request.body)
    return data


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def calls_to(rsps: responses.RequestsMock, method: str, path: str) -> list[Any]:
    return [c for c in rsps.calls if c.request.method == method and urlsplit(c.request.url).path == path]


# --- the wire ------------------------------------------------------------------------------------


class RecordingSession(requests.Session):
    """A session that remembers the keyword arguments of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.seen.append((str(method), str(url), kwargs))
        return super().request(method, url, *args, **kwargs)


def test_every_call_has_the_key_header_a_timeout_no_redirects_and_json_suffix(
    rsps: responses.RequestsMock,
) -> None:
    mock_lookups(rsps)
    rsps.post(f"{URL}/issues.json", json={"issue": issue_json(11)}, status=201)
    session = RecordingSession()
    backend = make_backend(session=session, timeout_seconds=4.5)

    backend.create_ticket(a_ticket())

    assert len(session.seen) == len(rsps.calls) >= 8
    for method, url, kwargs in session.seen:
        assert urlsplit(url).path.endswith(".json"), url
        assert kwargs["timeout"] == 4.5 and kwargs["allow_redirects"] is False, (method, url)
        assert KEY not in url
    for call in rsps.calls:
        assert call.request.headers["X-Redmine-API-Key"] == KEY
    backend.close()


def test_an_injected_session_is_left_open() -> None:
    closed: list[bool] = []

    class Tracking(requests.Session):
        def close(self) -> None:
            closed.append(True)
            super().close()

    make_backend(session=Tracking()).close()
    assert closed == []


# --- failure injection: one boundary, clear messages ---------------------------------------------


def _create_fails(rsps: responses.RequestsMock, **response: Any) -> BackendUnavailable | BackendRejected:
    mock_lookups(rsps)
    rsps.post(f"{URL}/issues.json", **response)
    backend = make_backend()
    with pytest.raises((BackendUnavailable, BackendRejected)) as info:
        backend.create_ticket(a_ticket())
    exc = info.value
    assert isinstance(exc, BackendUnavailable | BackendRejected)
    assert KEY not in str(exc)
    return exc


def test_connection_refused(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(rsps, body=requests.ConnectionError("[Errno 111] Connection refused"))
    assert isinstance(exc, BackendUnavailable) and exc.retry_after is None
    assert str(exc) == f"redmine POST /issues.json: cannot connect to {URL}: [Errno 111] Connection refused"
    assert isinstance(exc.__cause__, requests.ConnectionError)


def test_timeout(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(rsps, body=requests.ReadTimeout("read timed out"))
    assert isinstance(exc, BackendUnavailable)
    assert str(exc) == f"redmine POST /issues.json: no answer from {URL} within 10s (ReadTimeout)"
    assert isinstance(exc.__cause__, requests.Timeout)


def test_503_without_retry_after(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(rsps, status=503, body="<html>maintenance</html>")
    assert isinstance(exc, BackendUnavailable) and exc.retry_after is None
    assert str(exc) == "redmine POST /issues.json: HTTP 503 Service Unavailable"


def test_503_with_retry_after_seconds(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(rsps, status=503, headers={"Retry-After": "30"})
    assert isinstance(exc, BackendUnavailable) and exc.retry_after == 30
    assert str(exc) == "redmine POST /issues.json: HTTP 503 Service Unavailable (retry after 30s)"


def test_429_with_retry_after_seconds(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(rsps, status=429, headers={"Retry-After": "7"})
    assert isinstance(exc, BackendUnavailable) and exc.retry_after == 7
    assert str(exc) == "redmine POST /issues.json: HTTP 429 Too Many Requests (retry after 7s)"


def test_429_with_retry_after_http_date(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(rsps, status=429, headers={"Retry-After": "Wed, 01 May 2024 10:02:00 GMT"})
    assert isinstance(exc, BackendUnavailable) and exc.retry_after == 120  # NOW is 10:00:00
    assert str(exc).endswith("(retry after 120s)")


def test_500_html(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(rsps, status=500, body="<html>Internal error</html>")
    assert isinstance(exc, BackendUnavailable)
    assert str(exc) == "redmine POST /issues.json: HTTP 500 Internal Server Error"


def test_401_means_the_key_is_refused_and_work_waits(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(rsps, status=401, headers={"WWW-Authenticate": 'Basic realm="Redmine API"'})
    assert isinstance(exc, BackendUnavailable)
    assert str(exc).startswith("redmine POST /issues.json: HTTP 401 Unauthorized: Redmine refused the API key")


def test_403_means_a_missing_permission_and_work_waits(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(rsps, status=403)
    assert isinstance(exc, BackendUnavailable)
    assert "HTTP 403 Forbidden: the API key's user lacks a permission" in str(exc)


def test_422_is_rejected_with_redmines_errors(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(
        rsps, status=422, json={"errors": ["Subject cannot be blank", "Tracker is not included in the list"]}
    )
    assert isinstance(exc, BackendRejected) and not isinstance(exc, BackendUnavailable)
    assert str(exc) == (
        "redmine POST /issues.json: HTTP 422 Unprocessable Entity: "
        "Subject cannot be blank; Tracker is not included in the list"
    )
    assert getattr(exc, "errors", None) == ("Subject cannot be blank", "Tracker is not included in the list")


def test_404_is_rejected(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.put(f"{URL}/issues/404.json", status=404)
    with pytest.raises(BackendRejected) as info:
        make_backend().add_note("404", "hello")
    assert str(info.value) == "redmine PUT /issues/404.json: HTTP 404 Not Found"


def test_malformed_json_on_success_is_unavailable(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(rsps, status=201, body="<html><body>Login</body></html>", content_type="text/html")
    assert isinstance(exc, BackendUnavailable)
    assert "HTTP 201 but the body is not JSON ('<html><body>Login</body></html>')" in str(exc)
    assert isinstance(exc.__cause__, ValueError)


def test_json_of_the_wrong_shape_is_unavailable(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(rsps, status=201, json={"issue": {"subject": "no id"}})
    assert isinstance(exc, BackendUnavailable)
    assert "unexpected answer: issue.id: Field required" in str(exc)


def test_redirect_is_not_followed(rsps: responses.RequestsMock) -> None:
    exc = _create_fails(rsps, status=302, headers={"Location": "https://sso.example/login"})
    assert isinstance(exc, BackendUnavailable)
    assert "redirected to https://sso.example/login" in str(exc)
    assert not [c for c in rsps.calls if "sso.example" in c.request.url]


def test_check_reports_a_refused_key(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{URL}/users/current.json", status=401)
    with pytest.raises(BackendUnavailable) as info:
        make_backend().check()
    assert "GET /users/current.json: HTTP 401 Unauthorized: Redmine refused the API key" in str(info.value)
    assert KEY not in str(info.value)


def test_check_returns_the_login(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{URL}/users/current.json", json={"user": {"id": 5, "login": "connector", "admin": False}})
    assert make_backend().check() == "connector"


def test_not_an_issue_id_is_rejected_without_a_request(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    with pytest.raises(BackendRejected, match=r"not a Redmine issue id: '\.\./users/1'"):
        make_backend().add_note("../users/1", "x")
    assert not calls_to(rsps, "PUT", "/users/1.json")


# --- lookups -------------------------------------------------------------------------------------


def test_lookups_happen_once(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.put(f"{URL}/issues/5.json", status=204)
    backend = make_backend()
    backend.update_ticket("5", {"ci": "web01"})
    backend.update_ticket("5", {"ci": "web02"})
    assert len(calls_to(rsps, "GET", "/trackers.json")) == 1
    assert len(calls_to(rsps, "GET", "/custom_fields.json")) == 1
    assert len(calls_to(rsps, "PUT", "/issues/5.json")) == 2


def test_missing_external_id_stops_before_writing_and_is_retried(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps, fields=[k for k in CF_IDS if k != KEY_FIELD])
    rsps.post(f"{URL}/issues.json", json={"issue": issue_json(11)}, status=201)
    backend = make_backend()
    with pytest.raises(BackendUnavailable) as info:
        backend.create_ticket(a_ticket())
    assert "custom field 'External ID' (key, the idempotency key)" in str(info.value)
    assert "setup redmine" in str(info.value)
    assert not calls_to(rsps, "POST", "/issues.json")
    # not cached: once the admin adds the field, the next call works
    rsps.replace(responses.GET, f"{URL}/custom_fields.json", json={"custom_fields": [cf_def(k) for k in CF_IDS]})
    assert backend.create_ticket(a_ticket()).ticket_id == "11"


def test_external_id_not_used_as_filter_is_required(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps, key_is_filter=False)
    with pytest.raises(BackendUnavailable, match="is not 'Used as a filter'"):
        make_backend().find_by_key("zabbix:1")


def test_tracker_not_enabled_in_project(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps, project_trackers=[TRACKERS[0]])
    with pytest.raises(BackendUnavailable, match="tracker 'Support' is not enabled in project 'Operations'"):
        make_backend().find_by_key("zabbix:1")


def test_unknown_status_name_in_the_map(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    with pytest.raises(BackendUnavailable, match=r"issue status 'On hold' \(for suspended\)"):
        make_backend(status_map={"suspended": "On hold"}).find_by_key("zabbix:1")


def test_missing_optional_fields_warn_once_naming_them(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    mock_lookups(rsps, fields=[k for k in CF_IDS if k not in ("ci", "kb_used")])
    rsps.put(f"{URL}/issues/5.json", status=204)
    backend = make_backend()
    with caplog.at_level(logging.WARNING, logger="connector.integrations.redmine"):
        backend.update_ticket("5", {}, note="one")
        backend.update_ticket("5", {}, note="two")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'CI 配置项' (ci)" in warnings[0] and "'KB used 使用知识库' (kb_used)" in warnings[0]


def test_non_admin_key_falls_back_to_project_and_newest_issue(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps, admin=False, sample_issue=issue_json(3))
    rsps.get(f"{URL}/issues.json", json={"issues": [issue_json(3, key="zabbix:9")], "total_count": 1})
    ref = make_backend().find_by_key("zabbix:9")
    assert ref is not None and ref.ticket_id == "3"
    find = [c for c in calls_to(rsps, "GET", "/issues.json") if f"cf_{KEY_CF}" in query(c)]
    assert query(find[0])[f"cf_{KEY_CF}"] == ["=zabbix:9"]


def test_non_admin_key_without_any_issue_cannot_find_the_external_id(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps, admin=False)
    with pytest.raises(BackendUnavailable, match="custom field 'External ID'"):
        make_backend().find_by_key("zabbix:9")


# --- find_by_key ---------------------------------------------------------------------------------


def test_find_by_key_filters_on_the_custom_field_across_all_statuses(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.get(
        f"{URL}/issues.json",
        json={"issues": [issue_json(12, key="Zabbix:1"), issue_json(8, key="zabbix:1")], "total_count": 2},
    )
    ref = make_backend().find_by_key("zabbix:1")
    assert ref is not None
    assert (ref.ticket_id, ref.url) == ("8", f"{URL}/issues/8")
    params = query(calls_to(rsps, "GET", "/issues.json")[-1])
    assert params["project_id"] == ["7"] and params["status_id"] == ["*"]
    assert params[f"cf_{KEY_CF}"] == ["=zabbix:1"]


def test_find_by_key_none(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.get(f"{URL}/issues.json", json={"issues": [], "total_count": 0})
    assert make_backend().find_by_key("zabbix:404") is None


def test_find_by_key_detects_an_ignored_filter(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.get(
        f"{URL}/issues.json",
        json={"issues": [issue_json(1, key="zabbix:77"), issue_json(2, key=None)], "total_count": 2},
    )
    with pytest.raises(BackendUnavailable) as info:
        make_backend().find_by_key("zabbix:1")
    assert f"Redmine ignored the filter cf_{KEY_CF}='=zabbix:1'" in str(info.value)
    assert "'Used as a filter'" in str(info.value)


def test_find_by_key_with_a_bar_searches_by_contains_and_matches_exactly(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    key = "email:<a|b@example.net>"
    near = [issue_json(4, key="email:<c|b@example.net>"), issue_json(6, key=key)]
    rsps.get(f"{URL}/issues.json", json={"issues": near, "total_count": 2})
    ref = make_backend().find_by_key(key)
    assert ref is not None and ref.ticket_id == "6"
    params = query(calls_to(rsps, "GET", "/issues.json")[-1])
    assert params[f"cf_{KEY_CF}"] == ["~b@example.net>"]


def test_find_by_key_pages_through_many_candidates(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    first = [issue_json(i, key=f"x|key-{i}") for i in range(1, 101)]
    rsps.get(
        f"{URL}/issues.json",
        json={"issues": first, "total_count": 101},
        match=[responses.matchers.query_param_matcher({"offset": "0", "limit": "100"}, strict_match=False)],
    )
    rsps.get(
        f"{URL}/issues.json",
        json={"issues": [issue_json(101, key="a|key-")], "total_count": 101},
        match=[responses.matchers.query_param_matcher({"offset": "100"}, strict_match=False)],
    )
    ref = make_backend().find_by_key("a|key-")
    assert ref is not None and ref.ticket_id == "101"


# --- create --------------------------------------------------------------------------------------


def test_create_writes_standard_and_custom_fields(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.post(f"{URL}/issues.json", json={"issue": issue_json(11, values={"impact": "2"})}, status=201)
    ticket = a_ticket(title="  Disk\nfull  " + "x" * 300, kb_used=True)

    ref = make_backend().create_ticket(ticket)

    assert (ref.ticket_id, ref.url) == ("11", f"{URL}/issues/11")
    sent = body(calls_to(rsps, "POST", "/issues.json")[0])["issue"]
    assert sent["project_id"] == 7 and sent["tracker_id"] == 3
    assert sent["status_id"] == 1 and sent["priority_id"] == 4  # New; priority 2 -> Urgent
    assert sent["subject"].startswith("Disk full xxx") and len(sent["subject"]) == 255
    assert sent["description"].startswith("<pre>free < 5%</pre>")
    assert "Impact 影响度: 2 严重" in sent["description"]
    values = {cf["id"]: cf["value"] for cf in sent["custom_fields"]}
    assert len(values) == len(CATALOGUE)
    assert values[KEY_CF] == "zabbix:1"
    assert values[CF_IDS["impact"]] == "2" and values[CF_IDS["priority"]] == "2"
    assert values[CF_IDS["source"]] == "monitoring"
    assert values[CF_IDS["kb_used"]] == "1" and values[CF_IDS["response_overdue"]] == "0"
    assert values[CF_IDS["outage_start"]] == "2024-05-01T09:58:00Z"
    assert values[CF_IDS["contact"]] == ""


def test_create_refuses_when_redmine_silently_dropped_the_key(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.post(f"{URL}/issues.json", json={"issue": issue_json(11, omit=(KEY_FIELD,))}, status=201)
    rsps.delete(f"{URL}/issues/11.json", status=204)
    with pytest.raises(BackendRejected) as info:
        make_backend().create_ticket(a_ticket())
    message = str(info.value)
    assert not isinstance(info.value, BackendUnavailable)
    assert "custom field 'External ID' (id 100) was not stored" in message
    assert "tracker 'Support'" in message and "project 'ops'" in message
    assert "issue #11 was deleted again" in message
    assert len(calls_to(rsps, "DELETE", "/issues/11.json")) == 1


def test_create_says_so_when_the_orphan_cannot_be_deleted(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.post(f"{URL}/issues.json", json={"issue": issue_json(11, key="")}, status=201)
    rsps.delete(f"{URL}/issues/11.json", status=403)
    with pytest.raises(BackendRejected, match=r"issue #11 could not be deleted .*delete it by hand"):
        make_backend().create_ticket(a_ticket())


def test_create_warns_once_about_dropped_optional_fields(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    mock_lookups(rsps)
    rsps.post(f"{URL}/issues.json", json={"issue": issue_json(11, omit=("ci",), values={"impact": "2"})}, status=201)
    backend = make_backend()
    with caplog.at_level(logging.WARNING, logger="connector.integrations.redmine"):
        backend.create_ticket(a_ticket())
        backend.create_ticket(a_ticket())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'CI 配置项'" in warnings[0]


# --- update, note, resolve -----------------------------------------------------------------------


def test_update_is_one_put_with_fields_and_note(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.put(f"{URL}/issues/5.json", status=204)
    make_backend().update_ticket(
        "5",
        {"impact": Impact.VERY_IMPORTANT, "priority": Priority.HIGHEST, "assignee": "alice", "title": "New\ttitle"},
        note="escalated",
    )
    puts = calls_to(rsps, "PUT", "/issues/5.json")
    assert len(puts) == 1
    sent = body(puts[0])["issue"]
    assert sent["subject"] == "New title" and sent["priority_id"] == 5
    assert {cf["id"]: cf["value"] for cf in sent["custom_fields"]} == {CF_IDS["impact"]: "1", CF_IDS["priority"]: "1"}
    assert sent["notes"] == "<pre>escalated</pre>\n\n<pre>Assignee 处理人: alice</pre>"
    assert "status_id" not in sent


def test_update_refuses_names_that_are_not_ticket_fields(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    backend = make_backend()
    with pytest.raises(ValueError, match="not a Ticket field: 'impactt'"):
        backend.update_ticket("5", {"impactt": 1})
    with pytest.raises(ValueError, match="'key' identifies the ticket"):
        backend.update_ticket("5", {"key": "other"})
    assert not calls_to(rsps, "PUT", "/issues/5.json")


def test_status_change_checks_the_workflow_first(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    issue = issue_json(5) | {"allowed_statuses": STATUSES[:2]}
    rsps.get(f"{URL}/issues/5.json", json={"issue": issue})
    rsps.put(f"{URL}/issues/5.json", status=204)
    backend = make_backend()
    backend.update_ticket("5", {"status": TicketStatus.IN_PROGRESS})
    assert body(calls_to(rsps, "PUT", "/issues/5.json")[0])["issue"] == {"status_id": 2}
    assert query(calls_to(rsps, "GET", "/issues/5.json")[0])["include"] == ["allowed_statuses"]

    with pytest.raises(BackendRejected) as info:
        backend.resolve_ticket("5", Resolution(at=NOW, note="recovered"))
    assert "the workflow does not let the API user move issue #5 from 'New' to 'Resolved'" in str(info.value)
    assert "allowed: New, In Progress" in str(info.value)
    assert len(calls_to(rsps, "PUT", "/issues/5.json")) == 1  # nothing written for the refused one


def test_resolve_is_one_put(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    issue = issue_json(5, status=STATUSES[1]) | {"allowed_statuses": STATUSES}
    rsps.get(f"{URL}/issues/5.json", json={"issue": issue})
    rsps.put(f"{URL}/issues/5.json", status=204)
    make_backend().resolve_ticket(
        "5",
        Resolution(
            at=NOW,
            note="Zabbix reports recovery",
            outage_end=datetime(2024, 5, 1, 9, 59, 30, tzinfo=UTC),
            resolution_code=ResolutionCode.RESOLVED_BY_WORKAROUND,
            solution="restarted nginx",
        ),
    )
    puts = calls_to(rsps, "PUT", "/issues/5.json")
    assert len(puts) == 1
    sent = body(puts[0])["issue"]
    assert sent["status_id"] == 3 and sent["notes"] == "<pre>Zabbix reports recovery</pre>"
    assert {cf["id"]: cf["value"] for cf in sent["custom_fields"]} == {
        CF_IDS["outage_end"]: "2024-05-01T09:59:30Z",
        CF_IDS["resolution_code"]: "resolved_by_workaround",
        CF_IDS["solution"]: "restarted nginx",
    }


def test_resolve_puts_fields_without_a_custom_field_into_the_note(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps, fields=[k for k in CF_IDS if k != "solution"])
    rsps.get(f"{URL}/issues/5.json", json={"issue": issue_json(5, status=STATUSES[2]) | {"allowed_statuses": []}})
    rsps.put(f"{URL}/issues/5.json", status=204)
    make_backend().resolve_ticket("5", Resolution(at=NOW, note="done", solution="swap the disk"))
    sent = body(calls_to(rsps, "PUT", "/issues/5.json")[0])["issue"]
    assert sent["notes"] == "<pre>done</pre>\n\n<pre>Solution 解决方案: swap the disk</pre>"


def test_add_note_is_literal_and_blank_adds_nothing(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.put(f"{URL}/issues/5.json", status=204)
    backend = make_backend()
    backend.add_note("5", '</pre>"x":http://evil/')
    backend.add_note("5", "   ")
    puts = calls_to(rsps, "PUT", "/issues/5.json")
    assert len(puts) == 1
    assert body(puts[0]) == {"issue": {"notes": '<pre>‹/pre>"x":http://evil/</pre>'}}


def test_add_attachment_uploads_octet_stream_then_attaches_the_token(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.post(f"{URL}/uploads.json", json={"upload": {"id": 42, "token": "42.abc"}}, status=201)
    rsps.put(f"{URL}/issues/5.json", status=204)
    make_backend().add_attachment("5", "C:\\Users\\zw\\截图.png", b"\x89PNG", "image/png")
    (upload,) = calls_to(rsps, "POST", "/uploads.json")
    assert upload.request.headers["Content-Type"] == "application/octet-stream"
    assert upload.request.body == b"\x89PNG"
    query = parse_qs(urlsplit(upload.request.url).query)
    assert query == {"filename": ["截图.png"], "content_type": ["image/png"]}
    (put,) = calls_to(rsps, "PUT", "/issues/5.json")
    sent = body(put)["issue"]
    assert sent["uploads"] == [{"token": "42.abc", "filename": "截图.png", "content_type": "image/png"}]
    assert "截图.png" in sent["notes"]


def test_add_attachment_too_large_is_rejected(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.post(f"{URL}/uploads.json", json={"errors": ["This file cannot be uploaded because it exceeds"]}, status=422)
    with pytest.raises(BackendRejected, match="exceeds"):
        make_backend().add_attachment("5", "big.bin", b"x" * 10, "application/octet-stream")
    assert calls_to(rsps, "PUT", "/issues/5.json") == []


# --- relations -----------------------------------------------------------------------------------


def test_add_relation_posts_the_redmine_type(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    relation = {"id": 1, "issue_id": 5, "issue_to_id": 3, "relation_type": "duplicates", "delay": None}
    rsps.post(f"{URL}/issues/5/relations.json", json={"relation": relation}, status=201)
    make_backend().add_relation("5", "3", Relation.DUPLICATES)
    assert body(calls_to(rsps, "POST", "/issues/5/relations.json")[0]) == {
        "relation": {"issue_to_id": 3, "relation_type": "duplicates"}
    }


@pytest.mark.parametrize(
    ("relation", "stored"),
    [
        (Relation.DUPLICATES, {"issue_id": 5, "issue_to_id": 3, "relation_type": "duplicates"}),
        (Relation.RELATES, {"issue_id": 3, "issue_to_id": 5, "relation_type": "relates"}),  # ordered by id
    ],
)
def test_add_relation_twice_is_not_an_error_whatever_the_language(
    rsps: responses.RequestsMock, relation: Relation, stored: dict[str, Any]
) -> None:
    mock_lookups(rsps)
    rsps.post(
        f"{URL}/issues/5/relations.json", status=422, json={"errors": ["Zugehöriges Ticket ist bereits vergeben"]}
    )
    rsps.get(f"{URL}/issues/5/relations.json", json={"relations": [stored | {"id": 9, "delay": None}]})
    make_backend().add_relation("5", "3", relation)  # the 422 is the relation already there: no error
    assert [(c.request.method, c.request.url) for c in rsps.calls][-2:] == [
        ("POST", f"{URL}/issues/5/relations.json"),
        ("GET", f"{URL}/issues/5/relations.json"),
    ]


def test_add_relation_422_for_another_reason_is_rejected(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.post(f"{URL}/issues/5/relations.json", status=422, json={"errors": ["关联问题 不能为空"]})
    # an existing relation of another type (or the other direction) does not count
    other = {"id": 9, "issue_id": 3, "issue_to_id": 5, "relation_type": "duplicates", "delay": None}
    rsps.get(f"{URL}/issues/5/relations.json", json={"relations": [other]})
    with pytest.raises(BackendRejected, match="HTTP 422 Unprocessable Entity: 关联问题 不能为空"):
        make_backend().add_relation("5", "3", Relation.DUPLICATES)


# --- changed_since -------------------------------------------------------------------------------


def test_changed_since_pages_and_decodes(rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture) -> None:
    mock_lookups(rsps)
    first = [issue_json(i, key=f"zabbix:{i}") for i in range(1, 101)]
    first[0] = issue_json(
        1,
        key="zabbix:1",
        status=STATUSES[2],
        assignee="Li Si",
        values={"impact": "1", "kb_used": "1", "outage_end": "2024-05-01T09:59:30Z", "escalation_level": "abc"},
        updated_on="2024-05-01T10:06:07Z",
    )
    second = [issue_json(100, key="zabbix:100")]  # seen again after a concurrent update: yielded once
    second += [issue_json(i, key=f"zabbix:{i}") for i in range(101, 150)]
    second[-1] = issue_json(149, key="", status=STATUSES[5])
    second.append(issue_json(150, updated_on="2024-05-01T09:59:59Z"))  # Redmine's ">=" is "> since-1s"
    rsps.get(
        f"{URL}/issues.json",
        json={"issues": first, "total_count": 150, "offset": 0, "limit": 100},
        match=[responses.matchers.query_param_matcher({"offset": "0"}, strict_match=False)],
    )
    rsps.get(
        f"{URL}/issues.json",
        json={"issues": second, "total_count": 150, "offset": 100, "limit": 100},
        match=[responses.matchers.query_param_matcher({"offset": "100"}, strict_match=False)],
    )
    with caplog.at_level(logging.WARNING, logger="connector.integrations.redmine"):
        snapshots = list(make_backend().changed_since(datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)))

    assert [int(s.ticket_id) for s in snapshots] == list(range(1, 150))
    pages = [c for c in calls_to(rsps, "GET", "/issues.json") if "offset" in query(c)]
    assert [query(c)["offset"] for c in pages] == [["0"], ["100"]]
    params = query(pages[0])
    assert params["updated_on"] == [">=2024-05-01T10:00:00Z"] and params["status_id"] == ["*"]
    assert params["limit"] == ["100"] and params["project_id"] == ["7"] and params["sort"] == ["id"]

    one = snapshots[0]
    assert one.key == "zabbix:1" and one.status is TicketStatus.RESOLVED and one.assignee == "Li Si"
    assert one.updated_at == datetime(2024, 5, 1, 10, 6, 7, tzinfo=UTC)
    assert one.fields["impact"] is Impact.VERY_IMPORTANT and one.fields["kb_used"] is True
    assert one.fields["outage_end"] == datetime(2024, 5, 1, 9, 59, 30, tzinfo=UTC)
    assert one.fields["ci"] is None and KEY_FIELD not in one.fields
    assert "escalation_level" not in one.fields  # "abc" is no int: left out, logged
    assert any("Escalation level" in r.getMessage() for r in caplog.records)
    last = snapshots[-1]
    assert last.key is None and last.status is TicketStatus.CLOSED  # Rejected is closed
    assert snapshots[1].status is TicketStatus.OPEN and snapshots[1].assignee is None


def test_changed_since_stops_on_an_empty_page(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.get(
        f"{URL}/issues.json",
        json={"issues": [], "total_count": 500},
        match=[responses.matchers.query_param_matcher({"offset": "0"}, strict_match=False)],
    )
    assert list(make_backend().changed_since(NOW)) == []


# --- plugin --------------------------------------------------------------------------------------


def test_plugin_registers_the_type_and_hides_the_key(tmp_path: Path) -> None:
    [backend_type] = plugin.register_backend_types()
    assert backend_type.name == "redmine" and backend_type.settings is RedmineSettings
    secrets: list[str] = []
    ctx = PluginContext(
        clock=FakeClock(NOW),
        name="helpdesk",
        data_dir=tmp_path,
        register_secret=secrets.append,
        spool=Spool(tmp_path / "spool"),
    )
    settings = RedmineSettings.model_validate({"url": URL, "api_key": SecretStr(KEY), "project": "ops"})
    backend = backend_type.factory(settings, ctx)
    assert isinstance(backend, RedmineBackend) and backend.name == "helpdesk"
    assert secrets == [KEY]
    assert KEY not in repr(backend)
    backend.close()


def test_plugin_is_declared_in_the_entry_point_group() -> None:
    from importlib.metadata import entry_points

    [ep] = [ep for ep in entry_points(group="itsm_connector") if ep.name == "redmine"]
    assert ep.value == "connector.plugins.redmine"


def test_create_is_one_call_once_the_ids_are_known(rsps: responses.RequestsMock) -> None:
    """The 201 answer is the stored issue: no read-back, so a new ticket costs one POST
    (plus the connector's find_by_key before it)."""
    mock_lookups(rsps)
    rsps.post(f"{URL}/issues.json", json={"issue": issue_json(11)}, status=201)
    backend = make_backend()
    backend.create_ticket(a_ticket())
    before = len(rsps.calls)
    backend.create_ticket(a_ticket())
    assert [(c.request.method, urlsplit(c.request.url).path) for c in rsps.calls[before:]] == [("POST", "/issues.json")]
