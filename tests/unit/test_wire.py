"""One table says what an HTTP status means, and every client (Redmine, GLPI, the notifiers)
reads it: a 503 is retried everywhere, a 422 nowhere; each still raises its own errors."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connector.domain.clock import FakeClock
from connector.domain.errors import BackendRejected, BackendUnavailable, NotifierRejected, NotifierUnavailable
from connector.integrations.glpi.errors import GlpiConfigError, GlpiRejected, GlpiUnavailable, raise_for_status
from connector.integrations.redmine.client import RedmineClient, RedmineRejected, RedmineUnavailable
from connector.notify.http import HttpPoster
from connector.util.wire import StatusKind, http_failure, status_kind


def answer(
    status: int, reason: str = "", body: bytes = b"", headers: dict[str, str] | None = None
) -> requests.Response:
    """A real ``requests.Response`` as the transport hands it over."""
    response = requests.Response()
    response.status_code = status
    response.reason = reason
    response._content = body
    response.headers.update(headers or {})
    return response


class Wire:
    """A session that answers every request with one response (failure injection)."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        return self.response

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        return self.response


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, StatusKind.OK),
        (204, StatusKind.OK),
        (302, StatusKind.REDIRECT),
        (400, StatusKind.PERMANENT),
        (401, StatusKind.AUTH),
        (403, StatusKind.AUTH),
        (404, StatusKind.PERMANENT),
        (422, StatusKind.PERMANENT),
        (429, StatusKind.TRANSIENT),
        (500, StatusKind.TRANSIENT),
        (503, StatusKind.TRANSIENT),
    ],
)
def test_the_status_table(status: int, kind: StatusKind) -> None:
    assert status_kind(status) is kind


def test_a_failure_is_read_once(clock: FakeClock) -> None:
    assert http_failure(answer(201), clock.now()) is None
    busy = http_failure(answer(503, "Service Unavailable", headers={"Retry-After": "29.2"}), clock.now())
    assert busy is not None and busy.retry_after == 29.2 and busy.retry_tail == " (retry after 30s)"
    assert busy.head == "HTTP 503 Service Unavailable"
    moved = http_failure(answer(302, headers={"Location": "https://sso.example/login"}), clock.now())
    assert moved is not None and moved.location == "https://sso.example/login" and moved.retry_after is None
    assert moved.head == "HTTP 302 Found"  # no reason phrase sent: the standard one
    refused = http_failure(answer(422, "Unprocessable Entity", headers={"Retry-After": "5"}), clock.now())
    assert refused is not None and refused.retry_after is None  # only a transient answer waits


def _redmine(response: requests.Response, clock: FakeClock) -> None:
    client = RedmineClient(
        "http://redmine.test",
        "k" * 40,
        backend="redmine",
        clock=clock,
        timeout=5,
        session=Wire(response),  # type: ignore[arg-type]
    )
    client.put("/issues/1.json", {})


def _glpi(response: requests.Response, clock: FakeClock) -> None:
    raise_for_status(response, "PUT Ticket/1", backend="glpi", now=clock.now())


def _notifier(response: requests.Response, clock: FakeClock) -> None:
    poster = HttpPoster(notifier="sms", clock=clock, timeout=5, session=Wire(response))  # type: ignore[arg-type]
    poster.post("http://gateway.test/send?key=secret", b"{}")


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_a_transient_status_is_retried_by_every_client(clock: FakeClock, status: int) -> None:
    for call, error in ((_redmine, RedmineUnavailable), (_glpi, GlpiUnavailable), (_notifier, NotifierUnavailable)):
        with pytest.raises(error) as caught:
            call(answer(status, headers={"Retry-After": "7"}), clock)
        assert isinstance(caught.value, BackendUnavailable | NotifierUnavailable)
        assert caught.value.retry_after == 7.0
        assert str(caught.value).endswith("(retry after 7s)")


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_a_permanent_status_is_given_up_by_every_client(clock: FakeClock, status: int) -> None:
    for call, error in ((_redmine, RedmineRejected), (_glpi, GlpiRejected), (_notifier, NotifierRejected)):
        with pytest.raises(error):
            call(answer(status), clock)


@pytest.mark.parametrize("status", [302, 401, 403])
def test_redirects_and_refused_credentials_wait_for_an_admin_in_a_helpdesk_and_drop_a_notice(
    clock: FakeClock, status: int
) -> None:
    with pytest.raises(BackendUnavailable):
        _redmine(answer(status), clock)
    with pytest.raises(GlpiUnavailable if status == 302 else GlpiConfigError):
        _glpi(answer(status), clock)
    with pytest.raises(NotifierRejected) as caught:
        _notifier(answer(status), clock)
    assert "secret" not in str(caught.value)


def test_a_glpi_multi_status_is_a_partial_failure(clock: FakeClock) -> None:
    body = b'["ERROR_GLPI_PARTIAL_UPDATE", [{"1": false, "message": "no right"}]]'
    with pytest.raises(BackendRejected, match="HTTP 207 Multi-Status: ERROR_GLPI_PARTIAL_UPDATE no right"):
        _glpi(answer(207, body=body), clock)
