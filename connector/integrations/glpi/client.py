"""HTTP to GLPI 10's REST API (``apirest.php``): the session, and the one place its failures
become connector errors.

One session per client: ``initSession`` (user token, plus the app token when the API client
has one) is called on first use, its token is sent as ``Session-Token`` on every later call,
and ``killSession`` ends it on ``close()``. When GLPI answers ``401 ERROR_SESSION_TOKEN_INVALID``
(the session expired or was killed) a new session is opened once and the call is repeated
once; a call GLPI refused that way did nothing, so repeating it is safe.

GLPI's error body is ``["ERROR_CODE", "message"]``; what the caller does next follows the
code and the HTTP status, never the (translated) text:

* refused connection, timeout, 5xx, 429, a redirect, a malformed 2xx body → ``GlpiUnavailable``
  (a ``BackendUnavailable``: the outbox retries, honouring ``Retry-After``);
* 401/403 and the API-client checks (wrong or missing app token, IP not allowed, API disabled)
  → ``GlpiConfigError``, also a ``BackendUnavailable``: an admin fixes a token or a profile
  right (the message names it) and meanwhile the work waits in the outbox;
* any other 4xx (``ERROR_GLPI_ADD`` on one ticket, ``ERROR_ITEM_NOT_FOUND``, …) →
  ``GlpiRejected`` (a ``BackendRejected``) carrying GLPI's message: that operation is
  dead-lettered and the others go on.

Tokens travel only in headers (never in a URL), so no message or log line holds them.
"""

from __future__ import annotations

__all__ = [
    "ContentRange",
    "GlpiClient",
    "GlpiConfigError",
    "GlpiRejected",
    "GlpiUnavailable",
    "Page",
    "parse_content_range",
]

import json
import logging
import math
import re
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from typing import Any, Generic, TypeVar, cast

import requests
from pydantic import TypeAdapter, ValidationError

from connector.domain.clock import Clock
from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.util.wire import parse_retry_after, unreachable

log = logging.getLogger(__name__)

T = TypeVar("T")
Params = Mapping[str, str | int] | Sequence[tuple[str, str | int]]

#: error codes that say the connector's own setup is wrong (not this one operation)
_CONFIG_CODES = {
    "ERROR_WRONG_APP_TOKEN_PARAMETER": "GLPI refused the app token: set backend app_token to the API client's "
    "App-Token (Setup › General › API), or leave it out when the client has none",
    "ERROR_APP_TOKEN_PARAMETERS_MISSING": "the API client requires an app token: set backend app_token "
    "(Setup › General › API › the client's App-Token)",
    "ERROR_NOT_ALLOWED_IP": "no active API client allows the connector's address (Setup › General › API › "
    "API clients: IPv4/IPv6 range, Active)",
    "ERROR_LOGIN_PARAMETERS_MISSING": "no user token was sent: set backend user_token",
    "ERROR_GLPI_LOGIN_USER_TOKEN": "GLPI refused the user token (wrong or regenerated, or the user is "
    "inactive): set backend user_token to the connector user's API token (preferences › Remote access keys)",
    "ERROR_GLPI_LOGIN": "GLPI refused the login of the connector's user (inactive, or not allowed to log in "
    "through the API)",
    "ERROR_LOGIN_WITH_CREDENTIALS_DISABLED": "log in with a user token (backend user_token)",
}
_SESSION_CODES = {"ERROR_SESSION_TOKEN_INVALID", "ERROR_SESSION_TOKEN_MISSING"}
_DOC_SUFFIX = re.compile(r";?\s*view documentation in your browser at \S*\s*$", re.IGNORECASE)
_CONTENT_RANGE = re.compile(r"^\s*(\d+)-(\d+)/(\d+)\s*$")

