"""SLA arithmetic: every stage's deadline per priority (the seed's §3.1.3.5 table), restore
deadlines per urgency, and suspended time that does not count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.domain.models import Priority, Urgency
from connector.rules.loading import default_rulebook
from connector.rules.sla import (
    SlaPolicy,
    Stage,
    StageStatus,
    Target,
    Timeline,
    active_time,
    deadline,
    first_due,
    next_due,
    stage_statuses,
)

DEFAULT_POLICY = default_rulebook().sla  # the shipped sla.yaml

T0 = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# the seed's table, written out independently of connector/sla.py: (warning, breach) minutes
SEED = {
    (1, Stage.RESPONSE): (5, 10),
    (1, Stage.ACCEPTANCE): (10, 15),
    (1, Stage.RESOLUTION): (None, 30),
    (2, Stage.RESPONSE): (10, 15),
    (2, Stage.ACCEPTANCE): (None, 30),
    (2, Stage.RESOLUTION): (None, 60),
    (3, Stage.RESPONSE): (None, 15),
    (3, Stage.ACCEPTANCE): (None, 30),
    (3, Stage.RESOLUTION): (None, 120),
    (4, Stage.RESPONSE): (None, 15),  # P4 takes P3's timings
    (4, Stage.ACCEPTANCE): (None, 30),
    (4, Stage.RESOLUTION): (None, 120),
}


@pytest.mark.parametrize(("priority", "stage"), list(SEED))
def test_default_targets_are_the_seeds(priority: int, stage: Stage) -> None:
    warning, breach = SEED[(priority, stage)]
    target = DEFAULT_POLICY.target(stage, Priority(priority), Urgency.NORMAL)
    assert target.breach == timedelta(minutes=breach)
    assert target.warning == (None if warning is None else timedelta(minutes=warning))


@pytest.mark.parametrize(("urgency", "hours"), [(1, 8), (2, 24), (3, 48), (4, 72)])
def test_restore_deadline_follows_urgency(urgency: int, hours: int) -> None:
    (restore,) = [
        s
        for s in stage_statuses(Timeline(T0), Priority.HIGHEST, Urgency(urgency), DEFAULT_POLICY, T0)
        if s.stage is Stage.RESTORE
    ]
    assert restore.due_at == T0 + timedelta(hours=hours)


def _life(assign: float, accept: float, resolve: float) -> Timeline:
    return Timeline(registered_at=T0, assigned_at=at(assign), accepted_at=at(accept), resolved_at=at(resolve))


@pytest.mark.parametrize(("priority", "stage"), list(SEED))
def test_each_stage_starts_where_the_previous_stopped_and_breaches_just_after_its_target(
    priority: int, stage: Stage
) -> None:
    warning, breach = SEED[(priority, stage)]
    # the stage under test starts at minute 100; the others are quick
    starts = {Stage.RESPONSE: 0, Stage.ACCEPTANCE: 100, Stage.RESOLUTION: 100}
    start = starts[stage]
    if stage is Stage.RESPONSE:
        timeline = Timeline(registered_at=T0)
    elif stage is Stage.ACCEPTANCE:
        timeline = Timeline(registered_at=T0, assigned_at=at(100))
    else:
        timeline = Timeline(registered_at=T0, assigned_at=at(1), accepted_at=at(100))

    def status(now: float) -> StageStatus:
        (found,) = [
            s
            for s in stage_statuses(timeline, Priority(priority), Urgency.NORMAL, DEFAULT_POLICY, at(now))
            if s.stage is stage
        ]
        return found

    on_time = status(start + breach)
    assert on_time.due_at == at(start + breach)
    assert on_time.running and not on_time.breached  # exactly at: not late
    late = status(start + breach + 1 / 60)
    assert late.breached
    if warning is not None:
        assert status(start + warning).warned is False
        assert status(start + warning + 1 / 60).warned is True
        assert on_time.warning_at == at(start + warning)
    else:
        assert on_time.warning_at is None


def test_a_stopped_stage_keeps_its_elapsed_time_and_is_not_running() -> None:
    timeline = _life(assign=8, accept=30, resolve=50)
    statuses = {
        s.stage: s for s in stage_statuses(timeline, Priority.HIGHEST, Urgency.VERY_URGENT, DEFAULT_POLICY, at(500))
    }
    assert statuses[Stage.RESPONSE].elapsed == timedelta(minutes=8) and not statuses[Stage.RESPONSE].breached
    assert statuses[Stage.RESPONSE].warned  # 8 min > the 5 min warning
    assert statuses[Stage.ACCEPTANCE].elapsed == timedelta(minutes=22) and statuses[Stage.ACCEPTANCE].breached
    assert statuses[Stage.RESOLUTION].elapsed == timedelta(minutes=20) and not statuses[Stage.RESOLUTION].breached
    assert not any(s.running for s in statuses.values())
    assert next_due(timeline, Priority.HIGHEST, Urgency.VERY_URGENT, DEFAULT_POLICY, at(500)) is None


def test_a_stage_not_started_has_no_deadline() -> None:
    statuses = {s.stage: s for s in stage_statuses(Timeline(T0), Priority.HIGH, Urgency.URGENT, DEFAULT_POLICY, T0)}
    assert statuses[Stage.ACCEPTANCE].due_at is None and not statuses[Stage.ACCEPTANCE].running
    assert statuses[Stage.RESOLUTION].started_at is None


def test_next_due_is_the_earliest_running_deadline_even_when_already_missed() -> None:
    timeline = Timeline(registered_at=T0)
    assert next_due(timeline, Priority.HIGH, Urgency.URGENT, DEFAULT_POLICY, T0) == at(15)
    assert next_due(timeline, Priority.HIGH, Urgency.URGENT, DEFAULT_POLICY, at(60)) == at(15)
    assigned = Timeline(registered_at=T0, assigned_at=at(3))
    assert next_due(assigned, Priority.HIGH, Urgency.URGENT, DEFAULT_POLICY, at(4)) == at(33)


@pytest.mark.parametrize("priority", list(Priority))
@pytest.mark.parametrize("urgency", list(Urgency))
def test_first_due_is_next_due_of_a_fresh_ticket(priority: Priority, urgency: Urgency) -> None:
    assert first_due(priority, urgency, DEFAULT_POLICY, T0) == next_due(
        Timeline(T0), priority, urgency, DEFAULT_POLICY, T0
    )


# --- suspension ----------------------------------------------------------------------------------


def test_suspended_time_moves_the_deadline_later() -> None:
    timeline = Timeline(registered_at=T0, assigned_at=at(2), accepted_at=at(4), suspensions=[(at(10), at(40))])
    statuses = {
        s.stage: s for s in stage_statuses(timeline, Priority.HIGHEST, Urgency.VERY_URGENT, DEFAULT_POLICY, at(60))
    }
    resolution = statuses[Stage.RESOLUTION]
    assert resolution.due_at == at(4 + 30 + 30)
    assert resolution.elapsed == timedelta(minutes=60 - 4 - 30)
    assert not resolution.breached
    assert statuses[Stage.RESTORE].due_at == T0 + timedelta(hours=8, minutes=30)


def test_an_open_suspension_pauses_the_clock_and_nothing_can_breach() -> None:
    timeline = Timeline(registered_at=T0, assigned_at=at(1), accepted_at=at(2), suspensions=[(at(10), None)])
    statuses = {
        s.stage: s for s in stage_statuses(timeline, Priority.HIGHEST, Urgency.VERY_URGENT, DEFAULT_POLICY, at(600))
    }
    resolution = statuses[Stage.RESOLUTION]
    assert resolution.due_at is None
    assert resolution.elapsed == timedelta(minutes=8)
    assert not resolution.breached
    assert next_due(timeline, Priority.HIGHEST, Urgency.VERY_URGENT, DEFAULT_POLICY, at(600)) is None


def test_a_suspension_outside_the_stage_changes_nothing() -> None:
    timeline = Timeline(registered_at=T0, assigned_at=at(5), accepted_at=at(100), suspensions=[(at(20), at(50))])
    statuses = {s.stage: s for s in stage_statuses(timeline, Priority.MEDIUM, Urgency.NORMAL, DEFAULT_POLICY, at(5))}
    assert statuses[Stage.RESPONSE].due_at == at(15)
    assert statuses[Stage.RESPONSE].elapsed == timedelta(minutes=5)


def test_suspended_time_counts_when_the_policy_says_so() -> None:
    policy = SlaPolicy(DEFAULT_POLICY.targets, DEFAULT_POLICY.restore, suspended_time_counts=True)
    timeline = Timeline(registered_at=T0, suspensions=[(at(1), at(30))])
    statuses = {s.stage: s for s in stage_statuses(timeline, Priority.MEDIUM, Urgency.NORMAL, policy, at(20))}
    assert statuses[Stage.RESPONSE].due_at == at(15)
    assert statuses[Stage.RESPONSE].breached


def test_overlapping_and_unsorted_suspensions_count_once() -> None:
    suspensions = [(at(30), at(40)), (at(10), at(20)), (at(15), at(35))]
    assert active_time(T0, at(60), suspensions) == timedelta(minutes=30)
    assert deadline(T0, timedelta(minutes=30), suspensions) == at(60)


def test_a_suspension_that_began_before_the_stage_counts_from_the_stage_start() -> None:
    assert deadline(at(10), timedelta(minutes=15), [(at(0), at(20))]) == at(35)
    assert active_time(at(10), at(35), [(at(0), at(20))]) == timedelta(minutes=15)


def test_targets_are_checked() -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        Target(timedelta(0))
    with pytest.raises(ValueError, match="warning"):
        Target(timedelta(minutes=10), timedelta(minutes=11))
    with pytest.raises(ValueError, match="priority 4 has no target"):
        SlaPolicy({p: DEFAULT_POLICY.targets[p] for p in list(Priority)[:3]}, DEFAULT_POLICY.restore)
