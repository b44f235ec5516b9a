"""The config section of a ``type: zabbix_webhook`` source (Zabbix pushes its events to us).

Checked at startup: a secret too short to resist guessing, a time zone that does not exist, a
public URL that is not http(s) all stop the connector with ``file:line`` instead of surfacing
as a refused webhook at 3 a.m.
"""

from __future__ import annotations

__all__ = ["MIN_SECRET_LENGTH", "ZabbixWebhookSettings"]

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connector.util.secrets import Secret
from connector.util.webhook_auth import MIN_SECRET_LENGTH, long_enough_secret  # the media type sends it as Bearer


class ZabbixWebhookSettings(BaseModel):
    """Where the endpoint listens, how it checks the caller, and how it names what it receives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="address to listen on (0.0.0.0 for every interface; put TLS in front: a reverse proxy)",
    )
    port: int = Field(default=8089, ge=0, le=65535, description="TCP port; 0 picks a free one (tests)")
    secret: Secret = Field(
        description="shared secret the media type sends as 'Authorization: Bearer …' (${ENV_VAR} or "
        f"secret_file: PATH, at least {MIN_SECRET_LENGTH} characters)"
    )
    max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="larger requests are refused with 413 before their body is read",
    )
    source_name: str | None = Field(
        default=None,
        min_length=1,
        description="name the alerts carry: the name of the `zabbix` poll source of the same server, so an "
        "event that arrives by push and by poll makes one ticket; default: this source's own name",
    )
    public_url: str | None = Field(
        default=None,
        description="base URL at which Zabbix users' browsers reach this endpoint (for the ticket link "
        "stored on the event); default: http://listen:port",
    )
    server_timezone: str = Field(
        default="UTC",
        description="time zone of the Zabbix server ({EVENT.DATE} and {EVENT.TIME} are its local time), "
        "e.g. Asia/Shanghai",
    )
    ignore_update_prefixes: list[str] = Field(
        default_factory=lambda: ["[itsm-connector]"],
        description="an update whose message starts with one of these is the connector's own "
        "acknowledgement (keep it equal to the start of the poll source's ack_message)",
    )
    ignore_update_users: list[str] = Field(
        default_factory=list,
        description="Zabbix logins whose updates are ignored (the API user the connector acknowledges as)",
    )
    on_recovery: Literal["resolve", "note"] = Field(
        default="resolve",
        description="when the recovery arrives: resolve the ticket or only add a note (when alerts carry "
        "a paired poll source's name, that source's setting applies)",
    )
    max_connections: int = Field(default=32, ge=1, le=1024, description="requests handled at the same time")
    request_timeout_seconds: float = Field(
        default=10, gt=0, le=60, description="a client that sends slower than this is disconnected"
    )
    signature: Literal["off", "optional", "required"] = Field(
        default="optional",
        description="HMAC of the body with a timestamp (X-ITSM-Timestamp, X-ITSM-Signature: sha256=…): "
        "'optional' checks it when sent and takes the bearer secret otherwise, 'required' refuses "
        "requests without a valid one, 'off' ignores it (docs/security.md)",
    )
    signature_window_seconds: int = Field(
        default=300,
        ge=30,
        le=3600,
        description="a signed request's timestamp may be this far from the connector's clock; a "
        "signature seen within the window is refused as a replay",
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=1, le=1_000_000, description="authenticated requests per minute before 429 with Retry-After"
    )
    rate_limit_burst: int = Field(default=100, ge=1, le=100_000, description="requests allowed at once above the rate")

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        long_enough_secret(value.get_secret_value())
        return value

    @field_validator("server_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        """``server_timezone`` as a ``ZoneInfo``."""
        return ZoneInfo(self.server_timezone)
