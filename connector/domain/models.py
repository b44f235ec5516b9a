"""What a source saw (``Alert``), what the helpdesk holds (``Ticket``), and the process enums.

The enums carry the Chinese labels of the seed document next to the English ones, because the
desk reads Chinese and admins read both. Values (the strings stored and written to the
helpdesk) are stable English identifiers; labels are for people.

Why this module is long: the enums and the two models that use them (``Alert``, ``Ticket``)
are the process's vocabulary, read together; each part is short, and the Chinese labels sit
beside the values they name so a translation can never drift from its value.
"""

from __future__ import annotations

__all__ = [
    "Alert",
    "Attachment",
    "ClosureCode",
    "Impact",
    "Priority",
    "ResolutionCode",
    "ResolverRole",
    "Stage",
    "Ticket",
    "TicketRef",
    "TicketSource",
    "TicketStatus",
    "Urgency",
    "jsonable",
    "ticket_changes",
    "ticket_key_for",
]

from collections.abc import Mapping
from datetime import datetime
from enum import IntEnum, StrEnum
from functools import cache
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from connector.domain.clock import ensure_utc


class _Labelled:
    """Mixin giving an enum member English and Chinese labels."""

    en: str
    zh: str

    def label(self, lang: str = "zh") -> str:
        """The label people read, in ``lang`` ("zh" or "en")."""
        return self.zh if lang == "zh" else self.en


