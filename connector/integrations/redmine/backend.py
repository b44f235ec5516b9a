"""The Redmine helpdesk backend: the ``Backend`` protocol over Redmine 5's REST API.

Redmine accepts many wrong writes silently (a custom field not enabled for the tracker, a
status the workflow forbids, a ``cf_N`` filter on a field that is not "Used as a filter"), so
every write the process depends on is checked:

* ``create_ticket`` checks the issue Redmine answers with and refuses (``BackendRejected``, and deletes the
  issue again) when the External ID — the idempotency key — was not stored;
* ``find_by_key`` checks that every issue returned really carries the key, so an ignored filter
  is reported instead of being mistaken for "found" (or creating a duplicate);
* status changes are checked against the workflow's ``allowed_statuses`` first, so a forbidden
  transition is refused before anything is written instead of being dropped with a 204 (the
  facts are kept for a while per issue shape: ``workflow``);
* a retried write is not doubled when its first try landed but the answer was lost: notes
  carry the outbox operation's marker, looked up on a retry (``journaled``; docs/idempotency.md).

Ids are looked up by name on first use and cached (``lookup``, ``ids``). Changed fields that
have no custom field in this Redmine are written into the journal note, so no change is lost
(``payload``). Reading back is ``reading`` (snapshots), ``history`` (journals, ``HistoryReader``)
and ``users`` (``UserDirectory``); ``values`` shapes every value that crosses. Problem records and
change links (``ProblemTracker``, ``ChangeTracker``) are ``problems``.
"""

from __future__ import annotations

__all__ = ["RedmineBackend"]

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests

from connector.contracts.adapters import (
    HelpdeskUser,
    HistoryReader,
    Relation,
    Resolution,
    TicketHistory,
    TicketSnapshot,
)
from connector.contracts.capabilities import ChangeTracker, KnowledgeMethods, ProblemTracker
from connector.domain.clock import Clock, SystemClock, ensure_utc
from connector.domain.errors import BackendRejected
from connector.domain.fields import KEY_FIELD
from connector.domain.models import Ticket, TicketRef, TicketStatus
from connector.integrations.redmine.client import RedmineClient, RedmineRejected, RedmineUnavailable
from connector.integrations.redmine.history import IssueHistory
from connector.integrations.redmine.ids import RedmineIds, resolve_ids
from connector.integrations.redmine.journaled import marked
from connector.integrations.redmine.knowledge import RedmineKnowledge
from connector.integrations.redmine.listing import issue_pages
from connector.integrations.redmine.lookup import Discovery, discover
from connector.integrations.redmine.payload import change_payload, create_payload, ignored_writes
from connector.integrations.redmine.problems import ProblemMembers, RedmineProblems
from connector.integrations.redmine.reading import snapshot
from connector.integrations.redmine.render import literal_block, render_note
from connector.integrations.redmine.schema import (
    Issue,
    IssueEnvelope,
    IssueRelations,
    RelationEnvelope,
    UploadEnvelope,
    UserEnvelope,
)
from connector.integrations.redmine.settings import RedmineSettings
from connector.integrations.redmine.users import RedmineUsers
from connector.integrations.redmine.values import (
    RELATION_TYPES,
    iso,
    issue_id,
    key_filter,
    safe_filename,
    same_relation,
)
from connector.integrations.redmine.workflow import Workflow
from connector.util.tls import requests_verify

log = logging.getLogger(__name__)


