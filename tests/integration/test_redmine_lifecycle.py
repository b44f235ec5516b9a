"""Issue 6 on the real Redmine 5: people work a ticket through Redmine's own API (as themselves,
``X-Redmine-Switch-User``) and the sync-back reads it back from the journals. Cross-group
reassignments produce notices to the incident manager and, past two, the escalation; a close by
an engineer (not the 1st line) is reverted in Redmine with a note; the desk's close stands."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy
import pytest
from pydantic import SecretStr

from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import SystemClock
from connector.domain.models import Alert, TicketStatus
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
from tests.integration.conftest import RedmineApi, after_this_second
from tests.state_backend import make_store

pytestmark = [pytest.mark.integration, pytest.mark.both_states]


@dataclass
class Sent:
    kind: str
    to: list[str]
    detail: str


class Recorder:
    needs_recipients = True

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def send(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> None:
        self.sent.append(Sent(str(message.data["kind"]), [r.address for r in recipients], str(message.data["detail"])))

    def close(self) -> None:
        pass


@dataclass
class Desk:
    engine: Engine
    sync: SyncBack
    api: RedmineApi
    mail: Recorder
    desk: str
    eng: str
    eng_id: int
    group_cf: int
    closure_cf: int
    statuses: dict[TicketStatus, int]

    def act(self, issue_id: str, login: str, **issue: Any) -> None:
        """What a person does in Redmine's UI, through its API as that person."""
        self.api.call("PUT", f"/issues/{issue_id}.json", {"issue": issue}, as_user=login)

    def regroup(self, issue_id: str, login: str, group: str) -> None:
        self.act(issue_id, login, custom_fields=[{"id": self.group_cf, "value": group}])

    def read_back(self) -> None:
        self.sync.run()
        self.engine.drain_outbox()

    def sent(self, kind: str) -> list[Sent]:
        return [s for s in self.mail.sent if s.kind == kind]


