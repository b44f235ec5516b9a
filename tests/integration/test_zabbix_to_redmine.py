"""The foundation, end to end on real servers: a Zabbix problem raised with zabbix_sender
becomes one Redmine issue through ``itsm-connector once`` (a real process), is acknowledged in
Zabbix with the ticket link, and is resolved on recovery — and nothing is lost or doubled when
the process dies mid-write or Redmine is down or refusing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.domain.clock import SystemClock
from connector.util.failpoints import EXIT_CODE
from tests.integration.zabbix_helpers import TrapperTrigger, ZabbixLab
from tests.state_backend import make_store, state_yaml

pytestmark = [pytest.mark.integration, pytest.mark.both_states]


@pytest.fixture(scope="module")
def lab(zabbix_env: dict[str, str]) -> Iterator[ZabbixLab]:
    lab = ZabbixLab(zabbix_env)
    yield lab
    lab.cleanup()


class Redmine:
    """Just enough of the Redmine API to check what the connector wrote."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = env["REDMINE_URL"]
        self.cf = env["REDMINE_CF_EXTERNAL_ID"]
        self.project = env["REDMINE_PROJECT"]
        self.session = requests.Session()
        self.session.headers["X-Redmine-API-Key"] = env["REDMINE_API_KEY"]

    def issues_with_key(self, key: str) -> list[dict[str, Any]]:
        response = self.session.get(
            f"{self.url}/issues.json",
            params={"project_id": self.project, "status_id": "*", f"cf_{self.cf}": key},
            timeout=30,
        )
        response.raise_for_status()
        found = response.json()["issues"]
        return [i for i in found if any(c["id"] == int(self.cf) and c["value"] == key for c in i["custom_fields"])]

    def issue(self, issue_id: int) -> dict[str, Any]:
        response = self.session.get(f"{self.url}/issues/{issue_id}.json", params={"include": "journals"}, timeout=30)
        response.raise_for_status()
        return dict(response.json()["issue"])


@pytest.fixture(scope="module")
def redmine(redmine_env: dict[str, str]) -> Redmine:
    return Redmine(redmine_env)


def write_config(tmp_path: Path, redmine_url: str, zabbix_env: dict[str, str], redmine_env: dict[str, str]) -> Path:
    path = tmp_path / "connector.yaml"
    path.write_text(
        f"""
state: {state_yaml(path.parent / "state.db")}
backend:
  type: redmine
  url: {redmine_url}
  api_key: ${{REDMINE_API_KEY}}
  project: {redmine_env["REDMINE_PROJECT"]}
  timeout_seconds: 20
sources:
  - type: zabbix
    url: {zabbix_env["ZABBIX_API_URL"]}
    api_token: ${{ZABBIX_API_TOKEN}}
outbox:
  backoff_initial_seconds: 1
""",
        encoding="utf-8",
    )
    return path


