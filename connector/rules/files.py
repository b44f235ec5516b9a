"""The shapes of the rule files (``rules/*.yaml``): pydantic models at the boundary.

Unknown keys are errors (with a did-you-mean), regexes are compiled here so a bad one is
reported with its line, the priority matrix must be 4×4 with values 1–4. Checks that need
another file (a category of the taxonomy, a level of priority.yaml) are in ``build``.

``lifecycle.yaml`` and ``replies.yaml`` (what people may do, what the connector answers them)
are modelled in ``connector.rules.people_files``, the alert-noise files (``flapping.yaml``,
``maintenance.yaml``, ``topology.yaml``) in ``connector.rules.noise_files``; both are re-exported
here.

``SCHEMAS`` names the model of every file the rule book has, so the loader, ``validate`` and
``rules show`` know one list. ``escalation.yaml`` and ``notifications.yaml`` are modelled in
``connector.rules.ladder`` (their models carry the sweep's queries) and listed here.

Role names (``lifecycle.yaml``, the ladder) are checked against ``people.yaml`` when the
validation context has its ``roles`` (``connector.util.loading.known_name``); without a
people file only their spelling is checked.
"""

from __future__ import annotations

__all__ = [
    "SCHEMAS",
    "ClassificationFile",
    "ClosingModel",
    "DedupFile",
    "FlappingFile",
    "KnowledgeFile",
    "LifecycleFile",
    "MaintenanceFile",
    "MatchModel",
    "PriorityFile",
    "RepliesFile",
    "ReplyText",
    "RuleModel",
    "SetModel",
    "SlaFile",
    "TopologyFile",
]

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.domain.models import Impact, Priority, TicketSource, Urgency
from connector.rules.fingerprint import FINGERPRINT_FIELDS
from connector.rules.knowledge import KnowledgeFile
from connector.rules.ladder import EscalationRules, NotificationRules
from connector.rules.links import LinksFile
from connector.rules.noise_files import FlappingFile, MaintenanceFile, TopologyFile
from connector.rules.people_files import (
    ClosingModel,
    LifecycleFile,
    RepliesFile,
    ReplyText,
)
from connector.rules.taxonomy import Taxonomy


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"bad regular expression {value!r}: {exc}") from exc
    return value


Regex = Annotated[str, Field(min_length=1)]


# --- priority.yaml -------------------------------------------------------------------------------


class ImpactUrgency(_Strict):
    """An impact and an urgency, each 1–4."""

    impact: Impact
    urgency: Urgency


class Label(_Strict):
    """How people read a priority."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class LevelModel(_Strict):
    """An incident level (seed §3.1.4.2) and the impact and urgency it implies."""

    zh: str = ""
    en: str = ""
    impact: Impact
    urgency: Urgency


MatrixValue = Annotated[int, Field(ge=1, le=4)]
MatrixRow = Annotated[list[MatrixValue], Field(min_length=4, max_length=4)]


class PriorityFile(_Strict):
    """``priority.yaml``."""

    matrix: Annotated[list[MatrixRow], Field(min_length=4, max_length=4)] = Field(
        description="rows urgency 1–4, columns impact 1–4"
    )
    labels: dict[Priority, Label] = Field(default_factory=dict)
    severity: dict[Annotated[int, Field(ge=0, le=5)], ImpactUrgency] = Field(default_factory=dict)
    default: ImpactUrgency = Field(default_factory=lambda: ImpactUrgency(impact=Impact.GENERAL, urgency=Urgency.NORMAL))
    levels: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], LevelModel] = Field(default_factory=dict)


# --- classification.yaml -------------------------------------------------------------------------


class FromRef(_Strict):
    """``{from: tag:service}``: the value is taken from the alert when it arrives."""

    from_: str = Field(alias="from", pattern=r"^(ci|service|reporter|location|title|source|tag:.+)$")
    default: str | None = None


class SeverityRange(_Strict):
    """``{min: 4, max: 5}``: Zabbix severities in a range (both ends included)."""

    min: int = Field(0, ge=0, le=5)
    max: int = Field(5, ge=0, le=5)

    @model_validator(mode="after")
    def _ordered(self) -> SeverityRange:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class MatchModel(_Strict):
    """The conditions of a rule; all given must hold, a list means any of its values."""

    source: str | list[str] | None = Field(None, description="source names (as configured)")
    origin: TicketSource | list[TicketSource] | None = Field(None, description="monitoring, user_report, inspection")
    severity: Annotated[int, Field(ge=0, le=5)] | list[Annotated[int, Field(ge=0, le=5)]] | SeverityRange | None = None
    host_groups: str | list[str] | None = Field(None, description="any of the alert's host groups (glob patterns)")
    tags: dict[str, Regex | None] | None = Field(None, description="tag → regex (null: the tag exists)")
    ci: Regex | None = None
    service: Regex | None = None
    title: Regex | None = None
    description: Regex | None = None
    text: Regex | None = Field(None, description="title and description")
    sender: Regex | None = Field(None, description="the reporter (an e-mail sender)")

    @field_validator("ci", "service", "title", "description", "text", "sender")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return None if value is None else _regex(value)

    @field_validator("tags")
    @classmethod
    def _tag_regexes(cls, value: dict[str, str | None] | None) -> dict[str, str | None] | None:
        if value is not None:
            for pattern in value.values():
                if pattern is not None:
                    _regex(pattern)
        return value

    def given(self) -> dict[str, Any]:
        """The conditions that are set."""
        return {k: v for k, v in self.model_dump(exclude_none=True).items()}


TextValue = Annotated[str, Field(min_length=1)] | FromRef
Scale = Annotated[int, Field(ge=1, le=4)] | FromRef


class SetModel(_Strict):
    """The ticket fields a rule sets."""

    category: TextValue | None = None
    area: TextValue | None = None
    subarea: TextValue | None = None
    nature: TextValue | None = None
    service: TextValue | None = None
    ci: TextValue | None = None
    assignment_group: TextValue | None = None
    location: TextValue | None = None
    impact: Scale | None = None
    urgency: Scale | None = None
    level: str | None = Field(None, description="an incident level of priority.yaml, instead of impact/urgency")

    @model_validator(mode="after")
    def _level_or_scale(self) -> SetModel:
        if self.level is not None and (self.impact is not None or self.urgency is not None):
            raise ValueError("give a level or impact/urgency, not both")
        return self


class RuleModel(_Strict):
    """One classification rule."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    match: MatchModel | None = Field(None, description="no match: the default rule")
    set: SetModel = Field(default_factory=SetModel)
    continue_: bool = Field(False, alias="continue")


