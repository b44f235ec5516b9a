"""A stateful stand-in for GLPI 10's legacy REST API (``apirest.php``), built on ``responses``.

GLPI cannot be installed here, so this fake is the contract: it follows the request and answer
shapes of /work/shared/reference/glpi-rest.md (GLPI's own apirest.md, cross-checked against the
10.0.x source) and nothing else. What it models, because the backend depends on it:

* sessions: ``initSession`` with ``Authorization: user_token …`` (and ``App-Token`` only when the
  API client has one), ``Session-Token`` on every call, ``401 ERROR_SESSION_TOKEN_INVALID`` once
  a session expired (``expire_sessions``) or was killed, ``killSession`` answering ``true``;
* errors as ``["ERROR_CODE", "message"]`` (some with the "; view documentation…" tail), 403
  ``ERROR_RIGHT_MISSING`` (``deny``), injected failures (``fail``), a GET with a body refused;
* List and ``search/Ticket`` paging: ``range=a-b`` inclusive, ``Content-Range: a-b/total`` and
  206 when partial, 200 when whole, no ``data`` and no header when nothing matched,
  ``400 ERROR_RANGE_EXCEED_TOTAL`` past the end, the default status filter without criteria;
* content stored HTML-encoded (``&#60;``) and returned decoded only with
  ``X-GLPI-Sanitized-Content: false``; urgency/impact outside the masks stored as 3; a New
  ticket with an assignee becoming 2;
* ``Ticket_Ticket``: one link per pair, "duplicates" replacing "linked to", "parent of" stored
  as "son of" swapped; solving a ticket solves every open ticket joined to it by a
  "duplicates" link, on either side (GLPI 10.0's ``manageLinkedTicketsOnSolved``);
* ``ITILSolution`` refused on a solved ticket; ``ITILFollowup`` needing itemtype/items_id and
  content;
* ``Document`` uploads as multipart/form-data with an ``uploadManifest`` part and a file part:
  no file part gives the misleading ``ERROR_UPLOAD_FILE_TOO_BIG_POST_MAX_SIZE``, a bad manifest
  ``ERROR_JSON_PAYLOAD_INVALID``, a refused extension ``ERROR_GLPI_ADD``;
* who acts: each user token (``add_user_token``) logs in as its user; follow-ups and solutions
  carry the session's ``users_id``, ``getFullSession`` names it (``glpiID``, ``glpiname``);
* the ticket's **history** (``glpi_logs``, GLPI 10.0's ``Log::history``), written as GLPI
  writes it: ``linked_action`` 20 at creation; a changed status, urgency, impact, priority,
  title, category or time to resolve as ``linked_action`` 0 with its search option and the raw
  old/new values (a dropdown as ``name (id)``); an actor added as 15 with ``itemtype_link``
  User/Group, the value ``name (id)`` and the option of its list (``_force_log_option``: 5/8
  assigned, 4/71 requester); a follow-up or solution added as 17; GLPI's own status move of a
  New ticket that gets an actor as a status change by the same user. ``user_name`` is the
  acting user's ``realname firstname (id)`` (their login when they have no names);
* the sub-item listings ``Ticket/<id>/Log``, ``Ticket_User``, ``Group_Ticket``,
  ``ITILFollowup``, ``ITILSolution`` (paged like every List; ``deny("GET", "Log")`` refuses the
  Log as a profile without the *logs* right does).

Not modelled: links and documents write no Log rows here (the history does not read them).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import html
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import requests
import responses

from connector.domain.clock import Clock

URL = "http://glpi.test/apirest.php"
USER_TOKEN = "u5er-t0ken-0123456789abcdef"
APP_TOKEN = "app-t0ken-fedcba9876543210"

SOLVED, CLOSED = 5, 6
#: extensions a fresh GLPI refuses (Setup › Dropdowns › Document types); the rest are allowed
REFUSED_EXTENSIONS = {"json", "log", "exe", "php", "sh"}

Reply = tuple[int, dict[str, str], str]
#: the ticket columns whose change GLPI logs, with their search options (Log::constructHistory)
LOGGED = {"status": 12, "urgency": 10, "impact": 11, "priority": 3, "name": 1, "time_to_resolve": 18}


def sanitize(text: str) -> str:
    """How GLPI 10 stores text input (``Sanitizer::sanitize``)."""
    return text.replace("&", "&#38;").replace("<", "&#60;").replace(">", "&#62;")


def unsanitize(text: str) -> str:
    """The inverse, applied to answers when the caller sends ``X-GLPI-Sanitized-Content: false``."""
    return text.replace("&#60;", "<").replace("&#62;", ">").replace("&#38;", "&")


def html_to_text(content: str) -> str:
    """What a person reads of stored HTML content (for assertions)."""
    text = re.sub(r"<br\s*/?>|</p>|<hr\s*/?>", "\n", unsanitize(content))
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _like(pattern: str, value: str) -> bool:
    """GLPI's ``searchText`` / ``contains``: a case-insensitive LIKE, ``^``/``$`` anchors."""
    start, end = pattern.startswith("^"), pattern.endswith("$") and len(pattern) > 1
    core = pattern[1 if start else 0 : -1 if end else None].casefold()
    value = value.casefold()
    if start and end:
        return value == core
    if start:
        return value.startswith(core)
    if end:
        return value.endswith(core)
    return core in value


