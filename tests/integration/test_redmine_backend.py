"""The Redmine backend against the real Redmine 5 of scripts/services/redmine.sh.

Every check reads the result back from Redmine with a plain request, so a write that Redmine
dropped silently fails the test. Keys carry a uuid4: the Redmine database outlives test runs.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from connector.contracts.adapters import Relation, Resolution
from connector.domain.clock import parse_time
from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.domain.fields import CATALOGUE
from connector.domain.models import (
    Impact,
    Priority,
    ResolutionCode,
    Ticket,
    TicketSource,
    TicketStatus,
    Urgency,
)
from connector.integrations.redmine import RedmineBackend, RedmineSettings
from connector.integrations.redmine.setup import inspect

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings(redmine_env: dict[str, str]) -> RedmineSettings:
    return RedmineSettings(
        url=redmine_env["REDMINE_URL"],
        api_key=SecretStr(redmine_env["REDMINE_API_KEY"]),
        project=redmine_env["REDMINE_PROJECT"],
        timeout_seconds=30,
    )


@pytest.fixture
def backend(settings: RedmineSettings) -> Iterator[RedmineBackend]:
    instance = RedmineBackend(settings)
    yield instance
    instance.close()


def new_key(prefix: str = "zabbix") -> str:
    return f"{prefix}:{uuid.uuid4()}"


def a_ticket(key: str, **overrides: Any) -> Ticket:
    values: dict[str, Any] = {
        "title": f"Disk full on web01 ({key})",
        "description": "free space < 5% on /var",
        "key": key,
        "impact": Impact.SEVERE,
        "urgency": Urgency.URGENT,
        "priority": Priority.HIGH,
        "source": TicketSource.MONITORING,
        "ci": "web01",
        "ci_operational": True,
        "outage_start": datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
        "reassignment_count": 2,
    }
    values.update(overrides)
    return Ticket(**values)


def raw(env: dict[str, str], path: str, **params: str) -> dict[str, Any]:
    """GET straight from Redmine with the admin key, bypassing the backend under test."""
    response = requests.get(
        env["REDMINE_URL"] + path,
        params=params,
        headers={"X-Redmine-API-Key": env["REDMINE_API_KEY"]},
        timeout=30,
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def raw_issue(env: dict[str, str], ticket_id: str, include: str = "") -> dict[str, Any]:
    issue: dict[str, Any] = raw(env, f"/issues/{ticket_id}.json", include=include)["issue"]
    return issue


def custom(issue: dict[str, Any]) -> dict[str, Any]:
    return {cf["name"]: cf.get("value") for cf in issue.get("custom_fields", [])}


# --- setup ---------------------------------------------------------------------------------------


def test_check_and_setup_report(backend: RedmineBackend, settings: RedmineSettings) -> None:
    assert backend.check() == "admin"
    report = inspect(backend)
    text = report.render()
    assert report.ok, text
    for spec in CATALOGUE:
        assert f"custom field {spec.name!r} ({spec.key})" in text
    assert "tracker 'Support'" in text and "status 'Resolved' for resolved" in text
    assert "Missing (required)" not in text and "Missing or wrong" not in text


def test_a_wrong_key_is_refused_clearly(settings: RedmineSettings) -> None:
    wrong = settings.model_copy(update={"api_key": SecretStr("0" * 40)})
    bad = RedmineBackend(wrong)
    try:
        with pytest.raises(BackendUnavailable) as info:
            bad.check()
        assert "HTTP 401 Unauthorized: Redmine refused the API key" in str(info.value)
        report = inspect(wrong)
        assert not report.ok and "refused the API key" in report.render()
    finally:
        bad.close()


def test_an_unknown_project_is_reported(settings: RedmineSettings) -> None:
    report = inspect(settings.model_copy(update={"project": f"nope-{uuid.uuid4().hex[:8]}"}))
    assert not report.ok
    assert "HTTP 404: not found or not visible" in report.render()


# --- create / find -------------------------------------------------------------------------------


def test_create_then_find_by_key_and_every_value_is_stored(
    backend: RedmineBackend, redmine_env: dict[str, str]
) -> None:
    key = new_key()
    assert backend.find_by_key(key) is None
    ticket = a_ticket(key, sla_due=datetime(2024, 5, 1, 12, 0, tzinfo=UTC), rule="disk-full")

    ref = backend.create_ticket(ticket)

    assert ref.url == f"{redmine_env['REDMINE_URL']}/issues/{ref.ticket_id}"
    found = backend.find_by_key(key)
    assert found is not None and found.ticket_id == ref.ticket_id
    issue = raw_issue(redmine_env, ref.ticket_id)
    assert issue["subject"] == f"Disk full on web01 ({key})"
    assert issue["tracker"]["name"] == "Support" and issue["status"]["name"] == "New"
    assert issue["priority"]["name"] == "Urgent"  # process priority 2
    values = custom(issue)
    assert values["External ID"] == key
    assert values["Impact 影响度"] == "2" and values["Urgency 紧急度"] == "2"
    assert values["ITSM priority 优先级"] == "2"
    assert values["Source 来源"] == "monitoring"
    assert values["CI 配置项"] == "web01" and values["CI operational 服务未中断"] == "1"
    assert values["Outage start 故障开始"] == "2024-05-01T08:30:00Z"
    assert values["SLA target 目标时间"] == "2024-05-01T12:00:00Z"
    assert values["Reassignments 重新分派次数"] == "2" and values["KB used 使用知识库"] == "0"
    assert values["Contact 联系人"] == ""
    assert "Impact 影响度: 2 严重" in issue["description"]
    assert "Rule 规则: disk-full" in issue["description"]


@pytest.mark.parametrize("prefix", ["~mail", "mail|zabbix", "*"])
def test_find_by_key_is_exact_even_for_operator_characters(backend: RedmineBackend, prefix: str) -> None:
    key = new_key(prefix)
    ref = backend.create_ticket(a_ticket(key))
    other = backend.create_ticket(a_ticket(key + "-other"))
    found = backend.find_by_key(key)
    assert found is not None and found.ticket_id == ref.ticket_id != other.ticket_id
    assert backend.find_by_key(key[:-1]) is None


def test_untrusted_text_cannot_inject_markup(backend: RedmineBackend, redmine_env: dict[str, str]) -> None:
    evil = '</pre> *boom* "click":http://evil.example/ <pre>x</pre> {{toc}} <script>alert(1)</script>'
    ref = backend.create_ticket(a_ticket(new_key(), title="Disk " + evil, description=evil, ci=evil))
    backend.add_note(ref.ticket_id, evil)
    page = requests.get(f"{redmine_env['REDMINE_URL']}/issues/{ref.ticket_id}", timeout=30)
    page.raise_for_status()
    assert 'href="http://evil.example/' not in page.text
    assert "<strong>boom</strong>" not in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert html.unescape(page.text).count('*boom* "click":http://evil.example/') >= 3  # description x2, note


# --- update / note / relations / resolve ---------------------------------------------------------


def test_update_sets_fields_status_and_note_in_one_journal(
    backend: RedmineBackend, redmine_env: dict[str, str]
) -> None:
    ref = backend.create_ticket(a_ticket(new_key()))
    backend.update_ticket(
        ref.ticket_id,
        {"status": TicketStatus.IN_PROGRESS, "impact": Impact.VERY_IMPORTANT, "assignee": "alice", "kb_used": True},
        note="escalated to line 2",
    )
    issue = raw_issue(redmine_env, ref.ticket_id, include="journals")
    assert issue["status"]["name"] == "In Progress"
    values = custom(issue)
    assert values["Impact 影响度"] == "1" and values["KB used 使用知识库"] == "1"
    [journal] = issue["journals"]
    assert "escalated to line 2" in journal["notes"] and "Assignee 处理人: alice" in journal["notes"]
    changed = {detail["name"] for detail in journal["details"]}
    assert "status_id" in changed


def test_add_note(backend: RedmineBackend, redmine_env: dict[str, str]) -> None:
    ref = backend.create_ticket(a_ticket(new_key()))
    backend.add_note(ref.ticket_id, "Zabbix: problem still active\nsecond line")
    notes = [j["notes"] for j in raw_issue(redmine_env, ref.ticket_id, include="journals")["journals"]]
    assert notes == ["<pre>Zabbix: problem still active\nsecond line</pre>"]


def test_add_attachment_uploads_the_bytes_and_names_them_in_a_note(
    backend: RedmineBackend, redmine_env: dict[str, str]
) -> None:
    ref = backend.create_ticket(a_ticket(new_key()))
    content = "磁盘报告\n".encode() + bytes(range(256))
    backend.add_attachment(ref.ticket_id, "../../etc/报告 disk.bin", content, "application/octet-stream")
    issue = raw_issue(redmine_env, ref.ticket_id, include="attachments,journals")
    (attachment,) = issue["attachments"]
    assert attachment["filename"] == "报告 disk.bin"  # the path part is dropped
    assert attachment["filesize"] == len(content)
    download = requests.get(
        attachment["content_url"], headers={"X-Redmine-API-Key": redmine_env["REDMINE_API_KEY"]}, timeout=30
    )
    assert download.content == content
    assert any("报告 disk.bin" in (j.get("notes") or "") for j in issue["journals"])


def test_relations_are_idempotent_in_both_directions(backend: RedmineBackend, redmine_env: dict[str, str]) -> None:
    master = backend.create_ticket(a_ticket(new_key())).ticket_id
    duplicate = backend.create_ticket(a_ticket(new_key())).ticket_id
    recurrence = backend.create_ticket(a_ticket(new_key())).ticket_id

    backend.add_relation(duplicate, master, Relation.DUPLICATES)
    backend.add_relation(duplicate, master, Relation.DUPLICATES)
    backend.add_relation(recurrence, master, Relation.RELATES)
    backend.add_relation(master, recurrence, Relation.RELATES)  # stored ordered by id: same relation

    relations = raw(redmine_env, f"/issues/{master}/relations.json")["relations"]
    pairs = sorted((r["issue_id"], r["issue_to_id"], r["relation_type"]) for r in relations)
    low, high = sorted((int(master), int(recurrence)))
    assert pairs == sorted([(int(duplicate), int(master), "duplicates"), (low, high, "relates")])

    # a different relation between an already linked pair is refused, not hidden
    with pytest.raises(BackendRejected, match="HTTP 422"):
        backend.add_relation(master, duplicate, Relation.RELATES)


def test_resolve_in_one_change(backend: RedmineBackend, redmine_env: dict[str, str]) -> None:
    ref = backend.create_ticket(a_ticket(new_key()))
    backend.resolve_ticket(
        ref.ticket_id,
        Resolution(
            at=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
            note="Zabbix reports the problem resolved",
            outage_end=datetime(2024, 5, 1, 9, 59, 30, tzinfo=UTC),
            resolution_code=ResolutionCode.RESOLVED_BY_WORKAROUND,
            solution="cleaned /var/log\nand rotated logs",
        ),
    )
    issue = raw_issue(redmine_env, ref.ticket_id, include="journals")
    assert issue["status"]["name"] == "Resolved"
    values = custom(issue)
    assert values["Outage end 故障结束"] == "2024-05-01T09:59:30Z"
    assert values["Resolution code 解决代码"] == "resolved_by_workaround"
    assert values["Solution 解决方案"] == "cleaned /var/log\nand rotated logs"
    assert len(issue["journals"]) == 1
    assert "Zabbix reports the problem resolved" in issue["journals"][0]["notes"]
    backend.resolve_ticket(ref.ticket_id, Resolution(at=datetime(2024, 5, 1, tzinfo=UTC), note="again"))
    assert raw_issue(redmine_env, ref.ticket_id)["status"]["name"] == "Resolved"


# --- changed_since -------------------------------------------------------------------------------


def test_changed_since_returns_what_changed(backend: RedmineBackend, redmine_env: dict[str, str]) -> None:
    key = new_key()
    ref = backend.create_ticket(a_ticket(key))
    backend.update_ticket(ref.ticket_id, {"status": TicketStatus.IN_PROGRESS, "escalation_level": 1})
    updated = parse_time(raw_issue(redmine_env, ref.ticket_id)["updated_on"])

    snapshots = {s.ticket_id: s for s in backend.changed_since(updated - timedelta(seconds=1))}

    mine = snapshots[ref.ticket_id]
    assert mine.key == key and mine.status is TicketStatus.IN_PROGRESS
    assert mine.updated_at == updated
    assert mine.fields["impact"] is Impact.SEVERE and mine.fields["escalation_level"] == 1
    assert mine.fields["outage_start"] == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    assert mine.fields["ci_operational"] is True and mine.fields["contact"] is None
    assert all(s.updated_at >= updated - timedelta(seconds=1) for s in snapshots.values())
    later = list(backend.changed_since(updated + timedelta(days=1)))
    assert ref.ticket_id not in {s.ticket_id for s in later}


# --- a member who is not an admin ----------------------------------------------------------------


@pytest.fixture(scope="module")
def reporter_key(redmine_env: dict[str, str]) -> str:
    """The API key of a fresh user with the default Reporter role in the test project."""
    url, headers = redmine_env["REDMINE_URL"], {"X-Redmine-API-Key": redmine_env["REDMINE_API_KEY"]}
    login = f"rep{uuid.uuid4().hex[:10]}"
    user = {"login": login, "firstname": "Rep", "lastname": "Orter", "mail": f"{login}@example.net",
            "password": "Reporter-Pass-1"}  # fmt: skip
    created = requests.post(f"{url}/users.json", json={"user": user}, headers=headers, timeout=30)
    created.raise_for_status()
    user_id = created.json()["user"]["id"]
    roles = requests.get(f"{url}/roles.json", headers=headers, timeout=30).json()["roles"]
    reporter = next(role["id"] for role in roles if role["name"] == "Reporter")
    membership = {"membership": {"user_id": user_id, "role_ids": [reporter]}}
    project = redmine_env["REDMINE_PROJECT"]
    requests.post(
        f"{url}/projects/{project}/memberships.json", json=membership, headers=headers, timeout=30
    ).raise_for_status()
    key: str = requests.get(f"{url}/users/{user_id}.json", headers=headers, timeout=30).json()["user"]["api_key"]
    return key


def test_a_reporter_key_works_without_admin_lookups_and_the_workflow_is_enforced(
    backend: RedmineBackend, settings: RedmineSettings, reporter_key: str, redmine_env: dict[str, str]
) -> None:
    existing = backend.create_ticket(a_ticket(new_key()))  # so the newest issue shows the fields
    member = RedmineBackend(settings.model_copy(update={"api_key": SecretStr(reporter_key)}))
    try:
        assert member.check().startswith("rep")
        report = inspect(member)
        assert report.ok, report.render()
        assert "not an admin key" in report.render()

        key = new_key()
        ref = member.create_ticket(a_ticket(key))
        assert custom(raw_issue(redmine_env, ref.ticket_id))["External ID"] == key
        found = member.find_by_key(key)
        assert found is not None and found.ticket_id == ref.ticket_id

        # Reporter may close but not resolve (Redmine's default workflow): refused before writing
        with pytest.raises(BackendRejected, match="the workflow does not let the API user move issue"):
            member.resolve_ticket(existing.ticket_id, Resolution(at=datetime(2024, 5, 1, tzinfo=UTC), note="x"))
        issue = raw_issue(redmine_env, existing.ticket_id, include="journals")
        assert issue["status"]["name"] == "New" and issue["journals"] == []
    finally:
        member.close()
