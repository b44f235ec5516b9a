"""Shared test data for the notification tests: the example people file, a hostile alert title,
and a notice factory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.domain.models import Priority
from connector.domain.notice import Notice, NoticeKind, TicketLink
from connector.notify.people import Directory, load_people

ROOT = Path(__file__).resolve().parents[1]
PEOPLE_EXAMPLE = ROOT / "config" / "people.example.yaml"
REGISTERED = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)  # 10:40 in Shanghai

#: an alert title that tries every trick: a template expression, HTML, markdown, a link
HOSTILE = "{{ 7*7 }} <script>alert(1)</script> **x** [a](http://evil)"


def directory() -> Directory:
    """The directory of ``config/people.example.yaml``."""
    return Directory(load_people(PEOPLE_EXAMPLE))


def notice(**changes: Any) -> Notice:
    """A P1 level-1 escalation of a core-switch outage, with ``changes`` applied."""
    data: dict[str, Any] = {
        "kind": NoticeKind.ESCALATION,
        "ticket": TicketLink(key="zabbix:31337", ticket_id="42", url="https://redmine.metro.example/issues/42"),
        "priority": Priority.HIGHEST,
        "title": "核心交换机 SW-CORE-01 宕机",
        "service": "票务系统",
        "ci": "SW-CORE-01",
        "estimated_restore": REGISTERED + timedelta(hours=8),
        "roles": ("project_manager",),
        "level": 1,
        "minutes": 10,
        "due_at": REGISTERED + timedelta(minutes=10),
        "registered_at": REGISTERED,
        "assignment_group": "network",
    }
    data.update(changes)
    return Notice.model_validate(data)
