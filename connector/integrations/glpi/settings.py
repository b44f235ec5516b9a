"""The ``backend:`` config section for ``type: glpi``, validated before anything connects.

Every number GLPI stores for the process (urgency, impact, priority, status, ticket type) is
mapped here explicitly, because GLPI's scales run the other way round from the process's:
GLPI's urgency/impact/priority go 1 = very low … 5 = very high (6 = major, priority only),
the process's 1 = highest … 4 = lowest.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_IMPACT_MAP",
    "DEFAULT_PRIORITY_MAP",
    "DEFAULT_REQUEST_SOURCES",
    "DEFAULT_STATUS_MAP",
    "DEFAULT_URGENCY_MAP",
    "GLPI_STATUS_NAMES",
    "GlpiKnowledgeSettings",
    "GlpiLinks",
    "GlpiSettings",
    "TicketType",
]

import re
from collections.abc import Mapping
from typing import Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.domain.models import Impact, Priority, TicketSource, TicketStatus, Urgency
from connector.util.secrets import Secret
from connector.util.tls import CaBundle

_K = TypeVar("_K")
_V = TypeVar("_V")

TicketType = Literal["incident", "request"]

#: GLPI's ticket statuses (glpi-rest.md §4), for messages and the setup report
GLPI_STATUS_NAMES: dict[int, str] = {
    1: "New",
    2: "Processing (assigned)",
    3: "Processing (planned)",
    4: "Pending",
    5: "Solved",
    6: "Closed",
}

#: process status -> GLPI status. Reading back, a GLPI status maps to the first entry naming it
#: (so 4 Pending reads as pending_change), and 3 "planned" reads as in_progress.
DEFAULT_STATUS_MAP: dict[TicketStatus, int] = {
    TicketStatus.OPEN: 1,
    TicketStatus.IN_PROGRESS: 2,
    TicketStatus.PENDING_CHANGE: 4,
    TicketStatus.SUSPENDED: 4,
    TicketStatus.RESOLVED: 5,
    TicketStatus.CLOSED: 6,
}

#: process urgency (1 very urgent … 4 slightly urgent) -> GLPI urgency (5 very high … 2 low)
DEFAULT_URGENCY_MAP: dict[Urgency, int] = {
    Urgency.VERY_URGENT: 5,
    Urgency.URGENT: 4,
    Urgency.NORMAL: 3,
    Urgency.SLIGHTLY_URGENT: 2,
}

#: process impact (1 very important … 4 minor) -> GLPI impact (5 very high … 2 low)
DEFAULT_IMPACT_MAP: dict[Impact, int] = {
    Impact.VERY_IMPORTANT: 5,
    Impact.SEVERE: 4,
    Impact.GENERAL: 3,
    Impact.MINOR: 2,
}

#: process priority (1 highest … 4 low) -> GLPI priority (5 very high … 2 low; 6 is "Major")
DEFAULT_PRIORITY_MAP: dict[Priority, int] = {
    Priority.HIGHEST: 5,
    Priority.HIGH: 4,
    Priority.MEDIUM: 3,
    Priority.LOW: 2,
}

#: how the incident reached the desk -> GLPI request source (RequestType) name. "E-Mail" and
#: "Other" exist in a fresh GLPI; "Monitoring" does not (``setup glpi`` can create it).
DEFAULT_REQUEST_SOURCES: dict[TicketSource, str] = {
    TicketSource.MONITORING: "Monitoring",
    TicketSource.USER_REPORT: "E-Mail",
    TicketSource.INSPECTION: "Other",
}


class GlpiLinks(BaseModel):
    """``links:`` — GLPI's own problem and change objects (issue 13): a ``Problem`` with
    ``Problem_Ticket`` for each problem record, ``Change_Ticket`` for a linked change. Site
    configuration: ``itil_links.yaml`` (the rule book) says *when*; this says whether GLPI is used."""

    model_config = ConfigDict(extra="forbid")

    problems: bool = Field(default=True, description="Open problem records as GLPI Problems")
    changes: bool = Field(
        default=True,
        description="Read Change_Ticket links: the ticket is pending (status_map.pending_change, GLPI 4) "
        "until the change is closed, refused or cancelled",
    )
    pending_reason: str = Field(
        default="待定变更 pending change",
        min_length=1,
        description="The reason the follow-up of the pending status starts with",
    )


class GlpiSettings(BaseModel):
    """Where GLPI's REST API is, who the connector logs in as, and how the process values map
    onto GLPI's own fields and dropdowns."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        description="Base URL of GLPI's REST API, e.g. https://glpi.example.com/apirest.php (or …/api "
        "when the web server rewrites it); redirects are refused so no token follows one",
    )
    web_url: str | None = Field(
        default=None,
        description="Base URL of GLPI's web UI for ticket links (default: url without /apirest.php)",
    )
    user_token: Secret = Field(
        description="API token of the connector's GLPI user (user preferences › Remote access keys › API "
        "token); give it as ${ENV_VAR} or user_token_file: PATH",
    )
    app_token: Secret | None = Field(
        default=None,
        description="App token of the API client (Setup › General › API), if the client has one; GLPI "
        "refuses an App-Token it does not expect, so leave it out when the client has none",
    )
    timeout_seconds: float = Field(default=10, gt=0, description="Timeout of every HTTP call, in seconds")
    verify_tls: bool = Field(default=True, description="Verify the server's TLS certificate")
    ca_bundle: CaBundle = None
    entity: int | None = Field(
        default=None,
        ge=0,
        description="Entity id new tickets go to (0 = root entity); the session is switched to it "
        "(recursively) so lookups see its tickets. Default: the API user's active entity",
    )
    ticket_type: TicketType = Field(default="incident", description="GLPI ticket type of new tickets")
    timezone: str = Field(
        default="UTC",
        description="Time zone GLPI shows and reads dates in (the API user's / server's), e.g. Asia/Shanghai",
    )
    status_map: dict[TicketStatus, int] = Field(
        default_factory=lambda: dict(DEFAULT_STATUS_MAP),
        description="Process status -> GLPI status (1 New, 2 Processing assigned, 3 planned, 4 Pending, "
        "5 Solved, 6 Closed); entries given here replace the defaults",
    )
    urgency_map: dict[Urgency, int] = Field(
        default_factory=lambda: dict(DEFAULT_URGENCY_MAP),
        description="Process urgency 1..4 -> GLPI urgency 1..5 (defaults 1:5, 2:4, 3:3, 4:2); a value the "
        "instance's urgency mask disables is silently stored as 3 by GLPI, `setup glpi` checks it",
    )
    impact_map: dict[Impact, int] = Field(
        default_factory=lambda: dict(DEFAULT_IMPACT_MAP),
        description="Process impact 1..4 -> GLPI impact 1..5 (defaults 1:5, 2:4, 3:3, 4:2)",
    )
    priority_map: dict[Priority, int] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITY_MAP),
        description="Process priority 1..4 -> GLPI priority 1..6 (defaults 1:5, 2:4, 3:3, 4:2; 6 is 'Major'). "
        "GLPI keeps it only if the API user's profile may change the priority",
    )
    category_root: str | None = Field(
        default=None,
        min_length=1,
        description="ITIL category under which the taxonomy lives in GLPI (e.g. 'ITSM'); default: top level",
    )
    categories: dict[str, int] = Field(
        default_factory=dict,
        description="Taxonomy path ('网络 > 核心交换') -> ITILCategory id, for categories named differently "
        "in GLPI; the others are looked up by complete name",
    )
    groups: dict[str, int | str] = Field(
        default_factory=dict,
        description="Assignment group -> GLPI group id or complete name; groups not listed are looked up "
        "by their own name",
    )
    request_sources: dict[TicketSource, int | str] = Field(
        default_factory=lambda: _default_sources(),
        description="Ticket source -> GLPI request source (RequestType) id or name (defaults: monitoring: "
        "Monitoring, user_report: E-Mail, inspection: Other)",
    )
    create_missing: bool = Field(
        default=False,
        description="Let `setup glpi` create the ITIL categories of the taxonomy, and the request sources, "
        "that GLPI lacks (groups are only reported: they carry people and rights)",
    )
    sla_dates: bool = Field(
        default=True,
        description="Write the SLA target (ticket field 21) as time_to_resolve and the response deadline as "
        "time_to_own; switch off when GLPI's own SLAs (attached to categories) compute them",
    )
    time_to_own_minutes: dict[Priority, float] | None = Field(
        default=None,
        description="Deprecated and ignored (a warning is logged): time_to_own is the response deadline of "
        "the rules' sla.yaml (registration + the response target of the ticket's priority)",
    )
    private_followups: bool = Field(
        default=False, description="Write the connector's follow-ups as private (technicians only)"
    )
    knowledge: GlpiKnowledgeSettings = Field(
        default_factory=lambda: GlpiKnowledgeSettings(),
        description="KB candidates (KnowbaseItem) and CI links (Item_Ticket), issue 13; off by default",
    )
    links: GlpiLinks | None = Field(
        default=None, description="Problems and changes (issue 13); absent: neither is used"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must start with http:// or https://")
        if parts.query or parts.fragment:
            raise ValueError("give the API base without a query string")
        if not (parts.path.endswith("/apirest.php") or parts.path.endswith("/api")):
            raise ValueError(
                "give the base of the REST API, ending in /apirest.php (e.g. https://glpi.example.com/apirest.php)"
            )
        return value

    @field_validator("web_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from exc
        return value

    @field_validator("status_map")
    @classmethod
    def _statuses(cls, value: dict[TicketStatus, int]) -> dict[TicketStatus, int]:
        return _merged(DEFAULT_STATUS_MAP, value, range(1, 7), "GLPI status")

    @field_validator("urgency_map")
    @classmethod
    def _urgencies(cls, value: dict[Urgency, int]) -> dict[Urgency, int]:
        return _merged(DEFAULT_URGENCY_MAP, value, range(1, 6), "GLPI urgency")

    @field_validator("impact_map")
    @classmethod
    def _impacts(cls, value: dict[Impact, int]) -> dict[Impact, int]:
        return _merged(DEFAULT_IMPACT_MAP, value, range(1, 6), "GLPI impact")

    @field_validator("priority_map")
    @classmethod
    def _priorities(cls, value: dict[Priority, int]) -> dict[Priority, int]:
        return _merged(DEFAULT_PRIORITY_MAP, value, range(1, 7), "GLPI priority")

    @field_validator("request_sources")
    @classmethod
    def _sources(cls, value: dict[TicketSource, int | str]) -> dict[TicketSource, int | str]:
        merged: dict[TicketSource, int | str] = dict(DEFAULT_REQUEST_SOURCES)
        merged.update({key: _name_or_id(key, ref) for key, ref in value.items()})
        return merged

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: dict[str, int | str]) -> dict[str, int | str]:
        return {key: _name_or_id(key, ref) for key, ref in value.items()}

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: dict[str, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for path, ident in value.items():
            parts = split_path(path)
            if not parts:
                raise ValueError(f"{path!r}: empty category path")
            if ident < 1:
                raise ValueError(f"{path!r}: an ITILCategory id is 1 or more")
            out[join_path(parts)] = ident
        return out

    @property
    def glpi_ticket_type(self) -> int:
        """GLPI's ``type``: 1 incident, 2 request."""
        return 1 if self.ticket_type == "incident" else 2

    @property
    def ui_url(self) -> str:
        """The web UI's base URL."""
        if self.web_url:
            return self.web_url
        base = self.url
        for suffix in ("/apirest.php", "/api"):
            if base.endswith(suffix):
                return base[: -len(suffix)]
        return base

    def category_name(self, parts: tuple[str, ...]) -> str:
        """The GLPI complete name ("A > B > C") of a taxonomy path, under ``category_root``."""
        return join_path(((self.category_root,) if self.category_root else ()) + parts)


def _default_sources() -> dict[TicketSource, int | str]:
    return dict(DEFAULT_REQUEST_SOURCES)


def split_path(text: str) -> tuple[str, ...]:
    """``"A > B > C"`` as ``("A", "B", "C")`` (spaces around ``>`` do not matter)."""
    return tuple(part.strip() for part in text.split(">") if part.strip())


def join_path(parts: tuple[str, ...]) -> str:
    """The complete name GLPI shows for a category path."""
    return " > ".join(parts)


def _name_or_id(key: object, ref: int | str) -> int | str:
    if isinstance(ref, str):
        if not ref.strip():
            raise ValueError(f"{key}: empty name")
        return ref.strip()
    if ref < 1:
        raise ValueError(f"{key}: a GLPI id is 1 or more")
    return ref


def _merged(defaults: Mapping[_K, int], given: Mapping[_K, int], allowed: range, what: str) -> dict[_K, int]:
    """The defaults with ``given`` laid over them, each value checked against GLPI's scale."""
    merged = dict(defaults)
    for key, value in given.items():
        if value not in allowed:
            raise ValueError(f"{key}: {value} is not a {what} ({allowed.start}..{allowed.stop - 1})")
        merged[key] = value
    return merged


class GlpiKnowledgeSettings(BaseModel):
    """``backend.knowledge`` of a GLPI: knowledge-base candidates as unpublished ``KnowbaseItem``s
    linked to their ticket (``KnowbaseItem_Item``), and the ticket's CI as an asset linked with
    ``Item_Ticket``, found among ``ci_itemtypes`` by ``ci_match_fields``. Both off until set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kb_candidates: bool = Field(
        default=False,
        description="Write a KB candidate (an unpublished KnowbaseItem: not in the FAQ, no target) per "
        "successful close with a root cause",
    )
    kb_category: int | None = Field(
        default=None, description="KnowbaseItemCategory id the candidates are filed under (default: none)"
    )
    ci_itemtypes: list[str] = Field(
        default_factory=list,
        description="Asset types a ticket's CI is looked up in, in order (e.g. [Computer, NetworkEquipment]); "
        "empty: no CI links",
    )
    ci_match_fields: list[str] = Field(
        default_factory=lambda: ["name"],
        description="Fields of those assets the CI (the Zabbix host name) is matched against, in order "
        "(e.g. [name, serial, otherserial])",
    )

    @field_validator("ci_itemtypes", "ci_match_fields")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        names = [v.strip() for v in value]
        if any(not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names):
            raise ValueError("each must be a GLPI item type or field name (letters, digits, _)")
        return names
