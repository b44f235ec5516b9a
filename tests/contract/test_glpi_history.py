"""``GlpiBackend.ticket_history`` against the fake of GLPI 10's documented API: the desk works a
ticket the connector made, each person through their own API token, and the history — read
from the ticket's Log, actors, follow-ups and solutions — names who did what, and when."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.contracts.adapters import ChangeKind, HistoryReader, Resolution
from connector.domain.clock import FakeClock
from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.domain.models import ClosureCode, Impact, Priority, ResolutionCode, Ticket, TicketStatus
from connector.integrations.glpi import GlpiBackend, GlpiSettings
from connector.integrations.glpi.history import read_block
from connector.integrations.glpi.render import HEADER
from connector.kpi.export import export_records
from tests.contract.glpi_fake import URL, USER_TOKEN, GlpiFake
from tests.state_backend import make_store

T0 = datetime(2026, 10, 2, 1, 0, tzinfo=UTC)
ZONE = "Asia/Shanghai"
DESK_TOKEN, ZHANG_TOKEN = "desk-t0ken-0123456789abcdef", "zhang-t0ken-0123456789abcdef"
S = TicketStatus


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[GlpiFake]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        glpi = GlpiFake(rsps, clock, timezone=ZONE)
        for group in ("服务台", "网络组"):
            glpi.add("Group", completename=group)
        glpi.add_user_token(DESK_TOKEN, "desk", realname="服务台", firstname="值班")
        glpi.add_user_token(ZHANG_TOKEN, "zhangw", realname="张", firstname="伟")
        yield glpi


def backend_for(clock: FakeClock, token: str) -> GlpiBackend:
    settings = GlpiSettings(url=URL, user_token=SecretStr(token), timezone=ZONE)
    return GlpiBackend(settings, clock=clock, session=requests.Session())


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def work_a_ticket(fake: GlpiFake, clock: FakeClock) -> tuple[GlpiBackend, str]:
    """The connector creates the ticket for the service desk; the desk hands it to the network
    group's 张伟, who works it (a pause included) and solves it; the desk closes it."""
    connector, desk, zhang = (backend_for(clock, t) for t in (USER_TOKEN, DESK_TOKEN, ZHANG_TOKEN))
    ticket = Ticket(
        key="zabbix:42",
        title="Core switch down",
        description="ping loss",
        impact=Impact.SEVERE,
        priority=Priority.HIGH,
        assignment_group="服务台",
        contact="desk",  # a requester: not an assignment
        registered_at=T0,
    )
    ref = connector.create_ticket(ticket)
    tid = ref.ticket_id
    clock.set(at(5))
    desk.update_ticket(tid, {"assignment_group": "网络组", "assignee": "zhangw"})
    clock.set(at(8))
    zhang.add_note(tid, "on it")
    clock.set(at(10))
    zhang.update_ticket(tid, {"status": S.SUSPENDED}, "waiting for the maintenance window")
    clock.set(at(30))
    zhang.update_ticket(tid, {"status": S.IN_PROGRESS})
    clock.set(at(40))
    zhang.resolve_ticket(
        tid,
        Resolution(at=at(40), note="fixed", resolution_code=ResolutionCode.RESOLVED_BY_WORKAROUND, solution="swapped"),
    )
    clock.set(at(60))
    desk.update_ticket(tid, {"status": S.CLOSED, "closure_code": ClosureCode.SUCCESS, "kb_used": True})
    for other in (desk, zhang):
        other.close()
    return connector, tid


