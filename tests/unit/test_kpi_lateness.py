"""Lateness in the reports is the SLA's own: the same breach as ``connector.rules.sla.stage_statuses``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.models import Priority, Urgency
from connector.kpi.facts import Breaches, facts_of, resolution_late, response_late
from connector.kpi.history import HistoryRecord
from connector.rules.loading import default_rulebook
from connector.rules.sla import SlaPolicy, Stage, Timeline, stage_statuses

DEFAULT_POLICY = default_rulebook().sla  # the shipped sla.yaml

T0 = datetime(2026, 10, 5, 0, 0, tzinfo=UTC)
AS_OF = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
RULES = Breaches.of(DEFAULT_POLICY)


def at(minutes: float | None) -> datetime | None:
    return None if minutes is None else T0 + timedelta(minutes=minutes)


def record(
    *,
    priority: int = 3,
    urgency: int = 3,
    registered: float = 0,
    assigned: float | None = None,
    accepted: float | None = None,
    resolved: float | None = None,
    suspensions: tuple[tuple[float, float | None], ...] = (),
    **overrides: Any,
) -> HistoryRecord:
    done = resolved is not None
    values: dict[str, Any] = {
        "id": "1",
        "title": "t",
        "source": "monitoring",
        "reporter": None,
        "registrar": None,
        "ci": None,
        "category": None,
        "impact": 3,
        "urgency": urgency,
        "priority": priority,
        "duplicate_of": None,
        "occurred_at": T0,
        "registered_at": at(registered),
        "assigned_at": at(assigned),
        "accepted_at": at(accepted),
        "resolved_at": at(resolved),
        "closed_at": None,
        "third_party_at": None,
        "status": "resolved" if done else ("suspended" if suspensions and suspensions[-1][1] is None else "open"),
        "closure_code": None,
        "resolver": None,
        "resolver_role": None,
        "kb_used": False,
        "worklog_staff": [],
        "suspensions": [[at(s), at(e)] for s, e in suspensions],
    }
    values.update(overrides)
    return HistoryRecord.model_validate(values)


# P3 (and P4): response 15 min, resolution 120 min; urgency 3 restores within 48 h (PROCESS §5)


@pytest.mark.parametrize(
    ("assigned", "late"),
    [(15, False), (15.02, True), (3, False), (None, True)],  # None: never assigned by AS_OF, weeks later
)
def test_response_is_late_past_the_priority_target(assigned: float | None, late: bool) -> None:
    assert response_late(record(assigned=assigned), RULES, AS_OF) is late


def test_response_target_depends_on_priority() -> None:
    assert response_late(record(priority=1, assigned=11), RULES, AS_OF)  # P1: 10 min
    assert not response_late(record(priority=2, assigned=11), RULES, AS_OF)  # P2: 15 min


def test_an_unassigned_ticket_is_not_late_before_its_target_passes() -> None:
    assert not response_late(record(), RULES, T0 + timedelta(minutes=14))
    assert response_late(record(), RULES, T0 + timedelta(minutes=16))


def test_a_ticket_resolved_without_assignment_responded_when_it_was_resolved() -> None:
    assert not response_late(record(resolved=10), RULES, AS_OF)
    assert response_late(record(resolved=20), RULES, AS_OF)


def test_suspended_time_does_not_count_unless_the_policy_says_so() -> None:
    # assigned after 25 min, 15 of them suspended: 10 active minutes against a 15-minute target
    paused = record(assigned=25, suspensions=((5, 20),))
    assert not response_late(paused, RULES, AS_OF)
    counting = SlaPolicy(DEFAULT_POLICY.targets, DEFAULT_POLICY.restore, suspended_time_counts=True)
    assert response_late(paused, Breaches.of(counting), AS_OF)


@pytest.mark.parametrize(
    ("accepted", "resolved", "late"),
    [
        (10, 130, False),  # exactly 120 min from acceptance
        (10, 131, True),
        (None, 125, True),  # no acceptance recorded: measured from the assignment at 4
        (None, 120, False),
    ],
)
def test_resolution_is_late_past_the_priority_target(accepted: float | None, resolved: float, late: bool) -> None:
    assert resolution_late(record(assigned=4, accepted=accepted, resolved=resolved), RULES, AS_OF) is late


def test_resolution_is_late_when_the_urgency_restore_deadline_passed() -> None:
    # urgency 1 restores within 8 h; the resolution stage itself (30 min for P1) was kept
    kept = record(priority=1, urgency=1, assigned=5, accepted=8 * 60 - 20, resolved=8 * 60 + 5)
    assert not response_late(kept, RULES, AS_OF)
    assert resolution_late(kept, RULES, AS_OF)
    assert not resolution_late(
        record(priority=1, urgency=1, assigned=5, accepted=8 * 60 - 20, resolved=8 * 60), RULES, AS_OF
    )


def test_an_open_suspension_stops_the_clock_at_its_start() -> None:
    suspended = record(assigned=5, accepted=10, suspensions=((60, None),))
    assert not resolution_late(suspended, RULES, AS_OF)  # 50 active minutes, weeks ago


def test_facts_carry_the_durations_of_kpis_7_8_and_9() -> None:
    third = record(
        occurred_at=T0 - timedelta(minutes=6),
        assigned=5,
        accepted=10,
        resolved=400,
        third_party_at=at(100),
        resolver_role="third_party",
        suspensions=((200, 260),),
    )
    facts = facts_of(third, 4, RULES, AS_OF)
    assert facts.day == 4
    assert facts.response_minutes == 6
    assert facts.resolution_minutes == 400 - 60
    assert facts.third_party_minutes == 300 - 60
    open_one = facts_of(record(), 0, RULES, AS_OF)
    assert open_one.resolution_minutes is None and open_one.third_party_minutes is None


# --- the same answers as connector.rules.sla ----------------------------------------------------------

minutes = st.floats(min_value=0, max_value=4000, allow_nan=False, allow_infinity=False)


@st.composite
def timelines(draw: st.DrawFn) -> HistoryRecord:
    assigned = draw(st.none() | minutes)
    accepted = None if assigned is None else draw(st.none() | minutes.map(lambda m: assigned + m))
    resolved = None if accepted is None else draw(st.none() | minutes.map(lambda m: accepted + m))
    pauses = draw(st.lists(st.tuples(minutes, st.none() | minutes), max_size=3))
    suspensions = tuple((s, None if d is None else s + d) for s, d in pauses)
    return record(
        priority=draw(st.integers(1, 4)),
        urgency=draw(st.integers(1, 4)),
        assigned=assigned,
        accepted=accepted,
        resolved=resolved,
        suspensions=suspensions,
        status="in_progress" if resolved is None else "resolved",
    )


@settings(max_examples=300, deadline=None)
@given(timelines(), minutes, st.booleans())
def test_lateness_agrees_with_the_sla_module(rec: HistoryRecord, as_of_minutes: float, counts: bool) -> None:
    policy = SlaPolicy(DEFAULT_POLICY.targets, DEFAULT_POLICY.restore, suspended_time_counts=counts)
    as_of = T0 + timedelta(minutes=as_of_minutes)
    timeline = Timeline(
        registered_at=rec.registered_at,
        assigned_at=rec.assigned_at,
        accepted_at=rec.accepted_at,
        resolved_at=rec.resolved_at,
        suspensions=rec.suspensions,
    )
    stages = {s.stage: s for s in stage_statuses(timeline, Priority(rec.priority), Urgency(rec.urgency), policy, as_of)}
    assert response_late(rec, Breaches.of(policy), as_of) is stages[Stage.RESPONSE].breached
    expected = stages[Stage.RESOLUTION].breached or stages[Stage.RESTORE].breached
    assert resolution_late(rec, Breaches.of(policy), as_of) is expected
