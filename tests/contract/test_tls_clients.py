"""TLS verification is on by default for every HTTP client, and ``ca_bundle:`` pins a private
CA: a real HTTPS server on loopback with a self-signed certificate is refused by the Redmine,
GLPI, Zabbix and notification clients as they are configured by default, and reached once
their settings name its certificate as the bundle."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr, ValidationError

from connector.domain.clock import FakeClock
from connector.domain.errors import BackendUnavailable, NotifierUnavailable
from connector.integrations.glpi.settings import GlpiSettings
from connector.integrations.redmine.client import RedmineClient
from connector.integrations.redmine.schema import UserEnvelope
from connector.integrations.redmine.settings import RedmineSettings
from connector.integrations.zabbix.connection import ZabbixConnection
from connector.integrations.zabbix.settings import ZabbixSettings
from connector.notify.dingtalk import DingtalkSettings
from connector.notify.http import HttpPoster
from connector.notify.webhook import WebhookSettings
from connector.notify.wecom import WecomSettings
from connector.util.tls import requests_verify
from tests.conftest import T0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


class _Answer(BaseHTTPRequestHandler):
    def _ok(self) -> None:
        body = b'{"user": {"id": 1, "login": "connector"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _ok

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def https(certificate: tuple[Path, Path]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def redmine_client(url: str, settings: RedmineSettings) -> RedmineClient:
    verify = requests_verify(settings.verify_tls, settings.ca_bundle)
    return RedmineClient(url, "key", backend="redmine", clock=FakeClock(T0), timeout=5, verify_tls=verify)


def test_redmine_refuses_an_untrusted_certificate_by_default(https: str) -> None:
    settings = RedmineSettings(url=https, api_key=SecretStr("k"), project="ops")
    assert settings.verify_tls is True and settings.ca_bundle is None
    with pytest.raises(BackendUnavailable):
        redmine_client(https, settings).get("/users/current.json", UserEnvelope)


def test_redmine_trusts_the_pinned_bundle(https: str, certificate: tuple[Path, Path]) -> None:
    settings = RedmineSettings(url=https, api_key=SecretStr("k"), project="ops", ca_bundle=certificate[0])
    assert redmine_client(https, settings).get("/users/current.json", UserEnvelope).user.login == "connector"


def test_notifications_refuse_then_trust_the_bundle(https: str, certificate: tuple[Path, Path]) -> None:
    plain = WebhookSettings(url=https)
    with pytest.raises(NotifierUnavailable):
        HttpPoster.for_channel(plain, name="webhook", clock=FakeClock(T0)).post(https + "/hook", b"{}")
    pinned = WebhookSettings(url=https, ca_bundle=certificate[0])
    answer = HttpPoster.for_channel(pinned, name="webhook", clock=FakeClock(T0)).post(https + "/hook", b"{}")
    assert answer.status_code == 200


def test_zabbix_uses_the_bundle_whatever_the_environment_says(
    https: str, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyzabbix passes no ``verify`` per request, so requests would let REQUESTS_CA_BUNDLE
    override the session's: the connection mounts an adapter that keeps the bundle."""
    plain = requests.Session()
    ZabbixConnection(
        ZabbixSettings(url=https, api_token=SecretStr("t" * 64)), name="z", session=plain, register_secret=print
    )
    with pytest.raises(requests.exceptions.SSLError):
        plain.post(https + "/api_jsonrpc.php", data=b"{}", timeout=5)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/system-bundle.pem")
    settings = ZabbixSettings(url=https, api_token=SecretStr("t" * 64), ca_bundle=certificate[0])
    session = requests.Session()
    ZabbixConnection(settings, name="zabbix", session=session, register_secret=print)
    assert session.post(https + "/api_jsonrpc.php", data=b"{}", timeout=5).status_code == 200


SETTINGS: list[tuple[type[Any], dict[str, Any]]] = [
    (RedmineSettings, {"url": "https://r.example", "api_key": SecretStr("k"), "project": "ops"}),
    (GlpiSettings, {"url": "https://g.example/apirest.php", "user_token": SecretStr("u"), "entity": 0}),
    (ZabbixSettings, {"url": "https://z.example", "api_token": SecretStr("t" * 64)}),
    (WebhookSettings, {"url": "https://w.example"}),
    (DingtalkSettings, {"access_token": SecretStr("x")}),
    (WecomSettings, {"key": SecretStr("x")}),
]


@pytest.mark.parametrize(("model", "values"), SETTINGS, ids=[m.__name__ for m, _ in SETTINGS])
def test_every_client_verifies_by_default_and_checks_its_bundle(
    model: type[Any], values: dict[str, Any], tmp_path: Path
) -> None:
    made = model.model_validate(values)
    assert made.verify_tls is True and made.ca_bundle is None
    with pytest.raises(ValidationError, match="no such file"):
        model.model_validate({**values, "ca_bundle": tmp_path / "missing.pem"})
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="ascii")
    with pytest.raises(ValidationError, match="verify_tls is false"):
        model.model_validate({**values, "ca_bundle": bundle, "verify_tls": False})
    assert requests_verify(True, model.model_validate({**values, "ca_bundle": bundle}).ca_bundle) == str(bundle)
