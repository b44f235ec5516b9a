"""The GLPI helpdesk backend: the ``Backend`` protocol over GLPI 10's REST API.

Where each ticket field goes (docs/glpi.md has the table for admins):

* GLPI's own fields: title → ``name``; status, urgency, impact, priority through the configured
  maps (GLPI's scales run 1 = very low … 5 = very high, the process's 1 = highest … 4);
  category/area/subarea → ``itilcategories_id`` (the taxonomy path as complete name); source →
  ``requesttypes_id``; location → ``locations_id``; contact → requester, assignee and assignment
  group → assigned user and group; SLA target → ``time_to_resolve``, the response deadline
  (``connector.rules.sla.response_deadline`` of the rule book's ``sla.yaml``) → ``time_to_own``;
  registration time → ``date``;
* everything else in a ``label: value`` block in the content (with the connector key marker,
  see ``fields``) at creation, and in a follow-up when it changes.

Duplicates are ``Ticket_Ticket`` links of type 2 ("duplicates"), so GLPI itself solves the
duplicates when their master is solved (``resolves_duplicates``). GLPI also does the reverse —
solving a *duplicate* solves its master (``manageLinkedTicketsOnSolved`` walks both sides) —
which PROCESS §9 does not want: a storm's master must not be solved because one repeat
recovered. So before solving a ticket that duplicates an open master, its link is turned into a
plain "linked to" (1); the master then stays open and later solves the rest on its own.

A new ticket costs one POST (the session is opened once per run; dropdown ids are cached).
"""

from __future__ import annotations

__all__ = ["GlpiBackend"]

import html
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import requests

from connector.contracts.adapters import HistoryReader, Relation, Resolution, TicketHistory, TicketSnapshot
from connector.domain.clock import Clock, SystemClock, ensure_utc
from connector.domain.errors import BackendRejected
from connector.domain.models import Impact, Priority, Ticket, TicketRef, TicketSource, TicketStatus, Urgency
from connector.integrations.glpi.client import GlpiClient, GlpiRejected
from connector.integrations.glpi.fields import (
    NATIVE_FIELDS,
    Scales,
    format_time,
    key_from_content,
    key_marker,
    parse_time_glpi,
)
from connector.integrations.glpi.history import glpi_history
from connector.integrations.glpi.lookup import Lookups, iterate
from connector.integrations.glpi.render import render_content, render_followup, ticket_name
from connector.integrations.glpi.schema import (
    ActorRow,
    Created,
    FullSession,
    LinkRow,
    LogRow,
    NoteRow,
    SearchAnswer,
    TicketItem,
)
from connector.integrations.glpi.settings import GlpiSettings
from connector.rules.book import default_rulebook
from connector.rules.sla import SlaPolicy, response_deadline

log = logging.getLogger(__name__)

#: Ticket_Ticket link types (glpi-rest.md §6)
LINKED_TO = 1
DUPLICATES = 2
_LINKS = {Relation.DUPLICATES: DUPLICATES, Relation.RELATES: LINKED_TO}
SOLVED, CLOSED = 5, 6
PAGE_SIZE = 100
_CATEGORY_LEVELS = ("category", "area", "subarea")

#: search options of Ticket (glpi-rest.md §8) read by ``find_by_key`` and ``changed_since``
OPT_ID, OPT_STATUS, OPT_PRIORITY, OPT_URGENCY, OPT_IMPACT = "2", "12", "3", "10", "11"
OPT_CATEGORY, OPT_UPDATED, OPT_TTR, OPT_CONTENT, OPT_TECH, OPT_TECH_GROUP = "7", "19", "18", "21", "5", "8"
OPT_TITLE, OPT_OPENED, OPT_TYPE = "1", "15", "14"  # what adoption reads of a ticket people made
_DISPLAY = (
    *(OPT_ID, OPT_STATUS, OPT_PRIORITY, OPT_URGENCY, OPT_IMPACT, OPT_CATEGORY),
    *(OPT_UPDATED, OPT_TTR, OPT_CONTENT, OPT_TECH, OPT_TECH_GROUP, OPT_TITLE, OPT_OPENED, OPT_TYPE),
)
#: GLPI's ticket types (``type``), as adoption's ``skip_trackers`` names them
_TYPES = {1: "incident", 2: "request"}

# fields whose change would break the link between the connector and the ticket
_UNCHANGEABLE = {"ticket_id", "key"}
_ALLOWED_HINT = (
    "GLPI accepts only the file types Setup › Dropdowns › Document types allows for upload; "
    "allow the extension there, or zip the file"
)