class TicketStatus(_Labelled, StrEnum):
    """Ticket status (PROCESS §2)."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    PENDING_CHANGE = "pending_change"
    SUSPENDED = "suspended"
    RESOLVED = "resolved"
    CLOSED = "closed"

    #: resolved or closed: no longer in anyone's queue (a plain attribute of each member, set
    #: below: correlation asks it several times per alert)
    is_done: bool


for _status in TicketStatus:
    _status.is_done = _status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
del _status


class TicketSource(_Labelled, StrEnum):
    """How the incident reached the desk (PROCESS §3)."""

    USER_REPORT = "user_report"
    MONITORING = "monitoring"
    INSPECTION = "inspection"


class Impact(_Labelled, IntEnum):
    """Impact 影响度 (PROCESS §4): 1 is the widest."""

    VERY_IMPORTANT = 1
    SEVERE = 2
    GENERAL = 3
    MINOR = 4


class Urgency(_Labelled, IntEnum):
    """Urgency 紧急度 (PROCESS §4): 1 must be restored soonest."""

    VERY_URGENT = 1
    URGENT = 2
    NORMAL = 3
    SLIGHTLY_URGENT = 4


class Priority(_Labelled, IntEnum):
    """Priority 优先级 (PROCESS §4), computed from impact × urgency; 1 is a major incident."""

    HIGHEST = 1
    HIGH = 2
    MEDIUM = 3
    LOW = 4


class ResolutionCode(_Labelled, StrEnum):
    """Resolution code 解决代码, ticket field 22."""

    NOT_REPRODUCIBLE = "not_reproducible"
    OUT_OF_SCOPE = "out_of_scope"
    REQUEST_REJECTED = "request_rejected"
    RESOLVED_BY_CHANGE = "resolved_by_change"
    RESOLVED_BY_USER_INSTRUCTION = "resolved_by_user_instruction"
    RESOLVED_BY_WORKAROUND = "resolved_by_workaround"
    CANNOT_BE_RESOLVED = "cannot_be_resolved"
    WITHDRAWN_BY_USER = "withdrawn_by_user"


class ClosureCode(_Labelled, StrEnum):
    """Closure code 关闭代码, ticket field 23."""

    SUCCESS = "success"
    SUCCESS_WITH_PROBLEM = "success_with_problem"
    NOT_COMPLETED = "not_completed"


class ResolverRole(_Labelled, StrEnum):
    """Which line solved the ticket (for KPIs 8–11)."""

    FIRST_LINE = "first_line"
    SECOND_LINE = "second_line"
    THIRD_PARTY = "third_party"


# a list, not a dict: IntEnum members of different enums compare equal (Impact(1) == Priority(1))
_LABELS: list[tuple[Any, str, str]] = [
    (TicketStatus.OPEN, "open", "打开"),
    (TicketStatus.IN_PROGRESS, "in progress", "正在处理"),
    (TicketStatus.PENDING_CHANGE, "pending change", "待定变更"),
    (TicketStatus.SUSPENDED, "suspended", "暂停"),
    (TicketStatus.RESOLVED, "resolved", "已解决"),
    (TicketStatus.CLOSED, "closed", "关闭"),
    (TicketSource.USER_REPORT, "user report", "用户报告"),
    (TicketSource.MONITORING, "monitoring alert", "监控告警"),
    (TicketSource.INSPECTION, "routine inspection", "日常运维发现"),
    (Impact.VERY_IMPORTANT, "very important", "非常重要"),
    (Impact.SEVERE, "severe", "严重"),
    (Impact.GENERAL, "general", "一般"),
    (Impact.MINOR, "minor", "轻微"),
    (Urgency.VERY_URGENT, "very urgent", "非常紧急"),
    (Urgency.URGENT, "urgent", "紧急"),
    (Urgency.NORMAL, "normal", "一般"),
    (Urgency.SLIGHTLY_URGENT, "slightly urgent", "略微紧急"),
    (Priority.HIGHEST, "highest", "最高"),
    (Priority.HIGH, "high", "高"),
    (Priority.MEDIUM, "medium", "中"),
    (Priority.LOW, "low", "低"),
    (ResolutionCode.NOT_REPRODUCIBLE, "not reproducible", "不可重现"),
    (ResolutionCode.OUT_OF_SCOPE, "out of scope", "超出范围"),
    (ResolutionCode.REQUEST_REJECTED, "request rejected", "请求被拒"),
    (ResolutionCode.RESOLVED_BY_CHANGE, "resolved by change/service request", "通过变更/服务请求解决"),
    (ResolutionCode.RESOLVED_BY_USER_INSTRUCTION, "resolved by user instruction", "通过用户说明解决"),
    (ResolutionCode.RESOLVED_BY_WORKAROUND, "resolved by workaround", "通过应对措施解决"),
    (ResolutionCode.CANNOT_BE_RESOLVED, "cannot be resolved", "无法解决"),
    (ResolutionCode.WITHDRAWN_BY_USER, "withdrawn by user", "被用户撤销"),
    (ClosureCode.SUCCESS, "completed (success)", "已完成(成功)"),
    (ClosureCode.SUCCESS_WITH_PROBLEM, "success but with a problem", "成功但有问题"),
    (ClosureCode.NOT_COMPLETED, "not completed", "未完成"),
    (ResolverRole.FIRST_LINE, "first line", "1线"),
    (ResolverRole.SECOND_LINE, "second line", "2线"),
    (ResolverRole.THIRD_PARTY, "third party", "第三方"),
]
for _member, _en, _zh in _LABELS:
    _member.en = _en
    _member.zh = _zh
del _member, _en, _zh


def ticket_key_for(source: str, external_id: str) -> str:
    """The connector's own stable key for the ticket an alert created, before the helpdesk id exists."""
    return f"{source}:{external_id}"


