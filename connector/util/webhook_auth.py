"""Who may post to a webhook endpoint, and how often: authentication and rate limiting, apart
from any HTTP server so the request path calls it with one line before the body is read
(``screen``) and one after (``verify``). No I/O; the time comes from the caller's clock.

**Shared secret** (``signature: off``, and the default): ``Authorization: Bearer <secret>``,
compared with ``hmac.compare_digest`` on the UTF-8 bytes, so the time taken says nothing about
how much of a guess was right.

**HMAC of the body** (``signature: optional`` / ``required``): the sender adds
``X-ITSM-Timestamp: <Unix seconds>`` and ``X-ITSM-Signature: sha256=<hex>``, the HMAC-SHA256
with the secret of ``<timestamp>.`` followed by the body bytes. The secret then never travels,
a body changed on the way fails, and a captured request cannot be played again: a timestamp
outside ``± window`` is refused, and so is a signature already accepted within the window (the
accepted ones are remembered until their timestamp leaves it; the rate limit bounds how many).
``optional`` checks a signature when there is one and takes the bearer secret otherwise (for
moving senders over); ``required`` refuses any request without a valid one, bearer or not.

**Rate limit**: a token bucket per endpoint (``rate_per_minute``, ``burst``); a request past
it gets 429 with ``Retry-After`` before its body is read. Only authenticated requests spend
tokens, so a stranger without the secret cannot use up the budget Zabbix needs (each of their
tries costs a header compare and a 401).
"""

from __future__ import annotations

__all__ = [
    "MIN_SECRET_LENGTH",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "HeaderView",
    "Refusal",
    "WebhookGate",
    "long_enough_secret",
    "sign",
]

import hashlib
import heapq
import hmac
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

#: shortest accepted shared secret of a webhook endpoint (sent as ``Authorization: Bearer …``)
MIN_SECRET_LENGTH = 24


def long_enough_secret(secret: str) -> None:
    """Refuse a shared secret short enough to guess (every webhook endpoint's settings call it)."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"secret must be at least {MIN_SECRET_LENGTH} characters (e.g. openssl rand -hex 24)")


class HeaderView:
    """A server's header lookup (a callable, ``None`` when absent) as the gate reads headers."""

    def __init__(self, header: Callable[[str], str | None]) -> None:
        self._header = header

    def get(self, name: str, default: None = None, /) -> str | None:
        value = self._header(name)
        return value if value is not None else default


SIGNATURE_HEADER = "X-ITSM-Signature"
TIMESTAMP_HEADER = "X-ITSM-Timestamp"
_PREFIX = "sha256="

SignatureMode = Literal["off", "optional", "required"]


class Headers(Protocol):
    """Request headers looked up by name, case-insensitively (``email.message.Message``, or
    any mapping the server gives that does)."""

    def get(self, name: str, default: None = None, /) -> str | None: ...


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: the HTTP status, a short reason for the sender (never the
    secret or what it was compared with), extra headers."""

    status: int
    error: str
    headers: dict[str, str] = field(default_factory=dict)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-ITSM-Signature`` value of ``body`` sent at ``timestamp`` (what a sender computes)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return _PREFIX + digest.hexdigest()


class WebhookGate:
    """One endpoint's authentication and rate limit; thread-safe (requests run in threads)."""

    def __init__(
        self,
        secret: str,
        *,
        now: Callable[[], float],
        signature: SignatureMode = "off",
        window_seconds: float = 300.0,
        rate_per_minute: float = 600.0,
        burst: int = 100,
    ) -> None:
        self._secret = secret.encode("utf-8")
        self._now = now
        self.signature = signature
        self.window = window_seconds
        self._rate = rate_per_minute / 60.0
        self._burst = float(burst)
        self._tokens = float(burst)
        self._filled_at: float | None = None
        self._seen: dict[str, float] = {}  # accepted signature → when it leaves the window
        self._leaving: list[tuple[float, str]] = []  # the same, a heap by when: forgetting is O(log n)
        self._lock = threading.Lock()

    # --- before the body -------------------------------------------------------------------------

    def screen(self, headers: Headers) -> Refusal | None:
        """Check what can be checked before the body is read: the secret (or, for a signed
        request, a timestamp inside the window), then the rate limit."""
        signed = headers.get(SIGNATURE_HEADER) is not None
        if signed and self.signature != "off":
            refused = self._timestamp(headers)
            if refused is not None:
                return refused
        elif self.signature == "required":
            return Refusal(401, "a signed request is required (X-ITSM-Timestamp, X-ITSM-Signature)")
        elif not self.bearer(headers.get("Authorization")):
            return Refusal(401, "unauthorized", {"WWW-Authenticate": "Bearer"})
        return self._spend()

    def bearer(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries the secret (constant time)."""
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            token = ""
        return hmac.compare_digest(token.strip().encode("utf-8"), self._secret)

    def _timestamp(self, headers: Headers) -> Refusal | None:
        text = (headers.get(TIMESTAMP_HEADER) or "").strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 12):
            return Refusal(401, f"{TIMESTAMP_HEADER} must be Unix seconds")
        if abs(self._now() - int(text)) > self.window:
            return Refusal(401, f"{TIMESTAMP_HEADER} is outside the {self.window:.0f}s window (clock skew or a replay)")
        return None

    def _spend(self) -> Refusal | None:
        """Take one token; refuse with 429 and the seconds until the next one when none is left."""
        with self._lock:
            now = self._now()
            if self._filled_at is not None:
                self._tokens = min(self._burst, self._tokens + max(0.0, now - self._filled_at) * self._rate)
            self._filled_at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            wait = math.ceil((1.0 - self._tokens) / self._rate) if self._rate > 0 else 60
        return Refusal(429, "too many requests", {"Retry-After": str(max(1, wait))})

    # --- after the body --------------------------------------------------------------------------

    def verify(self, headers: Headers, body: bytes) -> Refusal | None:
        """Check a signed request's signature over ``body`` and that it was not seen before;
        an unsigned request (let through by ``screen``) passes."""
        given = headers.get(SIGNATURE_HEADER)
        if given is None or self.signature == "off":
            return None
        stamp = int((headers.get(TIMESTAMP_HEADER) or "0").strip() or 0)
        expected = sign(self._secret.decode("utf-8"), stamp, body)
        if not hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected.encode("ascii")):
            return Refusal(401, "bad signature")
        with self._lock:
            now = self._now()
            # forget what left the window: the heap's front only, not a walk of every signature
            # remembered (at a high rate that walk, per request, would cost more than the request)
            while self._leaving and self._leaving[0][0] < now:
                until, sig = heapq.heappop(self._leaving)
                if self._seen.get(sig) == until:
                    del self._seen[sig]
            if expected in self._seen:
                return Refusal(409, "this signed request was received already (replay)")
            self._seen[expected] = stamp + self.window
            heapq.heappush(self._leaving, (stamp + self.window, expected))
        return None
