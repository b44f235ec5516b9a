"""``rebuild_record``: a ticket's KPI record from its fields and its history alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.contracts.adapters import Change, ChangeKind, TicketHistory
from connector.domain.models import ClosureCode, Impact, Priority, ResolverRole, TicketSource, TicketStatus, Urgency
from connector.kpi.rebuild import rebuild_record
from tests.notify_helpers import directory

T0 = datetime(2026, 10, 2, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
BOT = "connector"
S = TicketStatus


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def status(minutes: float, old: S | None, new: S, actor: str = "desk") -> Change:
    return Change(at=at(minutes), actor=actor, kind=ChangeKind.STATUS, old=old.value if old else None, new=new.value)


def assign(minutes: float, old: str | None, new: str | None, actor: str = "desk") -> Change:
    return Change(at=at(minutes), actor=actor, kind=ChangeKind.ASSIGNEE, old=old, new=new)


def group(minutes: float, old: str | None, new: str | None, actor: str = "desk") -> Change:
    return Change(at=at(minutes), actor=actor, kind=ChangeKind.GROUP, old=old, new=new)


def note(minutes: float, actor: str, text: str = "worked on it") -> Change:
    return Change(at=at(minutes), actor=actor, kind=ChangeKind.NOTE, new=text)


def history(
    *changes: Change,
    current: S | None = None,
    assignee: str | None = None,
    group_now: str | None = None,
    key: str | None = "zabbix:1",
    author: str | None = BOT,
    created: datetime = T0,
    ticket_id: str = "4711",
    **fields: Any,
) -> TicketHistory:
    values: dict[str, Any] = {
        "title": "核心交换机端口 down",
        "source": TicketSource.MONITORING,
        "impact": Impact.SEVERE,
        "urgency": Urgency.URGENT,
        "priority": Priority.HIGH,
        "ci": "core-sw-01",
        "registered_at": created,
    }
    values.update(fields)
    return TicketHistory(
        ticket_id=ticket_id,
        key=key,
        created_at=created,
        author=author,
        status=current,
        assignee=assignee,
        group=group_now,
        fields={k: v for k, v in values.items() if v is not None},
        changes=tuple(changes),
    )


def lines() -> Any:
    return directory().line_of_group


def test_the_life_of_an_ordinary_ticket() -> None:
    built = rebuild_record(
        history(
            assign(5, None, "zhangw"),
            status(8, S.OPEN, S.IN_PROGRESS, actor="zhangw"),
            note(20, "zhangw"),
            status(40, S.IN_PROGRESS, S.RESOLVED, actor="zhangw"),
            note(41, BOT, "Zabbix reports the problem resolved"),
            status(60, S.RESOLVED, S.CLOSED, actor="desk"),
            current=S.CLOSED,
            assignee="zhangw",
            group_now="network",
            outage_start=at(-3),
            closure_code=ClosureCode.SUCCESS,
            reporter="调度中心",
        ),
        connector_logins={BOT},
        line_of=lines(),
    )
    r = built.record
    assert r.occurred_at == at(-3) and r.registered_at == T0
    assert r.assigned_at == at(5)  # the group that came with the ticket routes it; zhangw dispatched it
    assert r.accepted_at == at(8)
    assert (r.resolved_at, r.closed_at) == (at(40), at(60))
    assert r.status is S.CLOSED and r.closure_code is ClosureCode.SUCCESS
    assert r.resolver == "zhangw" and r.resolver_role is ResolverRole.SECOND_LINE
    assert r.registrar == BOT and r.reporter == "调度中心"
    assert r.worklog_staff == ("desk", "zhangw")  # the connector's own notes are nobody's work
    assert r.suspensions == () and r.duplicate_of is None and built.notes == ()


def test_assigned_when_the_first_assignee_or_group_is_set() -> None:
    r = rebuild_record(history(group(7, None, "network"), assign(9, None, "lina"), group_now="network")).record
    assert r.assigned_at == at(7) and r.accepted_at is None
    r = rebuild_record(history(assign(4, None, "lina"), assignee="lina")).record
    assert r.assigned_at == at(4)
    assert rebuild_record(history()).record.assigned_at is None  # never assigned


def test_accepted_only_after_the_assignment() -> None:
    r = rebuild_record(
        history(
            status(2, S.OPEN, S.IN_PROGRESS),  # the desk looked at it before anyone was assigned
            status(3, S.IN_PROGRESS, S.OPEN),
            assign(10, None, "lina"),
            status(15, S.OPEN, S.IN_PROGRESS, actor="lina"),
            current=S.IN_PROGRESS,
            assignee="lina",
        )
    ).record
    assert (r.assigned_at, r.accepted_at) == (at(10), at(15))
    # in progress already when the assignment came: accepted with it
    r = rebuild_record(
        history(status(2, S.OPEN, S.IN_PROGRESS), assign(10, None, "lina"), current=S.IN_PROGRESS, assignee="lina")
    ).record
    assert r.accepted_at == at(10)


def test_a_reopening_clears_the_resolution_and_the_last_one_counts() -> None:
    changes = [
        assign(1, None, "lina"),
        status(2, S.OPEN, S.IN_PROGRESS, actor="lina"),
        status(30, S.IN_PROGRESS, S.RESOLVED, actor="lina"),
        status(50, S.RESOLVED, S.CLOSED),
        status(70, S.CLOSED, S.IN_PROGRESS),  # the user said it is still broken
    ]
    r = rebuild_record(history(*changes, current=S.IN_PROGRESS, assignee="lina")).record
    assert (r.resolved_at, r.closed_at, r.status) == (None, None, S.IN_PROGRESS)
    assert r.resolver is None
    changes += [status(90, S.IN_PROGRESS, S.RESOLVED, actor="zhangw"), assign(91, "lina", "zhangw")]
    r = rebuild_record(history(*changes, current=S.RESOLVED, assignee="zhangw")).record
    assert (r.resolved_at, r.closed_at) == (at(90), None)
    assert r.resolver == "lina"  # the assignee when it was resolved, not the one after
    assert r.accepted_at == at(2)  # the first acceptance


def test_several_suspensions_the_last_still_open() -> None:
    r = rebuild_record(
        history(
            assign(1, None, "lina"),
            status(2, S.OPEN, S.IN_PROGRESS),
            status(10, S.IN_PROGRESS, S.SUSPENDED),
            status(40, S.SUSPENDED, S.IN_PROGRESS),
            status(45, S.IN_PROGRESS, S.SUSPENDED),
            status(46, S.SUSPENDED, S.SUSPENDED),  # a no-op change does not cut the stretch
            current=S.SUSPENDED,
            assignee="lina",
        )
    ).record
    assert r.suspensions == ((at(10), at(40)), (at(45), None))
    r = rebuild_record(
        history(status(3, S.OPEN, S.SUSPENDED), status(9, S.SUSPENDED, S.RESOLVED), current=S.RESOLVED)
    ).record
    assert r.suspensions == ((at(3), at(9)),) and r.resolved_at == at(9)


def test_reassigned_across_groups_the_line_is_the_resolving_groups() -> None:
    changes = (
        group(3, "service-desk", "network"),
        assign(4, None, "zhangw"),
        status(5, S.OPEN, S.IN_PROGRESS, actor="zhangw"),
        group(20, "network", "finance-apps"),
        assign(20, "zhangw", "wangf"),
        status(50, S.IN_PROGRESS, S.RESOLVED, actor="wangf"),
    )
    r = rebuild_record(
        history(*changes, current=S.RESOLVED, assignee="wangf", group_now="finance-apps"), line_of=lines()
    ).record
    assert r.assigned_at == at(3)  # the desk dispatched it to network (its first group only routed it)
    assert r.resolver == "wangf" and r.resolver_role is ResolverRole.SECOND_LINE
    assert r.worklog_staff == ("desk", "zhangw", "wangf")
    # resolved by the desk itself, in its own group
    r = rebuild_record(
        history(status(5, S.OPEN, S.RESOLVED), current=S.RESOLVED, group_now="service-desk", assignee="desk"),
        line_of=lines(),
    ).record
    assert r.resolver_role is ResolverRole.FIRST_LINE and r.resolver == "desk"
    # a group people.yaml does not list: no line is claimed; no people.yaml: neither
    unknown = history(status(5, S.OPEN, S.RESOLVED), current=S.RESOLVED, group_now="elsewhere")
    assert rebuild_record(unknown, line_of=lines()).record.resolver_role is None
    assert rebuild_record(unknown).record.resolver_role is None


def test_the_field_wins_over_the_groups_line() -> None:
    r = rebuild_record(
        history(
            status(5, S.OPEN, S.RESOLVED),
            current=S.RESOLVED,
            group_now="network",
            resolver_role=ResolverRole.FIRST_LINE,
        ),
        line_of=lines(),
    ).record
    assert r.resolver_role is ResolverRole.FIRST_LINE
    # a role on a ticket still open is kept as the field says (the KPIs count only done ones)
    r = rebuild_record(history(resolver_role=ResolverRole.SECOND_LINE)).record
    assert r.resolver_role is ResolverRole.SECOND_LINE and r.resolved_at is None


def test_a_third_party_resolution_is_measured_from_the_hand_over() -> None:
    changes = (
        group(2, None, "network"),
        status(3, S.OPEN, S.IN_PROGRESS),
        group(30, "network", "metro-telecom"),
        assign(30, None, "zhaok"),
        status(200, S.IN_PROGRESS, S.RESOLVED, actor="zhaok"),
    )
    h = history(*changes, current=S.RESOLVED, assignee="zhaok", group_now="metro-telecom")
    built = rebuild_record(h, line_of=lines())
    r = built.record
    assert r.resolver_role is ResolverRole.THIRD_PARTY and r.resolver == "zhaok"
    assert r.third_party_at == at(30)  # when it entered the supplier's group
    assert any("hand-over" in n for n in built.notes)
    # the ticket's own field, when the desk recorded it
    r = rebuild_record(
        history(*changes, current=S.RESOLVED, assignee="zhaok", group_now="metro-telecom", third_party_at=at(25)),
        line_of=lines(),
    ).record
    assert r.third_party_at == at(25)
    # the field says third party but no group says when: from the registration, said in the notes
    built = rebuild_record(
        history(status(9, S.OPEN, S.RESOLVED), current=S.RESOLVED, resolver_role=ResolverRole.THIRD_PARTY)
    )
    assert built.record.third_party_at == T0 and built.notes


def test_a_duplicate_names_its_masters_helpdesk_id() -> None:
    h = history(duplicate_of="zabbix:0", ticket_id="12")
    assert rebuild_record(h, master_id="7").record.duplicate_of == "7"
    assert rebuild_record(h, master_id="12").record.duplicate_of is None  # never itself
    assert rebuild_record(h).record.duplicate_of is None


def test_a_desk_ticket_with_none_of_the_connectors_fields() -> None:
    bare = TicketHistory(
        ticket_id="99",
        key=None,
        created_at=T0,
        author="desk",
        status=S.OPEN,
        assignee=None,
        group=None,
        fields={},
        changes=(),
    )
    r = rebuild_record(bare).record
    assert r.title == "#99" and r.source is TicketSource.USER_REPORT  # typed in by the desk
    assert (r.impact, r.urgency, r.priority) == (Impact.GENERAL, Urgency.NORMAL, Priority.MEDIUM)
    assert (r.occurred_at, r.registered_at) == (T0, T0)
    assert r.reporter is None and r.ci is None and r.category is None and r.closure_code is None
    assert r.kb_used is False and r.worklog_staff == () and r.registrar == "desk"
    assert rebuild_record(history(source="not-a-source")).record.source is TicketSource.MONITORING


def test_the_reporter_falls_back_to_the_contact() -> None:
    assert rebuild_record(history(contact="王先生")).record.reporter == "王先生"
    assert rebuild_record(history(contact="王先生", reporter="票务中心")).record.reporter == "票务中心"


def test_an_outage_start_after_registration_is_not_believed() -> None:
    built = rebuild_record(history(outage_start=at(30)))
    assert built.record.occurred_at == T0 and built.notes


def test_moments_never_come_before_the_registration() -> None:
    # the desk backdated nothing, but the connector registered it 10 minutes after the helpdesk made it
    r = rebuild_record(
        history(
            status(5, S.OPEN, S.RESOLVED),
            current=S.RESOLVED,
            group_now="network",
            registered_at=at(10),
        )
    ).record
    assert r.registered_at == at(10) and r.resolved_at == at(10)
    assert r.assigned_at is None  # the group it was created with routes it: nobody dispatched it


def test_a_monitoring_recovery_is_nobodys_resolution() -> None:
    h = history(status(9, S.OPEN, S.RESOLVED, actor=BOT), current=S.RESOLVED)
    assert rebuild_record(h, connector_logins={BOT}).record.resolver is None
    h = history(status(9, S.OPEN, S.RESOLVED, actor="desk"), current=S.RESOLVED)
    assert rebuild_record(h, connector_logins={BOT}).record.resolver == "desk"


def test_closed_without_being_resolved_first() -> None:
    r = rebuild_record(history(status(9, S.OPEN, S.CLOSED), current=S.CLOSED)).record
    assert r.resolved_at == at(9) == r.closed_at


def test_created_done_or_with_a_truncated_history() -> None:
    r = rebuild_record(history(current=S.CLOSED)).record  # nothing ever changed: done from the start
    assert r.resolved_at == T0 == r.closed_at
    # the history ends in progress, but the helpdesk says resolved now (a change it did not journal)
    built = rebuild_record(history(status(5, S.OPEN, S.IN_PROGRESS), current=S.RESOLVED))
    assert built.record.resolved_at == at(5) and built.notes


def test_a_status_the_process_does_not_know_means_nothing() -> None:
    odd = Change(at=at(5), actor="desk", kind=ChangeKind.STATUS, old="open", new="waiting-for-godot")
    r = rebuild_record(history(odd, status(9, None, S.RESOLVED), current=S.RESOLVED)).record
    assert r.resolved_at == at(9) and r.suspensions == ()


def test_a_record_the_format_refuses_is_not_returned() -> None:
    with pytest.raises(ValueError, match="id"):  # a helpdesk answer without an id
        rebuild_record(history(ticket_id=""))


def test_accepted_and_resolved_in_the_registration_second() -> None:
    """Helpdesks stamp whole seconds: a ticket taken up and resolved in the very second it was
    registered (a fast engineer, or a script) was accepted then, not never."""
    built = rebuild_record(
        history(
            group(0, "服务台", "网络组"),
            status(0, S.OPEN, S.IN_PROGRESS, actor="eng"),
            status(0, S.IN_PROGRESS, S.RESOLVED, actor="eng"),
            current=S.RESOLVED,
            assignee="eng",
            group_now="网络组",
        ),
        connector_logins={BOT},
        line_of=lines(),
    ).record
    assert (built.assigned_at, built.accepted_at, built.resolved_at) == (T0, T0, T0)
