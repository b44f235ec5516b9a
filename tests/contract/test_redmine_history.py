"""``RedmineBackend.ticket_history`` against Redmine 5's answers (``responses``): one issue with
``include=journals`` (reference/redmine-rest.md §3: ``journals: [{id, user {id,name}, notes,
created_on, private_notes, details: [{property, name, old_value, new_value}]}]``), users'
logins from ``/users/<id>.json`` (admins only), groups from the project's memberships."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import responses

from connector.contracts.adapters import ChangeKind, HistoryReader
from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.domain.models import ClosureCode, ResolverRole, TicketStatus
from tests.contract.test_redmine_contract import CF_IDS, STATUSES, URL, calls_to, issue_json, make_backend, mock_lookups

DESK, ZHANG, BOT, DBA = 21, 22, 5, 30
USERS = {DESK: ("desk", "服务台", "值班"), ZHANG: ("zhangw", "伟", "张"), BOT: ("connector", "Connector", "")}


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def cf(key: str, old: str | None, new: str | None) -> dict[str, Any]:
    return {"property": "cf", "name": str(CF_IDS[key]), "old_value": old, "new_value": new}


def attr(name: str, old: str | None, new: str | None) -> dict[str, Any]:
    return {"property": "attr", "name": name, "old_value": old, "new_value": new}


def journal(
    ident: int, user: int, at: str, *details: dict[str, Any], notes: str = "", private: bool = False
) -> dict[str, Any]:
    _, first, last = USERS.get(user, ("?", "?", ""))
    return {
        "id": ident,
        "user": {"id": user, "name": f"{last} {first}".strip()},  # Redmine's "lastname firstname" format
        "notes": notes,
        "created_on": at,
        "private_notes": private,
        "details": list(details),
    }


def mock_people(rsps: responses.RequestsMock, *, admin: bool = True, members: bool = True) -> None:
    for ident, (login, first, last) in USERS.items():
        user = {"id": ident, "firstname": first, "lastname": last, "created_on": "2024-01-01T00:00:00Z"}
        if admin:
            user["login"] = login
        rsps.get(f"{URL}/users/{ident}.json", json={"user": user})
    rsps.get(f"{URL}/users/{DBA}.json", status=404)  # a group is not a user
    if not members:
        rsps.get(f"{URL}/projects/7/memberships.json", status=403)
        return
    memberships = [
        {"id": 100 + i, "project": {"id": 7, "name": "Operations"}, "user": {"id": i, "name": USERS[i][1]}, "roles": []}
        for i in USERS
    ]
    memberships.append({"id": 200, "project": {"id": 7, "name": "Operations"}, "group": {"id": DBA, "name": "DBA组"}})
    rsps.get(
        f"{URL}/projects/7/memberships.json",
        json={"memberships": memberships, "total_count": len(memberships), "offset": 0, "limit": 100},
    )


def show(rsps: responses.RequestsMock, issue: dict[str, Any], journals: list[dict[str, Any]]) -> None:
    rsps.get(
        f"{URL}/issues/{issue['id']}.json",
        json={"issue": {**issue, "journals": journals}},
        match=[responses.matchers.query_param_matcher({"include": "journals"})],
    )


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_journals_become_the_process_changes(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    mock_people(rsps)
    issue = issue_json(
        42,
        key="zabbix:42",
        status=STATUSES[4],  # Closed
        assignee="张 伟",
        values={
            "assignment_group": "网络组",
            "closure_code": "success",
            "third_party_at": "2024-05-01T10:30:00Z",
            "resolver_role": "second_line",
            "kb_used": "1",
            "impact": "2",
            "registered_at": "2024-05-01T09:59:00Z",
        },
    )
    issue["assigned_to"]["id"] = ZHANG
    journals = [  # newest first: a user may prefer that order, the history is oldest first
        journal(5, DESK, "2024-05-01T11:00:00Z", attr("status_id", "3", "5")),
        journal(4, BOT, "2024-05-01T10:41:00Z", notes="Zabbix reports the problem resolved", private=True),
        journal(
            3,
            ZHANG,
            "2024-05-01T10:40:00Z",
            attr("status_id", "2", "3"),
            cf("closure_code", "", "success"),
            cf("third_party_at", "", "2024-05-01T10:30:00Z"),
            cf("resolver_role", None, "second_line"),
            cf("kb_used", "0", "1"),
            {"property": "attachment", "name": "7", "old_value": None, "new_value": "log.txt"},
            notes="fixed: replaced the line card",
        ),
        journal(2, ZHANG, "2024-05-01T10:08:00Z", attr("status_id", "1", "2"), notes="on it"),
        journal(
            1,
            DESK,
            "2024-05-01T10:05:00Z",
            attr("assigned_to_id", None, str(ZHANG)),
            cf("assignment_group", "服务台", "网络组"),
            cf("key", "zabbix:42", "zabbix:42"),
            {"property": "relation", "name": "relates", "old_value": None, "new_value": "41"},
        ),
    ]
    show(rsps, issue, journals)
    backend = make_backend()
    assert isinstance(backend, HistoryReader)

    h = backend.ticket_history("42")

    assert (h.ticket_id, h.key, h.created_at, h.author) == ("42", "zabbix:42", t("2024-05-01T10:00:00Z"), "connector")
    assert (h.status, h.assignee, h.group) == (TicketStatus.CLOSED, "zhangw", "网络组")
    assert h.fields["closure_code"] is ClosureCode.SUCCESS and h.fields["kb_used"] is True
    assert h.fields["resolver_role"] is ResolverRole.SECOND_LINE
    assert h.fields["third_party_at"] == t("2024-05-01T10:30:00Z")
    assert h.fields["title"] == "Disk full" and h.fields["status"] is TicketStatus.CLOSED
    assert [(c.at, c.actor, c.kind, c.field, c.old, c.new) for c in h.changes] == [
        (t("2024-05-01T10:05:00Z"), "desk", ChangeKind.ASSIGNEE, None, None, "zhangw"),
        (t("2024-05-01T10:05:00Z"), "desk", ChangeKind.GROUP, None, "服务台", "网络组"),
        (t("2024-05-01T10:08:00Z"), "zhangw", ChangeKind.STATUS, None, "open", "in_progress"),
        (t("2024-05-01T10:08:00Z"), "zhangw", ChangeKind.NOTE, None, None, "on it"),
        (t("2024-05-01T10:40:00Z"), "zhangw", ChangeKind.STATUS, None, "in_progress", "resolved"),
        (t("2024-05-01T10:40:00Z"), "zhangw", ChangeKind.FIELD, "closure_code", None, "success"),
        (t("2024-05-01T10:40:00Z"), "zhangw", ChangeKind.FIELD, "third_party_at", None, "2024-05-01T10:30:00Z"),
        (t("2024-05-01T10:40:00Z"), "zhangw", ChangeKind.FIELD, "resolver_role", None, "second_line"),
        (t("2024-05-01T10:40:00Z"), "zhangw", ChangeKind.FIELD, "kb_used", "0", "1"),
        (t("2024-05-01T10:40:00Z"), "zhangw", ChangeKind.NOTE, None, None, "fixed: replaced the line card"),
        (t("2024-05-01T10:41:00Z"), "connector", ChangeKind.NOTE, None, None, "Zabbix reports the problem resolved"),
        (t("2024-05-01T11:00:00Z"), "desk", ChangeKind.STATUS, None, "resolved", "closed"),
    ]
    # one lookup per person, however often they appear
    for ident in (DESK, ZHANG, BOT):
        assert len(calls_to(rsps, "GET", f"/users/{ident}.json")) == 1
    assert backend.connector_login() == "connector"
    assert [c.request.url for c in calls_to(rsps, "GET", "/issues/42.json")] == [
        f"{URL}/issues/42.json?include=journals"
    ]


def test_an_issue_assigned_to_a_redmine_group(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    mock_people(rsps)
    issue = issue_json(7, status=STATUSES[1])
    issue["assigned_to"] = {"id": DBA, "name": "DBA组"}
    journals = [
        journal(1, DESK, "2024-05-01T10:05:00Z", attr("assigned_to_id", None, str(DBA))),
        journal(2, DESK, "2024-05-01T10:06:00Z", attr("assigned_to_id", str(DBA), str(ZHANG))),
        journal(3, ZHANG, "2024-05-01T10:07:00Z", attr("assigned_to_id", str(ZHANG), str(DBA))),
    ]
    show(rsps, issue, journals)
    h = make_backend().ticket_history("7")
    assert (h.assignee, h.group) == (None, "DBA组")
    assert [(c.kind, c.old, c.new) for c in h.changes] == [
        (ChangeKind.GROUP, None, "DBA组"),
        (ChangeKind.ASSIGNEE, None, "zhangw"),
        (ChangeKind.GROUP, "DBA组", None),
        (ChangeKind.ASSIGNEE, "zhangw", None),
        (ChangeKind.GROUP, None, "DBA组"),
    ]
    assert len(calls_to(rsps, "GET", "/projects/7/memberships.json")) == 1
    assert not calls_to(rsps, "GET", f"/users/{DBA}.json")  # known from the memberships


def test_the_group_field_wins_over_group_assignments(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    mock_people(rsps)
    issue = issue_json(8, values={"assignment_group": "网络组"})
    issue["assigned_to"] = {"id": DBA, "name": "DBA组"}
    journals = [journal(1, DESK, "2024-05-01T10:05:00Z", attr("assigned_to_id", None, str(DBA)))]
    show(rsps, issue, journals)
    h = make_backend().ticket_history("8")
    assert h.group == "网络组" and h.changes == ()


def test_a_status_change_within_one_process_status_is_none(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    mock_people(rsps)
    show(
        rsps,
        issue_json(9, status=STATUSES[5]),  # Rejected: closed, though the map does not name it
        [journal(1, DESK, "2024-05-01T10:05:00Z", attr("status_id", "5", "6"))],
    )
    h = make_backend().ticket_history("9")
    assert h.status is TicketStatus.CLOSED and h.changes == ()


def test_without_an_admin_key_names_stand_in_for_logins(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    mock_lookups(rsps, admin=False, sample_issue=issue_json(3))
    mock_people(rsps, admin=False, members=False)
    issue = issue_json(10, assignee="张 伟")
    issue["assigned_to"]["id"] = ZHANG
    show(
        rsps,
        issue,
        [
            journal(1, DESK, "2024-05-01T10:05:00Z", attr("assigned_to_id", None, str(ZHANG))),
            journal(2, ZHANG, "2024-05-01T10:06:00Z", notes="looking"),
        ],
    )
    with caplog.at_level(logging.WARNING, logger="connector.integrations.redmine"):
        h = make_backend().ticket_history("10")
    assert h.assignee == "张 伟" and h.author == "Connector"
    assert [(c.actor, c.kind, c.new) for c in h.changes] == [
        ("值班 服务台", ChangeKind.ASSIGNEE, "张 伟"),  # an id alone reads as the name Redmine shows
        ("张 伟", ChangeKind.NOTE, "looking"),
    ]
    logins = [r for r in caplog.records if "logins" in r.getMessage()]
    members = [r for r in caplog.records if "members" in r.getMessage()]
    assert len(logins) == 1 and len(members) == 1


def test_a_user_lookup_refused_falls_back_to_the_name(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.get(f"{URL}/projects/7/memberships.json", json={"memberships": [], "total_count": 0})
    rsps.get(f"{URL}/users/{BOT}.json", status=403)
    rsps.get(f"{URL}/users/{DESK}.json", status=404)  # deleted since: neither a user nor a group
    rsps.get(f"{URL}/groups/{DESK}.json", status=404)
    show(rsps, issue_json(11), [journal(1, DESK, "2024-05-01T10:05:00Z", notes="x")])
    h = make_backend().ticket_history("11")
    assert h.author == "Connector" and h.changes[0].actor == "值班 服务台"


def test_a_group_that_left_the_project_is_found_by_an_admin(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.get(f"{URL}/projects/7/memberships.json", json={"memberships": [], "total_count": 0})
    mock_people(rsps, members=False)  # registers the users (memberships answer first: empty)
    rsps.get(f"{URL}/groups/{DBA}.json", json={"group": {"id": DBA, "name": "DBA组"}})
    show(rsps, issue_json(12), [journal(1, DESK, "2024-05-01T10:05:00Z", attr("assigned_to_id", None, str(DBA)))])
    h = make_backend().ticket_history("12")
    assert [(c.kind, c.new) for c in h.changes] == [(ChangeKind.GROUP, "DBA组")]


def test_errors(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps)
    rsps.get(f"{URL}/issues/404.json", status=404)
    rsps.get(f"{URL}/issues/503.json", status=503)
    backend = make_backend()
    with pytest.raises(BackendRejected):
        backend.ticket_history("404")
    with pytest.raises(BackendUnavailable):
        backend.ticket_history("503")
    with pytest.raises(BackendRejected):
        backend.ticket_history("../etc")


def test_an_id_met_alone_reads_as_the_users_own_name(rsps: responses.RequestsMock) -> None:
    mock_lookups(rsps, admin=False, sample_issue=issue_json(3))
    mock_people(rsps, admin=False, members=False)
    show(rsps, issue_json(13), [journal(1, DESK, "2024-05-01T10:05:00Z", attr("assigned_to_id", None, str(ZHANG)))])
    h = make_backend().ticket_history("13")
    assert [(c.kind, c.new) for c in h.changes] == [(ChangeKind.ASSIGNEE, "伟 张")]  # firstname lastname


def test_a_change_of_redmines_own_priority_is_a_priority_field_change(rsps: responses.RequestsMock) -> None:
    """Issue 12, item 3: a person who sets Redmine's *priority* is changing the priority by hand —
    the history says so in process priorities (Immediate = 1 … Normal = 4), so the sync-back applies
    the matrix and the reason rule as for impact and urgency."""
    from connector.process.events import EventKind, events_from_history

    mock_lookups(rsps)
    mock_people(rsps)
    issue = issue_json(43, key="zabbix:43", status=STATUSES[1])
    journals = [
        journal(1, DESK, "2024-05-01T10:05:00Z", attr("priority_id", "3", "5"), notes="the whole floor"),
        journal(2, DESK, "2024-05-01T10:06:00Z", attr("priority_id", "5", "2")),  # Normal: P4
        journal(3, DESK, "2024-05-01T10:07:00Z", attr("priority_id", "1", "2")),  # Low is no process priority
    ]
    show(rsps, issue, journals)
    h = make_backend().ticket_history("43")
    assert [(c.actor, c.kind, c.field, c.old, c.new) for c in h.changes] == [
        ("desk", ChangeKind.FIELD, "priority", "3", "1"),
        ("desk", ChangeKind.NOTE, None, None, "the whole floor"),
        ("desk", ChangeKind.FIELD, "priority", "1", "4"),
        ("desk", ChangeKind.FIELD, "priority", None, "4"),
    ]
    events = events_from_history(h, 0, "connector")
    assert [(e.kind, e.priority, e.detail) for e in events] == [
        (EventKind.PRIORITY, 1, "the whole floor"),
        (EventKind.PRIORITY, 4, ""),
        (EventKind.PRIORITY, 4, ""),
    ]
