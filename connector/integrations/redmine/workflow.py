"""The workflow check before a status change: Redmine answers 204 to a transition the
workflow forbids and drops it without a word, so the connector asks first.

Asking costs a ``GET /issues/<id>.json?include=allowed_statuses`` per status change (one per
resolve in an alert storm). What it learns is a fact of the workflow, not of the issue: from
status *S*, for this tracker, the API user's role and whether that user is the issue's author
or assignee (Redmine's extra transitions), these statuses are allowed. ``Workflow`` keeps those
facts per *shape* (status, tracker, author, assignee) for ``expiry`` (an admin's workflow edit
is seen within it), and the shape each issue was last seen in by this backend (its own create
and status writes, and every listing of the sync-back). A status change of an issue whose
shape is known, with fresh facts for that shape, is checked without a request; anything else
is asked as before.

The window this leaves: a person changes an issue's status and the connector changes it again
before the next sync-back listing shows that. The known status is then stale; the check is
made against the status the connector saw last. A retried write always asks (an issue already
in the target status — the first try landed — passes without another look at the workflow).
"""

from __future__ import annotations

__all__ = ["WORKFLOW_EXPIRY", "Workflow", "ensure_transition"]

import threading
from datetime import datetime, timedelta

from connector.contracts.delivery import current
from connector.domain.clock import Clock
from connector.domain.errors import BackendRejected
from connector.integrations.redmine.client import RedmineClient
from connector.integrations.redmine.ids import RedmineIds
from connector.integrations.redmine.schema import Issue, IssueEnvelope

#: how long what the workflow allows from one status is trusted without asking again
WORKFLOW_EXPIRY = timedelta(seconds=600)

#: what decides the statuses Redmine allows next: status, tracker, author, assignee (ids; 0: none)
Shape = tuple[int, int, int, int]


def shape_of(issue: Issue) -> Shape | None:
    """The issue's shape, or ``None`` when the answer leaves its status or tracker out."""
    if issue.status is None or issue.tracker is None:
        return None
    author = issue.author.id if issue.author is not None else 0
    assignee = issue.assigned_to.id if issue.assigned_to is not None else 0
    return (issue.status.id, issue.tracker.id, author, assignee)


def ensure_transition(client: RedmineClient, ids: RedmineIds, issue_id: int, status_id: int, *, backend: str) -> None:
    """Refuse (``BackendRejected``) a status change the workflow would drop silently (one GET)."""
    Workflow(client, backend=backend).ensure(ids, issue_id, status_id)


class Workflow:
    """The workflow facts of one backend (allowed statuses per current status, with an expiry)
    and the status each issue was last seen in; thread-safe."""

    def __init__(
        self, client: RedmineClient, *, backend: str, clock: Clock | None = None, expiry: timedelta = WORKFLOW_EXPIRY
    ) -> None:
        self._client = client
        self._backend = backend
        self._clock = clock
        self._expiry = expiry
        self._lock = threading.Lock()
        self._allowed: dict[Shape, tuple[frozenset[int], datetime]] = {}
        self._shapes: dict[int, Shape] = {}

    def saw(self, issue: Issue) -> None:
        """Remember the shape an issue was seen in (a create's answer, a listing, a GET)."""
        shape = shape_of(issue)
        with self._lock:
            if shape is None:
                self._shapes.pop(issue.id, None)
            else:
                self._shapes[issue.id] = shape

    def wrote(self, issue_id: int, fields: dict[str, object]) -> None:
        """After the connector's own PUT: a new status moves the known shape; a change of
        assignee, tracker or anything else that may change the shape forgets it."""
        with self._lock:
            shape = self._shapes.get(issue_id)
            if shape is None:
                return
            if "assigned_to_id" in fields or "tracker_id" in fields:
                del self._shapes[issue_id]
            elif isinstance(status := fields.get("status_id"), int):
                self._shapes[issue_id] = (status, *shape[1:])

    def _known(self, issue_id: int) -> frozenset[int] | None:
        """What the workflow allows from the issue's known status, if both are known and fresh."""
        if self._clock is None:
            return None
        delivery = current()
        if delivery is not None and delivery.retry:
            return None  # a retry asks: the first try may have landed
        with self._lock:
            shape = self._shapes.get(issue_id)
            fact = self._allowed.get(shape) if shape is not None else None
        if fact is None or self._clock.now() - fact[1] >= self._expiry:
            return None
        return fact[0]

    def ensure(self, ids: RedmineIds, issue_id: int, status_id: int) -> None:
        """Refuse (``BackendRejected``) a status change the workflow would drop silently; ask
        Redmine only when the facts for the issue's status are not known and fresh."""
        allowed = self._known(issue_id)
        if allowed is not None and status_id in allowed:
            return
        issue = self._client.get(f"/issues/{issue_id}.json", IssueEnvelope, {"include": "allowed_statuses"}).issue
        current_status = issue.status.id if issue.status is not None else None
        self.saw(issue)
        shape = shape_of(issue)
        if shape is not None and issue.allowed_statuses is not None and self._clock is not None:
            fact = frozenset(s.id for s in issue.allowed_statuses)
            with self._lock:
                self._allowed[shape] = (fact, self._clock.now())
        if current_status == status_id:
            return
        if issue.allowed_statuses is None:  # a Redmine that does not list them: cannot check
            return
        if any(status.id == status_id for status in issue.allowed_statuses):
            return
        target = ids.all_statuses.get(status_id)
        current_name = issue.status.name if issue.status else "?"
        allowed_names = ", ".join(s.name for s in issue.allowed_statuses) or "none"
        raise BackendRejected(
            f"the workflow does not let the API user move issue #{issue_id} from {current_name!r} to "
            f"{target.name if target else status_id!r} (allowed: {allowed_names}); allow it in "
            "Administration › Workflow for the user's role and tracker, or change backend.status_map",
            backend=self._backend,
            operation=f"PUT /issues/{issue_id}.json",
        )
