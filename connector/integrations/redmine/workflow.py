"""The one workflow check before a status change: Redmine answers 204 to a transition the
workflow forbids and drops it without a word, so the connector asks first.

It also keeps a retried status change harmless: an issue already in the target status (the
first try landed) passes without another look at the workflow.
"""

from __future__ import annotations

__all__ = ["ensure_transition"]

from connector.domain.errors import BackendRejected
from connector.integrations.redmine.client import RedmineClient
from connector.integrations.redmine.ids import RedmineIds
from connector.integrations.redmine.schema import IssueEnvelope


def ensure_transition(client: RedmineClient, ids: RedmineIds, issue_id: int, status_id: int, *, backend: str) -> None:
    """Refuse (``BackendRejected``) a status change the workflow would drop silently."""
    issue = client.get(f"/issues/{issue_id}.json", IssueEnvelope, {"include": "allowed_statuses"}).issue
    if issue.status is not None and issue.status.id == status_id:
        return
    if issue.allowed_statuses is None:  # a Redmine that does not list them: cannot check
        return
    if any(status.id == status_id for status in issue.allowed_statuses):
        return
    target = ids.all_statuses.get(status_id)
    current = issue.status.name if issue.status else "?"
    allowed = ", ".join(s.name for s in issue.allowed_statuses) or "none"
    raise BackendRejected(
        f"the workflow does not let the API user move issue #{issue_id} from {current!r} to "
        f"{target.name if target else status_id!r} (allowed: {allowed}); allow it in "
        "Administration › Workflow for the user's role and tracker, or change backend.status_map",
        backend=backend,
        operation=f"PUT /issues/{issue_id}.json",
    )
