"""The GLPI helpdesk backend: the ``Backend`` protocol over GLPI 10's REST API.

Where each ticket field goes (docs/glpi.md has the table for admins):

* GLPI's own fields: title → ``name``; status, urgency, impact, priority through the configured
  maps (GLPI's scales run 1 = very low … 5 = very high, the process's 1 = highest … 4);
  category/area/subarea → ``itilcategories_id`` (the taxonomy path as complete name); source →
  ``requesttypes_id``; location → ``locations_id``; contact → requester, assignee and assignment
  group → assigned user and group; SLA target → ``time_to_resolve``, the response deadline
  (``connector.rules.sla.response_deadline`` of the rule book's ``sla.yaml``) → ``time_to_own``;
  registration time → ``date`` (``inputs``);
* everything else in a ``label: value`` block in the content (with the connector key marker,
  see ``fields``) at creation, and in a follow-up when it changes.

The class composes one job per module: ``inputs`` (what a ticket or change becomes),
``writes`` (POST refusals told apart, follow-ups safe to retry), ``links`` (duplicates and the
turn to "linked to" before a duplicate is solved), ``documents`` (uploads), ``search``
(``find_by_key``, ``changed_since``), ``history`` (``ticket_history``). docs/glpi.md lists every
write and how a retry is kept from doubling it.

A new ticket costs one POST (the session is opened once per run; dropdown ids are cached).
"""

from __future__ import annotations

__all__ = ["GlpiBackend"]

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import requests

from connector.contracts.adapters import HistoryReader, Relation, Resolution, TicketHistory, TicketSnapshot
from connector.contracts.capabilities import ChangeTracker, KnowledgeMethods, ProblemTracker
from connector.domain.clock import Clock, SystemClock
from connector.domain.errors import BackendRejected
from connector.domain.links import ChangeLink, ProblemRecord
from connector.domain.models import Ticket, TicketRef, TicketStatus
from connector.integrations.glpi.client import GlpiClient, GlpiRejected
from connector.integrations.glpi.documents import Documents
from connector.integrations.glpi.fields import Scales
from connector.integrations.glpi.history import glpi_history
from connector.integrations.glpi.inputs import TicketInputs
from connector.integrations.glpi.items import GlpiKnowledge
from connector.integrations.glpi.links import Links
from connector.integrations.glpi.lookup import Lookups, iterate
from connector.integrations.glpi.problems import GlpiProblems
from connector.integrations.glpi.render import render_content, render_followup
from connector.integrations.glpi.schema import ActorRow, Created, FullSession, LogRow, NoteRow, TicketItem
from connector.integrations.glpi.search import TicketSearch
from connector.integrations.glpi.settings import GlpiSettings
from connector.integrations.glpi.writes import Writes, is_missing_right
from connector.rules.loading import default_rulebook
from connector.rules.sla import SlaPolicy
from connector.util.tls import requests_verify

log = logging.getLogger(__name__)

SOLVED, CLOSED = 5, 6


def _ticket_id(ticket_id: str, *, backend: str, operation: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]*", str(ticket_id)):
        raise BackendRejected(f"not a GLPI ticket id: {ticket_id!r}", backend=backend, operation=operation)
    return int(ticket_id)


