"""HTTP to Redmine's REST API, and the one place its failures become connector errors.

Everything that can go wrong on the wire is translated here, with ``raise ... from exc``, into
what the caller does next:

* refused connection, timeout, 5xx, 429, a redirect, a malformed 2xx body → ``RedmineUnavailable``
  (a ``BackendUnavailable``: the outbox retries, honouring ``Retry-After``);
* 401 / 403 → ``RedmineUnavailable`` too: the key is refused or lacks a permission, which an admin
  fixes; until then the work waits in the outbox instead of being dead-lettered;
* any other 4xx → ``RedmineRejected`` (a ``BackendRejected``) with Redmine's ``errors`` list.

Messages name the operation and the reason, e.g.
``redmine POST /issues.json: HTTP 503 Service Unavailable (retry after 30s)``. The API key is
sent only as the ``X-Redmine-API-Key`` header, never in a URL, so no message or log line holds it.
"""

from __future__ import annotations

__all__ = ["RedmineClient", "RedmineRejected", "RedmineUnavailable"]

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

import requests
from pydantic import BaseModel, ValidationError

from connector.domain.clock import Clock
from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.util.wire import StatusKind, answered_at, http_failure, unreachable

log = logging.getLogger(__name__)

_M = TypeVar("_M", bound=BaseModel)
Params = Mapping[str, str | int]


