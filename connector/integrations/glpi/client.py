"""HTTP to GLPI 10's REST API (``apirest.php``): the session, and the one place its failures
become connector errors.

One session per client: ``initSession`` (user token, plus the app token when the API client
has one) is called on first use, its token is sent as ``Session-Token`` on every later call,
and ``killSession`` ends it on ``close()``. When GLPI answers ``401 ERROR_SESSION_TOKEN_INVALID``
(the session expired or was killed) a new session is opened once and the call is repeated
once; a call GLPI refused that way did nothing, so repeating it is safe.

What each failure becomes (``GlpiUnavailable``, ``GlpiConfigError``, ``GlpiRejected``) is decided
in ``connector.integrations.glpi.errors``; List and search paging is ``connector.integrations.glpi.paging``.

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
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from functools import cache
from typing import Any, TypeVar, cast

import requests
from pydantic import TypeAdapter, ValidationError

from connector.domain.clock import Clock
from connector.integrations.glpi.errors import (
    SESSION_CODES,
    GlpiConfigError,
    GlpiRejected,
    GlpiUnavailable,
    clean,
    error_code,
    raise_for_status,
)
from connector.integrations.glpi.paging import ContentRange, Page, parse_content_range
from connector.util.wire import answered_at, unreachable

log = logging.getLogger(__name__)

T = TypeVar("T")
Params = Mapping[str, str | int] | Sequence[tuple[str, str | int]]

@cache
def _adapter(shape: Hashable) -> TypeAdapter[Any]:
    """One validator per answer shape (building a ``TypeAdapter`` is not free)."""
    return TypeAdapter(cast(Any, shape))


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
        verify_tls: bool | str = True,
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
        content_range = parse_content_range(response.headers.get("Content-Range"))
        return Page(items, content_range, response.status_code, answered_at(response))

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
            detail = clean(str(refused[0].get("message") or "the update was refused"))
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
        if error_code(response) in SESSION_CODES:
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
        raise_for_status(response, operation, backend=self.backend, now=self._clock.now())

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
