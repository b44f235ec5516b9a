"""The config section of a ``type: json_webhook`` source: any tool that can POST JSON (Grafana,
Uptime Kuma, a script), mapped to alert fields by JSONPath expressions written in the config.

Every expression is compiled when the config is loaded: a JSONPath that does not parse, a
severity outside 0–5 or a missing ``external_id``/``title`` stops the connector with
``file:line``, not the first request at 3 a.m.
"""

from __future__ import annotations

__all__ = ["MIN_SECRET_LENGTH", "FieldPaths", "JsonWebhookSettings", "compile_path"]

from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonpath_ng import JSONPath
from jsonpath_ng.ext.parser import parse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.integrations.push_http import MIN_SECRET_LENGTH, PushHttpSettings

Severity = Annotated[int, Field(ge=0, le=5)]


@lru_cache(maxsize=512)
def compile_path(text: str) -> JSONPath:
    """A JSONPath expression compiled once (``jsonpath_ng.ext``: filters such as ``[?(@.x=='y')]``);
    raises ``ValueError`` naming it when it does not parse."""
    try:
        return parse(text)
    except Exception as exc:  # the parser raises its own lexer/parser errors and plain Exceptions
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"not a JSONPath expression: {text!r} ({reason})") from None


def _checked(value: Any) -> Any:
    if isinstance(value, str):
        compile_path(value.strip())
        return value.strip()
    if isinstance(value, list):
        return [_checked(v) for v in value]
    return value


class FieldPaths(BaseModel):
    """Per alert field, the JSONPath read from each item (``$`` is the item, not the whole body)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    external_id: str | list[str] = Field(
        description="the item's id; several paths are joined with '@' (e.g. [$.fingerprint, $.startsAt], so a "
        "re-fire after a resolve is a new problem)"
    )
    title: str = Field(description="the ticket's subject")
    description: str | None = None
    ci: str | None = Field(default=None, description="the configuration item (host, monitor name)")
    service: str | None = None
    severity: str | None = Field(default=None, description="a number 0–5, or a name looked up in severities")
    host_groups: str | None = Field(default=None, description="a string or a list of strings")
    tags: str | None = Field(default=None, description="an object of label → value")
    symptom: str | None = Field(default=None, description="what dedup compares (default: the title)")
    occurred_at: str | None = Field(default=None, description="default: when the request arrived")
    recovered_at: str | None = Field(default=None, description="set (and not empty): the problem is over")
    status: str | None = Field(default=None, description="with resolved_values: the problem is over")

    @field_validator("*", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        return _checked(value)


class JsonWebhookSettings(PushHttpSettings):
    """Where the endpoint is mounted, how it checks the caller (``PushHttpSettings``), and how a
    body becomes alerts."""

    path: str = Field(default="/json", description="path on the daemon's http: server")
    items: str | None = Field(
        default=None, description="JSONPath of the list of alerts in a body; default: the whole body is one alert"
    )
    fields: FieldPaths
    resolved_values: list[str] = Field(
        default_factory=lambda: ["resolved", "ok"],
        description="values of fields.status (compared in lower case) that mean the problem is over",
    )
    severities: dict[str, Severity] = Field(
        default_factory=dict, description="severity name (lower case) → 0–5, for text severities"
    )
    default_severity: Severity | None = None
    timezone: str = Field(default="UTC", description="the zone of times written without an offset")

    @field_validator("items", mode="before")
    @classmethod
    def _items_path(cls, value: Any) -> Any:
        return _checked(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
        return value

    @field_validator("severities", "resolved_values")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k).strip().lower(): v for k, v in value.items()}
        return [str(v).strip().lower() for v in value]

    @property
    def zone(self) -> ZoneInfo:
        """``timezone`` as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)
