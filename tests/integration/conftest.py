"""Session fixtures for the real servers: each is started once per test session.

``scripts/services/<name>.sh start`` is idempotent (it returns at once when the server is up),
so CI may start the servers beforehand and the fixtures then only read their env files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "scripts" / "services"
SVC_BASE = Path(os.environ.get("SVC_BASE", "/tmp/svc"))


def service_command(name: str, *args: str) -> list[str]:
    """``scripts/services/<name>.sh args…`` as a command line: the service scripts need root, so a
    normal user's test run goes through ``sudo -n`` (scripts/test.sh asked for it already; ``-n``
    fails at once instead of waiting for a password nobody types)."""
    command = ["bash", str(SERVICES / f"{name}.sh"), *args]
    if os.geteuid() == 0:
        return command
    return ["sudo", "-n", "--preserve-env=ITSM_PYTHON,SVC_BASE", *command]


def _start(name: str) -> dict[str, str]:
    """Start (or find running) the named service and return its env file as a dict."""
    if os.environ.get("ITSM_SKIP_SERVERS") == "1":
        pytest.skip("ITSM_SKIP_SERVERS=1: real-server tests disabled by the caller")
    proc = subprocess.run(service_command(name, "start"), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"{name}.sh start failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    env_file = SVC_BASE / name / f"{name}.env"
    values: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@pytest.fixture(scope="session")
def redmine_env() -> Iterator[dict[str, str]]:
    """URL, admin API key, project and custom-field ids of the test Redmine, with every custom
    field the connector uses created (``redmine.sh fields``, idempotent, once per session)."""
    env = _start("redmine")
    proc = subprocess.run(
        service_command("redmine", "fields"),
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ITSM_PYTHON": sys.executable},
    )
    if proc.returncode != 0:
        pytest.fail(f"redmine.sh fields failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    yield env


@pytest.fixture(scope="session")
def zabbix_env() -> Iterator[dict[str, str]]:
    """API URL, token, trapper host/port of the test Zabbix."""
    yield _start("zabbix")


@pytest.fixture(scope="session")
def imap_env() -> Iterator[dict[str, str]]:
    """Host, port, users and the deliver command of the test Dovecot (plain IMAP on loopback)."""
    yield _start("imap")


class RedmineApi:
    """Plain REST calls with the admin key, optionally as another user (the desk's side of a
    test: ``X-Redmine-Switch-User``), bypassing the backend under test."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = env["REDMINE_URL"]
        self.key = env["REDMINE_API_KEY"]
        self.project = env["REDMINE_PROJECT"]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, as_user: str | None = None) -> Any:
        headers = {"X-Redmine-API-Key": self.key}
        if as_user is not None:
            headers["X-Redmine-Switch-User"] = as_user
        response = requests.request(method, self.url + path, json=body, headers=headers, timeout=30)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


@pytest.fixture
def redmine_api(redmine_env: dict[str, str]) -> RedmineApi:
    """REST calls to the test Redmine as the admin or as another user."""
    return RedmineApi(redmine_env)


@pytest.fixture
def redmine_people(redmine_api: RedmineApi) -> Iterator[Callable[..., dict[str, Any]]]:
    """Make fresh project members with the Manager role (edit, assignable): ``make("desk",
    "值班", "服务台")`` returns the user (its login carries a uuid: the database outlives test
    runs); every one made is deleted at the end."""
    roles = redmine_api.call("GET", "/roles.json")["roles"]
    manager = next(r["id"] for r in roles if r["name"] == "Manager")
    made: list[dict[str, Any]] = []

    def make(prefix: str, first: str, last: str) -> dict[str, Any]:
        login = f"{prefix}-{uuid.uuid4().hex[:8]}"
        user: dict[str, Any] = redmine_api.call(
            "POST",
            "/users.json",
            {
                "user": {
                    "login": login,
                    "firstname": first,
                    "lastname": last,
                    "mail": f"{login}@metro.example",
                    "password": f"Pw-{uuid.uuid4().hex}",
                }
            },
        )["user"]
        made.append(user)
        redmine_api.call(
            "POST",
            f"/projects/{redmine_api.project}/memberships.json",
            {"membership": {"user_id": user["id"], "role_ids": [manager]}},
        )
        return user

    try:
        yield make
    finally:
        for user in made:
            requests.delete(
                f"{redmine_api.url}/users/{user['id']}.json", headers={"X-Redmine-API-Key": redmine_api.key}, timeout=30
            )


def after_this_second() -> None:
    """Wait for the wall clock's next second. Redmine stamps ``updated_on`` in whole seconds, and
    the sync-back skips an issue still at the time of the connector's own create
    (docs/escalation.md, "Reading back"): a person's change in that same second is read only with
    the next change. No person acts within a second of a ticket's creation; a test script does, so
    it waits first."""
    import time

    time.sleep(1.02 - time.time() % 1)
