"""The shipped escalation and notification rules equal the seed's tables, and a broken rule
file is reported as file:line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connector.domain.errors import ConfigError
from connector.domain.models import Priority
from connector.domain.notice import NoticeKind, StatusEvent
from connector.rules.ladder import default_rules_path, load_escalation, load_notification_rules
from connector.rules.sla import Stage
from tests.notify_helpers import directory

# The seed's tables, written out again by hand (seed §3.1.3.6 and §3.1.3.7, PROCESS §6 and §8):
# (level, role, minutes after creation)
SEED_LADDER = {
    1: [(1, "project_manager", 10), (2, "maintenance_engineer", 15), (3, "maintenance_manager", 30)],
    2: [(1, "project_manager", 5), (2, "maintenance_engineer", 10), (3, "maintenance_manager", 30)],
    3: [(1, "project_manager", 10), (2, "maintenance_engineer", 15), (3, "maintenance_manager", 60)],
}
SEED_LADDER[4] = SEED_LADDER[3]  # P4 like P3 (PROCESS §4 Decision)

# (role, minutes); P1's ranges 5–10, 15–20, 20–30, 30–60 fire at the lower bound
SEED_TIMED = {
    1: [("project_manager", 5), ("maintenance_manager", 15), ("product_manager", 20), ("deputy_director", 30)],
    2: [("project_manager", 10), ("maintenance_manager", 15), ("product_manager", 30), ("deputy_director", 60)],
    3: [("project_manager", 15), ("maintenance_manager", 30), ("product_manager", 60), ("deputy_director", 90)],
}
SEED_TIMED[4] = SEED_TIMED[3]

SEED_CHANNELS = {1: ("phone", "email"), 2: ("email",), 3: ("email",), 4: ("email",)}

SEED_STATUS = {
    StatusEvent.OPEN: ("user", "service_desk"),
    StatusEvent.ASSIGNED: ("assignee",),
    StatusEvent.IN_PROGRESS: (),
    StatusEvent.PENDING_CHANGE: (),
    StatusEvent.SUSPENDED: ("user",),
    StatusEvent.RESOLVED: ("user", "service_desk"),
    StatusEvent.CLOSED: ("user",),
}


@pytest.mark.parametrize("priority", list(Priority))
def test_default_ladder_is_the_seeds(priority: Priority) -> None:
    ladder = load_escalation().ladder(priority)
    got = [(s.level, s.role, s.after) for s in ladder]
    assert got == [(lv, role, timedelta(minutes=m)) for lv, role, m in SEED_LADDER[int(priority)]]


@pytest.mark.parametrize("priority", list(Priority))
def test_default_timed_notices_are_the_seeds(priority: Priority) -> None:
    timed = load_notification_rules().timed_for(priority)
    assert [(t.role, t.after) for t in timed] == [(r, timedelta(minutes=m)) for r, m in SEED_TIMED[int(priority)]]


def test_default_channels_and_matrices_are_process_section_8() -> None:
    rules = load_notification_rules()
    for priority in Priority:
        assert rules.channels_for(NoticeKind.ESCALATION, priority) == SEED_CHANNELS[int(priority)]
        assert rules.channels_for(NoticeKind.NOTICE, priority) == SEED_CHANNELS[int(priority)]
        assert rules.channels_for(NoticeKind.STATUS, priority) == ("email",)
    assert {event: rules.status_roles(event) for event in StatusEvent} == SEED_STATUS
    for stage in Stage:  # every breach notifies the incident manager
        assert rules.sla_roles(stage, breached=True) == ("incident_manager",)
    assert rules.sla_roles(Stage.RESPONSE, breached=False) == ("service_desk",)
    assert rules.sla_roles(Stage.RESOLUTION, breached=False) == ("assignee",)
    assert rules.kind_roles(NoticeKind.REASSIGNMENT_ALERT) == ("incident_manager",)
    assert "user" in rules.kind_roles(NoticeKind.OUTAGE) and "user" in rules.kind_roles(NoticeKind.RESTORE)


def test_due_steps_fire_at_their_minute() -> None:
    ladder = load_escalation()
    assert ladder.due(Priority.HIGHEST, timedelta(minutes=9, seconds=59)) == []
    assert [s.level for s in ladder.due(Priority.HIGHEST, timedelta(minutes=10))] == [1]
    assert [s.level for s in ladder.due(Priority.HIGH, timedelta(minutes=10))] == [1, 2]
    assert [s.level for s in ladder.due(Priority.MEDIUM, timedelta(hours=2))] == [1, 2, 3]
    timed = load_notification_rules()
    assert [t.role for t in timed.due_timed(Priority.HIGHEST, timedelta(minutes=19))] == [
        "project_manager",
        "maintenance_manager",
    ]


def test_shipped_rules_name_only_roles_of_the_example_people_file() -> None:
    roles = directory().role_ids
    ladder = load_escalation(roles=roles)  # raises ConfigError naming any role the people file lacks
    notices = load_notification_rules(roles=roles, channels=["email", "phone"])
    named = {level.role for level in ladder.levels} | set(notices.timed.roles) | set(notices.reassignment)
    assert named and named <= set(roles)


def _problems(path: Path, **kwargs: object) -> list[str]:
    loader = load_escalation if path.name.startswith("esc") else load_notification_rules
    with pytest.raises(ConfigError) as caught:
        loader(path, **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in caught.value.problems]


def test_escalation_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "escalation.yaml"
    path.write_text(
        "levels:\n"  # 1
        "  - role: project_manager\n"  # 2
        "  - role: maintenance_enginer\n"  # 3
        "  - rol: maintenance_manager\n"  # 4
        "minutes:\n"  # 5
        "  1: [10, 15, 30]\n"  # 6
        "  2: [5, 5, 30]\n"  # 7
        "  3: [10, 15]\n"  # 8
        "  5: [1, 2, 3]\n",  # 9
        encoding="utf-8",
    )
    problems = _problems(path, roles=directory().role_ids)
    assert f"{path}:3: levels.1.role: not a known role (did you mean 'maintenance_engineer'?)" in problems[0]
    assert f"{path}:4: unknown key 'levels.2.rol' (did you mean 'role'?)" in problems
    assert f"{path}:7: minutes.2: times must increase along the row: 5 comes after 5" in problems
    assert any(p.startswith(f"{path}:9: minutes.5") for p in problems)


def test_row_width_and_missing_rows(tmp_path: Path) -> None:
    path = tmp_path / "escalation.yaml"
    path.write_text("levels:\n  - role: a\n  - role: b\nminutes:\n  1: [10]\n  2: [5, null]\n", encoding="utf-8")
    problems = _problems(path)
    assert problems == [f"{path}:5: minutes.1: 1 times for 2 columns"]
    path.write_text("levels:\n  - role: a\nminutes:\n  1: [10]\n  2: [5]\n", encoding="utf-8")
    assert _problems(path) == [f"{path}:3: minutes: no row for priority 3 (a row of nulls switches one off)"]


def test_null_skips_a_level_and_p4_may_have_its_own_row(tmp_path: Path) -> None:
    path = tmp_path / "escalation.yaml"
    path.write_text(
        "levels:\n  - role: a\n  - role: b\nminutes:\n  1: [10, 20]\n  2: [null, 20]\n  3: [30, 40]\n  4: [60, null]\n",
        encoding="utf-8",
    )
    rules = load_escalation(path)
    assert [(s.level, s.role) for s in rules.ladder(Priority.HIGH)] == [(2, "b")]
    assert [(s.level, s.after) for s in rules.ladder(Priority.LOW)] == [(1, timedelta(hours=1))]


def test_notification_errors_name_file_and_line(tmp_path: Path) -> None:
    shipped = default_rules_path("notifications.yaml")
    text = shipped.read_text(encoding="utf-8")
    broken = (
        text.replace("  1: [phone, email]", "  1: [phnoe, email]")
        .replace("    2: [10, 15, 30, 60]", "    2: [10, 15, 30, 20]")
        .replace("  suspended: [user]", "  suspended: [usr]")
        .replace("reassignment: [incident_manager]", "reasignment: [incident_manager]")
    )
    path = tmp_path / "notifications.yaml"
    path.write_text(broken, encoding="utf-8")
    lines = broken.splitlines()

    def line(fragment: str) -> int:
        return next(i for i, text in enumerate(lines, start=1) if fragment in text)

    problems = _problems(path, roles=directory().role_ids)
    assert any(
        p.startswith(f"{path}:{line('[phnoe')}: channels.1.0: not a known channel (did you mean 'phone'?)")
        for p in problems
    ), problems
    assert (
        f"{path}:{line('2: [10, 15, 30, 20]')}: timed.minutes.2: times must increase along the row: "
        "20 comes after 30" in " ".join(problems)
    )
    assert any(
        p.startswith(f"{path}:{line('[usr]')}: status.suspended.0: not a known role (did you mean 'user'?)")
        for p in problems
    ), problems
    assert f"{path}:{line('reasignment:')}: unknown key 'reasignment' (did you mean 'reassignment'?)" in problems


def test_channels_are_checked_against_the_configured_ones() -> None:
    with pytest.raises(ConfigError, match=r"notifications.yaml:\d+: channels.1.0: not a known channel"):
        load_notification_rules(channels=["email"])  # P1 wants phone, and no phone channel exists
