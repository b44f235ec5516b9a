"""How GLPI's failures become connector errors: the one error-translation point of the GLPI
client (``connector.integrations.glpi.client``).

GLPI's error body is ``["ERROR_CODE", "message"]``; what the caller does next follows the
code and the HTTP status (``connector.util.wire.status_kind``, the table every client shares),
never the (translated) text:

* refused connection, timeout, 5xx, 429, a redirect, a malformed 2xx body → ``GlpiUnavailable``
  (a ``BackendUnavailable``: the outbox retries, honouring ``Retry-After``);
* 401/403 and the API-client checks (wrong or missing app token, IP not allowed, API disabled)
  → ``GlpiConfigError``, also a ``BackendUnavailable``: an admin fixes a token or a profile
  right (the message names it) and meanwhile the work waits in the outbox;
* any other 4xx (``ERROR_GLPI_ADD`` on one ticket, ``ERROR_ITEM_NOT_FOUND``, …) and a 207 (part
  of a bulk call failed) → ``GlpiRejected`` (a ``BackendRejected``) carrying GLPI's message:
  that operation is dead-lettered and the others go on.
"""

from __future__ import annotations

__all__ = [
    "SESSION_CODES",
    "GlpiConfigError",
    "GlpiRejected",
    "GlpiUnavailable",
    "clean",
    "error_body",
    "error_code",
    "raise_for_status",
]

import re
from datetime import datetime
from typing import Any

import requests

from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.util.wire import HttpFailure, StatusKind, http_failure, status_line

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
#: GLPI's answer to a session that expired or was killed: the client opens a new one, once
SESSION_CODES = {"ERROR_SESSION_TOKEN_INVALID", "ERROR_SESSION_TOKEN_MISSING"}
_DOC_SUFFIX = re.compile(r";?\s*view documentation in your browser at \S*\s*$", re.IGNORECASE)

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


def _itemtype(path: str) -> str:
    """``Ticket`` for ``Ticket/12``, ``search`` for ``search/Ticket``, ``Log`` for the
    sub-items ``Ticket/12/Log`` (their own right decides)."""
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[1].isdigit():
        return parts[2]
    return parts[0]


def raise_for_status(response: requests.Response, operation: str, *, backend: str, now: datetime) -> None:
    """Raise the error a non-2xx answer (or a 207: part of a bulk call failed) means; the
    status's meaning is ``connector.util.wire``'s table, the codes and hints are GLPI's."""
    failure = http_failure(response, now)
    if failure is None:
        if response.status_code != 207:
            return
        failure = HttpFailure(207, StatusKind.PERMANENT, status_line(207, response.reason))
    status, head = failure.status, failure.head
    code, detail = error_body(response)
    said = f": {code}" + (f" {detail}" if detail else "") if code else ""
    method, _, path = operation.partition(" ")
    if failure.kind is StatusKind.TRANSIENT:
        raise GlpiUnavailable(
            head + said + failure.retry_tail,
            backend=backend,
            operation=operation,
            retry_after=failure.retry_after,
            status=status,
            code=code,
        )
    if failure.kind is StatusKind.REDIRECT:
        raise GlpiUnavailable(
            f"{head}: redirected to {failure.location}; set backend url to the address GLPI's API answers on "
            "(tokens are not sent through redirects)",
            backend=backend,
            operation=operation,
            status=status,
        )
    if code in _CONFIG_CODES or (code == "ERROR" and "disabled" in detail.casefold()):
        hint = _CONFIG_CODES.get(code or "", "enable the REST API: Setup › General › API › 'Enable Rest API'")
        raise GlpiConfigError(
            f"{head}{said}: {hint}; the work waits in the outbox",
            backend=backend,
            operation=operation,
            status=status,
            code=code,
        )
    if failure.kind is StatusKind.AUTH:
        if status == 403:
            right = _RIGHTS.get((method, _itemtype(path)), "the right for this operation")
            hint = f"the connector's GLPI profile lacks {right}"
        elif code in SESSION_CODES:
            hint = "GLPI refused a freshly opened session too; check the API client and the user's profile"
        else:
            hint = "GLPI refused the connector's credentials; check user_token and app_token"
        raise GlpiConfigError(
            f"{head}{said}: {hint}; the work waits in the outbox",
            backend=backend,
            operation=operation,
            status=status,
            code=code,
        )
    raise GlpiRejected(
        head + said,
        backend=backend,
        operation=operation,
        status=status,
        code=code or "",
        detail=detail,
    )


def clean(text: str) -> str:
    """GLPI's message without the "; view documentation in your browser at …" tail."""
    return _DOC_SUFFIX.sub("", text).strip()


def error_body(response: requests.Response) -> tuple[str | None, str]:
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
    return code, clean(str(detail))


def error_code(response: requests.Response) -> str | None:
    if response.status_code not in (400, 401):
        return None
    return error_body(response)[0]
