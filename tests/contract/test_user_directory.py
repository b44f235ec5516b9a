"""Who a sender is (IM 1.1): ``find_user_by_email`` on Redmine (recorded answers) and local.

``UserDirectory`` is a protocol of its own, not part of ``Backend``: a backend without it still
satisfies ``Backend``, and the create path reads it from the capability record made at start-up
(``BackendCapabilities.users``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.contracts.adapters import HelpdeskUser, PluginContext, UserDirectory
from connector.domain.clock import FakeClock
from connector.domain.errors import BackendUnavailable
from connector.integrations.redmine import RedmineBackend, RedmineSettings
from connector.plugins.local import LocalBackend, LocalSettings, register_backend_types
from connector.state.spool import Spool

URL = "http://redmine.test"
NOW = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)
USERS = {
    "users": [
        {"id": 7, "login": "wangxm", "firstname": "小明", "lastname": "王", "mail": "wang.xm@metro.example"},
        {"id": 8, "login": "wangxm2", "firstname": "Old", "lastname": "Account", "mail": "wang.xm.old@metro.example"},
    ],
    "total_count": 2,
}


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def redmine(clock: FakeClock) -> RedmineBackend:
    settings = RedmineSettings(url=URL, api_key=SecretStr("k" * 40), project="ops")
    return RedmineBackend(settings, name="redmine", clock=clock, session=requests.Session())


def test_redmine_finds_the_exact_address_among_the_name_matches(
    rsps: responses.RequestsMock, redmine: RedmineBackend
) -> None:
    rsps.get(f"{URL}/users.json", json=USERS)
    found = redmine.find_user_by_email("Wang.XM@metro.example ")
    assert found == HelpdeskUser(user_id="7", login="wangxm", name="小明 王", email="wang.xm@metro.example")
    query = parse_qs(urlsplit(rsps.calls[0].request.url).query)
    assert query == {"name": ["wang.xm@metro.example"], "status": ["1"], "limit": ["100"]}
    assert isinstance(redmine, UserDirectory)


def test_redmine_unknown_address_is_none(rsps: responses.RequestsMock, redmine: RedmineBackend) -> None:
    rsps.get(f"{URL}/users.json", json={"users": [], "total_count": 0})
    assert redmine.find_user_by_email("nobody@metro.example") is None
    assert redmine.find_user_by_email("not-an-address") is None
    assert len(rsps.calls) == 1  # a non-address is not even asked


def test_redmine_403_is_none_logged_once_and_asked_again_an_hour_later(
    rsps: responses.RequestsMock, redmine: RedmineBackend, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    refused = rsps.get(f"{URL}/users.json", status=403)
    caplog.set_level(logging.WARNING)
    assert redmine.find_user_by_email("wang.xm@metro.example") is None
    assert redmine.find_user_by_email("li.na@metro.example") is None
    assert refused.call_count == 1
    assert caplog.text.count("needs an administrator") == 1
    clock.advance(hours=1, seconds=1)
    rsps.replace(responses.GET, f"{URL}/users.json", json=USERS)
    assert redmine.find_user_by_email("wang.xm@metro.example") is not None


@pytest.mark.parametrize("status", [503, 401])
def test_redmine_other_failures_raise_to_be_retried(
    rsps: responses.RequestsMock, redmine: RedmineBackend, status: int
) -> None:
    rsps.get(f"{URL}/users.json", status=status)
    with pytest.raises(BackendUnavailable):
        redmine.find_user_by_email("wang.xm@metro.example")


def test_local_users_from_the_config_are_found_case_insensitively(tmp_path: Path, clock: FakeClock) -> None:
    (local_type,) = register_backend_types()
    settings = LocalSettings.model_validate(
        {"path": "tickets.db", "users": [{"login": "lina", "name": "李娜", "email": "Li.Na@metro.example"}]}
    )
    ctx = PluginContext(
        clock=clock, name="local", data_dir=tmp_path, register_secret=lambda _: None, spool=Spool(tmp_path / "s")
    )
    backend = local_type.factory(settings, ctx)
    assert isinstance(backend, LocalBackend) and isinstance(backend, UserDirectory)
    found = backend.find_user_by_email("li.na@METRO.example")
    assert found is not None and (found.login, found.name, found.email) == ("lina", "李娜", "li.na@metro.example")
    assert backend.find_user_by_email("other@metro.example") is None
    again = local_type.factory(settings, ctx)  # a restart seeds the same users once
    assert isinstance(again, LocalBackend) and again.add_user("lina", "x", "y@z.example").user_id == found.user_id
