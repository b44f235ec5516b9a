"""The ``backend:`` config section for ``type: redmine``, validated before anything connects."""

from __future__ import annotations

__all__ = [
    "DEFAULT_PRIORITY_MAP",
    "DEFAULT_STATUS_MAP",
    "RedmineKnowledgeSettings",
    "RedmineLinks",
    "RedmineSettings",
    "TextFormatting",
]

import difflib
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.domain.fields import CATALOGUE, KEY_FIELD, spec_for
from connector.domain.models import Priority, TicketStatus
from connector.util.secrets import Secret
from connector.util.tls import CaBundle

_K = TypeVar("_K")

TextFormatting = Literal["textile", "markdown", "common_mark"]

#: process status -> Redmine status name (Redmine's default data, English)
DEFAULT_STATUS_MAP: dict[TicketStatus, str] = {
    TicketStatus.OPEN: "New",
    TicketStatus.IN_PROGRESS: "In Progress",
    TicketStatus.PENDING_CHANGE: "Feedback",
    TicketStatus.SUSPENDED: "Feedback",
    TicketStatus.RESOLVED: "Resolved",
    TicketStatus.CLOSED: "Closed",
}

#: process priority (1 = major incident) -> Redmine priority name
DEFAULT_PRIORITY_MAP: dict[Priority, str] = {
    Priority.HIGHEST: "Immediate",
    Priority.HIGH: "Urgent",
    Priority.MEDIUM: "High",
    Priority.LOW: "Normal",
}


class RedmineLinks(BaseModel):
    """``links:`` — where problem records go and which tracker holds change requests (issue 13).
    Site-specific, so it lives in the connector config, not in the rule book (``itil_links.yaml``
    says *when* a problem is raised; this says *where*). A null tracker switches that half off."""

    model_config = ConfigDict(extra="forbid")

    problem_project: str | None = Field(
        default=None, description="Project identifier of problem records (default: the incidents' project)"
    )
    problem_tracker: str | None = Field(
        default="Problem", description="Tracker of problem records; it must be enabled in that project"
    )
    change_tracker: str | None = Field(
        default="Change",
        description="Tracker of change requests: a relation from an incident to an issue of it is a linked "
        "change, and the incident is pending change (status_map.pending_change) until that issue is closed",
    )


class RedmineSettings(BaseModel):
    """Where the Redmine is, which project and tracker tickets go to, and how the process
    values map onto Redmine's own statuses, priorities and custom fields."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        description="Base URL of Redmine, e.g. https://redmine.example.com (no trailing /issues); "
        "it must answer there directly, redirects are refused so the API key never follows one",
    )
    api_key: Secret = Field(
        description="API key of the connector's Redmine user (My account › API access key); "
        "give it as ${ENV_VAR} or api_key_file: PATH",
    )
    project: str = Field(description="Project identifier (e.g. 'ops') or numeric id where tickets are created")
    tracker: str = Field(
        default="Support",
        description="Tracker name for new tickets; it must be enabled in the project",
    )
    timeout_seconds: float = Field(default=10, gt=0, description="Timeout of every HTTP call, in seconds")
    verify_tls: bool = Field(default=True, description="Verify the server's TLS certificate")
    ca_bundle: CaBundle = None
    status_map: dict[TicketStatus, str] = Field(
        default_factory=lambda: dict(DEFAULT_STATUS_MAP),
        description="Process status -> Redmine status name; entries given here replace the defaults "
        "(open: New, in_progress: In Progress, pending_change: Feedback, suspended: Feedback, "
        "resolved: Resolved, closed: Closed)",
    )
    priority_map: dict[Priority, str] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITY_MAP),
        description="Process priority 1..4 -> Redmine priority name; entries given here replace the "
        "defaults (1: Immediate, 2: Urgent, 3: High, 4: Normal)",
    )
    fields: dict[str, str | None] = Field(
        default_factory=dict,
        description="Ticket field -> custom field name, to rename the default custom fields "
        "(e.g. impact: 'Impact'); null stops writing that field (External ID cannot be switched off)",
    )
    knowledge: RedmineKnowledgeSettings = Field(
        default_factory=lambda: RedmineKnowledgeSettings(),
        description="Knowledge-base candidates (a wiki page each) and CI issues (issue 13); off by default",
    )
    links: RedmineLinks | None = Field(
        default=None,
        description="Problem records and change requests (issue 13); absent: neither is used",
    )
    text_formatting: TextFormatting = Field(
        default="textile",
        description="Redmine's Administration › Settings › General › Text formatting; decides how "
        "untrusted alert text is quoted so it cannot inject markup",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        if value.endswith(".json"):
            raise ValueError("give the base URL of Redmine, not an API path")
        return value

    @field_validator("project", mode="before")
    @classmethod
    def _project_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("status_map")
    @classmethod
    def _statuses(cls, value: dict[TicketStatus, str]) -> dict[TicketStatus, str]:
        return _merged(DEFAULT_STATUS_MAP, value)

    @field_validator("priority_map")
    @classmethod
    def _priorities(cls, value: dict[Priority, str]) -> dict[Priority, str]:
        return _merged(DEFAULT_PRIORITY_MAP, value)

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        known = [spec.key for spec in CATALOGUE]
        for key, name in value.items():
            if spec_for(key) is None:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(known)}"
                raise ValueError(f"unknown ticket field {key!r}{hint}")
            if key == KEY_FIELD and not (name and name.strip()):
                raise ValueError("the External ID field (key) holds the idempotency key and cannot be off")
            if name is not None and not name.strip():
                raise ValueError(f"{key}: empty custom field name (use null to stop writing it)")
        return {key: (name.strip() if name is not None else None) for key, name in value.items()}

    def field_names(self) -> dict[str, str | None]:
        """Ticket field -> the custom field name in use (``None`` when switched off)."""
        return {spec.key: self.fields.get(spec.key, spec.name) for spec in CATALOGUE}


def _merged(defaults: Mapping[_K, str], given: Mapping[_K, str]) -> dict[_K, str]:
    """The defaults with ``given`` laid over them, so a config can change one entry only."""
    merged = dict(defaults)
    for key, name in given.items():
        if not name.strip():
            raise ValueError(f"{key}: empty Redmine name")
        merged[key] = name.strip()
    return merged


class RedmineKnowledgeSettings(BaseModel):
    """``backend.knowledge`` of a Redmine: where knowledge-base candidates go (wiki pages under one
    parent page) and where configuration items are (issues of a "CI" tracker). Both are off
    until configured: a site without a wiki or a CI tracker sets nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kb_wiki_parent: str | None = Field(
        default=None,
        description="Title of the wiki page KB candidates are written under (e.g. KB_candidates; "
        "created when missing); null: no KB candidates. The project needs the Wiki module",
    )
    kb_wiki_project: str | None = Field(
        default=None, description="Project whose wiki holds the candidates (default: the tickets' project)"
    )
    kb_title_prefix: str = Field(
        default="KB_candidate", min_length=1, description="A candidate's page is PREFIX_<issue id>"
    )
    ci_tracker: str | None = Field(
        default=None,
        description="Tracker of the issues that stand for configuration items (e.g. CI); an incident is "
        "related ('relates') to the CI issue whose subject is its CI. null: the CI custom field only",
    )
    ci_project: str | None = Field(
        default=None, description="Project of the CI issues (default: every project the key can see)"
    )

    @field_validator("kb_wiki_parent", "kb_wiki_project", "ci_tracker", "ci_project")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None
