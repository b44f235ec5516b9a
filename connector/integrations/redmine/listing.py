"""Listing a project's issues: every page of ``GET /issues.json`` for a filter, in id order.

Pages are sorted by id, not by ``updated_on``: an issue updated while we page would move to
the end of an ``updated_on`` order and shift the next page, skipping one issue. With ids an
update can only add an issue (seen twice; the caller yields it once). Each issue comes with
Redmine's own clock when its page was answered (at least: ``RedmineClient.answered_at``, the
HTTP ``Date`` or our clock corrected by a create's answer): the sync-back uses it to know that
no change of an issue's last-update second is still to come.
"""

from __future__ import annotations

__all__ = ["issue_pages"]

from collections.abc import Iterator, Mapping
from datetime import datetime

from connector.integrations.redmine.client import RedmineClient
from connector.integrations.redmine.ids import RedmineIds
from connector.integrations.redmine.schema import Issue, IssueList
from connector.integrations.redmine.values import PAGE_SIZE


def issue_pages(
    client: RedmineClient, ids: RedmineIds, filters: Mapping[str, str]
) -> Iterator[tuple[Issue, datetime | None]]:
    """Every issue of the project (any status) matching ``filters``, page by page in id order,
    each with Redmine's clock when its page was answered (``None``: not known yet)."""
    offset = 0
    while True:
        page = client.get(
            "/issues.json",
            IssueList,
            {
                "project_id": ids.project_id,
                "status_id": "*",
                **filters,
                "sort": "id",
                "offset": offset,
                "limit": PAGE_SIZE,
            },
        )
        answered_at = client.answered_at
        for issue in page.issues:
            yield issue, answered_at
        offset += PAGE_SIZE
        if not page.issues or offset >= page.total_count:
            return
