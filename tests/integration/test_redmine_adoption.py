"""Issue 12 on the real Redmine 5: a ticket a desk clerk opens through Redmine's REST API (as
themselves, ``X-Redmine-Switch-User``; only subject, description, impact and urgency) is
adopted within one sync-back pass — the matrix priority, the SLA target date, the classified
fields, a note — and escalates on the fake clock like an alert's ticket; a second pass and a
restart change nothing. A handler rejects the assignment by taking themself off the issue with a
note: the issue goes back to the service-desk group; the second rejection reaches the incident
manager.

Every issue and user carries a uuid (the Redmine database is shared and outlives test runs).
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest
from pydantic import SecretStr

from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import FakeClock, SystemClock
from connector.domain.models import Priority
from connector.integrations.redmine import RedmineBackend, RedmineSettings
from connector.notify.dispatch import Channel
from connector.notify.people import Directory, load_people
from connector.notify.render import Renderer
from connector.notify.settings import Notifications
from connector.process.escalation import SweepRules
from connector.process.pipeline import Pipeline
from connector.process.roster import DirectoryRoster
from connector.rules.ladder import load_escalation, load_notification_rules
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack
from tests.integration.conftest import RedmineApi
from tests.state_backend import make_store

pytestmark = [pytest.mark.integration, pytest.mark.both_states]


@dataclass
class Sent:
    kind: str
    ticket: str
    to: list[str]
    detail: str


class Recorder:
    needs_recipients = True

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def send(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> None:
        data = message.data
        self.sent.append(
            Sent(str(data["kind"]), message.ticket_key, [r.address for r in recipients], str(data["detail"]))
        )

    def close(self) -> None:
        pass


@dataclass
class Desk:
    engine: Engine
    clock: FakeClock
    directory: Directory
    api: RedmineApi
    mail: Recorder
    clerk: str
    engineers: list[dict[str, Any]]
    fields: dict[str, int]

    def read_back(self) -> int:
        self.clock.set(SystemClock().now())
        applied = SyncBack(self.engine, DirectoryRoster(self.directory)).run()
        self.engine.drain_outbox()
        return applied

    def issue(self, issue_id: str) -> dict[str, Any]:
        issue: dict[str, Any] = self.api.call("GET", f"/issues/{issue_id}.json?include=journals")["issue"]
        return issue

    def custom(self, issue_id: str) -> dict[str, Any]:
        return {cf["name"]: cf.get("value") for cf in self.issue(issue_id)["custom_fields"]}

    def act(self, issue_id: str, login: str, **issue: Any) -> None:
        self.api.call("PUT", f"/issues/{issue_id}.json", {"issue": issue}, as_user=login)


@pytest.fixture
def desk(
    tmp_path: Path,
    redmine_env: dict[str, str],
    redmine_api: RedmineApi,
    redmine_people: Callable[..., dict[str, Any]],
    pm: pluggy.PluginManager,
) -> Iterator[Desk]:
    clerk = redmine_people("desk", "值班", "服务台")["login"]
    engineers = [redmine_people("eng", "伟", "张"), redmine_people("eng", "磊", "吴")]
    (tmp_path / "people.yaml").write_text(
        textwrap.dedent(
            f"""
            roles:
              incident_manager: {{zh: 事件经理, en: incident manager}}
              service_desk: {{zh: 服务台, en: service desk}}
              project_manager: {{zh: 项目经理, en: project manager}}
            people:
              boss: {{name: 廖清, email: boss@metro.example, roles: [incident_manager]}}
              clerk: {{name: 值班员, email: clerk@metro.example, roles: [service_desk], logins: [{clerk}]}}
              pm: {{name: 陈刚, email: pm@metro.example, roles: [project_manager]}}
              zhang: {{name: 张伟, email: zhang@metro.example, logins: [{engineers[0]["login"]}]}}
              wu: {{name: 吴磊, email: wu@metro.example, logins: [{engineers[1]["login"]}]}}
            groups:
              服务台: {{line: first_line, handlers: [clerk]}}
              网络组: {{line: second_line, handlers: [zhang]}}
              系统组: {{line: second_line, handlers: [wu]}}
            """
        ),
        encoding="utf-8",
    )
    directory = Directory(load_people(tmp_path / "people.yaml"))
    escalation, rules = load_escalation(), load_notification_rules()
    mail = Recorder()
    renderer = Renderer(service_desk="服务台 6000-8888", directory=directory, language="zh", timezone="Asia/Shanghai")
    notifications = Notifications(
        directory,
        escalation,
        rules,
        renderer,
        {"email": Channel("email", "email", mail)},  # type: ignore[arg-type]
    )
    clock = FakeClock(SystemClock().now())
    backend = RedmineBackend(
        RedmineSettings(
            url=redmine_env["REDMINE_URL"],
            api_key=SecretStr(redmine_env["REDMINE_API_KEY"]),
            project=redmine_env["REDMINE_PROJECT"],
            timeout_seconds=30,
        ),
        clock=clock,
    )
    book = default_rulebook()
    engine = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(pm, book),
        clock=clock,
        sweep_rules=SweepRules(book.sla, escalation, rules),
        notifications=notifications,
    )
    found = backend.discover()
    fields = {name: found.fields[name].id for name in ("impact", "urgency", "assignment_group")}
    made = Desk(engine, clock, directory, redmine_api, mail, clerk, engineers, fields)
    made.read_back()  # the first pass: adoption starts now, nothing older is taken over
    yield made
    backend.close()
    engine.store.close()


def open_by_the_desk(desk: Desk, run: str, impact: int, urgency: int) -> str:
    """What a clerk does after a phone call: subject, description, impact and urgency."""
    body = {
        "issue": {
            "project_id": desk.api.project,
            "subject": f"财务系统无法登录 cannot log in to the finance system ({run})",
            "description": "phone call: the whole finance department cannot log in",
            "custom_fields": [
                {"id": desk.fields["impact"], "value": str(impact)},
                {"id": desk.fields["urgency"], "value": str(urgency)},
            ],
        }
    }
    issue = desk.api.call("POST", "/issues.json", body, as_user=desk.clerk)["issue"]
    return str(issue["id"])


def test_a_desk_made_issue_is_adopted_once_and_escalates_on_the_clock(desk: Desk) -> None:
    run = uuid.uuid4().hex[:8]
    issue_id = open_by_the_desk(desk, run, impact=2, urgency=2)
    desk.read_back()

    key = f"helpdesk:{issue_id}"
    state = desk.engine.store.get(key)
    assert state is not None and state.priority is Priority.HIGH and state.ticket_id == issue_id
    issue = desk.issue(issue_id)
    assert issue["priority"]["name"] == "Urgent"  # the matrix: impact 2 × urgency 2 → P2 (settings: P2 is Urgent)
    custom = desk.custom(issue_id)
    assert custom["SLA target 目标时间"]  # the SLA target date, written back
    assert custom["Source 来源"] == "user_report" and custom["Category 事件分类"]
    notes = [j.get("notes") or "" for j in issue["journals"]]
    assert any("接管 adopted into the incident process: P2" in n for n in notes)
    # the P2 outage notice, to the incident manager among others
    outage = [s for s in desk.mail.sent if s.ticket == key and s.kind == "outage"]
    assert outage and "boss@metro.example" in outage[0].to

    # a second pass and a restart change nothing
    journals = len(issue["journals"])
    assert desk.read_back() == 0
    assert len(desk.issue(issue_id)["journals"]) == journals
    assert [t["key"] for t in desk.engine.store.all_tickets()].count(key) == 1

    # the ladder on the fake clock: P2 level 1 five minutes after registration, to the project manager
    desk.clock.set(state.created_at + timedelta(minutes=5, seconds=1))
    desk.engine.sweep()
    desk.engine.drain_outbox()
    steps = [s["step"] for s in desk.engine.store.steps(key)]
    assert "escalation:1" in steps
    level1 = [s for s in desk.mail.sent if s.ticket == key and s.kind == "escalation"]
    assert [s.to for s in level1] == [["pm@metro.example"]]
    desk.act(issue_id, desk.clerk, status_id=5, notes="test over")  # leave the shared project tidy


def test_a_handlers_rejection_goes_back_to_the_desk_and_the_second_reaches_the_incident_manager(desk: Desk) -> None:
    run = uuid.uuid4().hex[:8]
    issue_id = open_by_the_desk(desk, run, impact=3, urgency=3)
    desk.read_back()
    key = f"helpdesk:{issue_id}"
    group_cf = desk.fields["assignment_group"]
    zhang, wu = desk.engineers

    # the desk dispatches it to 张伟 in 网络组; he rejects: clears himself, with a reason as a note
    desk.act(issue_id, desk.clerk, assigned_to_id=zhang["id"], custom_fields=[{"id": group_cf, "value": "网络组"}])
    desk.act(issue_id, zhang["login"], assigned_to_id="", notes="not ours: the login service belongs to 系统组")
    desk.read_back()
    state = desk.engine.store.get(key)
    assert state is not None and (state.rejections, state.assignee) == (1, None)
    assert desk.custom(issue_id)["Assignment group 处理组"] == "服务台"
    notes = [j.get("notes") or "" for j in desk.issue(issue_id)["journals"]]
    assert any("退回一线 assignment rejected #1 by " + zhang["login"] in n for n in notes)
    assert not [s for s in desk.mail.sent if s.ticket == key and "rejected" in s.detail and "escalated" in s.detail]

    # dispatched again, to 吴磊 in 系统组; he rejects too: the second failed dispatch escalates
    desk.act(issue_id, desk.clerk, assigned_to_id=wu["id"], custom_fields=[{"id": group_cf, "value": "系统组"}])
    desk.act(issue_id, wu["login"], assigned_to_id="", notes="a password reset: the desk's own work")
    desk.read_back()
    state = desk.engine.store.get(key)
    assert state is not None and state.rejections == 2
    escalated = [s for s in desk.mail.sent if s.ticket == key and "rejected 2 times" in s.detail]
    assert [s.to for s in escalated] == [["boss@metro.example"]]
    desk.act(issue_id, desk.clerk, status_id=5, notes="test over")