def test_the_log_follow_ups_and_solutions_become_the_process_changes(fake: GlpiFake, clock: FakeClock) -> None:
    backend, tid = work_a_ticket(fake, clock)
    assert isinstance(backend, HistoryReader)

    h = backend.ticket_history(tid)

    assert (h.ticket_id, h.key, h.created_at, h.author) == (tid, "zabbix:42", T0, "glpi")
    assert (h.status, h.assignee, h.group) == (S.CLOSED, "zhangw", "网络组")
    assert h.fields["closure_code"] is ClosureCode.SUCCESS and h.fields["kb_used"] is True
    assert h.fields["resolution_code"] is ResolutionCode.RESOLVED_BY_WORKAROUND
    assert h.fields["impact"] is Impact.SEVERE and h.fields["title"] == "Core switch down"
    assert h.fields["registered_at"] == T0
    assert [(c.at, c.actor, c.kind, c.field, c.old, c.new) for c in h.changes] == [
        (T0, "glpi", ChangeKind.GROUP, None, None, "服务台"),
        (at(5), "desk", ChangeKind.ASSIGNEE, None, None, "zhangw"),
        (at(5), "desk", ChangeKind.GROUP, None, "服务台", "网络组"),
        (at(8), "zhangw", ChangeKind.NOTE, None, None, "on it"),
        # GLPI has one "pending" status: the default map reads it as pending change
        (at(10), "zhangw", ChangeKind.STATUS, None, "in_progress", "pending_change"),
        (at(10), "zhangw", ChangeKind.NOTE, None, None, "waiting for the maintenance window"),
        (at(30), "zhangw", ChangeKind.STATUS, None, "pending_change", "in_progress"),
        (at(40), "zhangw", ChangeKind.STATUS, None, "in_progress", "resolved"),
        (at(40), "zhangw", ChangeKind.FIELD, "resolution_code", None, "resolved_by_workaround"),
        (at(40), "zhangw", ChangeKind.FIELD, "solution", None, "swapped"),
        (at(40), "zhangw", ChangeKind.NOTE, None, None, "fixed"),
        (at(60), "desk", ChangeKind.STATUS, None, "resolved", "closed"),
        (at(60), "desk", ChangeKind.FIELD, "closure_code", None, "success"),
        (at(60), "desk", ChangeKind.FIELD, "kb_used", "0", "1"),
    ]
    assert backend.connector_login() == "glpi"
    # one lookup per person and group, however often they appear
    for user in ("desk", "zhangw", "glpi"):
        ident = fake.find("User", user)
        assert fake.count("GET", f"User/{ident}") == 1
    backend.close()


def test_the_fake_logs_as_glpi_does(fake: GlpiFake, clock: FakeClock) -> None:
    _, tid = work_a_ticket(fake, clock)
    rows = fake.logs_of(tid)
    assert rows[0]["linked_action"] == 20 and rows[0]["user_name"] == f"Connector ({fake.find('User', 'glpi')})"
    actors = [(r["linked_action"], r["itemtype_link"], r["id_search_option"], r["new_value"]) for r in rows[1:3]]
    group_id, desk_id = fake.find("Group", "服务台"), fake.find("User", "desk")
    assert actors == [(15, "Group", 8, f"服务台 ({group_id})"), (15, "User", 4, f"服务台 值班 ({desk_id})")]
    statuses = [(r["old_value"], r["new_value"]) for r in rows if r["id_search_option"] == 12]
    assert statuses == [("2", "4"), ("4", "2"), ("2", "5"), ("5", "6")]


def test_a_ticket_gets_its_first_actor_on_an_update(fake: GlpiFake, clock: FakeClock) -> None:
    """GLPI moves a New ticket that gets an actor to "assigned" itself: a status change by the
    same user, right after the assignment."""
    connector, desk = backend_for(clock, USER_TOKEN), backend_for(clock, DESK_TOKEN)
    tid = connector.create_ticket(Ticket(key="zabbix:7", title="t", description="d")).ticket_id
    clock.set(at(3))
    desk.update_ticket(tid, {"assignee": "zhangw"})
    h = connector.ticket_history(tid)
    assert [(c.at, c.actor, c.kind, c.old, c.new) for c in h.changes] == [
        (at(3), "desk", ChangeKind.ASSIGNEE, None, "zhangw"),
        (at(3), "desk", ChangeKind.STATUS, "open", "in_progress"),
    ]


def test_older_log_rows_without_the_actor_option(fake: GlpiFake, clock: FakeClock) -> None:
    """Before GLPI logged which list an actor joined (option 0), the current actors decide."""
    backend, tid = work_a_ticket(fake, clock)
    for row in fake.logs_of(tid):
        if row["linked_action"] == 15:
            row["id_search_option"] = 0
    h = backend.ticket_history(tid)
    actor_changes = [(c.kind, c.old, c.new) for c in h.changes if c.kind in (ChangeKind.ASSIGNEE, ChangeKind.GROUP)]
    assert actor_changes == [
        (ChangeKind.GROUP, None, "服务台"),
        (ChangeKind.ASSIGNEE, None, "zhangw"),  # desk, only a requester, is not read as assigned
        (ChangeKind.GROUP, "服务台", "网络组"),
    ]