class _Refused(Exception):
    """An error answer raised from deep inside a handler."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply[2])
        self.reply = reply


@dataclass
class Failure:
    """One injected answer (or exception) for calls whose method and path start match."""

    method: str
    path: str
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    exception: Exception | None = None
    times: int = 1
    after: bool = False  # the call is carried out first (GLPI committed, then its answer failed)


class GlpiFake:
    """GLPI's state and its REST API, registered on a ``responses.RequestsMock``."""

    def __init__(
        self,
        rsps: responses.RequestsMock,
        clock: Clock,
        *,
        url: str = URL,
        user_token: str = USER_TOKEN,
        app_token: str | None = None,
        timezone: str = "UTC",
    ) -> None:
        self.url = url
        self.clock = clock
        self.zone = ZoneInfo(timezone)
        self.user_token = user_token
        self.app_token = app_token
        self.api_enabled = True
        self.sessions: set[str] = set()
        self.session_users: dict[str, int] = {}
        self.user_tokens: dict[str, int] = {}
        self.acting = 0  # the user of the request being answered
        self.killed: list[str] = []
        self.active_entity: int = 0
        self.denied: set[tuple[str, str]] = set()
        self.denied_add: set[str] = set()
        self.failures: list[Failure] = []
        self.mandatory: set[str] = set()
        self.forbidden_status: set[int] = set()
        self.urgency_mask = 62  # 1..5 enabled
        self.impact_mask = 62
        self.list_limit = 20  # the API user's list-limit preference
        self.calls: list[tuple[str, str]] = []
        self.urls: list[str] = []
        self.statuses: list[tuple[str, int]] = []
        self.bodies: list[tuple[str, str, dict[str, str], bytes]] = []
        self._ids = itertools.count(100)
        self._tokens = itertools.count(1)
        self.tickets: dict[int, dict[str, Any]] = {}
        self.followups: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.actor_rows: list[dict[str, Any]] = []
        self.solutions: list[dict[str, Any]] = []
        self.links: dict[int, dict[str, int]] = {}
        self.documents: dict[int, dict[str, Any]] = {}
        self.document_items: list[dict[str, Any]] = []
        # GLPI 10 answers the root entity with a null parent (entities_id), and so does the fake
        root = {"id": 0, "name": "Root entity", "completename": "Root entity", "entities_id": None, "level": 1}
        self.entities: dict[int, dict[str, Any]] = {0: root}
        self.dropdowns: dict[str, dict[int, dict[str, Any]]] = {
            "ITILCategory": {},
            "Group": {},
            "User": {},
            "Location": {},
            "RequestType": {},
        }
        for name in ("Helpdesk", "E-Mail", "Phone", "Direct", "Written", "Other"):
            self.add("RequestType", name=name)
        self.user_tokens[user_token] = self.add("User", name="glpi", realname="Connector")
        pattern = re.compile(re.escape(url) + r"/.*")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            rsps.add_callback(method, pattern, callback=self._dispatch)

    # --- seeding and inspection ----------------------------------------------------------------

    def now_text(self) -> str:
        return self.clock.now().astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def add(self, itemtype: str, **fields: Any) -> int:
        """Add a dropdown item (ITILCategory by complete name "A > B" creates the parents)."""
        items = self.dropdowns[itemtype]
        if itemtype in ("ITILCategory", "Location", "Group") and "completename" in fields:
            parts = [p.strip() for p in str(fields.pop("completename")).split(">")]
            parent = 0
            for depth in range(1, len(parts) + 1):
                complete = " > ".join(parts[:depth])
                found = next((i for i, it in items.items() if it["completename"] == sanitize(complete)), None)
                if found is None:
                    extra = fields if depth == len(parts) else {}
                    found = self._store(itemtype, {"name": parts[depth - 1], "parent": parent, **extra})
                parent = found
            return parent
        return self._store(itemtype, fields)

    def _store(self, itemtype: str, fields: dict[str, Any]) -> int:
        items = self.dropdowns[itemtype]
        ident = max(items, default=0) + 1
        name = str(fields.get("name", ""))
        parent = int(fields.pop("parent", fields.get("itilcategories_id", 0)) or 0)
        parent_field = {"ITILCategory": "itilcategories_id", "Location": "locations_id", "Group": "groups_id"}.get(
            itemtype
        )
        row: dict[str, Any] = {"id": ident, "entities_id": 0, "is_recursive": 1, **fields, "name": sanitize(name)}
        if parent_field is not None:
            base = items[parent]["completename"] + " &#62; " if parent else ""
            row[parent_field] = parent
            row["completename"] = base + sanitize(name)
        if itemtype == "ITILCategory":
            row.setdefault("is_incident", 1)
            row.setdefault("is_request", 1)
        if itemtype == "Group":
            row.setdefault("is_assign", 1)
        items[ident] = row
        return ident

    def add_user_token(self, token: str, login: str, realname: str = "", firstname: str = "") -> int:
        """A GLPI user (made if missing) whose API token is ``token``: a desk member logging in."""
        ident = self.find("User", login) or self.add("User", name=login, realname=realname, firstname=firstname)
        self.user_tokens[token] = ident
        return ident

    def friendly(self, user_id: int) -> str:
        """``realname firstname`` of a user, else the login (GLPI's ``formatUserName``)."""
        user = self.dropdowns["User"].get(user_id)
        if user is None:
            return ""
        names = " ".join(p for p in (user.get("realname", ""), user.get("firstname", "")) if p)
        return names or unsanitize(user["name"])

    def logs_of(self, ticket_id: int | str) -> list[dict[str, Any]]:
        return [row for row in self.logs if row["items_id"] == int(ticket_id)]

    def _log(
        self, ticket_id: int, *, option: int = 0, old: Any = "", new: Any = "", link: str = "", action: int = 0
    ) -> None:
        """One ``glpi_logs`` row, by the user acting now (``Log::history``)."""
        self.logs.append(
            {
                "id": next(self._ids),
                "itemtype": "Ticket",
                "items_id": ticket_id,
                "itemtype_link": link,
                "linked_action": action,
                "user_name": f"{self.friendly(self.acting)} ({self.acting})",
                "date_mod": self.now_text(),
                "id_search_option": option,
                "old_value": "" if old is None else str(old),
                "new_value": "" if new is None else str(new),
            }
        )

    def find(self, itemtype: str, completename: str) -> int | None:
        items = self.dropdowns[itemtype]
        key = "completename" if itemtype in ("ITILCategory", "Location", "Group") else "name"
        return next((i for i, it in items.items() if unsanitize(it[key]) == completename), None)

    def ticket(self, ticket_id: int | str) -> dict[str, Any]:
        """A ticket as stored, with text fields decoded."""
        row = self.tickets[int(ticket_id)]
        return {k: unsanitize(v) if isinstance(v, str) else v for k, v in row.items()}

    def followups_of(self, ticket_id: int | str) -> list[str]:
        return [html_to_text(f["content"]) for f in self.followups if f["items_id"] == int(ticket_id)]

    def solutions_of(self, ticket_id: int | str) -> list[str]:
        return [html_to_text(s["content"]) for s in self.solutions if s["items_id"] == int(ticket_id)]

    def documents_of(self, ticket_id: int | str) -> list[dict[str, Any]]:
        ids = [d["documents_id"] for d in self.document_items if d["items_id"] == int(ticket_id)]
        return [self.documents[i] for i in ids]

    def expire_sessions(self) -> None:
        """Every open session times out (GLPI's session lifetime passed)."""
        self.sessions.clear()

    def deny(self, method: str, itemtype: str) -> None:
        """The API user's profile lacks the right for ``method`` on ``itemtype`` (``search`` for
        every search): 403."""
        self.denied.add((method, itemtype))

    def deny_add(self, itemtype: str) -> None:
        """The API user's profile lacks the right to add ``itemtype`` items: GLPI's
        ``API::createItems`` checks ``can(-1, CREATE)`` and answers one item with
        ``400 ["ERROR_GLPI_ADD", "You don't have permission to perform this action."]``."""
        self.denied_add.add(itemtype)

    def fail(self, method: str, path: str, status: int = 500, body: Any = None, **kw: Any) -> None:
        """The next call(s) to ``method path…`` answer ``status`` with ``body`` (or raise); with
        ``after=True`` the call is carried out first, as when GLPI commits and a plugin hook or a
        proxy then fails the answer."""
        self.failures.append(Failure(method, path, status, body, **kw))

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return sum(1 for m, p in self.calls if (method is None or m == method) and (path is None or p.startswith(path)))

    # --- the wire ------------------------------------------------------------------------------

    def _error(self, status: int, code: str, message: str, *, doc: bool = False) -> Reply:
        if doc:
            message += f"; view documentation in your browser at {self.url}/#{code}"
        return status, {"Content-Type": "application/json"}, json.dumps([code, message])

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
        return status, {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}, json.dumps(body)

    def _dispatch(self, request: requests.PreparedRequest) -> Reply:
        reply = self._answer(request)
        self.statuses.append((self.calls[-1][1], reply[0]))
        return reply

    def _answer(self, request: requests.PreparedRequest) -> Reply:
        parts = urlsplit(str(request.url))
        path = parts.path[len(urlsplit(self.url).path) + 1 :]
        method = str(request.method)
        query = parse_qsl(parts.query, keep_blank_values=True)
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.calls.append((method, path))
        self.urls.append(str(request.url))
        self.bodies.append((method, path, headers, body))
        for failure in self.failures:
            if failure.method == method and path.startswith(failure.path) and failure.times > 0:
                failure.times -= 1
                if failure.after:
                    self._carry_out(request, parts, path, method, query, body, headers)
                if failure.exception is not None:
                    raise failure.exception
                text = failure.body if isinstance(failure.body, str) else json.dumps(failure.body)
                return failure.status, {"Content-Type": "application/json", **failure.headers}, text or ""
        return self._carry_out(request, parts, path, method, query, body, headers)

    def _carry_out(
        self,
        request: requests.PreparedRequest,
        parts: Any,
        path: str,
        method: str,
        query: list[tuple[str, str]],
        body: bytes,
        headers: dict[str, str],
    ) -> Reply:
        if not self.api_enabled:
            return self._error(400, "ERROR", "API disabled")
        app = headers.get("app-token")
        if self.app_token is not None and app is None:
            return self._error(400, "ERROR_APP_TOKEN_PARAMETERS_MISSING", "missing parameter app_token", doc=True)
        if app is not None and app != self.app_token:
            return self._error(400, "ERROR_WRONG_APP_TOKEN_PARAMETER", "parameter app_token seems wrong", doc=True)
        if method == "GET" and body:
            return self._error(400, "ERROR_JSON_PAYLOAD_FORBIDDEN", "GET Request should not have json payload")
        if path == "initSession":
            return self._init_session(headers)
        token = headers.get("session-token")
        if not token:
            return self._error(400, "ERROR_SESSION_TOKEN_MISSING", "parameter session_token is missing or empty")
        if token not in self.sessions:
            return self._error(401, "ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid", doc=True)
        self.acting = self.session_users.get(token, 0)
        raw = headers.get("x-glpi-sanitized-content", "true").lower() == "false"
        if path == "killSession":
            self.sessions.discard(token)
            self.killed.append(token)
            return self._json(200, True)
        if path == "getFullSession":
            user = self.dropdowns["User"].get(self.acting, {})
            name = unsanitize(str(user.get("name", "")))
            return self._json(200, {"session": {"glpiID": self.acting, "glpiname": name, "glpiactive_entity": 0}})
        if path == "getGlpiConfig":
            return self._json(200, {"cfg_glpi": {"urgency_mask": self.urgency_mask, "impact_mask": self.impact_mask}})
        if path == "changeActiveEntities":
            data = json.loads(body or b"{}")
            if not isinstance(data.get("is_recursive", False), bool):
                return self._error(400, "ERROR", "Bad request")
            if data.get("entities_id") not in self.entities:
                return self._json(200, False)
            self.active_entity = int(data["entities_id"])
            return self._json(200, True)
        first, _, rest = path.partition("/")
        itemtype = rest if first == "search" else first
        segments = path.split("/")
        child = segments[2] if len(segments) >= 3 and segments[1].isdigit() else None
        if (method, first) in self.denied or (method, itemtype) in self.denied or (method, child) in self.denied:
            return self._error(403, "ERROR_RIGHT_MISSING", "You don't have permission to perform this action.")
        if method == "POST" and first in self.denied_add:
            return self._error(400, "ERROR_GLPI_ADD", "You don't have permission to perform this action.")
        handler = self._routes().get((method, path.split("/")[0]))
        if handler is None:
            return self._error(400, "ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM", f"resource {path} not found")
        try:
            reply = handler(rest, dict(query), query, headers, body)
        except _Refused as refused:
            return refused.reply
        if raw and 200 <= reply[0] < 300:
            return reply[0], reply[1], unsanitize(reply[2])
        return reply

    def _routes(self) -> dict[tuple[str, str], Callable[..., Reply]]:
        routes: dict[tuple[str, str], Callable[..., Reply]] = {
            ("GET", "search"): self._search,
            ("GET", "Ticket"): self._get_ticket,
            ("POST", "Ticket"): self._create_ticket,
            ("PUT", "Ticket"): self._update_ticket,
            ("PATCH", "Ticket"): self._update_ticket,
            ("POST", "ITILFollowup"): self._add_followup,
            ("POST", "ITILSolution"): self._add_solution,
            ("GET", "Ticket_Ticket"): self._list_links,
            ("POST", "Ticket_Ticket"): self._add_link,
            ("PUT", "Ticket_Ticket"): self._update_link,
            ("POST", "Document"): self._add_document,
            ("GET", "Entity"): self._get_entity,
            ("GET", "Document"): self._get_document,
        }
        for itemtype in self.dropdowns:
            routes[("GET", itemtype)] = self._dropdown_list(itemtype)
            routes[("POST", itemtype)] = self._dropdown_add(itemtype)
        return routes

    def _init_session(self, headers: dict[str, str]) -> Reply:
        auth = headers.get("authorization", "")
        if not auth:
            return self._error(
                400, "ERROR_LOGIN_PARAMETERS_MISSING", "parameter(s) login, password or user_token are missing"
            )
        given = auth.removeprefix("user_token ")
        if not auth.startswith("user_token ") or given not in self.user_tokens:
            return self._error(401, "ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid")
        token = f"sess{next(self._tokens):04d}abcdef"
        self.sessions.add(token)
        self.session_users[token] = self.user_tokens[given]
        return self._json(200, {"session_token": token})

    # --- paging --------------------------------------------------------------------------------

    def _range(self, query: dict[str, str], total: int) -> tuple[int, int]:
        text = query.get("range")
        if text is None:
            start, end = 0, self.list_limit - 1
        elif not re.fullmatch(r"[0-9]+-[0-9]+", text):
            raise _Refused(self._error(400, "ERROR", "range must be in format : [start-end] with integers"))
        else:
            start, end = (int(x) for x in text.split("-"))
        if start > total:
            message = f"Provided range exceed total count of data: {total}"
            raise _Refused(self._error(400, "ERROR_RANGE_EXCEED_TOTAL", message))
        return start, min(end, total - 1)

    def _paged(
        self, rows: list[Any], query: dict[str, str], itemtype: str, wrap: Callable[[list[Any], int, str], Any]
    ) -> Reply:
        start, end = self._range(query, len(rows))
        page = rows[start : end + 1]
        span = f"{start}-{max(end, 0)}/{len(rows)}"
        if not rows:  # no Content-Range header when nothing matched
            return self._json(200, wrap([], 0, span))
        headers = {"Content-Range": span, "Accept-Range": f"{itemtype} 1000"}
        return self._json(206 if len(page) < len(rows) else 200, wrap(page, len(rows), span), headers)

    # --- search --------------------------------------------------------------------------------

    def _criteria(self, query: list[tuple[str, str]]) -> list[dict[str, str]]:
        found: dict[int, dict[str, str]] = {}
        for key, value in query:
            hit = re.fullmatch(r"criteria\[(\d+)\]\[(\w+)\]", key)
            if hit:
                found.setdefault(int(hit.group(1)), {})[hit.group(2)] = value
        return [found[i] for i in sorted(found)]

    def _matches(self, ticket: dict[str, Any], criterion: dict[str, str]) -> bool:
        fieldid, kind, value = criterion["field"], criterion["searchtype"], criterion["value"]
        if fieldid == "12" and kind == "equals":
            if value == "all":
                return True
            if value == "notold":
                return ticket["status"] not in (SOLVED, CLOSED)
            return str(ticket["status"]) == value
        if fieldid == "19" and kind in ("morethan", "lessthan"):
            stamp = str(ticket["date_mod"])  # "YYYY-MM-DD HH:MM:SS" sorts as text
            return stamp > value if kind == "morethan" else stamp < value
        column = {"1": "name", "21": "content"}.get(fieldid)
        if column is not None and kind == "contains":
            return _like(sanitize(value), ticket[column] or "")
        if fieldid == "2" and kind in ("equals", "contains"):
            return str(ticket["id"]) == value.strip("^$")
        raise AssertionError(f"the fake does not model criterion {criterion}")

    def _column(self, ticket: dict[str, Any], option: str) -> Any:
        users = self.dropdowns["User"]
        groups = self.dropdowns["Group"]
        categories = self.dropdowns["ITILCategory"]
        if option == "5":
            names = [users[u]["name"] for u in ticket["_users_assign"]]
            return names[0] if len(names) == 1 else (names or None)
        if option == "8":
            names = [groups[g]["completename"] for g in ticket["_groups_assign"]]
            return names[0] if len(names) == 1 else (names or None)
        if option == "7":
            category = categories.get(ticket["itilcategories_id"])
            return category["completename"] if category else None
        if option == "80":
            return self.entities[ticket["entities_id"]]["completename"]
        column = {
            "1": "name",
            "2": "id",
            "3": "priority",
            "10": "urgency",
            "11": "impact",
            "12": "status",
            "14": "type",
            "15": "date",
            "18": "time_to_resolve",
            "19": "date_mod",
            "21": "content",
            "155": "time_to_own",
        }[option]
        return ticket[column]

    def _search(self, itemtype: str, query: dict[str, str], pairs: list[tuple[str, str]], *_: Any) -> Reply:
        assert itemtype == "Ticket", "the fake models search/Ticket only"
        criteria = self._criteria(pairs)
        rows = [t for t in self.tickets.values() if not t["is_deleted"]]
        if not criteria:  # GLPI's default filter
            rows = [t for t in rows if t["status"] not in (SOLVED, CLOSED)]
        for criterion in criteria:
            if criterion.get("link", "AND") != "AND":
                raise AssertionError("the fake models AND criteria only")
            rows = [t for t in rows if self._matches(t, criterion)]
        reverse = query.get("order", "ASC").upper() == "DESC"
        sort = query.get("sort", "1")
        rows.sort(key=lambda t: self._column(t, sort) if sort != "1" else (t["name"] or ""), reverse=reverse)
        shown = ["1", "2", "80"] + [v for k, v in pairs if k.startswith("forcedisplay[")]

        def wrap(page: list[dict[str, Any]], total: int, span: str) -> dict[str, Any]:
            answer: dict[str, Any] = {"totalcount": total, "count": len(page), "sort": [int(sort)], "order": ["ASC"]}
            if page:  # no "data" key at all when nothing matched
                answer["data"] = [{o: self._column(t, o) for o in dict.fromkeys(shown)} for t in page]
            answer["content-range"] = span
            return answer

        return self._paged(rows, query, "Ticket", wrap)

    # --- tickets -------------------------------------------------------------------------------

    def _input(self, body: bytes) -> dict[str, Any] | Reply:
        try:
            data = json.loads(body or b"null")
        except ValueError:
            return self._error(400, "ERROR_JSON_PAYLOAD_INVALID", "JSON payload seems not valid")
        item = data.get("input") if isinstance(data, dict) else None
        if not isinstance(item, dict):
            return self._error(400, "ERROR_BAD_ARRAY", "input parameter must be an array of objects")
        return item

    def _touch(self, *ticket_ids: int) -> None:
        for ticket_id in ticket_ids:
            if ticket_id in self.tickets:
                self.tickets[ticket_id]["date_mod"] = self.now_text()

    def _get_ticket(self, rest: str, query: dict[str, str], *_: Any) -> Reply:
        ident, _, child = rest.partition("/")
        row = self.tickets.get(int(ident)) if ident.isdigit() else None
        if row is None:
            return self._error(404, "ERROR_ITEM_NOT_FOUND", "Item not found")
        if child:
            return self._sub_items(int(ident), child, query)
        return self._json(
            200, {k: v for k, v in row.items() if not k.startswith("_")}, {"Last-Modified": row["date_mod"]}
        )

    def _sub_items(self, ticket_id: int, child: str, query: dict[str, str]) -> Reply:
        """``GET Ticket/<id>/<Child>``: a List filtered on the parent (API::getItems)."""
        if child == "Log":
            rows = self.logs_of(ticket_id)
        elif child in ("Ticket_User", "Group_Ticket"):
            kind = "User" if child == "Ticket_User" else "Group"
            rows = [
                {k: v for k, v in r.items() if k != "kind"}
                for r in self.actor_rows
                if r["tickets_id"] == ticket_id and r["kind"] == kind
            ]
        elif child == "ITILFollowup":
            rows = [{"itemtype": "Ticket", **f} for f in self.followups if f["items_id"] == ticket_id]
        elif child == "ITILSolution":
            rows = [{"itemtype": "Ticket", **f} for f in self.solutions if f["items_id"] == ticket_id]
        elif child == "Document_Item":
            rows = [dict(d) for d in self.document_items if d["itemtype"] == "Ticket" and d["items_id"] == ticket_id]
        else:
            return self._error(400, "ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM", f"resource {child} not found")
        sort = query.get("sort", "id")
        rows = sorted(rows, key=lambda r: r[sort], reverse=query.get("order", "ASC").upper() == "DESC")
        return self._paged(rows, query, child, lambda page, total, span: page)

    def _create_ticket(self, rest: str, query: dict[str, str], pairs: Any, headers: Any, body: bytes) -> Reply:
        item = self._input(body)
        if not isinstance(item, dict):
            return item
        missing = sorted(f for f in self.mandatory if not item.get(f))
        if missing:
            return self._error(400, "ERROR_GLPI_ADD", "Mandatory field missing: " + ", ".join(missing))
        if not item.get("name") and not item.get("content"):
            return self._error(400, "ERROR_GLPI_ADD", "Title and description are empty")
        now = self.now_text()
        ticket_id = next(self._ids)

        def scaled(name: str, mask: int) -> int:
            value = int(item.get(name, 3))
            return value if value == 3 or mask & (1 << value) else 3  # a disabled value becomes 3

        row: dict[str, Any] = {
            "id": ticket_id,
            "entities_id": int(item.get("entities_id", self.active_entity)),
            "name": sanitize(str(item.get("name") or html_to_text(str(item.get("content", "")))[:70])),
            "content": sanitize(str(item.get("content", ""))),
            "status": int(item.get("status", 1)),
            "type": int(item.get("type", 1)),
            "urgency": scaled("urgency", self.urgency_mask),
            "impact": scaled("impact", self.impact_mask),
            "priority": int(item.get("priority", 3)),
            "itilcategories_id": int(item.get("itilcategories_id", 0)),
            "requesttypes_id": int(item.get("requesttypes_id", 1)),
            "locations_id": int(item.get("locations_id", 0)),
            "date": item.get("date", now),
            "date_mod": now,
            "date_creation": now,
            "users_id_recipient": self.acting,  # the writer: the session's user
            "time_to_resolve": item.get("time_to_resolve"),
            "time_to_own": item.get("time_to_own"),
            "solvedate": None,
            "closedate": None,
            "is_deleted": 0,
            "_users_assign": [],
            "_groups_assign": [],
            "_users_requester": [],
        }
        if row["status"] == 1 and (item.get("_users_id_assign") or item.get("_groups_id_assign")):
            row["status"] = 2  # prepareInputForAdd: a New ticket with an actor is created assigned (no log)
        self.tickets[ticket_id] = row
        self._log(ticket_id, action=20)
        self._actors(row, item)
        return self._json(201, {"id": ticket_id, "message": ""}, {"Location": f"{self.url}/Ticket/{ticket_id}"})

    def _actors(self, row: dict[str, Any], item: dict[str, Any]) -> None:
        """Add the actors ``item`` names (GLPI keeps the earlier ones), each a Ticket_User /
        Group_Ticket row and a Log row with its ``_force_log_option``."""
        for field_name, key, kind, actor_type, option in (
            ("_users_id_assign", "_users_assign", "User", 2, 5),
            ("_groups_id_assign", "_groups_assign", "Group", 2, 8),
            ("_users_id_requester", "_users_requester", "User", 1, 4),
        ):
            value = item.get(field_name)
            for ident in value if isinstance(value, list) else ([value] if value else []):
                if int(ident) in row[key]:
                    continue
                row[key].append(int(ident))
                link = "users_id" if kind == "User" else "groups_id"
                self.actor_rows.append(
                    {"id": next(self._ids), "tickets_id": row["id"], link: int(ident), "type": actor_type, "kind": kind}
                )
                shown = (
                    self.friendly(int(ident))
                    if kind == "User"
                    else unsanitize(self.dropdowns["Group"].get(int(ident), {}).get("completename", ""))
                )
                self._log(row["id"], option=option, new=f"{shown} ({int(ident)})", link=kind, action=15)
        if row["status"] == 1 and (row["_users_assign"] or row["_groups_assign"]):
            # CommonITILActor::post_addItem moves a New ticket that gets an actor to "assigned"
            row["status"] = 2
            self._log(row["id"], option=12, old=1, new=2)

    def _update_ticket(self, rest: str, query: Any, pairs: Any, headers: Any, body: bytes) -> Reply:
        item = self._input(body)
        if not isinstance(item, dict):
            return item
        ticket_id = int(rest) if rest.isdigit() else int(item.get("id", 0))
        row = self.tickets.get(ticket_id)
        if row is None:
            return self._error(400, "ERROR_GLPI_UPDATE", "Item not found")
        new_status = int(item["status"]) if "status" in item else None
        if new_status is not None and new_status in self.forbidden_status:
            return self._error(400, "ERROR_GLPI_UPDATE", "Status transition not allowed by the ticket lifecycle")
        before = dict(row)
        for key, value in item.items():
            if key.startswith("_") or key == "id":
                continue
            row[key] = sanitize(value) if isinstance(value, str) and key in ("name", "content") else value
        if new_status is not None:
            row["status"] = new_status
        self._log_fields(ticket_id, before, row)
        self._actors(row, item)
        self._touch(ticket_id)
        if new_status in (SOLVED, CLOSED):
            self._propagate(ticket_id, None)
        return self._json(200, [{str(ticket_id): True, "message": ""}])

    def _log_fields(self, ticket_id: int, before: dict[str, Any], after: dict[str, Any]) -> None:
        for column, option in LOGGED.items():
            if before.get(column) != after.get(column):
                old, new = before.get(column), after.get(column)
                if column == "name":
                    old, new = unsanitize(str(old)), unsanitize(str(new))
                self._log(ticket_id, option=option, old=old, new=new)
        if before.get("itilcategories_id") != after.get("itilcategories_id"):
            categories = self.dropdowns["ITILCategory"]

            def shown(ident: Any) -> str:
                name = unsanitize(categories.get(int(ident or 0), {}).get("completename", ""))
                return f"{name} ({int(ident or 0)})"

            self._log(
                ticket_id, option=7, old=shown(before.get("itilcategories_id")), new=shown(after["itilcategories_id"])
            )

    def _add_followup(self, rest: str, query: Any, pairs: Any, headers: Any, body: bytes) -> Reply:
        item = self._input(body)
        if not isinstance(item, dict):
            return item
        if item.get("itemtype") != "Ticket" or int(item.get("items_id", 0)) not in self.tickets:
            return self._error(400, "ERROR_GLPI_ADD", "itemtype and items_id are required")
        if not str(item.get("content", "")).strip():
            return self._error(400, "ERROR_GLPI_ADD", "Content is mandatory")
        ident = next(self._ids)
        self.followups.append(
            {
                "id": ident,
                "items_id": int(item["items_id"]),
                "content": sanitize(str(item["content"])),
                "is_private": int(item.get("is_private", 0)),
                "date": self.now_text(),
                "date_creation": self.now_text(),
                "users_id": self.acting,
            }
        )
        self._log(int(item["items_id"]), new=f"{ident}", link="ITILFollowup", action=17)
        self._touch(int(item["items_id"]))
        return self._json(201, {"id": ident, "message": ""}, {"Location": f"{self.url}/ITILFollowup/{ident}"})

    def _add_solution(self, rest: str, query: Any, pairs: Any, headers: Any, body: bytes) -> Reply:
        item = self._input(body)
        if not isinstance(item, dict):
            return item
        ticket_id = int(item.get("items_id", 0))
        row = self.tickets.get(ticket_id)
        if item.get("itemtype") != "Ticket" or row is None:
            return self._error(400, "ERROR_GLPI_ADD", "itemtype and items_id are required")
        if row["status"] in (SOLVED, CLOSED):
            return self._error(
                400, "ERROR_GLPI_ADD", "The item is already solved, did anyone pushed a solution before you?"
            )
        if SOLVED in self.forbidden_status:
            return self._error(400, "ERROR_GLPI_ADD", "Status transition not allowed by the ticket lifecycle")
        ident = self._solve(ticket_id, sanitize(str(item.get("content", ""))))
        self._propagate(ticket_id, str(item.get("content", "")))
        return self._json(201, {"id": ident, "message": ""}, {"Location": f"{self.url}/ITILSolution/{ident}"})

    def _solve(self, ticket_id: int, content: str) -> int:
        ident = next(self._ids)
        self.solutions.append(
            {
                "id": ident,
                "items_id": ticket_id,
                "content": content,
                "users_id": self.acting,
                "date_creation": self.now_text(),
                "status": 2,
            }
        )
        self._log(ticket_id, new=f"{ident}", link="ITILSolution", action=17)
        row = self.tickets[ticket_id]
        self._log(ticket_id, option=12, old=row["status"], new=SOLVED)
        row["status"], row["solvedate"] = SOLVED, self.now_text()
        self._touch(ticket_id)
        return ident

    def _propagate(self, ticket_id: int, content: str | None) -> None:
        """``Ticket_Ticket::manageLinkedTicketsOnSolved``: every open ticket joined by a
        "duplicates" link on either side gets the same solution (or status)."""
        for link in list(self.links.values()):
            if link["link"] != 2 or ticket_id not in (link["tickets_id_1"], link["tickets_id_2"]):
                continue
            other = link["tickets_id_2"] if link["tickets_id_1"] == ticket_id else link["tickets_id_1"]
            if self.tickets[other]["status"] in (SOLVED, CLOSED):
                continue
            if content is None:
                self._log(other, option=12, old=self.tickets[other]["status"], new=SOLVED)
                self.tickets[other]["status"] = SOLVED
                self._touch(other)
            else:
                self._solve(other, sanitize(content))
            self._propagate(other, content)

    # --- links ---------------------------------------------------------------------------------

    def _list_links(self, rest: str, query: dict[str, str], *_: Any) -> Reply:
        rows = sorted(self.links.values(), key=lambda r: r["id"])
        for key, value in query.items():
            hit = re.fullmatch(r"searchText\[(\w+)\]", key)
            if hit:
                rows = [r for r in rows if _like(value, str(r[hit.group(1)]))]
        return self._paged(rows, query, "Ticket_Ticket", lambda page, total, span: page)

    def _add_link(self, rest: str, query: Any, pairs: Any, headers: Any, body: bytes) -> Reply:
        item = self._input(body)
        if not isinstance(item, dict):
            return item
        one, two, link = int(item.get("tickets_id_1", 0)), int(item.get("tickets_id_2", 0)), int(item.get("link", 1))
        if link == 4:
            one, two, link = two, one, 3
        if one == two or one not in self.tickets or two not in self.tickets:
            return self._error(400, "ERROR_GLPI_ADD", "Failed to add the link")
        for ident, row in list(self.links.items()):
            if {row["tickets_id_1"], row["tickets_id_2"]} == {one, two}:
                if link == 2 and row["link"] == 1:
                    del self.links[ident]  # a "duplicates" link replaces a plain one
                else:
                    return self._error(400, "ERROR_GLPI_ADD", "Failed to add the link")
        ident = next(self._ids)
        self.links[ident] = {"id": ident, "tickets_id_1": one, "tickets_id_2": two, "link": link}
        self._touch(one, two)
        return self._json(201, {"id": ident, "message": ""}, {"Location": f"{self.url}/Ticket_Ticket/{ident}"})

    def _update_link(self, rest: str, query: Any, pairs: Any, headers: Any, body: bytes) -> Reply:
        item = self._input(body)
        if not isinstance(item, dict):
            return item
        row = self.links.get(int(rest)) if rest.isdigit() else None
        if row is None:
            return self._error(400, "ERROR_GLPI_UPDATE", "Item not found")
        row["link"] = int(item.get("link", row["link"]))
        self._touch(row["tickets_id_1"], row["tickets_id_2"])
        return self._json(200, [{rest: True, "message": ""}])

    # --- documents -----------------------------------------------------------------------------

    def _add_document(self, rest: str, query: Any, pairs: Any, headers: dict[str, str], body: bytes) -> Reply:
        content_type = headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            try:
                json.loads(body or b"null")
            except ValueError:
                return self._error(400, "ERROR_JSON_PAYLOAD_INVALID", "JSON payload seems not valid")
            return self._error(400, "ERROR_UPLOAD_FILE_TOO_BIG_POST_MAX_SIZE", "The file seems too big")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        manifest_text: str | None = None
        files: list[tuple[str, str, str, bytes]] = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            decoded = part.get_payload(decode=True)
            payload = decoded if isinstance(decoded, bytes) else b""
            if name == "uploadManifest":
                manifest_text = payload.decode("utf-8")
            elif filename is not None:
                files.append((str(name), filename, part.get_content_type(), payload))
        try:
            manifest = json.loads(manifest_text or "")
            item = manifest["input"]
            assert isinstance(item, dict)
        except (ValueError, KeyError, AssertionError, TypeError):
            return self._error(400, "ERROR_JSON_PAYLOAD_INVALID", "JSON payload seems not valid")
        if not files:
            return self._error(400, "ERROR_UPLOAD_FILE_TOO_BIG_POST_MAX_SIZE", "The file seems too big")
        _, filename, mime, data = files[0]  # only the first file becomes the document
        extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if extension in REFUSED_EXTENSIONS:
            return self._error(400, "ERROR_GLPI_ADD", f"Failed to add document: file type {extension} is not allowed")
        ident = next(self._ids)
        ticket_id = int(item.get("items_id", 0)) if item.get("itemtype") == "Ticket" else None
        if ticket_id is not None and ticket_id not in self.tickets:
            return self._error(400, "ERROR_GLPI_ADD", "Failed to add document: item not found")
        name = str(item.get("name") or filename)
        if ticket_id is not None:
            name = f"Document: Ticket - {unsanitize(self.tickets[ticket_id]['name'])}"
        self.documents[ident] = {
            "id": ident,
            "name": name,
            "filename": filename,
            "mime": mime,
            "sha1sum": hashlib.sha1(data).hexdigest(),  # GLPI keeps the file's SHA-1
            "content": data,
        }
        if ticket_id is not None:
            link = {"id": next(self._ids), "documents_id": ident, "itemtype": "Ticket", "items_id": ticket_id}
            self.document_items.append(link)
            self._touch(ticket_id)
        answer = {"id": ident, "message": "", "upload_result": {"filename": [{"name": filename, "size": len(data)}]}}
        return self._json(201, answer, {"Location": f"{self.url}/Document/{ident}"})

    def _get_document(self, rest: str, *_: Any) -> Reply:
        """``GET Document/<id>``: the Document's fields (its file as JSON fields, not the bytes)."""
        row = self.documents.get(int(rest)) if rest.isdigit() else None
        if row is None:
            return self._error(404, "ERROR_ITEM_NOT_FOUND", "Item not found")
        return self._json(200, {k: v for k, v in row.items() if k not in ("content", "mime")})

    # --- dropdowns -----------------------------------------------------------------------------

    def _get_entity(self, rest: str, *_: Any) -> Reply:
        row = self.entities.get(int(rest)) if rest.isdigit() else None
        if row is None:
            return self._error(404, "ERROR_ITEM_NOT_FOUND", "Item not found")
        return self._json(200, row)

    def _dropdown_list(self, itemtype: str) -> Callable[..., Reply]:
        def handler(rest: str, query: dict[str, str], *_: Any) -> Reply:
            rows = sorted(self.dropdowns[itemtype].values(), key=lambda r: r["id"])
            if rest:
                row = self.dropdowns[itemtype].get(int(rest)) if rest.isdigit() else None
                return self._json(200, row) if row else self._error(404, "ERROR_ITEM_NOT_FOUND", "Item not found")
            for key, value in query.items():
                hit = re.fullmatch(r"searchText\[(\w+)\]", key)
                if hit:
                    rows = [r for r in rows if _like(sanitize(value), str(r.get(hit.group(1), "")))]
            return self._paged(rows, query, itemtype, lambda page, total, span: page)

        return handler

    def _dropdown_add(self, itemtype: str) -> Callable[..., Reply]:
        def handler(rest: str, query: Any, pairs: Any, headers: Any, body: bytes) -> Reply:
            item = self._input(body)
            if not isinstance(item, dict):
                return item
            if not str(item.get("name", "")).strip():
                return self._error(400, "ERROR_GLPI_ADD", "Name is mandatory")
            ident = self._store(itemtype, dict(item))
            return self._json(201, {"id": ident, "message": ""}, {"Location": f"{self.url}/{itemtype}/{ident}"})

        return handler
