"""The new source types load from a real config file (secrets from the environment), build
without touching the network, and a mistake is reported with file:line."""

from __future__ import annotations

from pathlib import Path

import pluggy
import pytest

from connector.contracts.adapters import PushSource
from connector.domain.errors import ConfigError
from connector.integrations.mail.source import ImapSource
from connector.integrations.zabbix.push import ZabbixWebhookSource
from connector.runtime.app import build_app, load

CONFIG = """\
state: {path: state.db}
backend: {type: local, path: tickets.db}
sources:
  - type: zabbix_webhook
    name: zabbix-push
    port: 0
    secret: ${WEBHOOK_SECRET}
    source_name: zabbix
  - type: imap
    name: email
    host: IMAP_HOST
    security: SECURITY
    user: servicedesk
    password: ${IMAP_PASSWORD}
    allowed_senders: [metro.example]
"""


def write(tmp_path: Path, host: str = "imap.metro.example", security: str = "tls") -> Path:
    path = tmp_path / "connector.yaml"
    path.write_text(CONFIG.replace("IMAP_HOST", host).replace("SECURITY", security), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", "w" * 32)
    monkeypatch.setenv("IMAP_PASSWORD", "imap-pw-0123")


def test_both_sources_load_and_build_without_network(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    config, pm = load(write(tmp_path), pm)
    app = build_app(config, pm)
    try:
        push, mail = app.engine.sources["zabbix-push"], app.engine.sources["email"]
        assert isinstance(push, ZabbixWebhookSource) and isinstance(push, PushSource)
        assert push.alert_source == "zabbix" and push._server is None
        assert isinstance(mail, ImapSource) and not isinstance(mail, PushSource)
        assert mail.unknown_senders == "anonymous" and mail.settings.effective_port == 993
        assert "w" * 32 in config.secrets and "imap-pw-0123" in config.secrets
    finally:
        app.close()


def test_plain_imap_to_a_remote_host_is_a_config_error_with_its_line(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, security="none"), pm)
    (problem,) = caught.value.problems
    assert problem.line == 12  # the "security: none" line
    assert "only allowed for a loopback host" in problem.reason


def test_plain_imap_on_loopback_is_accepted_loudly(
    tmp_path: Path, pm: pluggy.PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    config, pm = load(write(tmp_path, host="127.0.0.1", security="none"), pm)
    app = build_app(config, pm)
    app.close()
    assert "IMAP WITHOUT TLS" in caplog.text and "imap-pw-0123" not in caplog.text