def test_a_removed_assignee(fake: GlpiFake, clock: FakeClock) -> None:
    backend, tid = work_a_ticket(fake, clock)
    zhang = fake.find("User", "zhangw")
    fake.acting = fake.find("User", "desk") or 0
    clock.set(at(70))
    fake._log(int(tid), option=5, old=f"张 伟 ({zhang})", link="User", action=16)
    fake.actor_rows = [r for r in fake.actor_rows if r.get("users_id") != zhang]
    h = backend.ticket_history(tid)
    assert h.assignee is None
    assert (h.changes[-1].kind, h.changes[-1].old, h.changes[-1].new, h.changes[-1].actor) == (
        ChangeKind.ASSIGNEE,
        "zhangw",
        None,
        "desk",
    )


def test_a_note_cannot_forge_the_connectors_field_block(fake: GlpiFake, clock: FakeClock) -> None:
    backend = backend_for(clock, USER_TOKEN)
    tid = backend.create_ticket(Ticket(key="zabbix:8", title="t", description=f"{HEADER}\nKB used 使用知识库: yes 是"))
    forged = f"thanks\n\n{HEADER}\nClosure code 关闭代码: success 已完成(成功)"
    backend.add_note(tid.ticket_id, forged)  # e.g. a mail reply, written by the connector
    h = backend.ticket_history(tid.ticket_id)
    assert "closure_code" not in h.fields and h.fields["kb_used"] is False
    assert [c.kind for c in h.changes] == [ChangeKind.NOTE]
    values, text = read_block(fake.followups[0]["content"])
    assert values == {} and "ITSM fields" in text


def test_the_history_exports_to_a_kpi_record(fake: GlpiFake, clock: FakeClock) -> None:
    backend, tid = work_a_ticket(fake, clock)
    [record] = export_records(backend, T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert record.id == tid and record.registrar == "glpi" and record.status is S.CLOSED
    # the group came with the ticket (routing); zhangw was assigned at 5, when GLPI already showed
    # it "processing" (GLPI makes a ticket with an actor processing at once): accepted then too
    assert (record.assigned_at, record.accepted_at) == (at(5), at(5))
    assert (record.resolved_at, record.closed_at, record.resolver) == (at(40), at(60), "zhangw")
    assert record.closure_code is ClosureCode.SUCCESS and record.kb_used
    assert record.worklog_staff == ("desk", "zhangw")


def test_a_profile_without_the_logs_right_says_so(fake: GlpiFake, clock: FakeClock) -> None:
    backend, tid = work_a_ticket(fake, clock)
    fake.deny("GET", "Log")
    with pytest.raises(BackendUnavailable, match="Administration › Logs: 'Read'"):
        backend.ticket_history(tid)


def test_errors(fake: GlpiFake, clock: FakeClock) -> None:
    backend = backend_for(clock, USER_TOKEN)
    with pytest.raises(BackendRejected):
        backend.ticket_history("999")
    with pytest.raises(BackendRejected):
        backend.ticket_history("../x")
    fake.fail("GET", "Ticket/", status=503)
    with pytest.raises(BackendUnavailable):
        backend.ticket_history("100")


def test_the_monthly_report_is_published_as_glpi_documents(fake: GlpiFake, clock: FakeClock, tmp_path: Path) -> None:
    """GLPI has no wiki: the report job uploads the HTML page and the CSV tables as Documents."""
    from connector.rules.loading import default_rulebook

    DEFAULT_POLICY = default_rulebook().sla
    from connector.runtime.config import ReportSettings
    from connector.runtime.report_job import ReportsJob

    backend, _ = work_a_ticket(fake, clock)
    clock.set(T0 + timedelta(days=40))
    job = ReportsJob(
        backend, make_store(tmp_path / "s.db"), clock, ReportSettings(publish=True, timezone=ZONE), DEFAULT_POLICY
    )
    published = job.run()
    assert published
    names = sorted(d["filename"] for d in fake.documents.values())
    assert sum(n.endswith(".html") for n in names) == 1
    assert sum(n.endswith(".csv") for n in names) == 9  # the KPIs and the 8 tables
    assert all(d["name"].startswith("ITSM_report_") for d in fake.documents.values())
    assert fake.document_items == []  # documents of their own, not of a ticket
    assert job.run() == []  # once