class RedmineUnavailable(BackendUnavailable):
    """Raised when Redmine cannot do it now; ``status`` is the HTTP status, if there was one."""

    def __init__(
        self,
        message: str,
        *,
        backend: str,
        operation: str,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        self.status = status
        super().__init__(message, backend=backend, operation=operation, retry_after=retry_after)


class RedmineRejected(BackendRejected):
    """Raised when Redmine refuses the request for good; ``errors`` is its 422 error list."""

    def __init__(
        self, message: str, *, backend: str, operation: str, status: int, errors: tuple[str, ...] = ()
    ) -> None:
        self.status = status
        self.errors = errors
        super().__init__(message, backend=backend, operation=operation)


#: 401/403 (``StatusKind.AUTH``) are waited out, not dead-lettered: an admin fixes the key or
#: the permission
_AUTH_HINTS = {
    401: "Redmine refused the API key (wrong or regenerated key, or its user is locked); fix backend api_key",
    403: "the API key's user lacks a permission for this (or the REST API is disabled: "
    "Administration › Settings › API)",
}


class RedmineClient:
    """A thin JSON client over one ``requests.Session``.

    The session is injectable (tests, shared connection pools); one the client made itself is
    closed by ``close()``. Every call has the explicit ``timeout`` and never follows redirects:
    a redirect to another host would carry the API key header along.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        backend: str,
        clock: Clock,
        timeout: float,
        verify_tls: bool | str = True,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.backend = backend
        self._clock = clock
        self._timeout = timeout
        self._verify = verify_tls
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._headers = {"X-Redmine-API-Key": api_key, "Accept": "application/json"}
        self._date: datetime | None = None  # the last answer's HTTP Date
        self._received: datetime | None = None  # our clock when the last answer came
        self._offset: timedelta | None = None  # Redmine's clock minus ours, at least

    # --- the calls -----------------------------------------------------------------------------

    def get(self, path: str, model: type[_M], params: Params | None = None) -> _M:
        """GET ``path`` and validate the JSON answer against ``model``."""
        response = self._send("GET", path, params=params)
        return self._parse(response, f"GET {path}", model)

    def post(self, path: str, payload: Mapping[str, Any], model: type[_M]) -> _M:
        """POST ``payload`` as JSON and validate the created object against ``model``."""
        response = self._send("POST", path, payload=payload)
        return self._parse(response, f"POST {path}", model)

    def upload(self, path: str, content: bytes, params: Params, model: type[_M]) -> _M:
        """POST raw bytes as ``application/octet-stream`` (Redmine answers 406 to anything else)."""
        response = self._send("POST", path, params=params, data=content)
        return self._parse(response, f"POST {path}", model)

    def put(self, path: str, payload: Mapping[str, Any]) -> None:
        """PUT ``payload`` as JSON; Redmine answers 204 with no body, so nothing is parsed."""
        self._send("PUT", path, payload=payload)

    def delete(self, path: str) -> None:
        """DELETE ``path`` (204, no body)."""
        self._send("DELETE", path)

    def close(self) -> None:
        """Close the session if this client created it."""
        if self._owns_session:
            self._session.close()

    # --- Redmine's clock ---------------------------------------------------------------------

    @property
    def answered_at(self) -> datetime | None:
        """Redmine's own clock when it sent the last answer — at least this late: its HTTP
        ``Date`` (a proxy in front adds one), else our clock then corrected by ``calibrate``
        (Redmine's own ``thin`` or Puma send no Date); ``None`` when neither is known."""
        if self._date is not None:
            return self._date
        if self._received is None or self._offset is None:
            return None
        return self._received + self._offset

    def calibrate(self, saved_at: datetime) -> None:
        """Learn how far Redmine's clock is ahead of ours from the last answer, which saved
        something at ``saved_at`` (Redmine's time, whole seconds): it saved it before it
        answered, so its clock then was at least ``saved_at`` — a lower bound of the offset that
        errs on the early side, which only makes the sync-back read a ticket once more."""
        if self._received is not None:
            self._offset = saved_at - self._received

    # --- translation ---------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        payload: Mapping[str, Any] | None = None,
        data: bytes | None = None,
    ) -> requests.Response:
        if not path.startswith("/") or not path.split("?", 1)[0].endswith(".json"):
            # without .json Redmine treats the call as a browser request (HTML, login redirects)
            raise ValueError(f"Redmine API paths start with / and end in .json: {path!r}")
        operation = f"{method} {path}"
        headers = self._headers if data is None else {**self._headers, "Content-Type": "application/octet-stream"}
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                params=params,
                json=payload,
                data=data,
                headers=headers,
                timeout=self._timeout,
                verify=self._verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise RedmineUnavailable(
                unreachable(exc, self.base_url, self._timeout), backend=self.backend, operation=operation
            ) from exc
        log.debug("%s -> HTTP %s", operation, response.status_code)
        self._date = answered_at(response)
        self._received = self._clock.now()
        self._raise_for_status(response, operation)
        return response

    def _raise_for_status(self, response: requests.Response, operation: str) -> None:
        failure = http_failure(response, self._clock.now())
        if failure is None:
            return
        status, head = failure.status, failure.head
        if failure.kind is StatusKind.TRANSIENT:
            raise RedmineUnavailable(
                head + failure.retry_tail,
                backend=self.backend,
                operation=operation,
                retry_after=failure.retry_after,
                status=status,
            )
        if failure.kind is StatusKind.REDIRECT:
            raise RedmineUnavailable(
                f"{head}: redirected to {failure.location}; set the backend url to the address Redmine answers on "
                "(the API key is not sent through redirects)",
                backend=self.backend,
                operation=operation,
                status=status,
            )
        if failure.kind is StatusKind.AUTH:
            raise RedmineUnavailable(
                f"{head}: {_AUTH_HINTS[status]}; the work waits in the outbox",
                backend=self.backend,
                operation=operation,
                status=status,
            )
        errors = _error_list(response)
        detail = f": {'; '.join(errors)}" if errors else ""
        raise RedmineRejected(head + detail, backend=self.backend, operation=operation, status=status, errors=errors)

    def _parse(self, response: requests.Response, operation: str, model: type[_M]) -> _M:
        try:
            body = response.json()
        except ValueError as exc:
            sample = response.text[:80].replace("\n", " ")
            raise RedmineUnavailable(
                f"HTTP {response.status_code} but the body is not JSON ({sample!r}); "
                "is the url Redmine itself, without a proxy login page?",
                backend=self.backend,
                operation=operation,
                status=response.status_code,
            ) from exc
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise RedmineUnavailable(
                f"unexpected answer: {where}: {first['msg']}",
                backend=self.backend,
                operation=operation,
                status=response.status_code,
            ) from exc


def _error_list(response: requests.Response) -> tuple[str, ...]:
    """Redmine's ``{"errors": [...]}`` (only 422 has one; every other error body is empty)."""
    if not response.content:
        return ()
    try:
        body = response.json()
    except ValueError:
        return ()
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list):
        return tuple(str(item) for item in errors)
    if isinstance(errors, str):
        return (errors,)
    return ()