#: the profile right an operation needs, as GLPI's profile form names it (Administration ›
#: Profiles › <profile>), for the message of a 403 ERROR_RIGHT_MISSING
_RIGHTS: dict[tuple[str, str], str] = {
    ("GET", "search"): "Assistance › Tickets: 'See all tickets' (and 'Read')",
    ("GET", "Ticket"): "Assistance › Tickets: 'Read' / 'See all tickets'",
    ("POST", "Ticket"): "Assistance › Tickets: 'Create'",
    ("PUT", "Ticket"): "Assistance › Tickets: 'Update' (and 'Assign' / 'Change the priority' for those fields)",
    ("POST", "ITILFollowup"): "Assistance › Followups: 'Add to all tickets'",
    ("POST", "ITILSolution"): "Assistance › Tickets: 'Update' (a solution needs the right to solve the ticket)",
    ("GET", "Ticket_Ticket"): "Assistance › Tickets: 'Read' / 'See all tickets'",
    ("GET", "Log"): "Administration › Logs: 'Read' (a ticket's Historical tab)",
    ("GET", "Ticket_User"): "Assistance › Tickets: 'Read' / 'See all tickets'",
    ("GET", "Group_Ticket"): "Assistance › Tickets: 'Read' / 'See all tickets'",
    ("GET", "ITILFollowup"): "Assistance › Followups: 'See all followups' (private ones included)",
    ("GET", "ITILSolution"): "Assistance › Tickets: 'Read' / 'See all tickets'",
    ("GET", "getFullSession"): "nothing more than a session (a GLPI that refuses it is misconfigured)",
    ("POST", "Ticket_Ticket"): "Assistance › Tickets: 'Update' (on both linked tickets)",
    ("PUT", "Ticket_Ticket"): "Assistance › Tickets: 'Update' (on both linked tickets)",
    ("POST", "Document"): "Management › Documents: 'Create' (and Assistance › Tickets: 'Update')",
    ("GET", "ITILCategory"): "Setup › Dropdowns: ITIL categories 'Read'",
    ("POST", "ITILCategory"): "Setup › Dropdowns: ITIL categories 'Create'",
    ("GET", "Group"): "Administration › Groups: 'Read'",
    ("GET", "User"): "Administration › Users: 'Read'",
    ("GET", "RequestType"): "Setup › Dropdowns: Request sources 'Read'",
    ("POST", "RequestType"): "Setup › Dropdowns: Request sources 'Create'",
    ("GET", "Location"): "Setup › Dropdowns: Locations 'Read'",
    ("POST", "changeActiveEntities"): "access to the configured entity (Administration › Users › the "
    "connector's user › Authorizations: the profile on that entity, recursive)",
}