@pytest.fixture
def desk(
    tmp_path: Path,
    redmine_env: dict[str, str],
    redmine_api: RedmineApi,
    redmine_people: Callable[..., dict[str, Any]],
    pm: pluggy.PluginManager,
) -> Iterator[Desk]:
    clerk = redmine_people("desk", "值班", "服务台")["login"]
    engineer_user = redmine_people("eng", "伟", "张")
    engineer = engineer_user["login"]
    (tmp_path / "people.yaml").write_text(
        textwrap.dedent(
            f"""
            roles:
              incident_manager: {{zh: 事件经理, en: incident manager}}
              service_desk: {{zh: 服务台, en: service desk}}
            people:
              boss: {{name: 廖清, email: boss@metro.example, roles: [incident_manager]}}
              clerk: {{name: 值班员, email: clerk@metro.example, roles: [service_desk], logins: [{clerk}]}}
              zhang: {{name: 张伟, email: zhang@metro.example, logins: [{engineer}]}}
            groups:
              服务台: {{line: first_line, handlers: [clerk]}}
              网络组: {{line: second_line, handlers: [zhang]}}
              系统组: {{line: second_line, handlers: [zhang]}}
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
    backend = RedmineBackend(
        RedmineSettings(
            url=redmine_env["REDMINE_URL"],
            api_key=SecretStr(redmine_env["REDMINE_API_KEY"]),
            project=redmine_env["REDMINE_PROJECT"],
            timeout_seconds=30,
        )
    )
    book = default_rulebook()
    engine = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(pm, book),
        clock=SystemClock(),
        sweep_rules=SweepRules(book.sla, escalation, rules),
        notifications=notifications,
    )
    found = backend.discover()
    yield Desk(
        engine,
        SyncBack(engine, DirectoryRoster(directory)),
        redmine_api,
        mail,
        clerk,
        engineer,
        engineer_user["id"],
        found.fields["assignment_group"].id,
        found.fields["closure_code"].id,
        {s: found.statuses[s].id for s in TicketStatus},
    )
    backend.close()
    engine.store.close()


def open_ticket(desk: Desk) -> tuple[str, str]:
    run = uuid.uuid4().hex[:8]
    alert = Alert(
        source="zabbix",
        external_id=run,
        title=f"Core switch uplink down ({run})",
        ci=f"core-sw-{run}",
        host_groups=("Metro/Network core",),
        severity=4,
        occurred_at=SystemClock().now(),
    )
    desk.engine.ingest("zabbix", [alert])
    desk.engine.process_pending()
    desk.engine.drain_outbox()
    ref = desk.engine.store.ticket_ref(alert.key)
    assert ref is not None
    after_this_second()  # people act after the create's second (see after_this_second)
    return alert.key, ref[0]


def notes(desk: Desk, issue_id: str) -> list[str]:
    issue = desk.api.call("GET", f"/issues/{issue_id}.json?include=journals")["issue"]
    return [j.get("notes") or "" for j in issue["journals"]]


def test_reassignments_in_redmine_are_reported_and_the_third_escalates(desk: Desk) -> None:
    key, issue_id = open_ticket(desk)  # the rules routed it to 网络组
    desk.act(issue_id, desk.desk, assigned_to_id=desk.eng_id)  # the desk dispatches it to 张伟
    desk.read_back()
    state = desk.engine.store.get(key)
    assert state is not None and state.assigned_at is not None and state.assignee == desk.eng
    assert desk.sent("reassignment_alert") == []
    desk.regroup(issue_id, desk.eng, "系统组")  # across groups, twice: reported each time
    desk.regroup(issue_id, desk.eng, "网络组")
    desk.read_back()
    alerts = desk.sent("reassignment_alert")
    assert [a.detail for a in alerts] == [
        f"cross-group reassignment #1: 网络组 → 系统组 by {desk.eng}",
        f"cross-group reassignment #2: 系统组 → 网络组 by {desk.eng}",
    ]
    assert all(a.to == ["boss@metro.example"] for a in alerts)  # the incident manager
    desk.regroup(issue_id, desk.eng, "系统组")  # the third: reported and escalated
    desk.read_back()
    third = desk.sent("reassignment_alert")[2:]
    assert [a.detail.split(":")[0] for a in third] == [
        "cross-group reassignment #3",
        "reassigned across groups 3 times (more than 2)",
    ]
    written = "\n".join(notes(desk, issue_id))
    assert "跨组转派 cross-group reassignment #3" in written and "升级至事件经理" in written
    issue = desk.api.call("GET", f"/issues/{issue_id}.json")["issue"]
    fields = {cf["name"]: cf.get("value") for cf in issue["custom_fields"]}
    assert fields["Reassignments 重新分派次数"] == "3"


def test_a_close_by_an_engineer_is_reverted_and_the_desks_close_stands(desk: Desk) -> None:
    key, issue_id = open_ticket(desk)
    desk.act(issue_id, desk.eng, status_id=desk.statuses[TicketStatus.RESOLVED])
    desk.act(
        issue_id,
        desk.eng,
        status_id=desk.statuses[TicketStatus.CLOSED],
        custom_fields=[{"id": desk.closure_cf, "value": "success"}],
    )
    desk.read_back()
    issue = desk.api.call("GET", f"/issues/{issue_id}.json")["issue"]
    assert issue["status"]["name"] == "Resolved"  # reverted in Redmine
    assert any(n.startswith(f"<pre>关闭被撤销 close reverted: {desk.eng} may not close") for n in notes(desk, issue_id))
    (policy,) = desk.sent("policy_alert")
    assert policy.to == ["boss@metro.example"]
    state = desk.engine.store.get(key)
    assert state is not None and state.status is TicketStatus.RESOLVED
    desk.read_back()  # reading the same journals again changes nothing
    assert len(desk.sent("policy_alert")) == 1
    # the desk closes it, with a closure code: that stands
    desk.act(
        issue_id,
        desk.desk,
        status_id=desk.statuses[TicketStatus.CLOSED],
        custom_fields=[{"id": desk.closure_cf, "value": "success"}],
    )
    desk.read_back()
    assert desk.api.call("GET", f"/issues/{issue_id}.json")["issue"]["status"]["name"] == "Closed"
    state = desk.engine.store.get(key)
    assert state is not None and state.status is TicketStatus.CLOSED
    assert [s.kind for s in desk.mail.sent].count("policy_alert") == 1
