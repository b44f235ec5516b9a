"""Problem records and change requests in Redmine (issue 13): a problem is an issue of the
``links.problem_tracker`` (default "Problem") in ``links.problem_project`` (default: the
incidents' project), related to its incidents with ``relates``; a change is an issue of the
``links.change_tracker`` (default "Change") that people relate to an incident.

**The problem's key.** The connector key of a problem ends its description as the line
``[itsm-key:<key>]`` (the External ID custom field need not be enabled for the Problem
tracker); ``find`` asks ``description ~ key`` and keeps only an issue whose description carries
that exact line, so a create whose answer was lost is found instead of doubled.

**How a linked change is seen.** Redmine journals a new relation on both issues (a detail of
property ``relation``), but does not touch either issue's ``updated_on``, so the sync-back's
``changed_since`` never sees it. Instead one listing per pass asks for the open issues of the
Change tracker that have any relation (``relates=*`` with ``include=relations``; any relation
type counts: people pick "related to", "blocks" or "precedes" alike) — the size of the list
is the number of open changes, not of tickets — and one more asks whether the changes incidents
wait for are closed (``issue_id=1,2,…``, the status's ``is_closed``).
"""

from __future__ import annotations

__all__ = ["ProblemMembers", "RedmineProblems", "key_line", "link_problems"]

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from connector.contracts.adapters import Relation
from connector.domain.errors import BackendRejected
from connector.domain.links import ChangeLink, ProblemRecord
from connector.domain.models import TicketRef
from connector.integrations.redmine.client import RedmineClient, RedmineRejected, RedmineUnavailable
from connector.integrations.redmine.render import literal_block
from connector.integrations.redmine.schema import Issue, IssueEnvelope, IssueList, Project, ProjectEnvelope, Trackers
from connector.integrations.redmine.settings import RedmineLinks, RedmineSettings
from connector.integrations.redmine.values import PAGE_SIZE
from connector.util.setup_report import Problem

log = logging.getLogger(__name__)

#: how many issue ids one ``issue_id=`` listing asks for (the URL stays short)
_IDS_PER_REQUEST = 50


def key_line(key: str) -> str:
    """The last line of a problem's description: its connector key."""
    return f"[itsm-key:{key}]"


def link_problems(client: RedmineClient, settings: RedmineSettings, project: Project | None) -> list[Problem]:
    """What ``backend.links`` names that this Redmine lacks (for ``setup`` / ``validate``): the
    Problem and Change trackers, and the Problem tracker enabled in the problem project. Not
    ``required``: incidents go on being written; a problem record waits in the dead letters
    (``BackendRejected`` naming the tracker) until the admin adds it and retries them."""
    links = settings.links
    if links is None:
        return []
    names = {t.name for t in client.get("/trackers.json", Trackers).trackers}
    problems: list[Problem] = []
    for what, name in (("problem_tracker", links.problem_tracker), ("change_tracker", links.change_tracker)):
        if name is not None and name not in names:
            problems.append(
                Problem(
                    what=f"tracker {name!r} for backend.links.{what} (this Redmine has: {', '.join(sorted(names))})",
                    how="Administration › Trackers › New tracker (scripts/services/redmine.sh fields creates "
                    "Problem and Change on a test server), or set backend.links." + what,
                    required=False,
                )
            )
    if links.problem_tracker is None or links.problem_tracker not in names:
        return problems
    where = project
    if links.problem_project:
        try:
            where = client.get(
                f"/projects/{links.problem_project}.json", ProjectEnvelope, {"include": "trackers"}
            ).project
        except (RedmineRejected, RedmineUnavailable) as exc:
            if isinstance(exc, RedmineUnavailable) and exc.status not in (403, 404):
                raise
            return [
                *problems,
                Problem(
                    what=f"project {links.problem_project!r} of backend.links.problem_project (HTTP {exc.status})",
                    how="create it, or fix backend.links.problem_project (null: the incidents' project)",
                    required=False,
                ),
            ]
    if where is not None and all(t.name != links.problem_tracker for t in where.trackers):
        problems.append(
            Problem(
                what=f"tracker {links.problem_tracker!r} is not enabled in project {where.name!r}",
                how=f"Project {where.name!r} › Settings › Issue tracking: tick {links.problem_tracker!r}",
                required=False,
            )
        )
    return problems


