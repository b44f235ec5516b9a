"""The generic webhook notifier: one JSON POST per notice, for SMS and voice gateways.

The seed calls P1 incidents in by phone (§3.1.3.7). Telephony differs per site, so the
connector posts a documented JSON body to a gateway the site runs, which calls or texts:

.. code-block:: json

    {"version": 1,
     "subject": "…", "text": "… short paragraph …",
     "ticket": {"key": "zabbix:123", "id": "42", "url": "https://…"},
     "recipients": [{"person": "chen.gang", "name": "陈刚", "address": "+86 138 0000 0010"}],
     "notice": { … the Notice as JSON … }}

Authentication, both optional and both from ``Secret`` values: ``Authorization: Bearer <token>``,
and an HMAC-SHA256 signature of ``<timestamp>.<body>`` in ``X-ITSM-Signature: sha256=<hex>``
with the Unix time in ``X-ITSM-Timestamp`` (so the gateway can refuse replays).
"""

from __future__ import annotations

__all__ = ["WebhookNotifier", "WebhookSettings", "sign_body"]

import hashlib
import hmac
import json
from collections.abc import Sequence

import requests
from pydantic import BaseModel, ConfigDict, Field

from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import Clock
from connector.notify.http import HttpPoster
from connector.util.secrets import Secret
from connector.util.tls import CaBundle


class WebhookSettings(BaseModel):
    """A ``notify.channels`` entry of type ``webhook``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", description="where the JSON is POSTed")
    bearer_token: Secret | None = Field(None, description="sent as Authorization: Bearer …")
    hmac_secret: Secret | None = Field(None, description="key of the X-ITSM-Signature HMAC-SHA256")
    timeout_seconds: float = Field(5.0, gt=0, le=60, description="to connect, and to wait for the answer")
    verify_tls: bool = True
    ca_bundle: CaBundle = None
    headers: dict[str, str] = Field(default_factory=dict, description="extra, non-secret headers")


def sign_body(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-ITSM-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookNotifier:
    """Posts each notice once, with all its recipients, to the configured gateway."""

    needs_recipients = True

    def __init__(
        self, settings: WebhookSettings, *, name: str, clock: Clock, session: requests.Session | None = None
    ) -> None:
        self.name = name
        self._settings = settings
        self._clock = clock
        self._http = HttpPoster.for_channel(settings, name=name, clock=clock, session=session)

    def payload(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> bytes:
        """The exact body sent (UTF-8 JSON)."""
        body = {
            "version": 1,
            "subject": message.subject,
            "text": message.short,
            "ticket": {"key": message.ticket_key, "id": message.ticket_id, "url": message.url},
            "recipients": [{"person": r.person, "name": r.name, "address": r.address} for r in recipients],
            "notice": dict(message.data),
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def send(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> None:
        """POST the notice; raises ``NotifierUnavailable`` / ``NotifierRejected``."""
        body = self.payload(message, recipients)
        headers = dict(self._settings.headers)
        if self._settings.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self._settings.bearer_token.get_secret_value()}"
        if self._settings.hmac_secret is not None:
            timestamp = str(int(self._clock.now().timestamp()))
            headers["X-ITSM-Timestamp"] = timestamp
            headers["X-ITSM-Signature"] = sign_body(self._settings.hmac_secret.get_secret_value(), timestamp, body)
        self._http.post(self._settings.url, body, headers=headers)

    def close(self) -> None:
        """Close the HTTP session."""
        self._http.close()
