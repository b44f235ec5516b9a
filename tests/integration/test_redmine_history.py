"""``ticket_history`` against the real Redmine 5: two people made for the test work an issue the
connector created (as themselves, through ``X-Redmine-Switch-User`` with the admin key), and the
history names the right actors, statuses, assignees, groups and times — and rebuilds into the
KPI record the desk's work implies.

Users and keys carry a uuid: the Redmine database outlives test runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from pydantic import SecretStr

from connector.contracts.adapters import ChangeKind
from connector.domain.clock import SystemClock
from connector.domain.models import ClosureCode, Priority, Ticket, TicketStatus
from connector.integrations.redmine import RedmineBackend, RedmineSettings
from connector.kpi.rebuild import rebuild_record
from tests.integration.conftest import RedmineApi

pytestmark = pytest.mark.integration


@pytest.fixture
def people(redmine_people: Callable[..., dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A desk clerk and an engineer, fresh project members."""
    return {"desk": redmine_people("desk", "值班", "服务台"), "eng": redmine_people("eng", "伟", "张")}


def window(step: Any) -> tuple[datetime, datetime]:
    """The whole seconds around ``step()`` (Redmine stamps changes with the second they fell in)."""
    clock = SystemClock()
    before = clock.now().replace(microsecond=0)
    step()
    return before, clock.now()


def test_the_history_names_who_did_what_and_when(
    redmine_env: dict[str, str], redmine_api: RedmineApi, people: dict[str, dict[str, Any]]
) -> None:
    settings = RedmineSettings(
        url=redmine_env["REDMINE_URL"],
        api_key=SecretStr(redmine_env["REDMINE_API_KEY"]),
        project=redmine_env["REDMINE_PROJECT"],
        timeout_seconds=30,
    )
    backend = RedmineBackend(settings)
    try:
        found = backend.discover()
        group_cf = found.fields["assignment_group"].id
        closure_cf = found.fields["closure_code"].id
        status = {s: found.statuses[s].id for s in TicketStatus}
        desk, eng = people["desk"], people["eng"]
        key = f"zabbix:{uuid.uuid4()}"
        ref = backend.create_ticket(
            Ticket(
                key=key,
                title=f"Core switch down ({key})",
                description="ping loss",
                priority=Priority.HIGH,
                assignment_group="服务台",
            )
        )
        path = f"/issues/{ref.ticket_id}.json"

        def put(who: dict[str, Any], **issue: Any) -> None:
            redmine_api.call("PUT", path, {"issue": issue}, as_user=who["login"])

        assigned = window(
            lambda: put(
                desk, assigned_to_id=eng["id"], custom_fields=[{"id": group_cf, "value": "网络组"}], notes="to network"
            )
        )
        accepted = window(lambda: put(eng, status_id=status[TicketStatus.IN_PROGRESS], notes="on it"))
        resolved = window(
            lambda: put(
                eng,
                status_id=status[TicketStatus.RESOLVED],
                custom_fields=[{"id": closure_cf, "value": ClosureCode.SUCCESS.value}],
                notes="replaced the line card",
            )
        )
        noted = window(lambda: backend.add_note(ref.ticket_id, "Zabbix: recovered"))
        closed = window(lambda: put(desk, status_id=status[TicketStatus.CLOSED]))

        h = backend.ticket_history(ref.ticket_id)
    finally:
        backend.close()

    me = backend.connector_login()
    assert me == "admin" and h.author == me and h.key == key
    assert (h.status, h.assignee, h.group) == (TicketStatus.CLOSED, eng["login"], "网络组")
    assert h.fields["closure_code"] is ClosureCode.SUCCESS
    seen = [(c.actor, c.kind, c.field, c.old, c.new) for c in h.changes]
    assert seen[:3] == [
        (desk["login"], ChangeKind.ASSIGNEE, None, None, eng["login"]),
        (desk["login"], ChangeKind.GROUP, None, "服务台", "网络组"),
        (desk["login"], ChangeKind.NOTE, None, None, "to network"),
    ]
    assert seen[3:] == [
        (eng["login"], ChangeKind.STATUS, None, "open", "in_progress"),
        (eng["login"], ChangeKind.NOTE, None, None, "on it"),
        (eng["login"], ChangeKind.STATUS, None, "in_progress", "resolved"),
        (eng["login"], ChangeKind.FIELD, "closure_code", None, "success"),
        (eng["login"], ChangeKind.NOTE, None, None, "replaced the line card"),
        ("admin", ChangeKind.NOTE, None, None, "<pre>Zabbix: recovered</pre>"),
        (desk["login"], ChangeKind.STATUS, None, "resolved", "closed"),
    ]
    steps = [assigned] * 3 + [accepted] * 2 + [resolved] * 3 + [noted, closed]
    for change, (start, end) in zip(h.changes, steps, strict=True):
        assert start <= change.at <= end, change

    record = rebuild_record(h, connector_logins={me}).record
    # dispatched when the desk set an assignee and a group (the routing group it came with does not
    # dispatch it); the same second as its registration on a fast run, later on a loaded one
    assert record.assigned_at == h.changes[0].at
    assert record.accepted_at == h.changes[3].at and record.resolved_at == h.changes[5].at
    assert record.closed_at == h.changes[-1].at and record.resolver == eng["login"]
    assert record.worklog_staff == (desk["login"], eng["login"]) and record.registrar == "admin"
