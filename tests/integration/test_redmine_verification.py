"""Issue 12 on the real Redmine 5: what the desk's people write in Redmine itself.

* A duty-group leader verifies a closed issue with a note line ``verified``; an engineer's
  ``verified`` is refused (a note saying so, the incident manager told) and never counted; the
  record rebuilt from Redmine's journals carries the accepted verification (the reports' verified
  ratio).
* A clerk who sets Redmine's own *Priority* against the matrix, without a note, gets the matrix's
  priority back and the incident manager hears of the missing reason.

Every issue and user carries a uuid (the Redmine database is shared and outlives test runs).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from pydantic import SecretStr

from connector.domain.clock import FakeClock, SystemClock
from connector.domain.models import Priority, TicketStatus
from connector.integrations.redmine import RedmineBackend, RedmineSettings
from connector.kpi.rebuild import rebuild_record
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
from tests.integration.test_redmine_adoption import Desk, Recorder, open_by_the_desk
from tests.state_backend import make_store

pytestmark = [pytest.mark.integration, pytest.mark.both_states]


class Leaders(Desk):
    """The adoption test's desk, with a duty-group leader and Redmine's ids of statuses and priorities."""

    leader: str
    statuses: dict[TicketStatus, int]
    priorities: dict[Priority, int]


@pytest.fixture
def desk(
    tmp_path: Path,
    redmine_env: dict[str, str],
    redmine_api: RedmineApi,
    redmine_people: Callable[..., dict[str, Any]],
    pm: pluggy.PluginManager,
) -> Iterator[Leaders]:
    clerk = redmine_people("desk", "值班", "服务台")["login"]
    engineers = [redmine_people("eng", "伟", "张")]
    leader = redmine_people("lead", "敏", "周")["login"]
    (tmp_path / "people.yaml").write_text(
        textwrap.dedent(
            f"""
            roles:
              incident_manager: {{zh: 事件经理, en: incident manager}}
              service_desk: {{zh: 服务台, en: service desk}}
              duty_group_leader: {{zh: 值班组组长, en: duty-group leader}}
            people:
              boss: {{name: 廖清, email: boss@metro.example, roles: [incident_manager]}}
              clerk: {{name: 值班员, email: clerk@metro.example, roles: [service_desk], logins: [{clerk}]}}
              zhou: {{name: 周敏, email: zhou@metro.example, roles: [duty_group_leader], logins: [{leader}]}}
              zhang: {{name: 张伟, email: zhang@metro.example, logins: [{engineers[0]["login"]}]}}
            groups:
              服务台: {{line: first_line, handlers: [clerk]}}
              网络组: {{line: second_line, handlers: [zhang]}}
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
    fields = {name: found.fields[name].id for name in ("impact", "urgency", "assignment_group", "closure_code")}
    made = Leaders(engine, clock, directory, redmine_api, mail, clerk, engineers, fields)
    made.leader = leader
    made.statuses = {s: found.statuses[s].id for s in TicketStatus}
    made.priorities = {p: ref.id for p, ref in found.priorities.items()}
    made.read_back()  # the first pass: adoption starts now
    yield made
    backend.close()
    engine.store.close()


def notes(desk: Desk, issue_id: str) -> list[str]:
    return [j.get("notes") or "" for j in desk.issue(issue_id)["journals"]]


