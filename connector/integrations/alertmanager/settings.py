"""The config section of a ``type: alertmanager`` source (Alertmanager pushes its notifications).

Checked at startup: a secret too short to resist guessing, a path that is not a path, a
severity table with values outside Zabbix's 0–5 scale all stop the connector with ``file:line``
instead of surfacing as refused notifications or oddly prioritised tickets at 3 a.m.
"""

from __future__ import annotations

__all__ = ["DEFAULT_SEVERITIES", "MIN_SECRET_LENGTH", "AlertmanagerSettings"]

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connector.util.secrets import Secret

#: shortest accepted shared secret (Alertmanager sends it as ``Authorization: Bearer …``)
MIN_SECRET_LENGTH = 24
#: ``labels.severity`` → the 0–5 scale alerts carry, as Prometheus rule authors usually name them
DEFAULT_SEVERITIES: dict[str, int] = {"critical": 5, "warning": 3, "info": 1}

Severity = Annotated[int, Field(ge=0, le=5)]


class AlertmanagerSettings(BaseModel):
    """Where the endpoint is mounted, how it checks the caller, and how labels become fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(
        default="/alertmanager",
        description="path on the daemon's http: server that Alertmanager's webhook_configs url points at",
    )
    secret: Secret = Field(
        description="shared secret Alertmanager sends as 'Authorization: Bearer …' (its http_config."
        f"authorization.credentials; ${{ENV_VAR}} or secret_file: PATH, at least {MIN_SECRET_LENGTH} characters)"
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="larger requests are refused with 413 before their body is read (a group of many "
        "alerts is large: lower the receiver's max_alerts rather than raise this much)",
    )
    ci_labels: list[str] = Field(
        default_factory=lambda: ["instance", "host"],
        min_length=1,
        description="labels that name the CI, the first one present wins",
    )
    severity_label: str = Field(default="severity", min_length=1, description="label holding the severity name")
    severities: dict[str, Severity] = Field(
        default_factory=lambda: dict(DEFAULT_SEVERITIES),
        description="severity name (compared in lower case) → 0–5 (Zabbix's scale, read by priority.yaml)",
    )
    default_severity: Severity | None = Field(
        default=None,
        description="severity of an alert whose severity label is missing or not in the table; "
        "default: none (the rule book decides)",
    )
    service_label: str = Field(default="service", min_length=1, description="label naming the business service")
    host_group_labels: list[str] = Field(
        default_factory=list,
        description="labels whose values become host groups (e.g. [job, team]), for classify rules "
        "written against host groups",
    )
    on_recovery: Literal["resolve", "note"] = Field(
        default="resolve", description="when an alert resolves: resolve the ticket or only add a note"
    )
    signature: Literal["off", "optional", "required"] = Field(
        default="optional",
        description="HMAC of the body with a timestamp (X-ITSM-Timestamp, X-ITSM-Signature), as for the "
        "Zabbix webhook; Alertmanager does not sign, so 'required' only fits behind a signing proxy",
    )
    signature_window_seconds: int = Field(default=300, ge=30, le=3600, description="see zabbix_webhook")
    rate_limit_per_minute: int = Field(
        default=600, ge=1, le=100_000, description="authenticated requests per minute before 429 with Retry-After"
    )
    rate_limit_burst: int = Field(default=100, ge=1, le=100_000, description="requests allowed at once above the rate")

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"secret must be at least {MIN_SECRET_LENGTH} characters (e.g. openssl rand -hex 24)")
        return value

    @field_validator("path")
    @classmethod
    def _a_path(cls, value: str) -> str:
        if (
            not value.startswith("/")
            or value.endswith("/")
            or not value.isprintable()
            or any(c in value for c in " ?#")
        ):
            raise ValueError(f"must be a path such as /alertmanager (no trailing /, no query), got {value!r}")
        if value in ("/healthz", "/readyz", "/metrics") or value.startswith("/ticket/"):
            raise ValueError(f"{value!r} is served by the daemon or the Zabbix webhook already")
        return value

    @field_validator("severities")
    @classmethod
    def _lower_names(cls, value: dict[str, int]) -> dict[str, int]:
        return {name.strip().lower(): level for name, level in value.items()}
