"""What every HTTP client of the connector says the same way: what an HTTP status means for
the work (try again later, or never), why a request got no answer, and how long a server asked
us to wait.

The Redmine, GLPI and notifier clients each translate their wire failures into their own error
class (``BackendUnavailable``, ``NotifierUnavailable``, …) at their one boundary; the meaning of
a status and the words come from here (``http_failure``, ``unreachable``), so a 503 is retried
and a refused connection reads the same in every log line, and no message repeats a URL with
its query string (where robot keys and tokens sit). What a client does with a redirect or a
401/403 is its own choice (a helpdesk waits for an admin, a notifier gives the notice up), made
on the ``StatusKind`` this module names.
"""

from __future__ import annotations

__all__ = [
    "HttpFailure",
    "StatusKind",
    "answered_at",
    "http_failure",
    "parse_retry_after",
    "root_cause",
    "status_kind",
    "status_line",
    "unreachable",
]

import math
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from http import HTTPStatus

import requests

from connector.domain.clock import ensure_utc


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP-date).

    A date in the past means "now" (0); anything unreadable is ignored (``None``) so the outbox
    falls back to its own backoff.
    """
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (ensure_utc(when) - ensure_utc(now)).total_seconds())


def answered_at(response: requests.Response) -> datetime | None:
    """The server's own clock when it answered (the ``Date`` header, whole seconds, UTC), or
    ``None`` when it sent none or one that is not a date. The sync-back compares it with the
    same server's update times, never with the connector's clock."""
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        return ensure_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        return None


def root_cause(exc: BaseException) -> str:
    """The innermost reason (``Connection refused``) rather than urllib3's nested repr — and
    only the exception's name when the reason quotes a URL with a query string."""
    seen: BaseException = exc
    while (inner := seen.__cause__ or seen.__context__) is not None and inner is not seen:
        seen = inner
    reason = getattr(seen, "reason", None)
    text = str(reason if reason is not None else seen)
    if "?" in text:
        return type(seen).__name__
    return text or type(seen).__name__


def unreachable(exc: requests.RequestException, where: str, timeout: float) -> str:
    """Why a request to ``where`` (a base URL without secrets) got no answer."""
    if isinstance(exc, requests.Timeout):
        return f"no answer from {where} within {timeout:g}s ({type(exc).__name__})"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect to {where}: {root_cause(exc)}"
    return f"request failed: {type(exc).__name__}: {root_cause(exc)}"


class StatusKind(StrEnum):
    """What an HTTP status means for the request that got it."""

    OK = "ok"  # 2xx: done
    TRANSIENT = "transient"  # 429, 5xx: the server cannot now; try again (after Retry-After)
    REDIRECT = "redirect"  # 3xx: never followed (it would carry keys and tokens elsewhere)
    AUTH = "auth"  # 401, 403: credentials or a permission; a person must fix them
    PERMANENT = "permanent"  # any other status: this request will never be accepted as it is


def status_kind(status: int) -> StatusKind:
    """The one table of what a status means, for every client."""
    if 200 <= status < 300:
        return StatusKind.OK
    if status == 429 or status >= 500:
        return StatusKind.TRANSIENT
    if 300 <= status < 400:
        return StatusKind.REDIRECT
    if status in (401, 403):
        return StatusKind.AUTH
    return StatusKind.PERMANENT


@dataclass(frozen=True)
class HttpFailure:
    """A non-2xx answer, read once: its status, what it means, and the words for a message."""

    status: int
    kind: StatusKind
    head: str  # "HTTP 503 Service Unavailable"
    retry_after: float | None = None  # seconds, only for a TRANSIENT answer that said so
    location: str | None = None  # where a REDIRECT pointed

    @property
    def retry_tail(self) -> str:
        """`` (retry after 30s)`` when the server asked for a wait, else nothing."""
        return f" (retry after {math.ceil(self.retry_after)}s)" if self.retry_after is not None else ""


def status_line(status: int, reason: str | None) -> str:
    """``HTTP 503 Service Unavailable``: the server's reason phrase, or the standard one when it
    sent none (HTTP/2, terse proxies)."""
    phrase = reason or ""
    if not phrase:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
    return f"HTTP {status} {phrase}".rstrip()


def http_failure(response: requests.Response, now: datetime) -> HttpFailure | None:
    """``None`` for a 2xx answer; otherwise what the status means (``status_kind``), its status
    line, the ``Retry-After`` of a transient answer and the ``Location`` of a redirect."""
    status = response.status_code
    kind = status_kind(status)
    if kind is StatusKind.OK:
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now) if kind is StatusKind.TRANSIENT else None
    location = response.headers.get("Location", "?") if kind is StatusKind.REDIRECT else None
    return HttpFailure(status, kind, status_line(status, response.reason), retry_after, location)
