"""The Redmine field catalogue, value encoding, settings, text rendering and setup script.

Pure functions only: no sockets, no sleeping.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from connector.domain.fields import CATALOGUE, KEY_FIELD, FieldKind, decode, display, encode, spec_for
from connector.domain.models import (
    ClosureCode,
    Impact,
    Priority,
    ResolutionCode,
    ResolverRole,
    Ticket,
    TicketSource,
    TicketStatus,
    Urgency,
)
from connector.integrations.redmine.lookup import Discovery, FoundField, Problem
from connector.integrations.redmine.render import literal_block, render_description, render_note
from connector.integrations.redmine.schema import IssueStatus, NamedRef
from connector.integrations.redmine.settings import RedmineSettings
from connector.integrations.redmine.setup import SetupReport, _from_discovery, rails_script
from connector.util.wire import parse_retry_after

NOW = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)

EXPECTED_NAMES = {
    "key": "External ID",
    "source": "Source 来源",
    "contact": "Contact 联系人",
    "assignment_group": "Assignment group 处理组",
    "service": "Affected service 受影响服务",
    "ci": "CI 配置项",
    "ci_operational": "CI operational 服务未中断",
    "outage_start": "Outage start 故障开始",
    "outage_end": "Outage end 故障结束",
    "location": "Location 位置",
    "category": "Category 事件分类",
    "area": "Area 子类",
    "subarea": "Sub-area 模块",
    "nature": "Nature 事件性质",
    "impact": "Impact 影响度",
    "urgency": "Urgency 紧急度",
    "priority": "ITSM priority 优先级",
    "sla_due": "SLA target 目标时间",
    "resolution_code": "Resolution code 解决代码",
    "closure_code": "Closure code 关闭代码",
    "solution": "Solution 解决方案",
    "fingerprint": "Fingerprint 指纹",
    "duplicate_of": "Duplicate of 重复于",
    "recurrence_of": "Recurrence of 复发于",
    "reassignment_count": "Reassignments 重新分派次数",
    "escalation_level": "Escalation level 升级级别",
    "resolver_role": "Resolver role 解决者",
    "response_overdue": "Response overdue 响应超时",
    "resolution_overdue": "Resolution overdue 解决超时",
    "kb_used": "KB used 使用知识库",
    "third_party_at": "Third party since 转第三方",
    "reporter": "Reporter 报告人",
    "registered_at": "Registered 登记时间",
}

# one value per catalogue field, of the type the Ticket holds
SAMPLES: dict[str, Any] = {
    "key": "zabbix:12345",
    "source": TicketSource.MONITORING,
    "contact": "Zhang San 张三",
    "assignment_group": "network",
    "service": "Mail",
    "ci": "web01",
    "ci_operational": True,
    "outage_start": datetime(2024, 5, 1, 8, 30, 0, tzinfo=UTC),
    "outage_end": datetime(2024, 5, 1, 9, 0, 15, tzinfo=UTC),
    "location": "DC1",
    "category": "hardware",
    "area": "disk",
    "subarea": "raid",
    "nature": "fault",
    "impact": Impact.SEVERE,
    "urgency": Urgency.URGENT,
    "priority": Priority.HIGH,
    "sla_due": datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
    "resolution_code": ResolutionCode.RESOLVED_BY_WORKAROUND,
    "closure_code": ClosureCode.SUCCESS_WITH_PROBLEM,
    "solution": "rebooted\nthen replaced the disk",
    "fingerprint": "abc123",
    "duplicate_of": "zabbix:1",
    "recurrence_of": "zabbix:2",
    "reassignment_count": 3,
    "escalation_level": 2,
    "resolver_role": ResolverRole.SECOND_LINE,
    "response_overdue": False,
    "resolution_overdue": True,
    "kb_used": True,
    "third_party_at": datetime(2024, 5, 1, 9, 0, 0, tzinfo=UTC),
    "reporter": "zabbix",
    "registered_at": datetime(2024, 5, 1, 8, 31, 0, tzinfo=UTC),
}


def settings(**overrides: Any) -> RedmineSettings:
    values: dict[str, Any] = {"url": "http://redmine.test/", "api_key": SecretStr("k" * 40), "project": "ops"}
    values.update(overrides)
    return RedmineSettings(**values)


# --- catalogue ---------------------------------------------------------------------------------


def test_catalogue_names_are_exactly_the_agreed_ones() -> None:
    assert {spec.key: spec.name for spec in CATALOGUE} == EXPECTED_NAMES


def test_every_catalogue_field_is_a_ticket_field_and_names_fit_redmine() -> None:
    for spec in CATALOGUE:
        assert spec.key in Ticket.model_fields, spec.key
        assert len(spec.name) <= 30, f"Redmine limits custom field names to 30 characters: {spec.name}"
    assert len({spec.name for spec in CATALOGUE}) == len(CATALOGUE)


def test_only_the_external_id_is_required_and_a_filter() -> None:
    key = spec_for(KEY_FIELD)
    assert key is not None and key.name == "External ID"
    assert key.required and key.is_filter and key.field_format == "string"
    assert [s.key for s in CATALOGUE if s.required or s.is_filter] == [KEY_FIELD]


def test_field_formats() -> None:
    formats = {spec.key: spec.field_format for spec in CATALOGUE}
    assert {k for k, f in formats.items() if f == "bool"} == {
        "ci_operational",
        "response_overdue",
        "resolution_overdue",
        "kb_used",
    }
    assert {k for k, f in formats.items() if f == "int"} == {
        "impact",
        "urgency",
        "priority",
        "reassignment_count",
        "escalation_level",
    }
    assert {k for k, f in formats.items() if f == "text"} == {"solution"}
    assert spec_for("title") is None and spec_for("status") is None


# --- encoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("source", TicketSource.MONITORING, "monitoring"),
        ("closure_code", ClosureCode.SUCCESS_WITH_PROBLEM, "success_with_problem"),
        ("impact", Impact.SEVERE, "2"),
        ("priority", Priority.HIGHEST, "1"),
        ("reassignment_count", 12, "12"),
        ("kb_used", True, "1"),
        ("kb_used", False, "0"),
        ("outage_start", datetime(2024, 5, 1, 8, 30, 0, 123456, tzinfo=UTC), "2024-05-01T08:30:00Z"),
        (
            "outage_start",
            datetime(2024, 5, 1, 16, 30, tzinfo=timezone(timedelta(hours=8))),
            "2024-05-01T08:30:00Z",
        ),
        ("outage_start", datetime(2024, 5, 1, 8, 30), "2024-05-01T08:30:00Z"),
        ("ci", None, ""),
        ("impact", None, ""),
        ("ci", "web01", "web01"),
    ],
)
def test_encode(key: str, value: Any, text: str) -> None:
    spec = spec_for(key)
    assert spec is not None
    assert encode(spec, value) == text


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.key)
def test_every_field_round_trips(spec: Any) -> None:
    value = SAMPLES[spec.key]
    decoded = decode(spec, encode(spec, value))
    assert decoded == value
    assert type(decoded) is type(value)
    assert decode(spec, "") is None and decode(spec, None) is None


@pytest.mark.parametrize(
    ("key", "value"),
    [("kb_used", 1), ("reassignment_count", True), ("reassignment_count", "3"), ("sla_due", "x")],
)
def test_encode_refuses_values_of_the_wrong_type(key: str, value: Any) -> None:
    spec = spec_for(key)
    assert spec is not None
    with pytest.raises(TypeError):
        encode(spec, value)


@pytest.mark.parametrize(
    ("key", "text"),
    [("kb_used", "yes"), ("impact", "9"), ("impact", "high"), ("source", "fax"), ("sla_due", "tomorrow")],
)
def test_decode_refuses_what_the_field_cannot_hold(key: str, text: str) -> None:
    spec = spec_for(key)
    assert spec is not None
    with pytest.raises(ValueError):
        decode(spec, text)


def test_display_reads_in_both_languages() -> None:
    assert display(Impact.SEVERE) == "2 严重"
    assert display(TicketSource.MONITORING) == "monitoring 监控告警"
    assert display(True) == "yes 是"
    assert display(datetime(2024, 5, 1, 8, 30, tzinfo=UTC)) == "2024-05-01T08:30:00Z"
    assert {spec.kind for spec in CATALOGUE} == set(FieldKind)


# --- settings ----------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    s = settings()
    assert s.url == "http://redmine.test"
    assert s.tracker == "Support" and s.timeout_seconds == 10 and s.verify_tls is True
    assert s.status_map == {
        TicketStatus.OPEN: "New",
        TicketStatus.IN_PROGRESS: "In Progress",
        TicketStatus.PENDING_CHANGE: "Feedback",
        TicketStatus.SUSPENDED: "Feedback",
        TicketStatus.RESOLVED: "Resolved",
        TicketStatus.CLOSED: "Closed",
    }
    assert s.priority_map == {
        Priority.HIGHEST: "Immediate",
        Priority.HIGH: "Urgent",
        Priority.MEDIUM: "High",
        Priority.LOW: "Normal",
    }
    assert s.field_names() == EXPECTED_NAMES
    assert s.text_formatting == "textile"


def test_settings_map_entries_replace_only_the_given_defaults() -> None:
    s = settings(status_map={"suspended": "On hold"}, priority_map={4: "Low"}, project=7)
    assert s.status_map[TicketStatus.SUSPENDED] == "On hold"
    assert s.status_map[TicketStatus.PENDING_CHANGE] == "Feedback"
    assert s.priority_map[Priority.LOW] == "Low" and s.priority_map[Priority.HIGHEST] == "Immediate"
    assert s.project == "7"


def test_settings_fields_rename_and_switch_off() -> None:
    s = settings(fields={"impact": "Impact", "nature": None})
    names = s.field_names()
    assert names["impact"] == "Impact" and names["nature"] is None and names["key"] == "External ID"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fields": {"imppact": "X"}}, "did you mean 'impact'"),
        ({"fields": {"key": None}}, "cannot be off"),
        ({"fields": {"ci": " "}}, "empty custom field name"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
        ({"url": "redmine.test"}, "http:// or https://"),
        ({"status_map": {"reopened": "New"}}, "status_map"),
        ({"priority_map": {5: "Low"}}, "priority_map"),
        ({"timeout_seconds": 0}, "greater than 0"),
        ({"api_key": "written-in-the-file"}, "never written in the file"),
    ],
)
def test_settings_refuse(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        settings(**overrides)
    assert message in str(info.value)


def test_settings_document_every_field() -> None:
    for name, info in RedmineSettings.model_fields.items():
        assert info.description, name


# --- rendering ---------------------------------------------------------------------------------


def test_textile_block_cannot_be_closed_from_inside() -> None:
    evil = 'disk </pre> *full* "x":http://evil/ <PRE>nested</Pre> <code>c</code> <notextile>n</notextile>'
    block = literal_block(evil, "textile")
    assert block.startswith("<pre>") and block.endswith("</pre>")
    inner = block[len("<pre>") : -len("</pre>")]
    assert not re.search(r"<\s*/?\s*(pre|code|kbd|notextile)", inner, re.IGNORECASE)
    # everything else stays as written (Redmine escapes HTML inside <pre> itself)
    assert (
        '*full* "x":http://evil/' in inner
        and "‹/pre>" in inner
        and "free < 5%" in literal_block("free < 5%", "textile")
    )


@pytest.mark.parametrize("formatting", ["markdown", "common_mark"])
def test_markdown_block_is_indented_code(formatting: Any) -> None:
    block = literal_block("line one **b**\n\n```\n</pre>", formatting)
    assert block.split("\n") == ["    line one **b**", "", "    ```", "    </pre>"]


def test_description_lists_the_process_fields_with_both_labels() -> None:
    ticket = Ticket(
        title="Disk full",
        description="free < 5% on /var",
        key="zabbix:42",
        impact=Impact.SEVERE,
        source=TicketSource.MONITORING,
        ci="web01",
        outage_start=datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
        rule="disk-rule",
        solution="rebooted\nsecond line",
    )
    text = render_description(ticket, "textile")
    first, second = text.split("\n\n")
    assert first == "<pre>free < 5% on /var</pre>"
    lines = second.removeprefix("<pre>").removesuffix("</pre>").split("\n")
    assert "Impact 影响度: 2 严重" in lines
    assert "Source 来源: monitoring 监控告警" in lines
    assert "Connector key 连接器键: zabbix:42" in lines
    assert "Outage start 故障开始: 2024-05-01T08:30:00Z" in lines
    assert "Rule 规则: disk-rule" in lines
    assert lines[-3:] == ["Solution 解决方案:", "rebooted", "second line"]
    assert not any(line.startswith("Contact 联系人") for line in lines)  # None is left out


def test_note_carries_changes_without_a_home() -> None:
    note = render_note("working on it", {"assignee": "alice", "impact": Impact.MINOR}, "textile")
    assert note == "<pre>working on it</pre>\n\n<pre>Assignee 处理人: alice\nImpact 影响度: 4 轻微</pre>"
    assert render_note(None, {}, "textile") == ""
    assert render_note("  ", {"rule": None}, "textile") == ""


# --- Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("30", 30.0),
        (" 5 ", 5.0),
        ("Wed, 01 May 2024 10:02:00 GMT", 120.0),
        ("Wed, 01 May 2024 09:00:00 GMT", 0.0),
        ("-3", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


# --- setup report and rails script -------------------------------------------------------------


def _embedded_specs(script: str) -> list[dict[str, Any]]:
    match = re.search(r"<<'ITSM_CONNECTOR_FIELDS'\)\n(.*?)\nITSM_CONNECTOR_FIELDS\n", script, re.DOTALL)
    assert match, script
    specs: list[dict[str, Any]] = json.loads(match.group(1))
    return specs


def test_rails_script_creates_every_field_idempotently() -> None:
    script = rails_script()
    specs = _embedded_specs(script)
    assert [s["name"] for s in specs] == [spec.name for spec in CATALOGUE]
    assert [s["name"] for s in specs if s["is_filter"]] == ["External ID"]
    assert {s["name"]: s["field_format"] for s in specs}["Impact 影响度"] == "int"
    assert "IssueCustomField.find_by_name(spec['name'])" in script
    assert "is_for_all: true" in script and "trackers: trackers" in script and "create!" in script


def test_rails_script_uses_renamed_fields_and_cannot_be_escaped() -> None:
    names = settings(fields={"impact": "Impact'); system('rm -rf /') #", "nature": None}).field_names()
    specs = _embedded_specs(rails_script(names=names))
    assert "Nature 事件性质" not in [s["name"] for s in specs]
    assert "Impact'); system('rm -rf /') #" in [s["name"] for s in specs]


def _discovery(problems: list[Problem]) -> Discovery:
    found = Discovery(url="http://redmine.test", user_login="connector", project_id=1, project_name="Ops")
    found.tracker_id, found.tracker_name = 3, "Support"
    found.statuses = {TicketStatus.OPEN: IssueStatus(id=1, name="New")}
    found.priorities = {Priority.LOW: NamedRef(id=2, name="Normal")}
    found.fields = {"key": FoundField(key="key", name="External ID", id=9, field_format="string", is_filter=True)}
    found.problems = problems
    return found


def test_setup_report_ok_depends_only_on_required_problems() -> None:
    optional = Problem(what="custom field 'CI 配置项' (ci)", how="add it", required=False)
    report = _from_discovery(_discovery([optional]), settings())
    assert report.ok
    text = report.render()
    assert "custom field 'External ID' (key)" in text and "id 9, string, filter" in text
    assert "project 'Ops' (ops)" in text and "tracker 'Support'" in text
    assert "Missing or wrong (optional):" in text and "fix: add it" in text
    assert "rails runner" in text and text.rstrip().endswith("OK: the connector can write tickets")

    required = Problem(what="tracker 'Support'", how="create it", required=True)
    bad = _from_discovery(_discovery([required, optional]), settings())
    assert not bad.ok
    assert "Missing (required):" in bad.render() and "NOT OK" in bad.render()
    assert SetupReport(url="x").ok
