"""The config section of a ``type: alertmanager`` source (Alertmanager pushes its notifications).

Checked at startup: a secret too short to resist guessing, a path that is not a path, a
severity table with values outside Zabbix's 0–5 scale all stop the connector with ``file:line``
instead of surfacing as refused notifications or oddly prioritised tickets at 3 a.m.
"""

from __future__ import annotations

__all__ = ["DEFAULT_SEVERITIES", "MIN_SECRET_LENGTH", "AlertmanagerSettings"]

from typing import Annotated, Literal

from pydantic import Field, field_validator

from connector.integrations.push_http import MIN_SECRET_LENGTH, PushHttpSettings
from connector.util.secrets import Secret

#: ``labels.severity`` → the 0–5 scale alerts carry, as Prometheus rule authors usually name them
DEFAULT_SEVERITIES: dict[str, int] = {"critical": 5, "warning": 3, "info": 1}

Severity = Annotated[int, Field(ge=0, le=5)]


class AlertmanagerSettings(PushHttpSettings):
    """Where the endpoint is mounted, how it checks the caller (``PushHttpSettings``), and how
    labels become fields."""

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
    signature: Literal["off", "optional", "required"] = Field(
        default="optional",
        description="HMAC of the body with a timestamp (X-ITSM-Timestamp, X-ITSM-Signature), as for the "
        "Zabbix webhook; Alertmanager does not sign, so 'required' only fits behind a signing proxy",
    )

    @field_validator("severities")
    @classmethod
    def _lower_names(cls, value: dict[str, int]) -> dict[str, int]:
        return {name.strip().lower(): level for name, level in value.items()}