class ClassificationFile(_Strict):
    """``classification.yaml``."""

    rules: list[RuleModel] = Field(min_length=1)


# --- dedup.yaml ----------------------------------------------------------------------------------


def _fingerprint_fields(fields: list[str]) -> list[str]:
    allowed = (*FINGERPRINT_FIELDS, "symptom", "source")
    for name in fields:
        if name not in allowed and not (name.startswith("tag:") and len(name) > 4):
            raise ValueError(f"unknown fingerprint field {name!r} (known: {', '.join(allowed)}, tag:NAME)")
    if len(set(fields)) != len(fields):
        raise ValueError("a fingerprint field is listed twice")
    return fields


class FingerprintModel(_Strict):
    """Fingerprint fields per kind of source, and per source name."""

    monitoring: list[str] = Field(default_factory=lambda: ["ci", "symptom"])
    user_report: list[str] = Field(default_factory=lambda: ["service", "symptom"])
    inspection: list[str] = Field(default_factory=lambda: ["ci", "symptom"])
    sources: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("monitoring", "user_report", "inspection")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return _fingerprint_fields(value)

    @field_validator("sources")
    @classmethod
    def _known_per_source(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for fields in value.values():
            _fingerprint_fields(fields)
        return value


class Replacement(_Strict):
    """One normalisation step of a title."""

    pattern: Regex
    with_: str = Field("", alias="with")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _regex(value)


class SymptomModel(_Strict):
    """How a title becomes a symptom."""

    replace: list[Replacement] = Field(default_factory=list)


class StormGuardModel(_Strict):
    """When repeats stop being tickets."""

    max_duplicates: int | None = Field(3, ge=0)
    #: at most one counted note on the master per this many seconds (``null``: one per repeat)
    note_interval_seconds: float | None = Field(300, gt=0)


class RecurrenceModel(_Strict):
    """How long after a fix a same report is a recurrence."""

    days: float = Field(7, gt=0)
    after: Literal["resolved", "closed"] = "closed"  # the seed: recurrence is of a closed incident


class DedupFile(_Strict):
    """``dedup.yaml``."""

    fingerprint: FingerprintModel = Field(default_factory=FingerprintModel)
    symptom: SymptomModel = Field(default_factory=SymptomModel)
    window_minutes: float = Field(60, gt=0)
    policy: Literal["duplicate", "append"] = "duplicate"
    storm_guard: StormGuardModel = Field(default_factory=StormGuardModel)
    recurrence: RecurrenceModel = Field(default_factory=RecurrenceModel)


# --- sla.yaml ------------------------------------------------------------------------------------


class TargetModel(_Strict):
    """A stage's target in minutes; the warning, if any, comes first."""

    breach: float = Field(gt=0)
    warning: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _warning_first(self) -> TargetModel:
        if self.warning is not None and self.warning > self.breach:
            raise ValueError(f"warning {self.warning:g} is after breach {self.breach:g}")
        return self


class StageTargets(_Strict):
    """The three stages of one priority."""

    response: TargetModel
    acceptance: TargetModel
    resolution: TargetModel


class SlaFile(_Strict):
    """``sla.yaml``."""

    targets: dict[Priority, StageTargets]
    restore_hours: dict[Urgency, Annotated[float, Field(gt=0)]]
    suspended_time_counts: bool = False

    @field_validator("targets")
    @classmethod
    def _first_given(cls, value: dict[Priority, StageTargets]) -> dict[Priority, StageTargets]:
        if Priority.HIGHEST not in value:
            raise ValueError("priority 1 needs targets (a priority left out takes the one above it)")
        return value

    @field_validator("restore_hours")
    @classmethod
    def _every_urgency(cls, value: dict[Urgency, float]) -> dict[Urgency, float]:
        missing = [str(int(u)) for u in Urgency if u not in value]
        if missing:
            raise ValueError(f"no restore deadline for urgency {', '.join(missing)}")
        return value


#: every file of the rule book and the model it is validated against, in loading order
SCHEMAS: dict[str, type[BaseModel]] = {
    "taxonomy.yaml": Taxonomy,
    "priority.yaml": PriorityFile,
    "classification.yaml": ClassificationFile,
    "dedup.yaml": DedupFile,
    "sla.yaml": SlaFile,
    "escalation.yaml": EscalationRules,
    "notifications.yaml": NotificationRules,
    "lifecycle.yaml": LifecycleFile,
    "replies.yaml": RepliesFile,
    "flapping.yaml": FlappingFile,
    "maintenance.yaml": MaintenanceFile,
    "topology.yaml": TopologyFile,
    "knowledge.yaml": KnowledgeFile,
    "itil_links.yaml": LinksFile,
}
