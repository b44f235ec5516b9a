"""The config section of a ``type: imap`` source (the service desk's mailbox).

TLS is the default and certificates are verified (``ca_file`` adds a private CA);
``security: none`` exists only for a server on this machine (loopback), is refused for any
other host at startup, and logs a warning every time the source is built. The sender policy
has no default: an admin must say who may open tickets (``*`` for everyone).
"""

from __future__ import annotations

__all__ = ["ImapSettings", "is_loopback"]

import ipaddress
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from connector.util.secrets import Secret

_DEFAULT_PORTS = {"tls": 993, "starttls": 143, "none": 143}


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ::1)."""
    if host.strip().lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


class ImapSettings(BaseModel):
    """Where the mailbox is, how to log in, what to read, and who may report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, description="IMAP server name (as in its certificate)")
    port: int | None = Field(default=None, ge=1, le=65535, description="default 993 (tls) or 143")
    security: Literal["tls", "starttls", "none"] = Field(
        default="tls",
        description="tls: IMAPS; starttls: upgrade on 143; none: plain text, only for a loopback host "
        "(a test server) — the password would cross the network in clear",
    )
    ca_file: Path | None = Field(default=None, description="PEM file of the CA that signed the server's certificate")
    user: str = Field(min_length=1, description="mailbox login")
    password: Secret = Field(description="as ${ENV_VAR} or password_file: PATH")
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1, description="folders read, in order")
    quarantine_folder: str = Field(
        default="Quarantine", min_length=1, description="where mails that cannot be parsed are moved (created)"
    )
    processed_folder: str | None = Field(
        default=None, description="move processed mails here (created); default: flag them \\Seen and leave them"
    )
    timeout_seconds: float = Field(default=30, gt=0, le=600, description="timeout of every IMAP operation")
    batch_limit: int = Field(default=50, ge=1, le=1000, description="most mails read per poll; the rest come next")
    allowed_senders: list[str] = Field(
        min_length=1,
        description="domains (metro.example, also its subdomains) and addresses that may open tickets; "
        "'*' allows everyone. Others are ignored (logged)",
    )
    own_addresses: list[str] = Field(
        default_factory=list, description="addresses the connector sends notices from: their mails are ignored"
    )
    rate_limit_count: int = Field(default=10, ge=1, description="most mails one sender may send per window")
    rate_limit_window_minutes: float = Field(default=10, gt=0, description="the rate limit's window")
    max_attachment_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=0,
        description="larger attachments are not uploaded (the ticket says so)",
    )
    max_message_bytes: int = Field(
        default=48 * 1024 * 1024,
        ge=64 * 1024,
        description="of a larger mail only the headers are read (the ticket says so)",
    )
    max_description_chars: int = Field(default=60_000, ge=1000, description="a longer body is cut (and says so)")
    unknown_senders: Literal["anonymous", "reject"] = Field(
        default="anonymous",
        description="a sender who is no helpdesk user: open the ticket anonymously (the address stays in "
        "the ticket) or refuse the mail (IM 1.1)",
    )

    @field_validator("host")
    @classmethod
    def _plain_host(cls, value: str) -> str:
        value = value.strip()
        if "://" in value or "/" in value:
            raise ValueError(f"give the host name only, not a URL: {value!r}")
        return value

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("own_addresses")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.strip().lower() for v in value if v.strip()]

    @field_validator("security")
    @classmethod
    def _tls_unless_loopback(cls, value: str, info: ValidationInfo) -> str:
        host = info.data.get("host")
        if value == "none" and isinstance(host, str) and not is_loopback(host):
            raise ValueError(
                f"security: none sends the password in clear text and is only allowed for a loopback host, "
                f"not {host!r}; use tls or starttls"
            )
        return value

    @model_validator(mode="after")
    def _folders_apart(self) -> Self:
        if self.processed_folder is not None and self.processed_folder in self.folders:
            raise ValueError("processed_folder must not be one of the folders read")
        if self.quarantine_folder in self.folders:
            raise ValueError("quarantine_folder must not be one of the folders read")
        return self

    @property
    def effective_port(self) -> int:
        """The port to connect to."""
        return self.port or _DEFAULT_PORTS[self.security]
