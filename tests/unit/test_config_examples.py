"""``config/examples/``: one complete, commented config per setup, each accepted by ``validate``;
``local.yaml`` runs with no helpdesk and serves /healthz, /readyz and /metrics on its port; the
helpdesk examples, pointed at loopback ports where nothing answers, run and say in /readyz
which backend they cannot reach. (tests/integration/test_examples_redmine.py runs the Redmine
example against the real Redmine.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from connector.cli.main import main
from tests.unit.service_process import Running, free_port, http, http_json, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
#: the secrets the examples read from the environment, as an admin would export them
SECRETS = {
    "ITSM_WEBHOOK_SECRET": "example-webhook-secret-0123456789",
    "REDMINE_API_KEY": "0123456789abcdef0123456789abcdef01234567",
    "ZABBIX_API_TOKEN": "0123456789abcdef",
    "GLPI_USER_TOKEN": "glpi-user-token",
    "GLPI_APP_TOKEN": "glpi-app-token",
    "IMAP_PASSWORD": "imap-password",
    "SMTP_PASSWORD": "smtp-password",
    "SMS_GATEWAY_SECRET": "sms-gateway-secret",
    "WECOM_ROBOT_KEY": "wecom-robot-key",
    "DINGTALK_TOKEN": "dingtalk-token",
    "DINGTALK_SIGN_SECRET": "dingtalk-sign-secret",
}
SETUPS = {
    "local.yaml",
    "alertmanager.yaml",
    "json-webhook.yaml",
    "redmine-zabbix.yaml",
    "glpi-zabbix.yaml",
    "imap-redmine.yaml",
    "notifiers.yaml",
}


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def test_there_is_an_example_per_setup() -> None:
    assert {p.name for p in EXAMPLES.glob("*.yaml")} == SETUPS
    for path in EXAMPLES.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# itsm-connector"), f"{path.name}: say what it is for at the top"
        assert "http:" in text, f"{path.name}: every example configures the one HTTP server"


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_validate_accepts_each_example(name: str, secrets: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", str(EXAMPLES / name)]) == 0
    out = capsys.readouterr()
    assert f"{name}: OK" in out.out, out.err


def _copy(name: str, tmp_path: Path, change: dict[str, Any]) -> tuple[Path, int]:
    """The example in ``tmp_path`` (its state there), on a free port, with ``change`` merged."""
    data = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    port = free_port()
    data["http"]["port"] = port
    data["state"]["path"] = "state/state.db"
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    target = tmp_path / name
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    if "notify" in data:
        (tmp_path.parent / "people.example.yaml").write_bytes((EXAMPLES.parent / "people.example.yaml").read_bytes())
    return target, port


def test_local_example_runs_without_a_helpdesk_and_serves_its_port(tmp_path: Path) -> None:
    config, port = _copy("local.yaml", tmp_path, {})
    (tmp_path / "alerts.jsonl").touch()  # as its comment says
    run = Running(config, env=SECRETS)
    try:
        run.wait_http(port)
        assert http_json(port, "/healthz") == (200, {"status": "ok"})
        status, ready = run.readiness(port)
        assert status == 200 and ready["status"] == "ready", ready
        assert set(ready["checks"]) == {"state", "backend:local", "source:feed", "source:zabbix", "sweep"}
        status, body = http(port, "/metrics")
        names = {f.name for f in text_string_to_metric_families(body.decode("utf-8"))}
        assert status == 200 and {"itsm_alerts_received", "itsm_decisions", "itsm_outbox_depth"} <= names
        # an alert appended to the example's replay file becomes a ticket
        line = {"source": "feed", "external_id": "1", "title": "Disk full", "occurred_at": "2026-12-01T00:00:00Z"}
        (tmp_path / "alerts.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")

        def counted() -> bool:
            text = http(port, "/metrics")[1].decode("utf-8")
            return 'itsm_alerts_received_total{source="feed"} 1.0' in text

        wait_for(counted, "the alert counted")
    finally:
        code = run.stop()
    assert code == 0, run.text()


HELPDESKS = {
    "redmine-zabbix.yaml": ("backend:redmine", {"backend": {"url": "http://127.0.0.1:{dead}"}}),
    "imap-redmine.yaml": ("backend:redmine", {"backend": {"url": "http://127.0.0.1:{dead}"}}),
    "glpi-zabbix.yaml": ("backend:glpi", {"backend": {"url": "http://127.0.0.1:{dead}/apirest.php"}}),
}


@pytest.mark.parametrize("name", sorted(HELPDESKS))
def test_helpdesk_examples_run_and_name_the_backend_they_cannot_reach(name: str, tmp_path: Path) -> None:
    check, change = HELPDESKS[name]
    dead = free_port()
    change = json.loads(json.dumps(change).replace("{dead}", str(dead)))
    config, port = _copy(name, tmp_path, change)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for source in data.get("sources", []):  # every server on loopback: nothing leaves the machine
        if "url" in source:
            source["url"] = f"http://127.0.0.1:{dead}"
        if "host" in source:
            source.update(host="127.0.0.1", port=dead, security="none")
    data["backend"]["timeout_seconds"] = 2
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    run = Running(config, env=SECRETS)
    try:
        run.wait_http(port)
        status, body = run.readiness(port)
        assert status == 503 and check in body["failing"], body
        assert body["checks"]["state"] == {"ok": True}
    finally:
        code = run.stop()
    assert code == 0, run.text()


def test_init_checks_the_helpdesk_the_config_names(
    tmp_path: Path, secrets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--config", str(EXAMPLES / "local.yaml")]) == 0
    assert "needs no setup: nothing is missing" in capsys.readouterr().out
    dead = free_port()
    config, _ = _copy("redmine-zabbix.yaml", tmp_path, {"backend": {"url": f"http://127.0.0.1:{dead}"}})
    assert main(["init", "--config", str(config)]) == 1  # = setup redmine: what is missing, and the fix
    out = capsys.readouterr().out
    assert f"cannot connect to http://127.0.0.1:{dead}" in out and "fix:" in out and "NOT OK" in out
