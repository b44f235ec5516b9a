"""``IssueHistory``: what happened to one issue — its journals as the process's changes, with the
logins of the people who made them (``HistoryReader`` of the Redmine backend).

One ``GET /issues/<id>.json?include=journals`` per ticket, plus one lookup per person the
backend has not met yet (``principals``, cached for the backend's life). The journal arithmetic
itself is pure and lives in ``journal``.
"""

from __future__ import annotations

__all__ = ["IssueHistory"]

from collections.abc import Callable

from connector.contracts.adapters import TicketHistory
from connector.domain.clock import ensure_utc
from connector.integrations.redmine.client import RedmineClient
from connector.integrations.redmine.ids import RedmineIds
from connector.integrations.redmine.journal import GROUP_FIELD, journal_changes
from connector.integrations.redmine.principals import Principal, Principals
from connector.integrations.redmine.reading import connector_key, decode_fields
from connector.integrations.redmine.schema import IssueEnvelope, IssueStatus, NamedRef
from connector.integrations.redmine.values import issue_id


class IssueHistory:
    """Reads issue histories for one backend; ``ids`` is its (cached, lazily looked up) id table."""

    def __init__(self, client: RedmineClient, ids: Callable[[], RedmineIds], *, backend: str) -> None:
        self._client = client
        self._ids = ids
        self._backend = backend
        self._principals: Principals | None = None

    def principal(self, principal_id: int, shown: str | None = None) -> Principal:
        """The user or group with this id (``shown``: the name Redmine gave with it)."""
        if self._principals is None:
            self._principals = Principals(self._client, self._ids().project_id, self._backend)
        return self._principals.of(principal_id, shown)

    def login(self, user: NamedRef | None) -> str | None:
        """The login of a journal's or an issue's user (its display name when the key may not
        read logins)."""
        return self.principal(user.id, user.name).name if user is not None else None

    def read(self, ticket_id: str) -> TicketHistory:
        """The issue and its journals as the process's changes, oldest first.

        Raises ``BackendRejected`` for an issue that does not exist (404) and
        ``BackendUnavailable`` as every call does.
        """
        ids = self._ids()
        operation = f"GET /issues/{ticket_id}.json"
        number = issue_id(ticket_id, backend=self._backend, operation=operation)
        issue = self._client.get(f"/issues/{number}.json", IssueEnvelope, {"include": "journals"}).issue
        fields = decode_fields(issue, ids, self._backend)
        # the people Redmine names along with their ids first: without an admin key their shown
        # names stand in for logins, and an id met alone later must read the same
        for user in (issue.author, *(j.user for j in issue.journals or [])):
            self.login(user)
        assigned = self.principal(issue.assigned_to.id, issue.assigned_to.name) if issue.assigned_to else None
        assignee = assigned.name if assigned is not None and not assigned.is_group else None
        group = fields.get(GROUP_FIELD) or None
        uses_group_field = group is not None  # else the desk may assign to Redmine groups instead
        if group is None and assigned is not None and assigned.is_group:
            group = assigned.name
        status = ids.status_of(issue.status)
        all_statuses = ids.all_statuses
        changes = journal_changes(
            issue.journals or [],
            status_of=lambda status_id: ids.status_of(all_statuses.get(status_id, IssueStatus(id=status_id))),
            field_of_cf={field_id: name for name, field_id in ids.fields.items()},
            principal=self.principal,
            actor_of=self.login,
            uses_group_field=uses_group_field,
            priority_of=lambda priority_id: next((p for p, pid in ids.priorities.items() if pid == priority_id), None),
        )
        fields.update({"title": issue.subject, "status": status, "assignee": assignee, GROUP_FIELD: group})
        return TicketHistory(
            ticket_id=str(issue.id),
            key=connector_key(issue, ids),
            created_at=ensure_utc(issue.created_on or issue.updated_on),
            author=self.login(issue.author),
            status=status,
            assignee=assignee,
            group=group,
            fields=fields,
            changes=changes,
        )