def run_once(
    config: Path, env_extra: dict[str, str], *args: str, failpoint: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ITSM_CONNECTOR_FAILPOINT"}
    env.update(env_extra)
    if failpoint:
        env["ITSM_CONNECTOR_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "connector.cli.main", "once", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def raise_problem(lab: ZabbixLab, config: Path, severity: int = 4) -> tuple[TrapperTrigger, str]:
    """Fire a new trigger; start the connector's cursor just before its event (so the test
    does not pick up other tests' problems); return the trigger and the problem event id."""
    trigger = lab.create_trapper_trigger(severity=severity, tags={"service": "票务管理系统"})
    problem = lab.fire(trigger, 95)
    eventid = str(problem["eventid"])
    store = make_store(config.parent / "state.db")
    store.set_cursor("zabbix", str(int(eventid) - 1), SystemClock().now())
    store.close()
    return trigger, eventid


@pytest.fixture
def config(tmp_path: Path, zabbix_env: dict[str, str], redmine_env: dict[str, str]) -> Path:
    """A connector config for the real Redmine and Zabbix, its state in ``tmp_path``."""
    return write_config(tmp_path, redmine_env["REDMINE_URL"], zabbix_env, redmine_env)


@pytest.fixture(scope="module")
def env(zabbix_env: dict[str, str], redmine_env: dict[str, str]) -> dict[str, str]:
    """The secrets the connector process reads from its environment."""
    return {"REDMINE_API_KEY": redmine_env["REDMINE_API_KEY"], "ZABBIX_API_TOKEN": zabbix_env["ZABBIX_API_TOKEN"]}


def test_problem_to_issue_ack_and_recovery(
    config: Path, lab: ZabbixLab, redmine: Redmine, env: dict[str, str], redmine_env: dict[str, str]
) -> None:
    trigger, eventid = raise_problem(lab, config)
    key = f"zabbix:{eventid}"

    first = run_once(config, env)
    assert first.returncode == 0, first.stderr
    second = run_once(config, env)
    assert second.returncode == 0, second.stderr
    (issue,) = redmine.issues_with_key(key)
    assert issue["subject"] == trigger.description
    assert issue["priority"]["name"] == "Urgent"  # severity 4 → P2 → Urgent
    fields = {c["name"]: c.get("value") for c in issue["custom_fields"]}
    assert fields["CI 配置项"] == trigger.host
    assert fields["ITSM priority 优先级"] == "2"
    assert fields["Affected service 受影响服务"] == "票务管理系统"
    assert f"{key} → created" in first.stderr
    for secret in env.values():
        assert secret not in first.stderr + second.stderr

    acks = lab.acknowledges(eventid)
    assert any(f"#{issue['id']}" in a["message"] and "/issues/" in a["message"] for a in acks), acks

    lab.send(trigger.host, trigger.key, 10)
    lab.wait_for_recovery(eventid)
    third = run_once(config, env)
    assert third.returncode == 0, third.stderr
    resolved = redmine.issue(issue["id"])
    assert resolved["status"]["name"] == "Resolved"
    fields = {c["name"]: c.get("value") for c in resolved["custom_fields"]}
    assert fields["Outage end 故障结束"]
    assert any("recovered" in (j.get("notes") or "") for j in resolved["journals"])


def test_crash_after_post_before_commit_creates_no_second_issue(
    config: Path, lab: ZabbixLab, redmine: Redmine, env: dict[str, str], redmine_env: dict[str, str]
) -> None:
    _, eventid = raise_problem(lab, config)
    key = f"zabbix:{eventid}"

    crashed = run_once(config, env, failpoint="outbox.after_create")
    assert crashed.returncode == EXIT_CODE, crashed.stderr
    assert len(redmine.issues_with_key(key)) == 1  # the POST landed
    store = make_store(config.parent / "state.db")
    assert store.ticket_ref(key) is None  # … and the local commit did not
    store.close()

    again = run_once(config, env)
    assert again.returncode == 0, again.stderr
    (issue,) = redmine.issues_with_key(key)
    assert "found existing" in again.stderr
    store = make_store(config.parent / "state.db")
    assert store.ticket_ref(key) == (str(issue["id"]), f"{redmine_env['REDMINE_URL']}/issues/{issue['id']}")
    store.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FlakyProxy:
    """A loopback HTTP proxy in front of the real Redmine that can answer 503/429 instead."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode: tuple[int, str] | None = None  # (status, Retry-After) or None to pass through
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                if proxy.mode is not None:
                    proxy.refused += 1
                    self.send_response(proxy.mode[0])
                    self.send_header("Retry-After", proxy.mode[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                request = urllib.request.Request(proxy.upstream + self.path, data=body, method=self.command)
                for name in ("Content-Type", "X-Redmine-API-Key"):
                    if self.headers.get(name):
                        request.add_header(name, self.headers[name])
                try:
                    with urllib.request.urlopen(request, timeout=30) as upstream:
                        status, payload, ctype = upstream.status, upstream.read(), upstream.headers.get("Content-Type")
                except urllib.error.HTTPError as exc:
                    status, payload, ctype = exc.code, exc.read(), exc.headers.get("Content-Type")
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", _free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("refusal", ["connection refused", "503", "429"])
def test_redmine_down_loses_nothing(
    refusal: str,
    tmp_path: Path,
    lab: ZabbixLab,
    redmine: Redmine,
    env: dict[str, str],
    zabbix_env: dict[str, str],
    redmine_env: dict[str, str],
) -> None:
    proxy = FlakyProxy(redmine_env["REDMINE_URL"])
    try:
        if refusal == "connection refused":
            down_url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
        else:
            proxy.mode = (int(refusal), "1")
            down_url = proxy.url
        config = write_config(tmp_path, down_url, zabbix_env, redmine_env)
        _, eventid = raise_problem(lab, config)
        key = f"zabbix:{eventid}"

        down = run_once(config, env)
        assert down.returncode == 0, down.stderr
        assert "waits" in down.stderr and key in down.stderr
        if refusal == "connection refused":
            assert "onnection refused" in down.stderr or "Failed to establish" in down.stderr
        else:
            assert refusal in down.stderr and proxy.refused >= 1
        store = make_store(tmp_path / "state.db")
        (owed,) = [r for r in store.outbox_rows("pending") if r["ticket_key"] == key]
        assert owed["op"] == "create" and owed["attempts"] == 1
        store.close()
        assert redmine.issues_with_key(key) == []

        proxy.mode = None  # Redmine is back
        write_config(tmp_path, proxy.url, zabbix_env, redmine_env)
        back = run_once(config, env, "--retry-now")
        assert back.returncode == 0, back.stderr
        assert len(redmine.issues_with_key(key)) == 1
        store = make_store(tmp_path / "state.db")
        assert [r["op"] for r in store.outbox_rows("pending") if r["ticket_key"] == key] == []
        assert {r["op"] for r in store.outbox_rows("done") if r["ticket_key"] == key} == {"create", "ack"}
        store.close()
    finally:
        proxy.close()
