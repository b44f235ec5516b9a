"""The config section of a ``type: zabbix`` source, validated when the config is loaded.

Every mistake an admin can make here (two auth styles, a user without a password, an
``ack_message`` naming a field we do not fill) fails at startup with a message that says what
to write instead, rather than at the first poll or the first acknowledgement.
"""

from __future__ import annotations

__all__ = ["ACK_MESSAGE_FIELDS", "ZabbixSettings"]

import string
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.util.secrets import Secret
from connector.util.tls import CaBundle

#: the names an ``ack_message`` may use
ACK_MESSAGE_FIELDS = frozenset({"ticket_id", "url"})


class ZabbixSettings(BaseModel):
    """Where the Zabbix 6.0 API is, how to log in, and what to read and write back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        min_length=1,
        description="frontend or API URL, e.g. https://zabbix.example/ (api_jsonrpc.php is appended)",
    )
    api_token: Secret | None = Field(
        default=None,
        description="API token (Users > API tokens) of a dedicated API user; preferred: it never expires "
        "mid-session. Give it as ${ENV_VAR} or api_token_file: PATH",
    )
    user: str | None = Field(default=None, description="user name for user/password login (instead of api_token)")
    password: Secret | None = Field(
        default=None, description="password of `user`, as ${ENV_VAR} or password_file: PATH"
    )
    timeout_seconds: float = Field(
        default=10, gt=0, description="timeout of every API request (pyzabbix has none by default)"
    )
    verify_tls: bool = Field(default=True, description="verify the server's TLS certificate")
    ca_bundle: CaBundle = None
    initial_lookback_minutes: int = Field(
        default=60,
        ge=0,
        description="first poll only (no cursor yet): read problems that started this many minutes ago",
    )
    batch_limit: int = Field(
        default=500, ge=1, le=10_000, description="most problem events read per poll; the rest come next poll"
    )
    min_severity: int = Field(
        default=0,
        ge=0,
        le=5,
        description="ignore problems below this severity (0 Not classified … 5 Disaster)",
    )
    on_recovery: Literal["resolve", "note"] = Field(
        default="resolve",
        description="when Zabbix reports the recovery: resolve the ticket, or only add a note to it",
    )
    acknowledge: bool = Field(
        default=True, description="acknowledge the Zabbix problem with a message once its ticket exists"
    )
    ack_message: str = Field(
        default="[itsm-connector] ticket #{ticket_id}: {url}",
        min_length=1,
        description="text of that acknowledgement; may use {ticket_id} and {url}. Keep a fixed prefix: "
        "update notifications carrying it are our own and must be ignored",
    )
    trigger_dependencies: bool = Field(
        default=False,
        description="read each new problem's trigger dependencies (trigger.get) and give the alert the hosts of "
        "the triggers it depends on as depends_on, for cause correlation (topology.yaml)",
    )
    dependencies_refresh_minutes: float = Field(
        default=10, gt=0, description="how long a trigger's dependencies are cached before they are read again"
    )
    ignore_suppressed: bool = Field(
        default=False,
        description="skip problems that are suppressed (host in maintenance) when they start, unjournaled; by "
        "default they are journaled with the maintenance flag and maintenance.yaml decides (no ticket, counted)",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value

    @field_validator("user")
    @classmethod
    def _non_blank_user(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank (leave it out to use api_token)")
        return value

    @field_validator("ack_message")
    @classmethod
    def _only_known_fields(cls, value: str) -> str:
        try:
            fields = [name for _, name, spec, _ in string.Formatter().parse(value) if name is not None]
            nested = [spec for _, name, spec, _ in string.Formatter().parse(value) if spec and "{" in spec]
        except ValueError as exc:
            raise ValueError(f"is not a valid format string ({exc}); write a literal brace as {{{{ or }}}}") from None
        unknown = sorted({name or "{}" for name in fields} - ACK_MESSAGE_FIELDS)
        if unknown or nested:
            bad = ", ".join(repr(n) for n in unknown) or "a nested field"
            raise ValueError(f"may only use {{ticket_id}} and {{url}}, not {bad}")
        try:
            value.format(ticket_id="1", url="http://x")
        except (ValueError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"cannot be formatted: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_auth_style(self) -> Self:
        has_token = self.api_token is not None
        has_user = self.user is not None
        has_password = self.password is not None
        if has_token and (has_user or has_password):
            raise ValueError("give either api_token or user + password, not both")
        if not has_token and not (has_user and has_password):
            if has_user:
                raise ValueError("user is set but password is missing (or use api_token instead)")
            if has_password:
                raise ValueError("password is set but user is missing (or use api_token instead)")
            raise ValueError("no credentials: give api_token, or user and password")
        return self

    def format_ack_message(self, ticket_id: str, url: str) -> str:
        """``ack_message`` filled in for one ticket."""
        return self.ack_message.format(ticket_id=ticket_id, url=url)
