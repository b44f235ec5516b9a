"""The catalogue of the process fields a helpdesk keeps beyond its own, and how each value is
written as text — in Redmine's custom fields and in the ``label: value`` block both helpdesks carry
(``field_lines`` / ``read_field_line``; GLPI writes its content and follow-ups with them).

Redmine has standard attributes for only a few of the 24 process fields (subject, description,
status, priority). Every other field the process needs goes into an issue custom field. This
module is the one catalogue of those custom fields: the connector's field name, the default
bilingual name of the custom field, its Redmine ``field_format``, and the encoding both ways.

Custom field values are always strings on the wire (``"1"``/``"0"`` for booleans), so values
are encoded to stable text that reads back unambiguously: enums as their ``.value``, ints as
decimals, datetimes as ISO 8601 UTC with ``Z``, ``None`` as ``""`` (which clears a field).
"""

from __future__ import annotations

__all__ = [
    "CATALOGUE",
    "KEY_FIELD",
    "LABELS",
    "FieldKind",
    "FieldSpec",
    "decode",
    "display",
    "encode",
    "field_label",
    "field_lines",
    "read_field_line",
    "spec_for",
]

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, IntEnum, StrEnum
from typing import Any

from connector.domain.clock import ensure_utc, parse_time
from connector.domain.models import (
    ClosureCode,
    Impact,
    Priority,
    ResolutionCode,
    ResolverRole,
    TicketSource,
    Urgency,
)

#: the ``Ticket`` field that carries the connector key; its custom field is the idempotency key
KEY_FIELD = "key"


class FieldKind(StrEnum):
    """How a value is encoded into, and decoded from, the text Redmine stores."""

    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    DATETIME = "datetime"
    ENUM = "enum"


@dataclass(frozen=True)
class FieldSpec:
    """One custom field the connector writes.

    ``name`` is the default custom-field name (English, then Chinese, because the desk reads
    Chinese and admins read both); a site renames it with ``backend.fields``. ``field_format``
    is what Redmine's "New custom field" form calls Format (``string`` is "Text", ``text`` is
    "Long text"). Only ``required`` fields stop the backend when missing.
    """

    key: str
    name: str
    field_format: str
    kind: FieldKind = FieldKind.TEXT
    enum: type[Enum] | None = None
    required: bool = False
    is_filter: bool = False
    searchable: bool = False

    @property
    def label(self) -> str:
        """The label people read in the description block."""
        return LABELS.get(self.key, self.name)


def _spec(key: str, name: str, fmt: str = "string", kind: FieldKind = FieldKind.TEXT, **kw: Any) -> FieldSpec:
    return FieldSpec(key=key, name=name, field_format=fmt, kind=kind, **kw)


_DT = FieldKind.DATETIME
_BOOL = FieldKind.BOOL
_INT = FieldKind.INT
_ENUM = FieldKind.ENUM

#: every custom field the connector uses, in the order the description block lists them
CATALOGUE: tuple[FieldSpec, ...] = (
    _spec(KEY_FIELD, "External ID", required=True, is_filter=True, searchable=True),
    _spec("source", "Source 来源", kind=_ENUM, enum=TicketSource),
    _spec("contact", "Contact 联系人"),
    _spec("reporter", "Reporter 报告人"),
    _spec("registered_at", "Registered 登记时间", kind=_DT),
    _spec("assignment_group", "Assignment group 处理组"),
    _spec("service", "Affected service 受影响服务"),
    _spec("ci", "CI 配置项"),
    _spec("ci_operational", "CI operational 服务未中断", "bool", _BOOL),
    _spec("outage_start", "Outage start 故障开始", kind=_DT),
    _spec("outage_end", "Outage end 故障结束", kind=_DT),
    _spec("location", "Location 位置"),
    _spec("category", "Category 事件分类"),
    _spec("area", "Area 子类"),
    _spec("subarea", "Sub-area 模块"),
    _spec("nature", "Nature 事件性质"),
    _spec("impact", "Impact 影响度", "int", _ENUM, enum=Impact),
    _spec("urgency", "Urgency 紧急度", "int", _ENUM, enum=Urgency),
    _spec("priority", "ITSM priority 优先级", "int", _ENUM, enum=Priority),
    _spec("sla_due", "SLA target 目标时间", kind=_DT),
    _spec("resolution_code", "Resolution code 解决代码", kind=_ENUM, enum=ResolutionCode),
    _spec("closure_code", "Closure code 关闭代码", kind=_ENUM, enum=ClosureCode),
    _spec("solution", "Solution 解决方案", "text"),
    _spec("fingerprint", "Fingerprint 指纹"),
    _spec("duplicate_of", "Duplicate of 重复于"),
    _spec("recurrence_of", "Recurrence of 复发于"),
    _spec("reassignment_count", "Reassignments 重新分派次数", "int", _INT),
    _spec("escalation_level", "Escalation level 升级级别", "int", _INT),
    _spec("resolver_role", "Resolver role 解决者", kind=_ENUM, enum=ResolverRole),
    _spec("response_overdue", "Response overdue 响应超时", "bool", _BOOL),
    _spec("resolution_overdue", "Resolution overdue 解决超时", "bool", _BOOL),
    _spec("kb_used", "KB used 使用知识库", "bool", _BOOL),
    _spec("third_party_at", "Third party since 转第三方", kind=_DT),
)

