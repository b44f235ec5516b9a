"""``find_user_by_email`` against the real Redmine 5: a user created for the test is found by
address; a key without admin rights gets 403 and the lookup answers ``None``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from connector.integrations.redmine import RedmineBackend, RedmineSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def user(redmine_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A fresh non-admin Redmine user (with its API key), deleted afterwards."""
    login = f"itsm-{uuid.uuid4().hex[:10]}"
    admin = {"X-Redmine-API-Key": redmine_env["REDMINE_API_KEY"]}
    body = {
        "user": {
            "login": login,
            "firstname": "小明",
            "lastname": "王",
            "mail": f"{login}@metro.example",
            "password": f"Pw-{uuid.uuid4().hex}",
        }
    }
    created = requests.post(f"{redmine_env['REDMINE_URL']}/users.json", json=body, headers=admin, timeout=30)
    assert created.status_code == 201, created.text
    made = created.json()["user"]
    try:
        yield made
    finally:
        requests.delete(f"{redmine_env['REDMINE_URL']}/users/{made['id']}.json", headers=admin, timeout=30)


def backend(env: dict[str, str], key: str) -> RedmineBackend:
    settings = RedmineSettings(url=env["REDMINE_URL"], api_key=SecretStr(key), project=env["REDMINE_PROJECT"])
    return RedmineBackend(settings)


def test_an_admin_key_finds_the_user_by_address(redmine_env: dict[str, str], user: dict[str, Any]) -> None:
    directory = backend(redmine_env, redmine_env["REDMINE_API_KEY"])
    try:
        found = directory.find_user_by_email(user["mail"].upper())
        assert found is not None
        assert (found.user_id, found.login, found.name) == (str(user["id"]), user["login"], "小明 王")
        assert directory.find_user_by_email(f"nobody-{uuid.uuid4().hex[:6]}@metro.example") is None
    finally:
        directory.close()


def test_a_key_without_admin_rights_gets_none(redmine_env: dict[str, str], user: dict[str, Any]) -> None:
    directory = backend(redmine_env, user["api_key"])
    try:
        assert directory.find_user_by_email(user["mail"]) is None
    finally:
        directory.close()