class RedmineProblems:
    """The problem and change side of one Redmine backend (its client, settings and name)."""

    def __init__(self, client: RedmineClient, settings: RedmineSettings, project_id: Callable[[], int], name: str):
        self._client = client
        self._settings = settings
        self._project_id = project_id
        self._name = name
        self._trackers: dict[str, int] | None = None
        self._lock = threading.Lock()

    def tracker_id(self, name: str) -> int:
        """The id of the tracker ``name`` (looked up once); ``BackendRejected`` when it is missing."""
        with self._lock:
            if self._trackers is None:
                found = self._client.get("/trackers.json", Trackers).trackers
                self._trackers = {t.name: t.id for t in found}
            trackers = self._trackers
        if name not in trackers:
            raise BackendRejected(
                f"Redmine has no tracker {name!r} (known: {', '.join(sorted(trackers)) or 'none'}); create it "
                "(scripts/services/redmine.sh fields does on a test server) or change backend.links",
                backend=self._name,
                operation="GET /trackers.json",
            )
        return trackers[name]

    def _project(self) -> str | int:
        links = self._settings.links
        return links.problem_project if links is not None and links.problem_project else self._project_id()

    def _problem_tracker(self) -> int:
        links = self._settings.links
        if links is None or links.problem_tracker is None:
            raise BackendRejected(
                "no problem tracker is configured (backend.links.problem_tracker)",
                backend=self._name,
                operation="POST /issues.json",
            )
        return self.tracker_id(links.problem_tracker)

    def find(self, key: str) -> int | None:
        """The problem issue carrying ``key`` (the oldest, if several do)."""
        line = key_line(key)
        params = {
            "project_id": self._project(),
            "tracker_id": self._problem_tracker(),
            "status_id": "*",
            "description": f"~{line}",
            "sort": "id",
            "limit": PAGE_SIZE,
        }
        issues = self._client.get("/issues.json", IssueList, params).issues
        found = [i.id for i in issues if any(row.strip() == line for row in (i.description or "").splitlines())]
        return min(found) if found else None

    def create(self, problem: ProblemRecord) -> int:
        """Open the problem issue; returns its id."""
        formatting = self._settings.text_formatting
        description = f"{literal_block(problem.description, formatting)}\n\n{key_line(problem.key)}"
        issue = {
            "project_id": self._project(),
            "tracker_id": self._problem_tracker(),
            "subject": problem.title[:255],
            "description": description,
        }
        return self._client.post("/issues.json", {"issue": issue}, IssueEnvelope).issue.id

    # --- changes ---------------------------------------------------------------------------------

    def linked_changes(self, ticket_ids: Sequence[str]) -> list[ChangeLink]:
        """The open changes related to any of ``ticket_ids`` (one paged listing)."""
        links = self._settings.links
        if links is None or links.change_tracker is None:
            return []
        wanted = {int(t) for t in ticket_ids if t.isdigit()}
        params: dict[str, str | int] = {
            "tracker_id": self.tracker_id(links.change_tracker),
            "status_id": "open",
            "relates": "*",
        }
        found: list[ChangeLink] = []
        for change in self._pages({**params, "include": "relations"}):
            for relation in change.relations:
                other = relation.issue_to_id if relation.issue_id == change.id else relation.issue_id
                if other in wanted:
                    found.append(ChangeLink(ticket_id=str(other), change_id=str(change.id), title=change.subject))
        return found

    def closed_changes(self, change_ids: Sequence[str]) -> set[str]:
        """Which of ``change_ids`` are closed (a change deleted since counts as closed: nobody
        can close it any more)."""
        numbers = sorted({int(c) for c in change_ids if c.isdigit()})
        seen_open: set[int] = set()
        for start in range(0, len(numbers), _IDS_PER_REQUEST):
            chunk = numbers[start : start + _IDS_PER_REQUEST]
            for issue in self._pages({"issue_id": ",".join(map(str, chunk)), "status_id": "*"}):
                if issue.status is not None and not issue.status.is_closed:
                    seen_open.add(issue.id)
        return {str(n) for n in numbers if n not in seen_open}

    def _pages(self, params: Mapping[str, str | int]) -> Iterator[Issue]:
        offset = 0
        while True:
            page = self._client.get(
                "/issues.json", IssueList, {**params, "sort": "id", "offset": offset, "limit": PAGE_SIZE}
            )
            yield from page.issues
            offset += PAGE_SIZE
            if not page.issues or offset >= page.total_count:
                return


class ProblemMembers:
    """The ``ProblemTracker`` and ``ChangeTracker`` members of ``RedmineBackend`` (a base class of
    it), over its ``RedmineProblems``: a problem is an issue, so its relation and its notes are
    the backend's own ``add_relation`` and ``add_note``, with their retry safety."""

    name: str
    _problems: RedmineProblems
    #: ``ProblemTracker`` / ``ChangeTracker``: whether ``links:`` names their trackers
    problem_records: bool = False
    change_links: bool = False

    def _start_links(self, problems: RedmineProblems, links: RedmineLinks | None) -> None:
        """Called once by the backend's constructor: problem records and change links are used
        only when ``links:`` names their trackers."""
        self._problems = problems
        self.problem_records = links is not None and links.problem_tracker is not None
        self.change_links = links is not None and links.change_tracker is not None

    if TYPE_CHECKING:  # the backend's own members these use

        def ticket_url(self, ticket_id: str) -> str: ...

        def add_relation(self, ticket_id: str, other_id: str, relation: Relation) -> None: ...

        def add_note(self, ticket_id: str, text: str) -> None: ...

    def find_problem(self, key: str) -> TicketRef | None:
        """The problem issue carrying the connector key ``key``."""
        found = self._problems.find(key)
        return TicketRef(ticket_id=str(found), url=self.ticket_url(str(found))) if found is not None else None

    def create_problem(self, problem: ProblemRecord) -> TicketRef:
        """Open the problem issue in the Problem tracker."""
        number = str(self._problems.create(problem))
        log.info("%s: created problem issue #%s for %s", self.name, number, problem.key)
        return TicketRef(ticket_id=number, url=self.ticket_url(number))

    def link_problem(self, problem_id: str, ticket_id: str) -> None:
        """Relate the incident to the problem (``relates``; an existing relation is done)."""
        self.add_relation(problem_id, ticket_id, Relation.RELATES)

    def add_problem_note(self, problem_id: str, text: str) -> None:
        """A journal note on the problem issue, written once per outbox operation."""
        self.add_note(problem_id, text)

    def linked_changes(self, ticket_ids: Sequence[str]) -> list[ChangeLink]:
        """The open Change issues related to any of the incidents ``ticket_ids``."""
        return self._problems.linked_changes(ticket_ids)

    def closed_changes(self, change_ids: Sequence[str]) -> set[str]:
        """Which of the Change issues ``change_ids`` are closed."""
        return self._problems.closed_changes(change_ids)
