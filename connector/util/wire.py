"""What every HTTP client of the connector says the same way: why a request got no answer, and
how long a server asked us to wait.

The Redmine, GLPI and notifier clients each translate their wire failures into their own error
class (``BackendUnavailable``, ``NotifierUnavailable``) at their one boundary; the words come
from here, so a refused connection reads the same in every log line, and no message repeats a
URL with its query string (where robot keys and tokens sit).
"""

from __future__ import annotations

__all__ = ["parse_retry_after", "root_cause", "unreachable"]

import math
from datetime import datetime
from email.utils import parsedate_to_datetime

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