class Attachment(BaseModel):
    """A file that came with an input (an e-mail's attachment), kept in the connector's spool
    (``connector.state.spool``) under its SHA-256 until it is uploaded to the ticket."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    filename: str = Field(min_length=1)
    content_type: str = "application/octet-stream"
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Alert(BaseModel):
    """What a source saw: one Zabbix problem, one e-mail, one replayed line.

    ``occurred_at`` is when the fault began (the Zabbix problem clock, the mail's date);
    ``recovered_at`` is set when the source says it is over. Times are aware UTC.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1, description="name of the source that produced it (zabbix, email, …)")
    external_id: str = Field(min_length=1, description="the source's id of the problem/report")
    title: str = Field(min_length=1)
    description: str = ""
    ci: str | None = None
    service: str | None = None
    host_groups: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    severity: int | None = Field(default=None, ge=0, le=5, description="Zabbix scale 0–5")
    impact: Impact | None = None
    urgency: Urgency | None = None
    reporter: str | None = None
    location: str | None = None
    origin: TicketSource | None = Field(default=None, description="monitoring / user report / inspection")
    occurred_at: datetime
    recovered_at: datetime | None = None
    reply_to: str | None = Field(
        default=None,
        min_length=1,
        description="the helpdesk ticket id this input answers (a reply to a notification, a subject "
        "naming the ticket): it becomes a note on that ticket instead of a new one",
    )
    attachments: tuple[Attachment, ...] = Field(default=(), description="files to upload to the ticket")
    raw: dict[str, Any] = Field(default_factory=dict, description="the payload as received, for audit")
    symptom: str | None = Field(
        default=None,
        min_length=1,
        description="what the source says the problem is (Zabbix: its trigger, ``trigger:ID``): two reports of "
        "one CI are one symptom only when it is equal; without it the title, normalised by dedup.yaml, is used",
    )
    maintenance: bool = Field(
        default=False, description="the source says the CI is in a maintenance period (Zabbix: the event's flag)"
    )
    maintenance_until: datetime | None = Field(
        default=None, description="when that maintenance period ends, if the source says (Zabbix: suppress_until)"
    )
    depends_on: tuple[str, ...] = Field(
        default=(),
        description="CIs whose failure causes this one's (Zabbix: the hosts of the triggers this trigger depends on)",
    )

    @field_validator("occurred_at", "recovered_at", "maintenance_until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else ensure_utc(value)

    @field_validator("external_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _recovery_after_start(self) -> Self:
        if self.recovered_at is not None and self.recovered_at < self.occurred_at:
            raise ValueError("recovered_at is before occurred_at")
        return self

    @property
    def key(self) -> str:
        """The key of the ticket this alert would create."""
        return ticket_key_for(self.source, self.external_id)

    @property
    def problem(self) -> str:
        """What identifies this problem among the others of its ticket (a repeat, a duplicate):
        the source's symptom, else the exact title. Two reports with the same problem end
        together — the recovery of one is the recovery of the other; two with different ones
        do not, however the dedup rule grouped them."""
        return self.symptom if self.symptom is not None else " ".join(self.title.casefold().split())

    @property
    def event_key(self) -> str:
        """What the intake journal de-duplicates on: the problem and its recovery are two events."""
        return f"{self.external_id}/recovery" if self.recovered_at is not None else self.external_id


class Ticket(BaseModel):
    """A ticket as the connector composes it: the 24 fields of PROCESS §2 plus process markers.

    Field numbers in the comments are the seed's. ``ticket_id`` is the helpdesk's id once known.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ticket_id: str | None = None  # 1
    status: TicketStatus = TicketStatus.OPEN  # 2
    contact: str | None = None  # 3
    assignee: str | None = None  # 4
    assignment_group: str | None = None  # 5
    service: str | None = None  # 6
    ci: str | None = None  # 7
    ci_operational: bool = False  # 8: service not interrupted
    source: TicketSource = TicketSource.MONITORING  # 9
    outage_start: datetime | None = None  # 10
    outage_end: datetime | None = None  # 11
    location: str | None = None  # 12
    title: str = Field(min_length=1)  # 13
    description: str = Field(min_length=1)  # 14
    category: str | None = None  # 15
    area: str | None = None  # 16
    subarea: str | None = None  # 17
    impact: Impact = Impact.GENERAL  # 18
    urgency: Urgency = Urgency.NORMAL  # 19
    priority: Priority = Priority.MEDIUM  # 20
    sla_due: datetime | None = None  # 21
    resolution_code: ResolutionCode | None = None  # 22
    closure_code: ClosureCode | None = None  # 23
    solution: str | None = None  # 24

    # process markers
    key: str = Field(min_length=1, description="the connector's key: source:external_id of the first alert")
    external_id: str | None = None
    fingerprint: str | None = None
    nature: str | None = None
    reporter: str | None = None
    registered_at: datetime | None = None
    duplicate_of: str | None = None  # ticket key of the master
    recurrence_of: str | None = None  # ticket key of the closed original
    reassignment_count: int = 0
    escalation_level: int = 0
    resolver_role: ResolverRole | None = None
    response_overdue: bool = False
    resolution_overdue: bool = False
    kb_used: bool = False
    third_party_at: datetime | None = None
    rule: str | None = Field(default=None, description="id of the rule that classified it")
    priority_reason: str | None = None

    @field_validator("outage_start", "outage_end", "sla_due", "registered_at", "third_party_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else ensure_utc(value)

    @classmethod
    def from_checked(cls, values: Mapping[str, Any]) -> Self:
        """The ticket ``Ticket(**values)`` would make, without validating: for values already of
        their fields' types (enums, aware UTC datetimes, non-empty title, description and key), as
        the pipeline's draft is made from a validated alert. The fields set are those given."""
        made = cls.__new__(cls)
        fields = dict(_ticket_template(cls))
        fields.update(values)
        _setattr(made, "__dict__", fields)
        _setattr(made, "__pydantic_extra__", None)
        _setattr(made, "__pydantic_fields_set__", set(values))
        _setattr(made, "__pydantic_private__", None)
        return made

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Pydantic's copy (``update`` not validated), made directly: the pipeline copies a draft
        four or five times per alert and the generic copy was a seventh of its time. A ticket has
        no extra fields and no private attributes, so a copy is its field dict and fields set."""
        if deep:
            return super().model_copy(update=update, deep=True)
        cls = self.__class__
        copied = cls.__new__(cls)
        if update:
            _setattr(copied, "__dict__", {**self.__dict__, **update})
            _setattr(copied, "__pydantic_fields_set__", self.__pydantic_fields_set__ | update.keys())
        else:
            _setattr(copied, "__dict__", self.__dict__.copy())
            _setattr(copied, "__pydantic_fields_set__", self.__pydantic_fields_set__.copy())
        _setattr(copied, "__pydantic_extra__", None)
        _setattr(copied, "__pydantic_private__", None)
        return copied


#: a frozen model's attributes are set past its own ``__setattr__`` (what pydantic does itself)
_setattr = object.__setattr__


@cache
def _ticket_template(cls: type[Ticket]) -> dict[str, Any]:
    """Every field of ``cls`` in its order, with its default (``None`` for a required one). The
    template is shared by every draft, so a field with a default factory (a fresh list per
    ticket) cannot be in it: such a field must fail here, in the tests, not be shared."""
    made = {}
    for name, info in cls.model_fields.items():
        if info.default_factory is not None:
            raise TypeError(f"Ticket.from_checked cannot share {name}'s default_factory: call it per ticket")
        made[name] = None if info.is_required() else info.get_default()
    return made


class TicketRef(BaseModel):
    """Where a ticket lives in the helpdesk: its id there and a link people can open.

    ``updated_at``, when a backend can tell it for free (Redmine answers a create with the
    issue as saved), is the helpdesk's own last-update time of the ticket just written: the
    sync-back then knows that this change is the connector's and reads no history for it.
    """

    model_config = ConfigDict(frozen=True)

    ticket_id: str
    url: str
    updated_at: datetime | None = None


@cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    annotation = Ticket.model_fields[name].annotation
    assert annotation is not None  # every Ticket field is annotated
    return TypeAdapter(annotation)


def ticket_changes(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Ticket field values back from their JSON form (as the outbox keeps them) into the
    types the ``Ticket`` model gives them (datetimes, enums, …), so every backend receives
    typed values. Raises ``ValueError`` for an unknown field or a value that does not fit."""
    unknown = sorted(set(raw) - set(Ticket.model_fields))
    if unknown:
        raise ValueError(f"not Ticket fields: {unknown}")
    changes = {name: _field_adapter(name).validate_python(value) for name, value in raw.items()}
    return {name: ensure_utc(v) if isinstance(v, datetime) else v for name, v in changes.items()}


def jsonable(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Ticket field values in their JSON form (how the outbox keeps them), the inverse of
    ``ticket_changes``."""
    return {name: _field_adapter(name).dump_python(value, mode="json") for name, value in changes.items()}


class Stage(StrEnum):
    """One SLA clock of a ticket."""

    RESPONSE = "response"  # registered → assigned (1st-line response, incl. first support)
    ACCEPTANCE = "acceptance"  # assigned → accepted
    RESOLUTION = "resolution"  # accepted → resolved
    RESTORE = "restore"  # registered → resolved, the urgency's outer deadline

    @property
    def zh(self) -> str:
        """The seed's Chinese name of the stage."""
        return _STAGE_ZH[self]


_STAGE_ZH = {
    Stage.RESPONSE: "一线响应",
    Stage.ACCEPTANCE: "分派被接受",
    Stage.RESOLUTION: "解决",
    Stage.RESTORE: "恢复时限",
}
