"""Correlation through the whole pipeline, on both ledgers (the daemon's SQLite store and the
in-memory one of ``simulate``): duplicate window edges, the storm guard's switch-over,
recurrence inside and outside its window, priority raised by a repeat, replies."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector.domain.decision import Action, Decision, helpdesk_key
from connector.domain.ledger import MemoryLedger, TicketLedger, apply_decision, record_status
from connector.domain.models import Alert, Priority, TicketStatus
from connector.process.pipeline import Pipeline
from connector.rules.book import RuleBook
from connector.rules.loading import default_rulebook, load_rulebook
from connector.state.store import Store
from tests.state_backend import make_store

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TicketLedger]:
    if request.param == "memory":
        yield MemoryLedger()
    else:
        store = make_store(tmp_path / "state.db")
        yield store
        store.close()


class Desk:
    """Feeds alerts through the pipeline and records each decision, as the engine does."""

    def __init__(self, ledger: TicketLedger, pm: pluggy.PluginManager, rules: RuleBook | None = None) -> None:
        self.ledger = ledger
        self.pipeline = Pipeline.from_manager(pm, rules or default_rulebook())

    def feed(self, alert: Alert) -> Decision:
        now = alert.recovered_at or alert.occurred_at
        decision = self.pipeline.decide(alert, self.ledger, now)
        with self.ledger.transaction() if isinstance(self.ledger, Store) else nullcontext():
            apply_decision(self.ledger, decision, now, "test")
        return decision


def link_down(eid: str, minutes: float, **fields: Any) -> Alert:
    """The core switch uplink going down, as Zabbix reports it (one event per flap)."""
    values: dict[str, Any] = {
        "source": "zabbix",
        "external_id": eid,
        "title": "Interface Gi1/0/1 down",
        "ci": "core-sw01",
        "host_groups": ["Metro/Network core"],
        "severity": 3,
        "occurred_at": T0 + timedelta(minutes=minutes),
    }
    values.update(fields)
    return Alert.model_validate(values)


def recovered(alert: Alert, minutes: float) -> Alert:
    return alert.model_copy(update={"recovered_at": T0 + timedelta(minutes=minutes)})


@pytest.fixture
def desk(ledger: TicketLedger, pm: pluggy.PluginManager) -> Desk:
    return Desk(ledger, pm)


def with_dedup(tmp_path: Path, text: str) -> RuleBook:
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    (directory / "dedup.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return load_rulebook(directory)


# --- the duplicate window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "action"),
    [(30, Action.DUPLICATE), (60, Action.DUPLICATE), (60 + 1 / 60, Action.CREATE)],
    ids=["inside", "exactly-at", "just-after"],
)
def test_duplicate_window_edges(desk: Desk, after: float, action: Action) -> None:
    master = desk.feed(link_down("1", 0))
    assert master.action is Action.CREATE
    repeat = desk.feed(link_down("2", after))
    assert repeat.action is action
    assert repeat.fingerprint == master.fingerprint
    if action is Action.DUPLICATE:
        assert repeat.related_key == "zabbix:1"
        assert repeat.ticket is not None and repeat.ticket.duplicate_of == "zabbix:1"
        assert repeat.reason.startswith("duplicate #1 of master zabbix:1")
    else:
        assert "beyond the 60 min window" in repeat.reason


def test_a_duplicate_copies_the_masters_content(desk: Desk) -> None:
    desk.feed(link_down("1", 0, description="LACP member lost"))
    dup = desk.feed(link_down("2", 5, description="second flap"))
    assert dup.ticket is not None
    assert (dup.ticket.category, dup.ticket.assignment_group) == ("网络", "网络组")
    assert dup.ticket.description.startswith("重复事件 duplicate of master 主事件 zabbix:1\n\nsecond flap")
    assert dup.ticket.description.endswith("--- zabbix:1 ---\nInterface Gi1/0/1 down\nLACP member lost")


def test_a_different_ci_or_symptom_is_not_a_duplicate_but_numbers_do_not_matter(desk: Desk) -> None:
    desk.feed(link_down("1", 0))
    assert desk.feed(link_down("2", 1, ci="core-sw02")).action is Action.CREATE
    assert desk.feed(link_down("3", 2, title="Interface Gi1/0/1 flapping")).action is Action.CREATE
    assert desk.feed(link_down("4", 3, title="Interface Gi1/0/2 down")).action is Action.DUPLICATE


def test_an_alert_without_its_fingerprint_fields_is_always_new(desk: Desk) -> None:
    first = desk.feed(link_down("1", 0, ci=None))
    second = desk.feed(link_down("2", 1, ci=None))
    assert (first.action, second.action) == (Action.CREATE, Action.CREATE)
    assert second.fingerprint is None and "no fingerprint" in second.reason


def test_a_user_report_is_never_a_duplicate_of_a_monitoring_alert(desk: Desk) -> None:
    desk.feed(link_down("1", 0, service="网络"))
    report = link_down("m1", 1, source="email", service="网络", ci=None, host_groups=[], severity=None)
    assert desk.feed(report).action is Action.CREATE


# --- the storm guard -----------------------------------------------------------------------------


def test_storm_guard_switches_from_duplicates_to_counted_notes(desk: Desk) -> None:
    desk.feed(link_down("1", 0))
    actions = [desk.feed(link_down(str(n), n)).action for n in range(2, 7)]
    assert actions == [Action.DUPLICATE] * 3 + [Action.APPEND] * 2  # max_duplicates: 3
    fifth = desk.feed(link_down("7", 7))
    assert fifth.action is Action.APPEND and fifth.rule == "dedup.storm_guard"
    assert fifth.reason.startswith("repeat #6 of zabbix:1, 7 min after it began (storm guard: more than 3 repeats)")
    master = desk.ledger.get("zabbix:1")
    assert master is not None and master.repeats == 6


def test_policy_append_and_a_disabled_storm_guard(
    tmp_path: Path, ledger: TicketLedger, pm: pluggy.PluginManager
) -> None:
    appending = Desk(ledger, pm, with_dedup(tmp_path, "policy: append\n"))
    appending.feed(link_down("1", 0))
    repeat = appending.feed(link_down("2", 1))
    assert repeat.action is Action.APPEND and repeat.rule == "dedup.append"
    unguarded = Desk(MemoryLedger(), pm, with_dedup(tmp_path, "storm_guard: {max_duplicates: null}\n"))
    unguarded.feed(link_down("1", 0))
    assert {unguarded.feed(link_down(str(n), n)).action for n in range(2, 12)} == {Action.DUPLICATE}


def test_the_recovery_of_an_appended_repeat_is_ignored_and_the_master_stays_open(desk: Desk) -> None:
    master = link_down("1", 0)
    desk.feed(master)
    repeats = [link_down(str(n), n) for n in range(2, 6)]
    for alert in repeats:
        desk.feed(alert)
    late = desk.feed(recovered(repeats[-1], 20))  # the 4th repeat was appended
    assert late.action is Action.IGNORED and late.related_key == "zabbix:1"
    assert "counted on master zabbix:1" in late.reason
    state = desk.ledger.get("zabbix:1")
    assert state is not None and state.status is TicketStatus.OPEN


def test_resolving_the_master_resolves_its_duplicates(desk: Desk) -> None:
    master = link_down("1", 0)
    desk.feed(master)
    desk.feed(link_down("2", 1))
    dup3 = link_down("3", 2)
    desk.feed(dup3)
    resolved = desk.feed(recovered(master, 30))
    assert resolved.action is Action.RESOLVE
    for key in ("zabbix:1", "zabbix:2", "zabbix:3"):
        state = desk.ledger.get(key)
        assert state is not None and state.status is TicketStatus.RESOLVED
        assert state.resolved_at == T0 + timedelta(minutes=30)
    assert desk.feed(recovered(dup3, 31)).action is Action.IGNORED


# --- recurrence ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_after_fix", "action"),
    [(1, Action.RECURRENCE), (7, Action.RECURRENCE), (7 + 1 / 86400, Action.CREATE)],
    ids=["inside", "exactly-at", "just-after"],
)
def test_recurrence_window(desk: Desk, days_after_fix: float, action: Action) -> None:
    first = link_down("1", 0, description="uplink optic replaced")
    desk.feed(first)
    desk.feed(recovered(first, 45))
    # the desk closes it at once (recurrence is of a closed incident, PROCESS §10)
    record_status(desk.ledger, "zabbix:1", TicketStatus.CLOSED, T0 + timedelta(minutes=45))
    again = desk.feed(link_down("2", 45 + days_after_fix * 24 * 60))
    assert again.action is action
    if action is Action.RECURRENCE:
        assert again.related_key == "zabbix:1" and again.rule == "dedup.recurrence"
        assert again.ticket is not None and again.ticket.recurrence_of == "zabbix:1"
        assert again.ticket.description.startswith("复发事件 recurrence of zabbix:1")
        assert "uplink optic replaced" in again.ticket.description


def test_recurrence_after_closed_only_counts_closed_tickets(
    tmp_path: Path, ledger: TicketLedger, pm: pluggy.PluginManager
) -> None:
    desk = Desk(ledger, pm, with_dedup(tmp_path, "recurrence: {days: 7, after: closed}\n"))
    first = link_down("1", 0)
    desk.feed(first)
    desk.feed(recovered(first, 10))
    assert desk.feed(link_down("2", 20, ci="core-sw01")).action is Action.CREATE  # resolved, not closed
    record_status(desk.ledger, "zabbix:1", TicketStatus.CLOSED, T0 + timedelta(minutes=30))
    record_status(desk.ledger, "zabbix:2", TicketStatus.CLOSED, T0 + timedelta(minutes=31))
    third = desk.feed(link_down("3", 40))
    assert third.action is Action.RECURRENCE and third.related_key == "zabbix:2"  # the one closed last


# --- priority changes ----------------------------------------------------------------------------


def test_a_more_urgent_repeat_raises_the_masters_priority_with_the_reason(desk: Desk) -> None:
    master = desk.feed(link_down("1", 0, severity=3))
    assert master.ticket is not None and master.ticket.priority is Priority.MEDIUM
    worse = desk.feed(link_down("2", 2, severity=5))
    assert worse.action is Action.DUPLICATE and worse.ticket is not None
    assert worse.ticket.priority is Priority.HIGHEST
    (update,) = worse.updates
    assert update.key == "zabbix:1" and update.changes["priority"] == 1
    assert update.note.startswith("优先级提升 priority raised P3 → P1: the repeat zabbix:2")
    assert "severity 5" in update.note
    state = desk.ledger.get("zabbix:1")
    assert state is not None and state.priority is Priority.HIGHEST
    # a later, milder repeat copies the raised priority and raises nothing
    milder = desk.feed(link_down("3", 3, severity=3))
    assert milder.ticket is not None and milder.ticket.priority is Priority.HIGHEST and milder.updates == ()


# --- replies and idempotency ---------------------------------------------------------------------


def test_a_reply_becomes_a_note_on_the_ticket_it_answers(desk: Desk) -> None:
    desk.feed(link_down("1", 0))
    if isinstance(desk.ledger, Store):
        desk.ledger.ticket_set_ref("zabbix:1", "42", "http://desk/42")
    else:
        assert isinstance(desk.ledger, MemoryLedger)
        desk.ledger.set_ticket_id("zabbix:1", "42")
    reply = link_down("m1", 5, source="email", reply_to="42", reporter="zw@metro.example", title="Re: still down")
    decision = desk.feed(reply)
    assert (decision.action, decision.related_key, decision.is_reply) == (Action.APPEND, "zabbix:1", True)
    other = desk.feed(reply.model_copy(update={"external_id": "m2", "reply_to": "77"}))
    assert other.related_key == helpdesk_key("77")  # a desk ticket the connector did not make


def test_the_same_problem_again_is_ignored(desk: Desk) -> None:
    desk.feed(link_down("1", 0))
    again = desk.feed(link_down("1", 0))
    assert again.action is Action.IGNORED and again.reason == "a ticket already exists for this problem"
