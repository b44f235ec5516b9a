"""The helpdesk examples of ``config/examples/`` run against the real servers on loopback:
``run`` gets 200 from ``/readyz`` with the real Redmine (and the real Zabbix / Dovecot behind the
sources), and an alert pushed to the webhook becomes a Redmine issue; the same config with the
helpdesk pointed at a dead port (the shared Redmine is never stopped) gets 503 naming
``backend:redmine``.

GLPI: no real GLPI runs here; the GLPI double (tests/contract/glpi_fake.py) is served on a
loopback socket (tests/faults/glpi_http.py) and the GLPI example's ``run`` is ready against it,
then not ready against a dead port.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import yaml

from connector.domain.clock import SystemClock
from tests.contract.glpi_fake import USER_TOKEN, GlpiFake
from tests.faults.glpi_http import GlpiOverHttp
from tests.unit.service_process import Running, free_port, http_json, wait_for
from tests.unit.webhook_payloads import problem_payload

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
SECRET = "integration-webhook-secret-0123456789"


def _config(name: str, tmp_path: Path, port: int, change: dict[str, Any], sources: list[dict[str, Any]]) -> Path:
    data = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    data["state"]["path"] = "state.db"
    data["http"].update(port=port, listen="127.0.0.1")
    data["http"].pop("public_url", None)
    data["backend"].update(change)
    data["sources"] = sources
    data["daemon"] = {"poll_seconds": 5, "drain_seconds": 0.5, "sweep_seconds": 60}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _redmine(env: dict[str, str], url: str | None = None) -> dict[str, Any]:
    return {"url": url or env["REDMINE_URL"], "api_key": "${REDMINE_API_KEY}", "project": env["REDMINE_PROJECT"]}


def _ready_then_dead(
    name: str, tmp_path: Path, redmine_env: dict[str, str], sources: list[dict[str, Any]], env: dict[str, str]
) -> None:
    port = free_port()
    config = _config(name, tmp_path, port, _redmine(redmine_env), sources)
    run = Running(config, env={"REDMINE_API_KEY": redmine_env["REDMINE_API_KEY"], **env})
    try:
        run.wait_http(port)
        status, body = run.readiness(port)
        assert status == 200, body
        assert body["checks"]["backend:redmine"] == {"ok": True}
    finally:
        assert run.stop() == 0, run.text()

    dead = free_port()
    down = tmp_path / "down"
    down.mkdir()
    config = _config(name, down, port, _redmine(redmine_env, f"http://127.0.0.1:{dead}"), sources)
    run = Running(config, env={"REDMINE_API_KEY": redmine_env["REDMINE_API_KEY"], **env})
    try:
        run.wait_http(port)
        status, body = run.readiness(port)
        assert status == 503 and "backend:redmine" in body["failing"], body
    finally:
        assert run.stop() == 0, run.text()


def test_redmine_zabbix_example(tmp_path: Path, redmine_env: dict[str, str], zabbix_env: dict[str, str]) -> None:
    sources = [
        {"type": "zabbix", "name": "zabbix", "url": zabbix_env["ZABBIX_URL"], "api_token": "${ZABBIX_API_TOKEN}"},
        {
            "type": "zabbix_webhook",
            "name": "zabbix-push",
            "source_name": "zabbix",
            "secret": "${ITSM_WEBHOOK_SECRET}",
            "server_timezone": "UTC",
        },
    ]
    env = {"ZABBIX_API_TOKEN": zabbix_env["ZABBIX_API_TOKEN"], "ITSM_WEBHOOK_SECRET": SECRET}
    _ready_then_dead("redmine-zabbix.yaml", tmp_path, redmine_env, sources, env)


def test_redmine_zabbix_example_turns_a_push_into_a_redmine_issue(tmp_path: Path, redmine_env: dict[str, str]) -> None:
    port = free_port()
    sources = [
        {"type": "zabbix_webhook", "name": "zabbix", "secret": "${ITSM_WEBHOOK_SECRET}", "server_timezone": "UTC"}
    ]
    config = _config("redmine-zabbix.yaml", tmp_path, port, _redmine(redmine_env), sources)
    run = Running(config, env={"REDMINE_API_KEY": redmine_env["REDMINE_API_KEY"], "ITSM_WEBHOOK_SECRET": SECRET})
    event = str(900000 + free_port())  # an event id no other run used
    try:
        run.wait_http(port)
        body = json.dumps(problem_payload(event_id=event, event_name=f"Example run {event}")).encode("utf-8")
        status, answer = http_json(
            port,
            "/zabbix",
            body=body,
            headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
        )
        assert status == 200 and answer["key"] == f"zabbix:{event}", answer

        def issue() -> bool:
            found = requests.get(
                f"{redmine_env['REDMINE_URL']}/issues.json",
                params={"subject": f"~Example run {event}", "status_id": "*"},
                headers={"X-Redmine-API-Key": redmine_env["REDMINE_API_KEY"]},
                timeout=10,
            ).json()
            return int(found["total_count"]) == 1

        wait_for(issue, "the Redmine issue", seconds=60)
    finally:
        assert run.stop() == 0, run.text()


def test_imap_redmine_example(tmp_path: Path, redmine_env: dict[str, str], imap_env: dict[str, str]) -> None:
    sources = [
        {
            "type": "imap",
            "name": "mail",
            "host": imap_env["IMAP_HOST"],
            "port": int(imap_env["IMAP_PORT"]),
            "security": "none",
            "user": imap_env["IMAP_USER2"],
            "password": "${IMAP_PASSWORD}",
            "allowed_senders": ["metro.example"],
        }
    ]
    _ready_then_dead("imap-redmine.yaml", tmp_path, redmine_env, sources, {"IMAP_PASSWORD": imap_env["IMAP_PASSWORD2"]})


def test_glpi_example_is_ready_against_the_glpi_double_then_not_when_it_is_gone(tmp_path: Path) -> None:
    """No real GLPI can run here: the GLPI contract double (``tests/contract/glpi_fake.py``) is
    served on a loopback socket (``tests/faults/glpi_http.py``), and the example config's ``run``
    process talks to it as to GLPI: ready (200, the backend reached); then, pointed at a dead
    port, not ready, naming ``backend:glpi``."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru(re.compile(r"http://127\.0\.0\.1:\d+/"))
        GlpiFake(rsps, SystemClock(), app_token=None)
        served = GlpiOverHttp()
        try:
            port = free_port()
            glpi = {
                "url": f"http://127.0.0.1:{served.port}/apirest.php",
                "user_token": "${GLPI_USER_TOKEN}",
                "entity": 0,
            }
            config = _config("glpi-zabbix.yaml", tmp_path, port, glpi, [])
            data = yaml.safe_load(config.read_text(encoding="utf-8"))
            data["backend"].pop("app_token", None)
            data["backend"]["create_missing"] = False
            config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
            run = Running(config, env={"GLPI_USER_TOKEN": USER_TOKEN})
            try:
                status, body = run.readiness(port)
                assert status == 200, body
                assert body["checks"]["backend:glpi"] == {"ok": True}
            finally:
                assert run.stop() == 0, run.text()
        finally:
            served.close()
    dead = free_port()
    down = tmp_path / "down"
    down.mkdir()
    glpi = {"url": f"http://127.0.0.1:{dead}/apirest.php", "user_token": "${GLPI_USER_TOKEN}", "entity": 0}
    config = _config("glpi-zabbix.yaml", down, port, glpi, [])
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["backend"].pop("app_token", None)
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    run = Running(config, env={"GLPI_USER_TOKEN": USER_TOKEN})
    try:
        status, body = run.readiness(port)
        assert status == 503 and "backend:glpi" in body["failing"], body
    finally:
        assert run.stop() == 0, run.text()