def _ticket_id(ticket_id: str, *, backend: str, operation: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]*", str(ticket_id)):
        raise BackendRejected(f"not a GLPI ticket id: {ticket_id!r}", backend=backend, operation=operation)
    return int(ticket_id)


def _safe_filename(filename: str) -> str:
    """A file name without a path or control characters, at most 255 characters."""
    base = re.split(r"[/\\]", filename)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip() or "attachment"
    return base[-255:]


def _int(value: Any) -> int | None:
    """A search column as an int (GLPI sends numbers, sometimes as text); ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _text(value: Any) -> str | None:
    """A search column as text: the first of several values, ``None`` when empty."""
    if isinstance(value, list):
        value = next((v for v in value if v not in (None, "")), None)
    if value is None or value == "":
        return None
    return str(value)


def _plain(content: str | None) -> str:
    """A ticket's content (GLPI keeps HTML, itself escaped) as plain text, for adoption: tags
    out, entities decoded, paragraphs on their own lines."""
    if not content:
        return ""
    text = html.unescape(html.unescape(content))
    text = re.sub(r"(?i)<br\s*/?>|</p>", "\n", text)
    return html.unescape(re.sub(r"<[^>]*>", "", text)).strip()


class GlpiBackend:
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
        self._sla = sla if sla is not None else default_rulebook().sla
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
            verify_tls=settings.verify_tls,
            entity=settings.entity,
            session=session,
            on_session=register_secret,
        )
        self.lookups = Lookups(self._client, settings, self._clock, name)
        self._own_login: str | None = None

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
        it), in any status. Each row's content is checked again, so a lenient search can only
        make this return ``None`` rather than the wrong ticket."""
        marker = key_marker(key)
        params: list[tuple[str, str | int]] = [
            ("criteria[0][field]", int(OPT_CONTENT)),
            ("criteria[0][searchtype]", "contains"),
            ("criteria[0][value]", marker),
            ("criteria[1][link]", "AND"),
            ("criteria[1][field]", int(OPT_STATUS)),
            ("criteria[1][searchtype]", "equals"),
            ("criteria[1][value]", "all"),
            ("forcedisplay[0]", int(OPT_ID)),
            ("forcedisplay[1]", int(OPT_CONTENT)),
        ]
        matches = sorted(
            ticket_id
            for row in self._search(params)
            if (ticket_id := _int(row.get(OPT_ID))) is not None and key_from_content(_text(row.get(OPT_CONTENT))) == key
        )
        if not matches:
            return None
        if len(matches) > 1:
            log.warning("%s: %d tickets carry key %r: %s; using #%d", self.name, len(matches), key, matches, matches[0])
        return self._ref(matches[0])

    def create_ticket(self, ticket: Ticket) -> TicketRef:
        """Create the ticket with every field GLPI can hold, in one POST (the answer is only the
        new id: nothing is read back)."""
        item = self._ticket_input(ticket)
        created = self._client.post("Ticket/", {"input": item}, Created)
        log.info("%s: created ticket #%d for %s", self.name, created.id, ticket.key)
        return self._ref(created.id)

    def _ticket_input(self, ticket: Ticket) -> dict[str, Any]:
        scales, settings = self._scales, self.settings
        item: dict[str, Any] = {
            "name": ticket_name(ticket.title),
            "content": render_content(ticket),
            "type": settings.glpi_ticket_type,
            "urgency": scales.urgency[ticket.urgency],
            "impact": scales.impact[ticket.impact],
            "priority": scales.priority[ticket.priority],
        }
        if ticket.status is not TicketStatus.OPEN:
            item["status"] = scales.status[ticket.status]
        if settings.entity is not None:
            item["entities_id"] = settings.entity
        if ticket.registered_at is not None:
            item["date"] = format_time(ticket.registered_at, self._zone)
        if settings.sla_dates:
            if ticket.sla_due is not None:
                item["time_to_resolve"] = format_time(ticket.sla_due, self._zone)
            if ticket.registered_at is not None:
                due = response_deadline(ticket.priority, self._sla, ticket.registered_at)
                item["time_to_own"] = format_time(due, self._zone)
        ids, _ = self._dropdowns(ticket.model_dump())  # what GLPI lacks stays in the content block
        item.update(ids)
        return item

    def _dropdowns(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The GLPI ids of the named values among ``values`` (looked up once), and the values
        GLPI has no item for (they can only be said in words)."""
        ids: dict[str, Any] = {}
        unknown: dict[str, Any] = {}
        lookups = self.lookups

        def put(glpi_field: str, names: tuple[str, ...], ident: int | None) -> None:
            if ident is not None:
                ids[glpi_field] = ident
            else:
                unknown.update({name: values[name] for name in names if values.get(name) is not None})

        if values.get("category") is not None:
            parts = tuple(str(values[name]) for name in _CATEGORY_LEVELS if values.get(name) is not None)
            put("itilcategories_id", _CATEGORY_LEVELS, lookups.category(parts))
        if values.get("source") is not None:
            put("requesttypes_id", ("source",), lookups.request_type(TicketSource(values["source"])))
        if values.get("location"):
            put("locations_id", ("location",), lookups.location(str(values["location"])))
        if values.get("assignment_group"):
            put("_groups_id_assign", ("assignment_group",), lookups.group(str(values["assignment_group"])))
        if values.get("assignee"):
            put("_users_id_assign", ("assignee",), lookups.user(str(values["assignee"]), "assignee"))
        if values.get("contact"):
            put("_users_id_requester", ("contact",), lookups.user(str(values["contact"]), "contact"))
        return ids, unknown

    # --- update / note -------------------------------------------------------------------------

    def update_ticket(self, ticket_id: str, changes: dict[str, Any], note: str | None = None) -> None:
        """Set the named ``Ticket`` fields that GLPI holds in one PUT, and add ``note`` with the
        other changed fields (as ``label: value`` lines) as one follow-up.

        Raises ``ValueError`` for a name that is not a ``Ticket`` field, or for
        ``ticket_id``/``key``. A new assignee or group is added to the ticket's actors (GLPI
        keeps the earlier ones). The description is never rewritten (it carries the connector
        key); a changed description goes into the follow-up.
        """
        operation = f"PUT Ticket/{ticket_id}"
        tid = _ticket_id(ticket_id, backend=self.name, operation=operation)
        item, extra = self._change_input(changes)
        if item.get("status") in (SOLVED, CLOSED):
            self._detach_from_open_masters(tid)  # see resolve_ticket: GLPI would solve the master too
        if item:
            self._client.put(f"Ticket/{tid}", {"input": item})
        text = render_followup(note, extra)
        if text:
            self._followup(tid, text)

    def _change_input(self, changes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The PUT input for ``changes``, and the changes only a follow-up can carry."""
        item: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key in changes:
            if key not in Ticket.model_fields:
                raise ValueError(f"not a Ticket field: {key!r}")
            if key in _UNCHANGEABLE:
                raise ValueError(f"{key!r} identifies the ticket and cannot be changed")
        scales = self._scales
        for key, value in changes.items():
            if value is None or key not in NATIVE_FIELDS:
                extra[key] = value
            elif key == "title":
                item["name"] = ticket_name(str(value))
            elif key == "status":
                item["status"] = scales.status[TicketStatus(value)]
            elif key == "urgency":
                item["urgency"] = scales.urgency[Urgency(value)]
            elif key == "impact":
                item["impact"] = scales.impact[Impact(value)]
            elif key == "priority":
                item["priority"] = scales.priority[Priority(value)]
            elif key == "sla_due":
                if self.settings.sla_dates:
                    item["time_to_resolve"] = format_time(value, self._zone)
                else:
                    extra[key] = value
        ids, unknown = self._dropdowns(changes)
        if changes.get("category") is None:
            # a sub-level without its category names no path: only the follow-up can say it
            unknown.update({name: changes[name] for name in ("area", "subarea") if name in changes})
        extra.update(unknown)
        item.update(ids)
        return item, extra

    def add_note(self, ticket_id: str, text: str) -> None:
        """Append ``text`` as a follow-up (a blank text adds nothing)."""
        tid = _ticket_id(ticket_id, backend=self.name, operation="POST ITILFollowup/")
        body = render_followup(text, {})
        if body:
            self._followup(tid, body)

    def _followup(self, tid: int, content: str) -> None:
        # itemtype/items_id are required even on the nested URL (glpi-rest.md §5)
        item = {
            "itemtype": "Ticket",
            "items_id": tid,
            "content": content,
            "is_private": 1 if self.settings.private_followups else 0,
        }
        self._client.post("ITILFollowup/", {"input": item}, Created)

    # --- links ---------------------------------------------------------------------------------

    def add_relation(self, ticket_id: str, other_id: str, relation: Relation) -> None:
        """Link the tickets with ``Ticket_Ticket``; a link that already exists counts as done.

        GLPI refuses a second link for a pair with ``400 ERROR_GLPI_ADD``; only then are the
        pair's links read and compared (a link of another type is still refused).
        """
        operation = "POST Ticket_Ticket/"
        tid = _ticket_id(ticket_id, backend=self.name, operation=operation)
        other = _ticket_id(other_id, backend=self.name, operation=operation)
        if tid == other:
            raise BackendRejected(f"ticket #{tid} cannot be linked to itself", backend=self.name, operation=operation)
        link = _LINKS[relation]
        try:
            self._client.post(
                "Ticket_Ticket/", {"input": {"tickets_id_1": tid, "tickets_id_2": other, "link": link}}, Created
            )
        except GlpiRejected as exc:
            if exc.code != "ERROR_GLPI_ADD":
                raise
            if not any(_same(row, tid, other, link) for row in self._links_between(tid, other)):
                raise
            log.debug("%s: #%d %s #%d already exists", self.name, tid, relation.value, other)

    def _links_of(self, tid: int, side: str) -> list[LinkRow]:
        """The links with ``tid`` as ``tickets_id_1`` or ``tickets_id_2`` (not ``Ticket/<id>/
        Ticket_Ticket``, which GLPI does not filter by ticket)."""
        rows = iterate(self._client, "Ticket_Ticket/", list[LinkRow], {f"searchText[{side}]": f"^{tid}$"})
        return [row for row in rows if getattr(row, side) == tid]

    def _links_between(self, tid: int, other: int) -> list[LinkRow]:
        return [row for row in self._links_of(tid, "tickets_id_1") if row.tickets_id_2 == other] + [
            row for row in self._links_of(other, "tickets_id_1") if row.tickets_id_2 == tid
        ]

    # --- resolve -------------------------------------------------------------------------------

    def resolve_ticket(self, ticket_id: str, resolution: Resolution) -> None:
        """Solve the ticket with an ``ITILSolution`` carrying the note, the solution, the outage
        end and the resolution code; GLPI then solves the ticket's open duplicates.

        A ticket that duplicates a master still open has its link made "linked to" first, so
        GLPI does not solve the master with it. Solving a solved or closed ticket again is not
        an error (a retry after a crash).
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
        masters = self._detach_from_open_masters(tid)
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
            status = self._client.get(f"Ticket/{tid}", TicketItem).status
            if status not in (SOLVED, CLOSED):
                raise
            log.info("%s: ticket #%d is already solved; nothing to do", self.name, tid)
            return
        log.info("%s: solved ticket #%d", self.name, tid)

    def _detach_from_open_masters(self, tid: int) -> list[int]:
        """Turn each "duplicates" link from ``tid`` to an open master into "linked to"; returns
        those masters."""
        masters = []
        for row in self._links_of(tid, "tickets_id_1"):
            if row.link != DUPLICATES:
                continue
            if self._client.get(f"Ticket/{row.tickets_id_2}", TicketItem).status in (SOLVED, CLOSED):
                continue
            self._client.put(f"Ticket_Ticket/{row.id}", {"input": {"id": row.id, "link": LINKED_TO}})
            log.info(
                "%s: #%d is solved before its master #%d: link %d is now 'linked to' so the master stays open",
                self.name,
                tid,
                row.tickets_id_2,
                row.id,
            )
            masters.append(row.tickets_id_2)
        return masters

    # --- attachments ---------------------------------------------------------------------------

    def add_attachment(self, ticket_id: str, filename: str, content: bytes, content_type: str) -> None:
        """Upload the file as a Document linked to the ticket, in one multipart POST (GLPI shows
        it in the ticket's timeline)."""
        operation = "POST Document/"
        tid = _ticket_id(ticket_id, backend=self.name, operation=operation)
        name = _safe_filename(filename)
        manifest = {"input": {"name": name, "_filename": [name], "itemtype": "Ticket", "items_id": tid}}
        self._upload(manifest, name, content, content_type)

    def publish_document(self, filename: str, content: bytes, content_type: str, title: str) -> str:
        """Upload a file as a Document of its own (the monthly report: GLPI has no wiki); returns
        its id. One multipart POST."""
        name = _safe_filename(filename)
        entity = {"entities_id": self.settings.entity} if self.settings.entity is not None else {}
        manifest = {"input": {"name": title, "_filename": [name], **entity}}
        return str(self._upload(manifest, name, content, content_type).id)

    def _upload(self, manifest: dict[str, Any], name: str, content: bytes, content_type: str) -> Created:
        """One multipart ``POST Document/``; a refusal names what the admin can allow."""
        try:
            return self._client.upload("Document/", manifest, name, content, content_type, Created)
        except GlpiRejected as exc:
            raise GlpiRejected(
                f"{exc.reason} ({_ALLOWED_HINT})",
                backend=self.name,
                operation="POST Document/",
                status=exc.status,
                code=exc.code,
                detail=exc.detail,
            ) from exc

    # --- changed_since -------------------------------------------------------------------------

    def changed_since(self, since: datetime) -> Iterator[TicketSnapshot]:
        """Every ticket (any status) GLPI changed at or after ``since`` (whole seconds).

        Pages are sorted by id, not by last update: a ticket updated while we page would move
        to the end of a last-update order and shift the next page, skipping one. With ids an
        update can only add a ticket (seen twice, yielded once).
        """
        floor = ensure_utc(since).replace(microsecond=0)
        # "morethan" is strict and GLPI's dates have whole seconds: > floor - 1s is >= floor
        after = format_time(floor - timedelta(seconds=1), self._zone)
        params: list[tuple[str, str | int]] = [
            ("criteria[0][field]", int(OPT_UPDATED)),
            ("criteria[0][searchtype]", "morethan"),
            ("criteria[0][value]", after),
            ("criteria[1][link]", "AND"),
            ("criteria[1][field]", int(OPT_STATUS)),
            ("criteria[1][searchtype]", "equals"),
            ("criteria[1][value]", "all"),
        ]
        params += [(f"forcedisplay[{i}]", int(option)) for i, option in enumerate(_DISPLAY)]
        seen: set[int] = set()
        for row in self._search(params):
            snapshot = self._snapshot(row)
            if snapshot is None or int(snapshot.ticket_id) in seen or snapshot.updated_at < floor:
                continue
            seen.add(int(snapshot.ticket_id))
            yield snapshot

    def _search(self, params: list[tuple[str, str | int]]) -> Iterator[dict[str, Any]]:
        """Every row of a ``search/Ticket`` in id order, all pages."""
        sorted_params = [*params, ("sort", int(OPT_ID)), ("order", "ASC")]
        for page in self._client.pages("search/Ticket", SearchAnswer, sorted_params, PAGE_SIZE):
            yield from page.items.data

    def _snapshot(self, row: Mapping[str, Any]) -> TicketSnapshot | None:
        tid = _int(row.get(OPT_ID))
        updated = _text(row.get(OPT_UPDATED))
        if tid is None or updated is None:
            log.warning("%s: a search row without id or last update was skipped: %r", self.name, dict(row))
            return None
        scales = self._scales
        fields: dict[str, Any] = {}
        for option, name, decode in (
            (OPT_URGENCY, "urgency", scales.urgency_of),
            (OPT_IMPACT, "impact", scales.impact_of),
            (OPT_PRIORITY, "priority", scales.priority_of),
        ):
            value = _int(row.get(option))
            mapped = decode(value) if value is not None else None
            if mapped is not None:
                fields[name] = mapped
        due = _text(row.get(OPT_TTR))
        fields["sla_due"] = self._time(due, tid) if due else None
        category = _text(row.get(OPT_CATEGORY))
        parts = self.lookups.category_parts(category) if category else None
        if parts:
            fields.update(zip(("category", "area", "subarea"), parts, strict=False))
        group = _text(row.get(OPT_TECH_GROUP))
        fields["assignment_group"] = self.lookups.group_name(group) if group else None
        status = _int(row.get(OPT_STATUS))
        updated_at = self._time(updated, tid)
        if updated_at is None:
            return None
        content = _text(row.get(OPT_CONTENT))
        opened = _text(row.get(OPT_OPENED))
        kind = _int(row.get(OPT_TYPE))
        return TicketSnapshot(
            ticket_id=str(tid),
            key=key_from_content(content),
            status=scales.status_of(status) if status is not None else None,
            updated_at=updated_at,
            assignee=_text(row.get(OPT_TECH)),
            fields=fields,
            title=html.unescape(_text(row.get(OPT_TITLE)) or "") or None,
            description=_plain(content),
            created_at=self._time(opened, tid) if opened else None,
            tracker=_TYPES.get(kind) if kind is not None else None,
        )

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

    def _time(self, text: str, tid: int) -> datetime | None:
        try:
            return parse_time_glpi(text, self._zone)
        except ValueError:
            log.warning("%s: ticket #%d: %r is not a GLPI date; ignored", self.name, tid, text)
            return None

    def close(self) -> None:
        """End the GLPI session and close the HTTP session (if this backend created it)."""
        self._client.close()


def _same(row: LinkRow, tid: int, other: int, link: int) -> bool:
    """Whether ``row`` is the link asked for: "duplicates" is directed, "linked to" is not."""
    if row.link != link:
        return False
    if link == DUPLICATES:
        return row.tickets_id_1 == tid and row.tickets_id_2 == other
    return {row.tickets_id_1, row.tickets_id_2} == {tid, other}


if TYPE_CHECKING:  # the optional capabilities mypy holds the class to
    _reader: type[HistoryReader] = GlpiBackend
