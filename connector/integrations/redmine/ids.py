"""The ids of one Redmine that every write needs (project, tracker, statuses, priorities, the
connector's custom fields), resolved once from the names the config gives.

``lookup.discover`` finds them and lists what is missing; ``resolve_ids`` turns that into what
the backend writes with, or refuses: without a required piece (the key field, the project, a
mapped status) every write would fail or be dropped, so it raises ``RedmineUnavailable`` and the
work waits in the outbox until an admin runs ``setup redmine``. A missing optional field is
logged once and its value travels in the description and notes instead.
"""

from __future__ import annotations

__all__ = ["RedmineIds", "resolve_ids"]

import logging
from dataclasses import dataclass

from connector.domain.fields import KEY_FIELD
from connector.domain.models import Priority, TicketStatus
from connector.integrations.redmine.client import RedmineUnavailable
from connector.integrations.redmine.lookup import Discovery
from connector.integrations.redmine.schema import IssueStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RedmineIds:
    """The ids of this Redmine, resolved from the configured names."""

    project_id: int
    tracker_id: int
    statuses: dict[TicketStatus, IssueStatus]
    all_statuses: dict[int, IssueStatus]
    priorities: dict[Priority, int]
    fields: dict[str, int]  # ticket field -> custom field id, only fields that can hold a value
    names: dict[str, str]  # ticket field -> custom field name, for messages
    login: str = ""  # the API key's user: who the connector is in the journals

    @property
    def key_field(self) -> int:
        return self.fields[KEY_FIELD]

    def status_of(self, status: IssueStatus | None) -> TicketStatus | None:
        """The process status of a Redmine status: the first ``status_map`` entry naming it; a
        closed status the map does not name (e.g. Rejected) counts as closed."""
        if status is None:
            return None
        for process_status, mapped in self.statuses.items():
            if mapped.id == status.id:
                return process_status
        known = self.all_statuses.get(status.id, status)
        return TicketStatus.CLOSED if known.is_closed else None


def resolve_ids(found: Discovery, backend: str) -> RedmineIds:
    """The ids to write with; raises ``RedmineUnavailable`` naming what a required piece lacks."""
    required = found.missing(required=True)
    if required:
        listing = "; ".join(f"{p.what} — {p.how}" for p in required)
        raise RedmineUnavailable(
            f"Redmine is not set up for the connector: {listing}. "
            "Run `itsm-connector setup redmine --config FILE` for the full report; the work waits "
            "in the outbox",
            backend=backend,
            operation="lookup",
        )
    optional = found.missing(required=False)
    if optional:
        log.warning(
            "%s: Redmine lacks what these ticket fields need, so they are kept only in the description and notes: %s",
            backend,
            "; ".join(p.what for p in optional),
        )
    assert found.project_id is not None and found.tracker_id is not None
    usable = {
        key: info
        for key, info in found.fields.items()
        if info.applies is not False
        and (info.trackers is None or found.tracker_name in info.trackers or key == KEY_FIELD)
    }
    return RedmineIds(
        project_id=found.project_id,
        tracker_id=found.tracker_id,
        statuses=dict(found.statuses),
        all_statuses=dict(found.all_statuses),
        priorities={p: ref.id for p, ref in found.priorities.items()},
        fields={key: info.id for key, info in usable.items()},
        names={key: info.name for key, info in found.fields.items()},
        login=found.user_login,
    )