class RedmineBackend(KnowledgeMethods, ProblemMembers):
    """Tickets as Redmine issues in one project and tracker.

    Build one per configured backend; it owns one HTTP session (or uses the injected one). The
    id lookup is locked, but ``requests.Session`` is not promised to be thread-safe: use one
    backend per thread.
    """

    #: Redmine closes the duplicates of a master when the master is *closed*, not when it is
    #: resolved (Resolved is an open status), so the connector resolves them itself
    resolves_duplicates = False
    #: …and closing a master closes them (``duplicates`` relations), so that needs nothing
    closes_duplicates = True
    #: a resolve's other field changes (the SLA target cleared) go in its one PUT
    writes_resolution_changes = True

    def __init__(
        self,
        settings: RedmineSettings,
        *,
        name: str = "redmine",
        clock: Clock | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self._clock = clock or SystemClock()
        self._client = RedmineClient(
            settings.url,
            settings.api_key.get_secret_value(),
            backend=name,
            clock=self._clock,
            timeout=settings.timeout_seconds,
            verify_tls=requests_verify(settings.verify_tls, settings.ca_bundle),
            session=session,
        )
        self._ids: RedmineIds | None = None
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._history = IssueHistory(self._client, self._lookups, backend=name)
        self._workflow = Workflow(self._client, backend=name, clock=self._clock)
        self._users = RedmineUsers(self._client, self._clock, backend=name)
        self._knowledge = RedmineKnowledge(self._client, settings, self.add_relation)
        problems = RedmineProblems(self._client, settings, lambda: self._lookups().project_id, name)
        self._start_links(problems, settings.links)

    def __repr__(self) -> str:  # never shows the key
        where = f"url={self.settings.url!r}, project={self.settings.project!r}"
        return f"RedmineBackend(name={self.name!r}, {where})"

    # --- setup ---------------------------------------------------------------------------------

    def check(self) -> str:
        """Prove the API key works; returns the login it belongs to.

        An invalid key does not fail by itself in Redmine (requests silently run as Anonymous),
        so this asks ``/users/current.json``, which answers 401; that becomes
        ``BackendUnavailable`` saying the key is refused.
        """
        return self._client.get("/users/current.json", UserEnvelope).user.login

    def discover(self) -> Discovery:
        """Look up every id by name now (uncached) and list what is missing; for ``setup``."""
        return discover(self._client, self.settings)

    def ticket_url(self, ticket_id: str) -> str:
        """The issue's page, for people."""
        return f"{self.settings.url}/issues/{ticket_id}"

    def _lookups(self) -> RedmineIds:
        """The ids, looked up once. A failed lookup is not cached, so the next call retries."""
        with self._lock:
            if self._ids is None:
                self._ids = resolve_ids(self.discover(), self.name)
            return self._ids

    # --- Backend protocol ----------------------------------------------------------------------

    def find_by_key(self, key: str) -> TicketRef | None:
        """The issue whose External ID is ``key`` (the oldest, if an admin copied it).

        Redmine reads a leading ``~ ! ^ $ *`` of a filter value as an operator and splits the
        value on ``|`` (ORed values), so the key goes out as ``=key``, or — when it holds a
        ``|`` — as ``~`` (contains) its longest ``|``-free part; the exact match is then made
        here. Redmine ignores ``cf_N`` without a word when the field is not "Used as a filter"
        (and returns every issue): a returned issue that cannot match the filter proves that,
        and raises ``BackendUnavailable`` rather than guessing (and creating a duplicate).
        """
        ids = self._lookups()
        field_id = ids.key_field
        operation = "GET /issues.json"
        expression, plausible = key_filter(key, backend=self.name, operation=operation)
        matches: list[int] = []
        for issue, _ in issue_pages(self._client, ids, {f"cf_{field_id}": expression}):
            value = issue.custom_value(field_id)
            if not isinstance(value, str) or not plausible(value):
                raise RedmineUnavailable(
                    f"Redmine ignored the filter cf_{field_id}={expression!r}: it answered issue "
                    f"#{issue.id} whose {ids.names[KEY_FIELD]!r} is {value!r}. The custom field must be "
                    "'Used as a filter' and visible to the API user; not guessing, so no duplicate "
                    "is created",
                    backend=self.name,
                    operation=operation,
                )
            if value == key:
                matches.append(issue.id)
        if not matches:
            return None
        first = min(matches)
        if len(matches) > 1:
            log.warning("%s: %d issues carry key %r: %s; using #%d", self.name, len(matches), key, matches, first)
        return TicketRef(ticket_id=str(first), url=self.ticket_url(str(first)))

    def create_ticket(self, ticket: Ticket) -> TicketRef:
        """Create the issue with every field this Redmine can hold, and check what was stored.

        If the External ID did not stick (custom field not enabled for the tracker or project),
        the issue is deleted again and ``BackendRejected`` names what to fix: an issue without
        its key would be invisible to ``find_by_key`` and get duplicated.
        """
        ids = self._lookups()
        issue, written = create_payload(ticket, ids, self.settings)
        # Redmine answers 201 with the issue as saved (the same body as a Show), so it is checked
        # as it stands: reading it back again would cost a call per ticket and tell nothing more
        stored = self._client.post("/issues.json", {"issue": issue}, IssueEnvelope).issue
        self._client.calibrate(ensure_utc(stored.updated_on))  # how Redmine's clock stands to ours
        self._verify_created(ticket, stored, written, ids)
        self._workflow.saw(stored)
        log.info("%s: created issue #%d for %s", self.name, stored.id, ticket.key)
        return TicketRef(
            ticket_id=str(stored.id), url=self.ticket_url(str(stored.id)), updated_at=ensure_utc(stored.updated_on)
        )

    def _verify_created(self, ticket: Ticket, stored: Issue, written: Mapping[int, str], ids: RedmineIds) -> None:
        operation = "POST /issues.json"
        if stored.custom_value(ids.key_field) != ticket.key:
            name = ids.names[KEY_FIELD]
            try:
                self._client.delete(f"/issues/{stored.id}.json")
                fate = f"issue #{stored.id} was deleted again"
            except (RedmineRejected, RedmineUnavailable) as exc:
                fate = f"issue #{stored.id} could not be deleted ({exc}); delete it by hand"
            raise BackendRejected(
                f"Redmine dropped the connector key: custom field {name!r} (id {ids.key_field}) was not "
                f"stored on the new issue, because it is not enabled for tracker "
                f"{self.settings.tracker!r} or project {self.settings.project!r}. Enable it "
                f"(Administration › Custom fields › {name}: Trackers, For all projects) or change "
                f"backend.tracker / backend.project / backend.fields.key; {fate}",
                backend=self.name,
                operation=operation,
            )
        for names, message in ignored_writes(ticket, stored, written, ids, self.settings.tracker):
            self._warn_once(names, message)

    def _warn_once(self, names: list[str], message: str) -> None:
        fresh = [name for name in names if name not in self._warned]
        if fresh:
            self._warned.update(fresh)
            log.warning("%s: " + message, self.name, ", ".join(repr(n) for n in fresh))

    def update_ticket(self, ticket_id: str, changes: dict[str, Any], note: str | None = None) -> None:
        """Set the named ``Ticket`` fields and add ``note``, in one PUT (one journal entry).

        Fields with no place in this Redmine (no custom field, or no Redmine equivalent such as
        ``assignee`` or ``rule``) are listed in the note instead. Raises ``ValueError`` for a
        name that is not a ``Ticket`` field, or for ``ticket_id``/``key``.
        """
        ids = self._lookups()
        operation = f"PUT /issues/{ticket_id}.json"
        number = issue_id(ticket_id, backend=self.name, operation=operation)
        issue, extra = change_payload(changes, ids, self.settings)
        text = render_note(note, extra, self.settings.text_formatting)
        if text:
            notes = marked(self._client, number, text, backend=self.name)
            if notes is None:  # a retry: the first try's journal (note and fields) is there
                return
            issue["notes"] = notes
        if not issue:
            return
        if "status_id" in issue:
            self._workflow.ensure(ids, number, issue["status_id"])
        self._client.put(f"/issues/{number}.json", {"issue": issue})
        self._workflow.wrote(number, issue)

    def add_note(self, ticket_id: str, text: str) -> None:
        """Append ``text`` as a journal note (a blank text adds nothing)."""
        operation = f"PUT /issues/{ticket_id}.json"
        number = issue_id(ticket_id, backend=self.name, operation=operation)
        if not text.strip():
            return
        notes = marked(self._client, number, literal_block(text, self.settings.text_formatting), backend=self.name)
        if notes is not None:
            self._client.put(f"/issues/{number}.json", {"issue": {"notes": notes}})

    def add_relation(self, ticket_id: str, other_id: str, relation: Relation) -> None:
        """Link the issues; a relation that already exists counts as done.

        Redmine answers 422 for an existing pair with a message in the API user's language, so
        the relations are listed and compared in Redmine's normal form instead of the text.
        """
        operation = f"POST /issues/{ticket_id}/relations.json"
        number = issue_id(ticket_id, backend=self.name, operation=operation)
        other = issue_id(other_id, backend=self.name, operation=operation)
        relation_type = RELATION_TYPES[relation]
        try:
            self._client.post(
                f"/issues/{number}/relations.json",
                {"relation": {"issue_to_id": other, "relation_type": relation_type}},
                RelationEnvelope,
            )
        except RedmineRejected as exc:
            if exc.status != 422:
                raise
            existing = self._client.get(f"/issues/{number}/relations.json", IssueRelations).relations
            if not any(same_relation(item, number, other, relation_type) for item in existing):
                raise
            log.debug("%s: #%d %s #%d already exists", self.name, number, relation_type, other)

    def resolve_ticket(self, ticket_id: str, resolution: Resolution) -> None:
        """Move the issue to the resolved status with outage end, resolution code, solution, the
        resolution's other ``changes`` (the SLA target cleared) and the note, in one PUT (the
        named fields left ``None`` are not cleared)."""
        changes: dict[str, Any] = {**resolution.changes, "status": TicketStatus.RESOLVED}
        if resolution.outage_end is not None:
            changes["outage_end"] = resolution.outage_end
        if resolution.resolution_code is not None:
            changes["resolution_code"] = resolution.resolution_code
        if resolution.solution is not None:
            changes["solution"] = resolution.solution
        self.update_ticket(ticket_id, changes, resolution.note)

    def add_attachment(self, ticket_id: str, filename: str, content: bytes, content_type: str) -> None:
        """Upload the file, then attach it with a journal note naming it (two calls).

        Redmine skips an unknown or used token without a word (the PUT still answers 204),
        so a retry after a crash between the two calls uploads again rather than reusing one.
        The note carries the operation marker: a retry whose first PUT landed finds it and
        uploads nothing (an upload whose PUT never came is an orphan Redmine never shows).
        """
        operation = f"PUT /issues/{ticket_id}.json"
        number = issue_id(ticket_id, backend=self.name, operation=operation)
        name = safe_filename(filename)
        said = literal_block(f"Attachment 附件: {name} ({len(content)} bytes)", self.settings.text_formatting)
        note = marked(self._client, number, said, backend=self.name)
        if note is None:
            return
        upload = self._client.upload(
            "/uploads.json", content, {"filename": name, "content_type": content_type}, UploadEnvelope
        ).upload
        entry = {"token": upload.token, "filename": name, "content_type": content_type}
        self._client.put(f"/issues/{number}.json", {"issue": {"uploads": [entry], "notes": note}})

    def changed_since(self, since: datetime) -> Iterator[TicketSnapshot]:
        """Every issue of the project updated at or after ``since`` (whole seconds, UTC), once,
        with Redmine's clock when it was listed (``listing``: pages in id order)."""
        ids = self._lookups()
        floor = ensure_utc(since).replace(microsecond=0)
        seen: set[int] = set()
        for issue, listed_at in issue_pages(self._client, ids, {"updated_on": ">=" + iso(floor)}):
            # Redmine's ">=" is "> since - 1s" on sub-second values, shown truncated: drop
            # the issues that are visibly older than asked
            if issue.id not in seen and ensure_utc(issue.updated_on) >= floor:
                seen.add(issue.id)
                self._workflow.saw(issue)
                yield replace(snapshot(issue, ids, self.name), listed_at=listed_at)

    # --- history (HistoryReader) ----------------------------------------------------------------

    def connector_login(self) -> str | None:
        """The login of the API key's user: the connector's own changes in the journals."""
        return self._lookups().login or None

    def ticket_history(self, ticket_id: str) -> TicketHistory:
        """The issue and its journals as the process's changes, oldest first (``history``): one
        ``GET /issues/<id>.json?include=journals``, plus one user lookup per person (cached).

        Raises ``BackendRejected`` for an issue that does not exist (404) and
        ``BackendUnavailable`` as every call does.
        """
        return self._history.read(ticket_id)

    # --- users (UserDirectory) ------------------------------------------------------------------

    def find_user_by_email(self, email: str) -> HelpdeskUser | None:
        """The active Redmine user with this e-mail address (IM 1.1), or ``None`` (``users``).

        Listing users needs an administrator's key: a 403 is logged once and answered ``None``
        (every sender is then unknown) for ``users.DIRECTORY_RETRY`` before Redmine is asked
        again; other failures raise as usual (``BackendUnavailable``).
        """
        return self._users.find_by_email(email)

    def close(self) -> None:
        """Close the HTTP session (if this backend created it)."""
        self._client.close()


if TYPE_CHECKING:  # the optional capabilities mypy holds the class to
    _reader: type[HistoryReader] = RedmineBackend
    _problems: type[ProblemTracker] = RedmineBackend
    _changes: type[ChangeTracker] = RedmineBackend