def test_a_leaders_verified_note_is_accepted_and_counted_an_engineers_is_refused(desk: Leaders) -> None:
    issue_id = open_by_the_desk(desk, "verify", impact=3, urgency=3)
    desk.read_back()
    key = f"helpdesk:{issue_id}"
    engineer = desk.engineers[0]["login"]
    desk.act(issue_id, engineer, status_id=desk.statuses[TicketStatus.RESOLVED], notes="fixed")
    desk.act(
        issue_id,
        desk.clerk,
        status_id=desk.statuses[TicketStatus.CLOSED],
        custom_fields=[{"id": desk.fields["closure_code"], "value": "success"}],
    )
    desk.read_back()
    state = desk.engine.store.get(key)
    assert state is not None and state.status is TicketStatus.CLOSED
    desk.mail.sent.clear()

    desk.act(issue_id, engineer, notes="verified")  # not a duty-group leader
    desk.read_back()
    assert any(
        f"核查被拒绝 verification refused: {engineer} is not a duty-group leader" in n for n in notes(desk, issue_id)
    )
    assert [(s.kind, s.to) for s in desk.mail.sent] == [("policy_alert", ["boss@metro.example"])]
    state = desk.engine.store.get(key)
    assert state is not None and state.verified_at is None

    desk.act(issue_id, desk.leader, notes="checked the record\nverified")
    desk.read_back()
    state = desk.engine.store.get(key)
    assert state is not None and state.verified_at is not None
    assert any(f"已核查 verified by the duty-group leader {desk.leader}" in n for n in notes(desk, issue_id))
    desk.read_back()  # the same journals again: nothing new
    assert len([n for n in notes(desk, issue_id) if "已核查 verified" in n]) == 1

    backend = desk.engine.backend
    assert isinstance(backend, RedmineBackend)
    record = rebuild_record(backend.ticket_history(issue_id), connector_logins={backend.connector_login() or ""})
    assert record.record.verified_at is not None  # the reports count it


def test_a_priority_set_in_redmine_against_the_matrix_is_put_back_and_the_missing_reason_reported(
    desk: Leaders,
) -> None:
    issue_id = open_by_the_desk(desk, "prio", impact=3, urgency=3)  # the matrix: P3 (Redmine "High")
    desk.read_back()
    desk.mail.sent.clear()
    desk.act(issue_id, desk.clerk, priority_id=desk.priorities[Priority.HIGHEST])  # "Immediate", no note
    desk.read_back()
    assert desk.issue(issue_id)["priority"]["id"] == desk.priorities[Priority.MEDIUM]  # the matrix's, written back
    written = "\n".join(notes(desk, issue_id))
    assert "disagrees with the matrix: impact 3 × urgency 3 gives P3" in written
    assert "优先级变更无原因" in written
    assert [(s.kind, s.to) for s in desk.mail.sent] == [("policy_alert", ["boss@metro.example"])]


def test_a_resolution_nobody_answers_is_closed_in_redmine_after_the_wait(desk: Leaders) -> None:
    """Issue 12, item 4: the sync-back closes the Redmine issue itself once the confirmation wait
    (3 working days, the site's calendar) is over — closure code, a note naming the wait."""
    from dataclasses import replace
    from datetime import timedelta

    rules = desk.engine.sweep_rules
    assert rules is not None
    wait = default_rulebook().lifecycle.confirmation
    assert wait is not None
    desk.engine.sweep_rules = replace(rules, closing_wait=wait.wait("Asia/Shanghai"))
    issue_id = open_by_the_desk(desk, "wait", impact=3, urgency=3)
    desk.read_back()
    desk.act(issue_id, desk.engineers[0]["login"], status_id=desk.statuses[TicketStatus.RESOLVED], notes="fixed")
    desk.read_back()
    key = f"helpdesk:{issue_id}"
    state = desk.engine.store.get(key)
    assert state is not None and state.status is TicketStatus.RESOLVED and state.resolved_at is not None
    ends = wait.wait("Asia/Shanghai").ends(state.resolved_at)
    sync = SyncBack(desk.engine, DirectoryRoster(desk.directory))

    desk.clock.set(ends - timedelta(minutes=1))  # not yet
    sync.run()
    desk.engine.drain_outbox()
    assert desk.issue(issue_id)["status"]["id"] == desk.statuses[TicketStatus.RESOLVED]
    desk.clock.set(ends + timedelta(minutes=1))
    sync.run()
    desk.engine.drain_outbox()
    issue = desk.issue(issue_id)
    assert issue["status"]["id"] == desk.statuses[TicketStatus.CLOSED]
    assert any("自动关闭 closed by the connector" in n and "within 3 working days" in n for n in notes(desk, issue_id))
    custom = {cf["name"]: cf.get("value") for cf in issue["custom_fields"]}
    assert "success" in custom.values()  # the closure code
    sync.run()  # its own close is not an event: nothing more
    desk.engine.drain_outbox()
    assert len([n for n in notes(desk, issue_id) if "自动关闭" in n]) == 1