#: bilingual labels for the description block, also for fields that have no custom field
LABELS: dict[str, str] = {
    KEY_FIELD: "Connector key 连接器键",
    "title": "Title 标题",
    "status": "Status 状态",
    "assignee": "Assignee 处理人",
    "external_id": "Source ID 来源编号",
    "rule": "Rule 规则",
    "priority_reason": "Priority reason 优先级依据",
    "ticket_id": "Ticket 工单",
    "description": "Description 描述",
}

_BY_KEY = {spec.key: spec for spec in CATALOGUE}


def spec_for(key: str) -> FieldSpec | None:
    """The catalogue entry for the ``Ticket`` field ``key``; ``None`` if it has no custom field."""
    return _BY_KEY.get(key)


def _format_time(value: datetime) -> str:
    return ensure_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(spec: FieldSpec, value: Any) -> str:
    """The text Redmine stores for ``value`` (``""`` for ``None``, which clears the field).

    Raises ``TypeError`` when the value does not fit the field: a caller bug, caught before
    anything is sent.
    """
    if value is None:
        return ""
    match spec.kind:
        case FieldKind.BOOL:
            if not isinstance(value, bool):
                raise TypeError(f"{spec.key}: expected bool, got {value!r}")
            return "1" if value else "0"
        case FieldKind.INT:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{spec.key}: expected int, got {value!r}")
            return str(int(value))
        case FieldKind.DATETIME:
            if not isinstance(value, datetime):
                raise TypeError(f"{spec.key}: expected datetime, got {value!r}")
            return _format_time(value)
        case FieldKind.ENUM:
            assert spec.enum is not None
            member = spec.enum(value)  # accepts the member or its raw value; ValueError if unknown
            return str(int(member.value)) if isinstance(member, IntEnum) else str(member.value)
        case _:
            return str(value)


def decode(spec: FieldSpec, text: str | None) -> Any:
    """The Python value of the stored text; ``None`` for an empty field.

    Raises ``ValueError`` when someone typed something the field cannot hold (e.g. ``"abc"`` in
    an int field); the caller logs it and leaves that field out.
    """
    if text is None or text == "":
        return None
    match spec.kind:
        case FieldKind.BOOL:
            if text not in ("0", "1"):
                raise ValueError(f"{spec.key}: not a Redmine boolean: {text!r}")
            return text == "1"
        case FieldKind.INT:
            return int(text)
        case FieldKind.DATETIME:
            return parse_time(text)
        case FieldKind.ENUM:
            assert spec.enum is not None
            if issubclass(spec.enum, IntEnum):
                return spec.enum(int(text))
            return spec.enum(text)
        case _:
            return text


def display(value: Any) -> str:
    """How a value reads in the description block: enums with their Chinese label
    (``2 严重``, ``monitoring 监控告警``), booleans as ``yes 是``/``no 否``, times in UTC."""
    if isinstance(value, bool):
        return "yes 是" if value else "no 否"
    if isinstance(value, Enum):
        raw = str(int(value.value)) if isinstance(value, IntEnum) else str(value.value)
        zh = getattr(value, "zh", None)
        return f"{raw} {zh}" if zh else raw
    if isinstance(value, datetime):
        return _format_time(value)
    return str(value)


def field_label(key: str) -> str:
    """The bilingual label a field block shows for a ticket field."""
    spec = spec_for(key)
    return spec.label if spec is not None else LABELS.get(key, key)


def field_lines(values: Iterable[tuple[str, Any]]) -> list[str]:
    """``Label 标签: value`` for each (ticket field, value); ``None`` values are left out."""
    lines = []
    for key, value in values:
        if value is None:
            continue
        text = display(value).replace("\r", " ").replace("\n", " ⏎ ")
        lines.append(f"{field_label(key)}: {text}")
    return lines


def _by_label() -> dict[str, str]:
    keys = [spec.key for spec in CATALOGUE] + [key for key in LABELS if spec_for(key) is None]
    return {field_label(key): key for key in keys}


_BY_LABEL = _by_label()
_YES, _NO = display(True), display(False)


def read_field_line(line: str) -> tuple[str, Any] | None:
    """The (ticket field, value) of one ``Label 标签: value`` line as ``field_lines`` writes it,
    or ``None`` for a line that is not one (or whose value the field cannot hold).

    Enums are read from the raw value before their label (``2 严重`` → 2), booleans from
    ``yes 是`` / ``no 否``, times as ISO 8601; a line break written as `` ⏎ `` comes back.
    """
    label, sep, text = line.partition(": ")
    key = _BY_LABEL.get(label.strip()) if sep else None
    if key is None:
        return None
    text = text.strip()
    spec = spec_for(key)
    try:
        if spec is None or spec.kind is FieldKind.TEXT:
            return key, text.replace(" ⏎ ", "\n")
        if spec.kind is FieldKind.BOOL:
            return (key, text == _YES) if text in (_YES, _NO) else None
        if spec.kind is FieldKind.INT:
            return key, int(text)
        if spec.kind is FieldKind.DATETIME:
            return key, parse_time(text)
        assert spec.enum is not None
        raw = text.split(" ", 1)[0]
        return key, spec.enum(int(raw)) if issubclass(spec.enum, int) else spec.enum(raw)
    except ValueError:
        return None
