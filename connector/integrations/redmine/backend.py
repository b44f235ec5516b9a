"""The Redmine helpdesk backend: the ``Backend`` protocol over Redmine 5's REST API.

Redmine accepts many wrong writes silently (a custom field not enabled for the tracker, a
status the workflow forbids, a ``cf_N`` filter on a field that is not "Used as a filter"), so
every write the process depends on is checked:

* ``create_ticket`` checks the issue Redmine answers with and refuses (``BackendRejected``, and deletes the
  issue again) when the External ID — the idempotency key — was not stored;
* ``find_by_key`` checks that every issue returned really carries the key, so an ignored filter
  is reported instead of being mistaken for "found" (or creating a duplicate);
* status changes first ask for ``allowed_statuses``, so a forbidden transition is refused
  before anything is written instead of being dropped with a 204.

Ids are looked up by name on first use and cached (see ``lookup``). Changed fields that have no
custom field in this Redmine are written into the journal note, so no change is lost.
"""

from __future__ import annotations

__all__ = ["RedmineBackend"]

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
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
from connector.domain.clock import Clock, SystemClock, ensure_utc
from connector.domain.errors import BackendRejected
from connector.domain.fields import KEY_FIELD, decode, encode, spec_for
from connector.domain.models import Priority, Ticket, TicketRef, TicketStatus
from connector.integrations.redmine.client import RedmineClient, RedmineRejected, RedmineUnavailable
from connector.integrations.redmine.journal import GROUP_FIELD, journal_changes
from connector.integrations.redmine.lookup import Discovery, discover
from connector.integrations.redmine.principals import Principal, Principals
from connector.integrations.redmine.render import literal_block, render_description, render_note
from connector.integrations.redmine.schema import (
    Issue,
    IssueEnvelope,
    IssueList,
    IssueRelation,
    IssueRelations,
    IssueStatus,
    NamedRef,
    RelationEnvelope,
    UploadEnvelope,
    UserEnvelope,
    UserList,
)
from connector.integrations.redmine.settings import RedmineSettings

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # Redmine's maximum page size
#: after a 403 on the user list, ask again only this much later (an admin may grant the right)
DIRECTORY_RETRY = timedelta(hours=1)
SUBJECT_MAX = 255  # issues.subject is a varchar(255); longer gives 422
_REVERSE_TYPES = {
    "duplicated": "duplicates",
    "blocked": "blocks",
    "follows": "precedes",
    "copied_from": "copied_to",
}
_RELATION_TYPES = {Relation.DUPLICATES: "duplicates", Relation.RELATES: "relates"}
# fields whose change would break the link between the connector and the issue
_UNCHANGEABLE = {"ticket_id", KEY_FIELD}


@dataclass(frozen=True)
class _Ids:
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


def _issue_id(ticket_id: str, *, backend: str, operation: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]*", str(ticket_id)):
        raise BackendRejected(f"not a Redmine issue id: {ticket_id!r}", backend=backend, operation=operation)
    return int(ticket_id)


def _key_filter(key: str, *, backend: str, operation: str) -> tuple[str, Callable[[str], bool]]:
    """The ``cf_N`` filter value for ``key``, and a test that every issue it returns must pass
    (case-insensitively: the database may compare that way)."""
    if "|" not in key:
        folded = key.casefold()
        return "=" + key, lambda value: value.casefold() == folded
    part = max(key.split("|"), key=len)
    tokens = part.casefold().split()
    if not tokens:
        raise BackendRejected(f"cannot search Redmine for the key {key!r}", backend=backend, operation=operation)
    return "~" + part, lambda value: all(token in value.casefold() for token in tokens)


def _subject(title: str) -> str:
    text = " ".join(title.split())
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 1] + "…"


def _canonical(issue_id: int, issue_to_id: int, relation_type: str) -> tuple[int, int, str]:
    """A relation as Redmine stores it: reverse types flipped, ``relates`` ordered by id."""
    if relation_type in _REVERSE_TYPES:
        return issue_to_id, issue_id, _REVERSE_TYPES[relation_type]
    if relation_type == "relates":
        return min(issue_id, issue_to_id), max(issue_id, issue_to_id), relation_type
    return issue_id, issue_to_id, relation_type