class GlpiUnavailable(BackendUnavailable):
    """Raised when GLPI cannot do it now; ``status`` is the HTTP status and ``code`` GLPI's
    error code, when there were any."""

    def __init__(
        self,
        message: str,
        *,
        backend: str,
        operation: str,
        retry_after: float | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        super().__init__(message, backend=backend, operation=operation, retry_after=retry_after)


class GlpiConfigError(GlpiUnavailable):
    """Raised when GLPI refuses the connector's tokens or a right of its profile: an admin must
    fix the configuration; until then every operation waits in the outbox."""


class GlpiRejected(BackendRejected):
    """Raised when GLPI refuses this one operation for good; ``detail`` is GLPI's message and
    ``reason`` the text after the ``backend operation:`` prefix."""

    def __init__(self, message: str, *, backend: str, operation: str, status: int, code: str, detail: str) -> None:
        self.reason = message
        self.status = status
        self.code = code
        self.detail = detail
        super().__init__(message, backend=backend, operation=operation)


@dataclass(frozen=True)
class ContentRange:
    """``Content-Range: <start>-<end>/<total>`` of a List or search answer (both ends inclusive)."""

    start: int
    end: int
    total: int

    @property
    def more(self) -> bool:
        """Whether rows after ``end`` exist."""
        return self.end + 1 < self.total


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a List or search answer."""

    items: T
    range: ContentRange | None
    status: int


def parse_content_range(value: str | None) -> ContentRange | None:
    """The header's three numbers; ``None`` when it is absent (GLPI sends none for no rows) or
    unreadable."""
    if not value:
        return None
    found = _CONTENT_RANGE.match(value)
    if found is None:
        return None
    start, end, total = (int(group) for group in found.groups())
    return ContentRange(start, end, total)


@cache
def _adapter(shape: Hashable) -> TypeAdapter[Any]:
    """One validator per answer shape (building a ``TypeAdapter`` is not free)."""
    return TypeAdapter(cast(Any, shape))


def _phrase(status: int, reason: str | None) -> str:
    if reason:
        return reason
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _itemtype(path: str) -> str:
    """``Ticket`` for ``Ticket/12``, ``search`` for ``search/Ticket``, ``Log`` for the
    sub-items ``Ticket/12/Log`` (their own right decides)."""
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[1].isdigit():
        return parts[2]
    return parts[0]


class GlpiClient:
    """JSON (and multipart) calls over one ``requests.Session`` and one GLPI session.

    The HTTP session is injectable; one the client made itself is closed by ``close()``. Every
    call has the explicit ``timeout`` and never follows redirects (a redirect to another host
    would carry the tokens along). ``on_session`` receives each new session token, so the
    caller can hide it from the log.
    """

    def __init__(
        self,
        base_url: str,
        user_token: str,
        *,
        app_token: str | None,
        backend: str,
        clock: Clock,
        timeout: float,
        verify_tls: bool = True,
        entity: int | None = None,
        session: requests.Session | None = None,
        on_session: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.backend = backend
        self._user_token = user_token
        self._app_token = app_token
        self._clock = clock
        self._timeout = timeout
        self._verify = verify_tls
        self._entity = entity
        self._owns_session = session is None
        self._http = session if session is not None else requests.Session()
        self._on_session = on_session
        self._token: str | None = None
        self._lock = threading.Lock()

    # --- the calls -----------------------------------------------------------------------------

    def get(self, path: str, shape: type[T], params: Params | None = None) -> T:
        """GET ``path`` and validate the JSON answer against ``shape``."""
        response = self._send("GET", path, params=params)
        return self._parse(response, f"GET {path}", shape)

    def get_page(self, path: str, shape: type[T], params: Params | None = None) -> Page[T]:
        """GET one page of a List or search call (200 whole, 206 partial) with its Content-Range."""
        response = self._send("GET", path, params=params)
        items = self._parse(response, f"GET {path}", shape)
        return Page(items, parse_content_range(response.headers.get("Content-Range")), response.status_code)

    def pages(
        self, path: str, shape: type[T], params: Sequence[tuple[str, str | int]], size: int = 100
    ) -> Iterator[Page[T]]:
        """Every page of a List or search call, along ``Content-Range``: 200 is all of it, 206 a
        part — ask for the next ``range`` until ``end + 1 >= total``. A start past the total
        (rows went away while paging: ``ERROR_RANGE_EXCEED_TOTAL``) ends the listing."""
        start = 0
        while True:
            try:
                page = self.get_page(path, shape, [*params, ("range", f"{start}-{start + size - 1}")])
            except GlpiRejected as exc:
                if exc.code == "ERROR_RANGE_EXCEED_TOTAL":
                    return
                raise
            yield page
            if page.status != 206 or page.range is None or not page.range.more:
                return
            start = page.range.end + 1

    def post(self, path: str, payload: Mapping[str, Any], shape: type[T]) -> T:
        """POST ``payload`` as JSON and validate the answer against ``shape``."""
        response = self._send("POST", path, payload=payload)
        return self._parse(response, f"POST {path}", shape)

    def put(self, path: str, payload: Mapping[str, Any]) -> None:
        """PUT ``payload``; GLPI answers ``[{"<id>": true, "message": ""}]``, and ``false`` there
        means the update was refused."""
        response = self._send("PUT", path, payload=payload)
        operation = f"PUT {path}"
        answer = self._parse(response, operation, list[dict[str, Any]])
        refused = [row for row in answer if any(value is False for key, value in row.items() if key != "message")]
        if refused:
            detail = _clean(str(refused[0].get("message") or "the update was refused"))
            raise GlpiRejected(
                f"HTTP {response.status_code}: {detail}",
                backend=self.backend,
                operation=operation,
                status=response.status_code,
                code="ERROR_GLPI_UPDATE",
                detail=detail,
            )

    def upload(
        self, path: str, manifest: Mapping[str, Any], filename: str, content: bytes, content_type: str, shape: type[T]
    ) -> T:
        """POST a multipart/form-data upload: the ``uploadManifest`` JSON and one file part.

        ``requests`` sets the multipart Content-Type with its boundary; the client never sets a
        session-wide Content-Type, which would override it (glpi-rest.md §7).
        """
        files = {
            "uploadManifest": (None, json.dumps(manifest, ensure_ascii=False), "application/json"),
            "filename[0]": (filename, content, content_type),
        }
        response = self._send("POST", path, files=files)
        return self._parse(response, f"POST {path}", shape)

    def close(self) -> None:
        """End the GLPI session (``killSession``) and close the HTTP session if it is ours.

        A failure to kill is only logged: the session expires on GLPI's side anyway.
        """
        with self._lock:
            token, self._token = self._token, None
        if token is not None:
            try:
                response = self._raw("GET", "killSession", headers=self._headers(token))
                log.debug("%s: killSession -> HTTP %s", self.backend, response.status_code)
            except requests.RequestException as exc:
                log.info("%s: killSession failed (%s); GLPI expires the session itself", self.backend, exc)
        if self._owns_session:
            self._http.close()

    # --- session -------------------------------------------------------------------------------

    def _headers(self, token: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "X-GLPI-Sanitized-Content": "false"}
        if self._app_token:
            headers["App-Token"] = self._app_token
        if token is not None:
            headers["Session-Token"] = token
        return headers

    def _session_token(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self._open_session()
            return self._token

    def _open_session(self) -> str:
        operation = "GET initSession"
        headers = {**self._headers(), "Authorization": f"user_token {self._user_token}"}
        response = self._checked("GET", "initSession", operation, headers=headers)
        body = self._parse(response, operation, dict[str, Any])
        token = body.get("session_token")
        if not isinstance(token, str) or not token:
            raise GlpiUnavailable(
                "initSession answered without a session_token; is the url GLPI's apirest.php?",
                backend=self.backend,
                operation=operation,
                status=response.status_code,
            )
        if self._on_session is not None:
            self._on_session(token)
        log.info("%s: opened a GLPI session", self.backend)
        if self._entity is not None:
            self._change_entity(token, self._entity)
        return token

    def _change_entity(self, token: str, entity: int) -> None:
        operation = "POST changeActiveEntities"
        response = self._checked(
            "POST",
            "changeActiveEntities",
            operation,
            headers=self._headers(token),
            payload={"entities_id": entity, "is_recursive": True},
        )
        if self._parse(response, operation, bool) is not True:
            raise GlpiConfigError(
                f"GLPI did not switch the session to entity {entity}: give the connector's user a profile "
                "on that entity (recursive), or fix backend entity; the work waits in the outbox",
                backend=self.backend,
                operation=operation,
                status=response.status_code,
            )

    # --- translation ---------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        payload: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        operation = f"{method} {path}"
        token = self._session_token()
        response = self._raw(method, path, headers=self._headers(token), params=params, payload=payload, files=files)
        if _error_code(response) in _SESSION_CODES:
            log.info("%s: the GLPI session expired (%s); opening a new one", self.backend, operation)
            with self._lock:
                if self._token == token:
                    self._token = None
            token = self._session_token()
            response = self._raw(
                method, path, headers=self._headers(token), params=params, payload=payload, files=files
            )
        self._raise_for_status(response, operation)
        return response

    def _checked(
        self, method: str, path: str, operation: str, *, headers: dict[str, str], payload: Any = None
    ) -> requests.Response:
        response = self._raw(method, path, headers=headers, payload=payload)
        self._raise_for_status(response, operation)
        return response

    def _raw(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        params: Params | None = None,
        payload: Any = None,
        files: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        if path.startswith("/") or "://" in path:
            raise ValueError(f"GLPI API paths are relative to the API base: {path!r}")
        operation = f"{method} {path}"
        try:
            response = self._http.request(
                method,
                f"{self.base_url}/{path}",
                params=params,
                json=payload,
                files=files,
                headers=headers,
                timeout=self._timeout,
                verify=self._verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise GlpiUnavailable(
                unreachable(exc, self.base_url, self._timeout), backend=self.backend, operation=operation
            ) from exc
        log.debug("%s -> HTTP %s", operation, response.status_code)
        return response

    def _raise_for_status(self, response: requests.Response, operation: str) -> None:
        status = response.status_code
        if 200 <= status < 300 and status != 207:
            return
        head = f"HTTP {status} {_phrase(status, response.reason)}".rstrip()
        code, detail = _error_body(response)
        said = f": {code}" + (f" {detail}" if detail else "") if code else ""
        method, _, path = operation.partition(" ")
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock.now())
            tail = f" (retry after {math.ceil(retry_after)}s)" if retry_after is not None else ""
            raise GlpiUnavailable(
                head + said + tail,
                backend=self.backend,
                operation=operation,
                retry_after=retry_after,
                status=status,
                code=code,
            )
        if 300 <= status < 400:
            where = response.headers.get("Location", "?")
            raise GlpiUnavailable(
                f"{head}: redirected to {where}; set backend url to the address GLPI's API answers on "
                "(tokens are not sent through redirects)",
                backend=self.backend,
                operation=operation,
                status=status,
            )
        if code in _CONFIG_CODES or (code == "ERROR" and "disabled" in detail.casefold()):
            hint = _CONFIG_CODES.get(code or "", "enable the REST API: Setup › General › API › 'Enable Rest API'")
            raise GlpiConfigError(
                f"{head}{said}: {hint}; the work waits in the outbox",
                backend=self.backend,
                operation=operation,
                status=status,
                code=code,
            )
        if status in (401, 403):
            if status == 403:
                right = _RIGHTS.get((method, _itemtype(path)), "the right for this operation")
                hint = f"the connector's GLPI profile lacks {right}"
            elif code in _SESSION_CODES:
                hint = "GLPI refused a freshly opened session too; check the API client and the user's profile"
            else:
                hint = "GLPI refused the connector's credentials; check user_token and app_token"
            raise GlpiConfigError(
                f"{head}{said}: {hint}; the work waits in the outbox",
                backend=self.backend,
                operation=operation,
                status=status,
                code=code,
            )
        raise GlpiRejected(
            head + said,
            backend=self.backend,
            operation=operation,
            status=status,
            code=code or "",
            detail=detail,
        )

    def _parse(self, response: requests.Response, operation: str, shape: type[T]) -> T:
        try:
            body = response.json()
        except ValueError as exc:
            sample = response.text[:80].replace("\n", " ")
            raise GlpiUnavailable(
                f"HTTP {response.status_code} but the body is not JSON ({sample!r}); is the url GLPI's "
                "apirest.php, without a proxy login page?",
                backend=self.backend,
                operation=operation,
                status=response.status_code,
            ) from exc
        try:
            return cast(T, _adapter(cast(Hashable, shape)).validate_python(body))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise GlpiUnavailable(
                f"unexpected answer: {where}: {first['msg']}",
                backend=self.backend,
                operation=operation,
                status=response.status_code,
            ) from exc


def _clean(text: str) -> str:
    """GLPI's message without the "; view documentation in your browser at …" tail."""
    return _DOC_SUFFIX.sub("", text).strip()


def _error_body(response: requests.Response) -> tuple[str | None, str]:
    """``(code, message)`` of GLPI's ``["ERROR_…", "message"]``; ``(None, "")`` for any other body.

    For a partial bulk result the second element is a list of per-item results; their
    messages are joined.
    """
    if not response.content:
        return None, ""
    try:
        body = response.json()
    except ValueError:
        return None, ""
    if not (isinstance(body, list) and body and isinstance(body[0], str)):
        return None, ""
    code = body[0]
    detail: Any = body[1] if len(body) > 1 else ""
    if isinstance(detail, list):
        detail = "; ".join(str(item.get("message", "")) for item in detail if isinstance(item, dict))
    return code, _clean(str(detail))


def _error_code(response: requests.Response) -> str | None:
    if response.status_code not in (400, 401):
        return None
    return _error_body(response)[0]