class GlpiBackend(KnowledgeMethods):
    """Tickets as GLPI 10 tickets in one entity.

    Build one per configured backend; it owns one HTTP session (or uses the injected one) and
    one GLPI session. ``requests.Session`` is not promised to be thread-safe: use one backend per
    thread.
    """

    #: GLPI solves the tickets linked to a master as "duplicates" when the master is solved
    resolves_duplicates = True

    def __init__(
        self,
        settings: GlpiSettings,
        *,
        name: str = "glpi",
        clock: Clock | None = None,
        session: requests.Session | None = None,
        register_secret: Callable[[str], None] | None = None,
        sla: SlaPolicy | None = None,
    ) -> None:
        """``sla``: the rule book's SLA policy, whose response targets set ``time_to_own``
        (default: the shipped ``sla.yaml``)."""
        self.name = name
        self.settings = settings
        sla = sla if sla is not None else default_rulebook().sla
        if settings.time_to_own_minutes is not None:
            log.warning(
                "%s: time_to_own_minutes is deprecated and ignored: the response deadline (time_to_own) comes "
                "from the response targets of the rules' sla.yaml",
                name,
            )
        self._clock = clock or SystemClock()
        self._zone = ZoneInfo(settings.timezone)
        self._scales = Scales.of(settings)
        self._client = GlpiClient(
            settings.url,
            settings.user_token.get_secret_value(),
            app_token=settings.app_token.get_secret_value() if settings.app_token else None,
            backend=name,
            clock=self._clock,
            timeout=settings.timeout_seconds,
            verify_tls=requests_verify(settings.verify_tls, settings.ca_bundle),
            entity=settings.entity,
            session=session,
            on_session=register_secret,
        )
        self.lookups = Lookups(self._client, settings, self._clock, name)
        self._inputs = TicketInputs(settings, self._scales, self._zone, self.lookups, name, sla)
        self._writes = Writes(self._client, backend=name, private_followups=settings.private_followups)
        self._links = Links(self._client, self._writes, name)
        self._documents = Documents(self._client, self._writes, name, settings.entity)
        self._knowledge = GlpiKnowledge(self._client, self._writes, settings, self._clock, name)
        self._search = TicketSearch(self._client, self._scales, self._zone, self.lookups, name)
        self._own_login: str | None = None
        self._problems = GlpiProblems(self._client, self._writes, name, settings.entity)
        links = settings.links
        #: GLPI's Problems and Change_Ticket links are used when ``links:`` says so
        self.problem_records = links is not None and links.problems
        self.change_links = links is not None and links.changes

    def __repr__(self) -> str:  # never shows a token
        return f"GlpiBackend(name={self.name!r}, url={self.settings.url!r}, entity={self.settings.entity!r})"

    @property
    def client(self) -> GlpiClient:
        """The HTTP client (``setup`` uses it for the dropdown listings)."""
        return self._client

    def ticket_url(self, ticket_id: str) -> str:
        """The ticket's page, for people."""
        return f"{self.settings.ui_url}/front/ticket.form.php?id={ticket_id}"

    def _ref(self, ticket_id: int) -> TicketRef:
        return TicketRef(ticket_id=str(ticket_id), url=self.ticket_url(str(ticket_id)))

    # --- create / find -------------------------------------------------------------------------

    def find_by_key(self, key: str) -> TicketRef | None:
        """The ticket whose content carries the marker of ``key`` (the oldest, if an agent copied
        it), in any status."""
        matches = self._search.by_key(key)
        if not matches:
            return None
        if len(matches) > 1:
            log.warning("%s: %d tickets carry key %r: %s; using #%d", self.name, len(matches), key, matches, matches[0])
        return self._ref(matches[0])

    def create_ticket(self, ticket: Ticket) -> TicketRef:
        """Create the ticket with every field GLPI can hold, in one POST (the answer is only the
        new id: nothing is read back). A dropdown lookup that failed leaves its id out, and the
        content says so."""
        item, failed = self._inputs.create(ticket)
        item["content"] = render_content(ticket, failed)
        created = self._writes.post("Ticket", {"input": item})
        log.info("%s: created ticket #%d for %s", self.name, created.id, ticket.key)
        return self._ref(created.id)

    # --- update / note -------------------------------------------------------------------------

    def update_ticket(self, ticket_id: str, changes: dict[str, Any], note: str | None = None) -> None:
        """Set the named ``Ticket`` fields that GLPI holds in one PUT, and add ``note`` with the
        other changed fields (as ``label: value`` lines) as one follow-up.

        Raises ``ValueError`` for a name that is not a ``Ticket`` field, or for
        ``ticket_id``/``key``. A new assignee or group is added to the ticket's actors (GLPI
        keeps the earlier ones). The description is never rewritten (it carries the connector
        key); a changed description goes into the follow-up, and so does a lookup that failed.
        """
        operation = f"PUT Ticket/{ticket_id}"
        tid = _ticket_id(ticket_id, backend=self.name, operation=operation)
        item, extra, failed = self._inputs.change(changes)
        if item.get("status") in (SOLVED, CLOSED):
            self._links.detach_from_open_masters(tid)  # see resolve_ticket: GLPI would solve the master too
        if item:
            self._client.put(f"Ticket/{tid}", {"input": item})
        links = self.settings.links
        if changes.get("status") == TicketStatus.PENDING_CHANGE and links is not None and note:
            note = f"{links.pending_reason}: {note}"  # GLPI's "pending" with its reason (issue 13)
        text = render_followup("\n\n".join(part for part in (note, *failed) if part and part.strip()), extra)
        if text:
            self._writes.followup(tid, text)

    def add_note(self, ticket_id: str, text: str) -> None:
        """Append ``text`` as a follow-up (a blank text adds nothing)."""
        tid = _ticket_id(ticket_id, backend=self.name, operation="POST ITILFollowup/")
        body = render_followup(text, {})
        if body:
            self._writes.followup(tid, body)

    # --- links ---------------------------------------------------------------------------------

    def add_relation(self, ticket_id: str, other_id: str, relation: Relation) -> None:
        """Link the tickets with ``Ticket_Ticket``; a link that already exists counts as done
        (``links``)."""
        operation = "POST Ticket_Ticket/"
        tid = _ticket_id(ticket_id, backend=self.name, operation=operation)
        other = _ticket_id(other_id, backend=self.name, operation=operation)
        self._links.add(tid, other, relation)

    # --- resolve -------------------------------------------------------------------------------

    def resolve_ticket(self, ticket_id: str, resolution: Resolution) -> None:
        """Solve the ticket with an ``ITILSolution`` carrying the note, the solution, the outage
        end and the resolution code; GLPI then solves the ticket's open duplicates.

        A ticket that duplicates a master still open has its link made "linked to" first, so
        GLPI does not solve the master with it. Solving a solved or closed ticket again is not
        an error (a retry after a crash, or after a 500 GLPI gave once it had solved it: GLPI
        refuses a second solution, and then the ticket's status is read).
        """
        operation = "POST ITILSolution/"
        tid = _ticket_id(ticket_id, backend=self.name, operation=operation)
        extra: dict[str, Any] = {}
        if resolution.outage_end is not None:
            extra["outage_end"] = resolution.outage_end
        if resolution.resolution_code is not None:
            extra["resolution_code"] = resolution.resolution_code
        if resolution.solution is not None:
            extra["solution"] = resolution.solution
        masters = self._links.detach_from_open_masters(tid)
        note = resolution.note
        if masters:
            listing = ", ".join(f"#{m}" for m in masters)
            note += (
                f"\n\nSolved before its master {listing}: the link is now 'Linked to', so GLPI does not "
                "solve the master with it. 先于主事件解决，关联已改为“关联到”。"
            )
        content = render_followup(note, extra) or render_followup("Resolved by the connector.", {})
        try:
            self._client.post(
                "ITILSolution/", {"input": {"itemtype": "Ticket", "items_id": tid, "content": content}}, Created
            )
        except GlpiRejected as exc:
            if exc.code != "ERROR_GLPI_ADD":
                raise
            # GLPI refuses a solution on a solved ticket, with its own message or as a
            # missing right (a solved ticket cannot be solved): the status says which
            status = self._client.get(f"Ticket/{tid}", TicketItem).status
            if status not in (SOLVED, CLOSED):
                if is_missing_right(exc):
                    raise self._writes.refusal(exc, "ITILSolution") from exc
                raise
            log.info("%s: ticket #%d is already solved; nothing to do", self.name, tid)
            return
        log.info("%s: solved ticket #%d", self.name, tid)

    # --- attachments ---------------------------------------------------------------------------

    def add_attachment(self, ticket_id: str, filename: str, content: bytes, content_type: str) -> None:
        """Upload the file as a Document linked to the ticket, in one multipart POST (GLPI shows
        it in the ticket's timeline)."""
        tid = _ticket_id(ticket_id, backend=self.name, operation="POST Document/")
        self._documents.attach(tid, filename, content, content_type)

    def publish_document(self, filename: str, content: bytes, content_type: str, title: str) -> str:
        """Upload a file as a Document of its own (the monthly report: GLPI has no wiki); returns
        its id. One multipart POST."""
        return self._documents.publish(filename, content, content_type, title)

    # --- changed_since -------------------------------------------------------------------------

    def changed_since(self, since: datetime) -> Iterator[TicketSnapshot]:
        """Every ticket (any status) GLPI changed at or after ``since`` (whole seconds); pages
        in id order (``search``)."""
        return self._search.changed_since(since)

    # --- history (HistoryReader) ----------------------------------------------------------------

    def connector_login(self) -> str | None:
        """The login of the connector's GLPI user (``getFullSession``'s ``glpiname``), asked once."""
        if self._own_login is None:
            session = self._client.get("getFullSession", FullSession).session
            name = session.get("glpiname")
            self._own_login = str(name) if name else ""
        return self._own_login or None

    def ticket_history(self, ticket_id: str) -> TicketHistory:
        """The ticket, its actors, its Log, follow-ups and solutions as the process's changes
        (``connector.integrations.glpi.history``): six listings, plus one lookup per user, group and category
        met (cached). Raises ``BackendRejected`` for a ticket GLPI does not have, and
        ``BackendUnavailable`` — naming the profile right — when the Log may not be read."""
        operation = f"GET Ticket/{ticket_id}"
        tid = _ticket_id(ticket_id, backend=self.name, operation=operation)
        ticket = self._client.get(f"Ticket/{tid}", TicketItem)
        in_order: dict[str, str | int] = {"sort": "id", "order": "ASC"}

        def rows(child: str, shape: type[list[Any]]) -> list[Any]:
            return list(iterate(self._client, f"Ticket/{tid}/{child}", shape, in_order))

        lookups = self.lookups
        try:
            return glpi_history(
                ticket,
                logs=rows("Log", list[LogRow]),
                followups=rows("ITILFollowup", list[NoteRow]),
                solutions=rows("ITILSolution", list[NoteRow]),
                users=rows("Ticket_User", list[ActorRow]),
                groups=rows("Group_Ticket", list[ActorRow]),
                scales=self._scales,
                zone=self._zone,
                login_of=lookups.login,
                group_of=lookups.group_name_of,
                category_of=lookups.category_parts_of,
            )
        except ValueError as exc:
            raise BackendRejected(str(exc), backend=self.name, operation=operation) from exc

    # --- problems and changes (ProblemTracker, ChangeTracker; issue 13) ---------------------------

    def find_problem(self, key: str) -> TicketRef | None:
        """The ``Problem`` whose content carries the connector key ``key`` (``problems``)."""
        found = self._problems.find(key)
        return self._problem_ref(found) if found is not None else None

    def create_problem(self, problem: ProblemRecord) -> TicketRef:
        """``POST Problem/`` (``problems``)."""
        return self._problem_ref(self._problems.create(problem))

    def _problem_ref(self, problem_id: int) -> TicketRef:
        return TicketRef(
            ticket_id=str(problem_id), url=f"{self.settings.ui_url}/front/problem.form.php?id={problem_id}"
        )

    def link_problem(self, problem_id: str, ticket_id: str) -> None:
        """``POST Problem_Ticket/``; an existing link is done (``problems``)."""
        operation = "POST Problem_Ticket/"
        self._problems.link(
            _ticket_id(problem_id, backend=self.name, operation=operation),
            _ticket_id(ticket_id, backend=self.name, operation=operation),
        )

    def add_problem_note(self, problem_id: str, text: str) -> None:
        """A follow-up on the ``Problem``, once per outbox operation (``problems``)."""
        self._problems.note(_ticket_id(problem_id, backend=self.name, operation="POST ITILFollowup/"), text)

    def linked_changes(self, ticket_ids: Sequence[str]) -> list[ChangeLink]:
        """The open changes linked to the tickets by ``Change_Ticket`` (``problems``)."""
        return [link for link in self._problems.linked_changes(ticket_ids) if not link.closed]

    def closed_changes(self, change_ids: Sequence[str]) -> set[str]:
        """Which of the changes are closed, refused or cancelled (``problems``)."""
        return self._problems.closed_changes(change_ids)

    def close(self) -> None:
        """End the GLPI session and close the HTTP session (if this backend created it)."""
        self._client.close()


if TYPE_CHECKING:  # the optional capabilities mypy holds the class to
    _reader: type[HistoryReader] = GlpiBackend
    _problems: type[ProblemTracker] = GlpiBackend
    _changes: type[ChangeTracker] = GlpiBackend