def _safe_filename(filename: str) -> str:
    """A file name Redmine stores as given: no path, no control characters, at most 255 chars."""
    base = re.split(r"[/\\]", filename)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip() or "attachment"
    return base[-255:]


def _iso(value: datetime) -> str:
    return ensure_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


class RedmineBackend:
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
        self._directory_refused_at: datetime | None = None
        self._client = RedmineClient(
            settings.url,
            settings.api_key.get_secret_value(),
            backend=name,
            clock=self._clock,
            timeout=settings.timeout_seconds,
            verify_tls=settings.verify_tls,
            session=session,
        )
        self._ids: _Ids | None = None
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._principals: Principals | None = None

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

    def _lookups(self) -> _Ids:
        """The ids, looked up once. A failed lookup is not cached, so the next call retries."""
        with self._lock:
            if self._ids is None:
                self._ids = self._resolve(self.discover())
            return self._ids

    def _resolve(self, found: Discovery) -> _Ids:
        required = found.missing(required=True)
        if required:
            listing = "; ".join(f"{p.what} — {p.how}" for p in required)
            raise RedmineUnavailable(
                f"Redmine is not set up for the connector: {listing}. "
                "Run `itsm-connector setup redmine --config FILE` for the full report; the work waits "
                "in the outbox",
                backend=self.name,
                operation="lookup",
            )
        optional = found.missing(required=False)
        if optional:
            log.warning(
                "%s: Redmine lacks what these ticket fields need, so they are kept only in the "
                "description and notes: %s",
                self.name,
                "; ".join(p.what for p in optional),
            )
        assert found.project_id is not None and found.tracker_id is not None
        usable = {
            key: info
            for key, info in found.fields.items()
            if info.applies is not False
            and (info.trackers is None or found.tracker_name in info.trackers or key == KEY_FIELD)
        }
        return _Ids(
            project_id=found.project_id,
            tracker_id=found.tracker_id,
            statuses=dict(found.statuses),
            all_statuses=dict(found.all_statuses),
            priorities={p: ref.id for p, ref in found.priorities.items()},
            fields={key: info.id for key, info in usable.items()},
            names={key: info.name for key, info in found.fields.items()},
            login=found.user_login,
        )

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
        expression, plausible = _key_filter(key, backend=self.name, operation=operation)
        matches: list[int] = []
        for issue in self._issues(ids, {f"cf_{field_id}": expression}):
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
        written: dict[int, str] = {}
        for key, field_id in ids.fields.items():
            spec = spec_for(key)
            assert spec is not None
            written[field_id] = encode(spec, getattr(ticket, key))
        issue: dict[str, Any] = {
            "project_id": ids.project_id,
            "tracker_id": ids.tracker_id,
            "status_id": ids.statuses[ticket.status].id,
            "priority_id": ids.priorities[ticket.priority],
            "subject": _subject(ticket.title),
            "description": render_description(ticket, self.settings.text_formatting),
            "custom_fields": [{"id": field_id, "value": value} for field_id, value in written.items()],
        }
        # Redmine answers 201 with the issue as saved (the same body as a Show), so it is checked
        # as it stands: reading it back again would cost a call per ticket and tell nothing more
        stored = self._client.post("/issues.json", {"issue": issue}, IssueEnvelope).issue
        self._verify_created(ticket, stored, written, ids)
        log.info("%s: created issue #%d for %s", self.name, stored.id, ticket.key)
        return TicketRef(ticket_id=str(stored.id), url=self.ticket_url(str(stored.id)))

    def _verify_created(self, ticket: Ticket, stored: Issue, written: Mapping[int, str], ids: _Ids) -> None:
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
        dropped = sorted(
            ids.names.get(key, key)
            for key, field_id in ids.fields.items()
            if written.get(field_id) and stored.custom_value(field_id) != written[field_id]
        )
        self._warn_once(
            dropped,
            f"issue #{stored.id}: Redmine did not store custom fields %s "
            "(not enabled for this tracker/project, or not editable by the API user)",
        )
        if stored.tracker is not None and stored.tracker.id != ids.tracker_id:
            self._warn_once(
                [f"tracker:{stored.tracker.name}"],
                f"issue #{stored.id}: Redmine used tracker %s instead of {self.settings.tracker!r}",
            )
        wanted = ids.statuses[ticket.status]
        if stored.status is not None and stored.status.id != wanted.id:
            self._warn_once(
                [f"status:{stored.status.name}"],
                f"issue #{stored.id}: Redmine set status %s instead of {wanted.name!r} (workflow)",
            )

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
        issue_id = _issue_id(ticket_id, backend=self.name, operation=operation)
        issue, extra = self._change_payload(changes, ids)
        text = render_note(note, extra, self.settings.text_formatting)
        if text:
            issue["notes"] = text
        if not issue:
            return
        if "status_id" in issue:
            self._ensure_transition(issue_id, issue["status_id"])
        self._client.put(f"/issues/{issue_id}.json", {"issue": issue})

    def _change_payload(self, changes: Mapping[str, Any], ids: _Ids) -> tuple[dict[str, Any], dict[str, Any]]:
        """The PUT body for ``changes``, and the changes that only a note can carry."""
        issue: dict[str, Any] = {}
        custom: list[dict[str, Any]] = []
        extra: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in Ticket.model_fields:
                raise ValueError(f"not a Ticket field: {key!r}")
            if key in _UNCHANGEABLE:
                raise ValueError(f"{key!r} identifies the ticket and cannot be changed")
            if key == "title":
                issue["subject"] = _subject(str(value))
            elif key == "description":
                issue["description"] = literal_block(str(value), self.settings.text_formatting)
            elif key == "status":
                issue["status_id"] = ids.statuses[TicketStatus(value)].id
            elif key == "priority":
                issue["priority_id"] = ids.priorities[Priority(value)]
            spec = spec_for(key)
            if spec is not None and key in ids.fields:
                custom.append({"id": ids.fields[key], "value": encode(spec, value)})
            elif spec is not None and self.settings.field_names()[key] is None:
                continue  # switched off by the config
            elif key not in ("title", "description", "status", "priority"):
                extra[key] = value
        if custom:
            issue["custom_fields"] = custom
        return issue, extra

    def _ensure_transition(self, issue_id: int, status_id: int) -> None:
        """Refuse a status change the workflow would drop silently (Redmine answers 204 anyway)."""
        issue = self._client.get(f"/issues/{issue_id}.json", IssueEnvelope, {"include": "allowed_statuses"}).issue
        if issue.status is not None and issue.status.id == status_id:
            return
        if issue.allowed_statuses is None:  # a Redmine that does not list them: cannot check
            return
        if any(status.id == status_id for status in issue.allowed_statuses):
            return
        ids = self._lookups()
        target = ids.all_statuses.get(status_id)
        current = issue.status.name if issue.status else "?"
        allowed = ", ".join(s.name for s in issue.allowed_statuses) or "none"
        raise BackendRejected(
            f"the workflow does not let the API user move issue #{issue_id} from {current!r} to "
            f"{target.name if target else status_id!r} (allowed: {allowed}); allow it in "
            "Administration › Workflow for the user's role and tracker, or change backend.status_map",
            backend=self.name,
            operation=f"PUT /issues/{issue_id}.json",
        )

    def add_note(self, ticket_id: str, text: str) -> None:
        """Append ``text`` as a journal note (a blank text adds nothing)."""
        operation = f"PUT /issues/{ticket_id}.json"
        issue_id = _issue_id(ticket_id, backend=self.name, operation=operation)
        if not text.strip():
            return
        notes = literal_block(text, self.settings.text_formatting)
        self._client.put(f"/issues/{issue_id}.json", {"issue": {"notes": notes}})

    def add_relation(self, ticket_id: str, other_id: str, relation: Relation) -> None:
        """Link the issues; a relation that already exists counts as done.

        Redmine answers 422 for an existing pair with a message in the API user's language, so
        the relations are listed and compared in Redmine's normal form instead of the text.
        """
        operation = f"POST /issues/{ticket_id}/relations.json"
        issue_id = _issue_id(ticket_id, backend=self.name, operation=operation)
        other = _issue_id(other_id, backend=self.name, operation=operation)
        relation_type = _RELATION_TYPES[relation]
        try:
            self._client.post(
                f"/issues/{issue_id}/relations.json",
                {"relation": {"issue_to_id": other, "relation_type": relation_type}},
                RelationEnvelope,
            )
        except RedmineRejected as exc:
            if exc.status != 422:
                raise
            existing = self._client.get(f"/issues/{issue_id}/relations.json", IssueRelations).relations
            if not any(_same(item, issue_id, other, relation_type) for item in existing):
                raise
            log.debug("%s: #%d %s #%d already exists", self.name, issue_id, relation_type, other)

    def resolve_ticket(self, ticket_id: str, resolution: Resolution) -> None:
        """Move the issue to the resolved status with outage end, resolution code, solution and
        the note, in one PUT (fields left ``None`` are not cleared)."""
        changes: dict[str, Any] = {"status": TicketStatus.RESOLVED}
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
        """
        operation = f"PUT /issues/{ticket_id}.json"
        issue_id = _issue_id(ticket_id, backend=self.name, operation=operation)
        name = _safe_filename(filename)
        upload = self._client.upload(
            "/uploads.json", content, {"filename": name, "content_type": content_type}, UploadEnvelope
        ).upload
        note = literal_block(f"Attachment 附件: {name} ({len(content)} bytes)", self.settings.text_formatting)
        entry = {"token": upload.token, "filename": name, "content_type": content_type}
        self._client.put(f"/issues/{issue_id}.json", {"issue": {"uploads": [entry], "notes": note}})

    def changed_since(self, since: datetime) -> Iterator[TicketSnapshot]:
        """Every issue of the project updated at or after ``since`` (whole seconds, UTC).

        Pages are sorted by id, not by ``updated_on``: an issue updated while we page would
        move to the end of an ``updated_on`` order and shift the next page, skipping one
        issue. With ids an update can only add an issue (seen twice, yielded once).
        """
        ids = self._lookups()
        floor = ensure_utc(since).replace(microsecond=0)
        seen: set[int] = set()
        for issue in self._issues(ids, {"updated_on": ">=" + _iso(floor)}):
            # Redmine's ">=" is "> since - 1s" on sub-second values, shown truncated: drop
            # the issues that are visibly older than asked
            if issue.id not in seen and ensure_utc(issue.updated_on) >= floor:
                seen.add(issue.id)
                yield self._snapshot(issue, ids)

    def _issues(self, ids: _Ids, filters: Mapping[str, str]) -> Iterator[Issue]:
        """Every issue of the project (any status) matching ``filters``, page by page in id order
        (an id order cannot skip an issue that changes while we page)."""
        offset = 0
        while True:
            page = self._client.get(
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
            yield from page.issues
            offset += PAGE_SIZE
            if not page.issues or offset >= page.total_count:
                return

    def _snapshot(self, issue: Issue, ids: _Ids) -> TicketSnapshot:
        key = issue.custom_value(ids.key_field)
        return TicketSnapshot(
            ticket_id=str(issue.id),
            key=key if isinstance(key, str) and key else None,
            status=ids.status_of(issue.status),
            updated_at=ensure_utc(issue.updated_on),
            assignee=issue.assigned_to.name if issue.assigned_to else None,
            fields=self._fields(issue, ids),
        )

    def _fields(self, issue: Issue, ids: _Ids) -> dict[str, Any]:
        """The decoded connector custom fields of ``issue`` (a value nobody could have written
        is logged and left out)."""
        fields: dict[str, Any] = {}
        for name, field_id in ids.fields.items():
            if name == KEY_FIELD or not issue.has_custom_field(field_id):
                continue
            spec = spec_for(name)
            raw = issue.custom_value(field_id)
            assert spec is not None
            if isinstance(raw, list):
                log.warning("%s: issue #%d: %r is multi-valued; ignored", self.name, issue.id, ids.names[name])
                continue
            try:
                fields[name] = decode(spec, raw)
            except ValueError as exc:
                log.warning(
                    "%s: issue #%d: %r holds %r, which is not a %s (%s); ignored",
                    self.name,
                    issue.id,
                    ids.names[name],
                    raw,
                    spec.kind.value,
                    exc,
                )
        return fields

    # --- history (HistoryReader) ----------------------------------------------------------------

    def connector_login(self) -> str | None:
        """The login of the API key's user: the connector's own changes in the journals."""
        return self._lookups().login or None

    def _principal(self, principal_id: int, shown: str | None = None) -> Principal:
        if self._principals is None:
            self._principals = Principals(self._client, self._lookups().project_id, self.name)
        return self._principals.of(principal_id, shown)

    def _login(self, user: NamedRef | None) -> str | None:
        """The login of a journal's or an issue's user (its display name when the key may not
        read logins)."""
        return self._principal(user.id, user.name).name if user is not None else None

    def ticket_history(self, ticket_id: str) -> TicketHistory:
        """The issue and its journals as the process's changes, oldest first: one
        ``GET /issues/<id>.json?include=journals``, plus one user lookup per person (cached).

        Raises ``BackendRejected`` for an issue that does not exist (404) and
        ``BackendUnavailable`` as every call does.
        """
        ids = self._lookups()
        operation = f"GET /issues/{ticket_id}.json"
        issue_id = _issue_id(ticket_id, backend=self.name, operation=operation)
        issue = self._client.get(f"/issues/{issue_id}.json", IssueEnvelope, {"include": "journals"}).issue
        fields = self._fields(issue, ids)
        # the people Redmine names along with their ids first: without an admin key their shown
        # names stand in for logins, and an id met alone later must read the same
        for user in (issue.author, *(j.user for j in issue.journals or [])):
            self._login(user)
        assigned = self._principal(issue.assigned_to.id, issue.assigned_to.name) if issue.assigned_to else None
        assignee = assigned.name if assigned is not None and not assigned.is_group else None
        group = fields.get(GROUP_FIELD) or None
        uses_group_field = group is not None  # else the desk may assign to Redmine groups instead
        if group is None and assigned is not None and assigned.is_group:
            group = assigned.name
        status = ids.status_of(issue.status)
        key = issue.custom_value(ids.key_field)
        all_statuses = ids.all_statuses
        changes = journal_changes(
            issue.journals or [],
            status_of=lambda status_id: ids.status_of(all_statuses.get(status_id, IssueStatus(id=status_id))),
            field_of_cf={field_id: name for name, field_id in ids.fields.items()},
            principal=self._principal,
            actor_of=self._login,
            uses_group_field=uses_group_field,
        )
        fields.update({"title": issue.subject, "status": status, "assignee": assignee, GROUP_FIELD: group})
        return TicketHistory(
            ticket_id=str(issue.id),
            key=key if isinstance(key, str) and key else None,
            created_at=ensure_utc(issue.created_on or issue.updated_on),
            author=self._login(issue.author),
            status=status,
            assignee=assignee,
            group=group,
            fields=fields,
            changes=changes,
        )

    # --- users (UserDirectory) ------------------------------------------------------------------

    def find_user_by_email(self, email: str) -> HelpdeskUser | None:
        """The active Redmine user with this e-mail address (IM 1.1), or ``None``.

        ``GET /users.json?name=`` matches login, names and address, so the answer is filtered
        for the exact address. Listing users needs an administrator's key: a 403 is logged
        once and answered ``None`` (every sender is then unknown) for ``DIRECTORY_RETRY``
        before Redmine is asked again; other failures raise as usual (``BackendUnavailable``).
        """
        address = email.strip().lower()
        if "@" not in address:
            return None
        now = self._clock.now()
        if self._directory_refused_at is not None and now - self._directory_refused_at < DIRECTORY_RETRY:
            return None
        try:
            found = self._client.get("/users.json", UserList, params={"name": address, "status": 1, "limit": PAGE_SIZE})
        except RedmineUnavailable as exc:
            if exc.status != 403:
                raise
            if self._directory_refused_at is None:
                log.warning(
                    "%s: the API key may not list users (403: it needs an administrator); every e-mail "
                    "sender is treated as unknown until it may",
                    self.name,
                )
            self._directory_refused_at = now
            return None
        self._directory_refused_at = None
        for user in found.users:
            if (user.mail or "").strip().lower() == address:
                name = f"{user.firstname} {user.lastname}".strip() or user.login
                return HelpdeskUser(user_id=str(user.id), login=user.login, name=name, email=address)
        return None

    def close(self) -> None:
        """Close the HTTP session (if this backend created it)."""
        self._client.close()


def _same(stored: IssueRelation, issue_id: int, other: int, relation_type: str) -> bool:
    return _canonical(stored.issue_id, stored.issue_to_id, stored.relation_type) == _canonical(
        issue_id, other, relation_type
    )


if TYPE_CHECKING:  # the optional capabilities mypy holds the class to
    _reader: type[HistoryReader] = RedmineBackend
