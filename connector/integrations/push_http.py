"""What every JSON source pushed to the daemon's shared HTTP server has in common: the config
fields of a gated endpoint, the source's life cycle (mount, unmount, journal), and the
``HttpEndpoint`` that runs the checks in order.

Why one module: the Alertmanager and JSON webhook sources had ~200 identical lines (the checks,
the answers, the dead-letter of a refused body), which is exactly where a fix made in one copy
and not the other becomes a hole. A source here only says how a body becomes alerts
(``PushSource.map_body``). The order of the checks, before anything is stored:

1. ``Authorization: Bearer <secret>`` (constant time), or a signed request's timestamp, then the
   rate limit (``util.webhook_auth``) — else **401** / **429**; a signed body's HMAC once read
   (**401**, **409** for a replay);
2. ``Content-Length`` present and at most ``max_body_bytes`` — else **411** / **413**;
3. the body maps to alerts — else **400**, and the body goes to the dead-letter table with the
   reason (the secret masked).

Then every item is journaled (an item that cannot become an alert is dead-lettered beside the
others) and **200** is answered only after the journal committed; **503** when it could not be,
and the sender retries, which the journal's de-duplication makes harmless.

It sits directly under ``connector.integrations`` and imports none of them, so the sources that
use it stay independent of each other (``.importlinter``).
"""

from __future__ import annotations

__all__ = [
    "DEAD_BODY_MAX",
    "MIN_SECRET_LENGTH",
    "BodyRefused",
    "Mapped",
    "PushEndpoint",
    "PushHttpSettings",
    "PushSource",
    "WebhookGateSettings",
]

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connector.contracts.adapters import IntakeJournal, PollResult, Rejected
from connector.contracts.http import HttpReply, HttpRequest
from connector.domain.clock import Clock
from connector.domain.errors import ConnectorError, SourceError, StoreError
from connector.domain.models import Alert, TicketRef
from connector.util.secrets import Secret
from connector.util.unicode_text import TooDeep, ascii_digits, loads_valid
from connector.util.webhook_auth import MIN_SECRET_LENGTH, HeaderView, Refusal, WebhookGate, long_enough_secret

log = logging.getLogger(__name__)

#: most of a bad body kept in the dead-letter table
DEAD_BODY_MAX = 64 * 1024
#: paths the daemon (or the Zabbix webhook) serves itself
_RESERVED_PATHS = ("/healthz", "/readyz", "/metrics")


class WebhookGateSettings(BaseModel):
    """The fields ``util.webhook_auth``'s gate and the body limit read, shared by every endpoint
    that is pushed to: the Zabbix webhook's settings and ``PushHttpSettings`` (a source may
    redeclare a field with its own default and description; the checks stay these)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: Secret = Field(
        description=f"shared secret sent as 'Authorization: Bearer …' (${{ENV_VAR}} or secret_file: PATH, "
        f"at least {MIN_SECRET_LENGTH} characters)"
    )
    max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="larger requests are refused with 413 before their body is read",
    )
    signature: Literal["off", "optional", "required"] = Field(
        default="optional",
        description="HMAC of the body with a timestamp (X-ITSM-Timestamp, X-ITSM-Signature: sha256=…): "
        "'optional' checks it when sent and takes the bearer secret otherwise, 'required' refuses "
        "requests without a valid one, 'off' ignores it (docs/security.md)",
    )
    signature_window_seconds: int = Field(
        default=300,
        ge=30,
        le=3600,
        description="a signed request's timestamp may be this far from the connector's clock; a "
        "signature seen within the window is refused as a replay",
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=1, le=1_000_000, description="authenticated requests per minute before 429 with Retry-After"
    )
    rate_limit_burst: int = Field(default=100, ge=1, le=100_000, description="requests allowed at once above the rate")

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        long_enough_secret(value.get_secret_value())
        return value


class PushHttpSettings(WebhookGateSettings):
    """The fields every gated push endpoint on the daemon's shared server has: the gate's
    (``WebhookGateSettings``), its path and what a recovery does; a source's settings add their
    mapping fields (and may redeclare ``path`` / ``max_body_bytes`` with their own default and
    description)."""

    path: str = Field(description="path on the daemon's http: server")
    on_recovery: Literal["resolve", "note"] = Field(
        default="resolve", description="when an alert recovers: resolve the ticket or only add a note"
    )

    @field_validator("path")
    @classmethod
    def _a_path(cls, value: str) -> str:
        if (
            not value.startswith("/")
            or value.endswith("/")
            or not value.isprintable()
            or any(c in value for c in " ?#")
        ):
            raise ValueError(f"must be a path such as /alerts (no trailing /, no query), got {value!r}")
        if value in _RESERVED_PATHS or value.startswith("/ticket/"):
            raise ValueError(f"{value!r} is served by the daemon or the Zabbix webhook already")
        return value


class BodyRefused(ConnectorError, ValueError):
    """``map_body``'s answer to a body that, as a whole, is not what the source takes: its
    message is the dead-letter reason and the 400's error."""


@dataclass(frozen=True)
class Mapped:
    """What one body became: the items to journal, and what the 200 answer adds to its fields."""

    items: Sequence[Alert | Rejected]
    reply: dict[str, Any] = field(default_factory=dict)


class PushSource(ABC):
    """A push ``Source`` (and ``MountableSource``) served on the daemon's shared HTTP server.

    :param settings: the validated ``sources[]`` section.
    :param name: this source's instance name: the alerts' ``source`` and the logs'.
    :param clock: the gate's clock (signature window, rate limit), and ``map_body``'s "now".
    """

    #: the ``type:`` of the source, for messages
    kind: ClassVar[str]
    #: what the sender is called in log lines ("Alertmanager", "the sender")
    sender: ClassVar[str]
    #: nothing to acknowledge to: a pushing sender has no API for "a ticket exists"
    acknowledge_enabled = False

    def __init__(self, settings: PushHttpSettings, *, name: str, clock: Clock) -> None:
        self.name = name
        self.on_recovery = settings.on_recovery
        self._secret = settings.secret.get_secret_value()
        self._clock = clock
        self._path = settings.path
        self._max_body_bytes = settings.max_body_bytes
        self.gate = WebhookGate(
            self._secret,
            now=lambda: clock.now().timestamp(),
            signature=settings.signature,
            window_seconds=settings.signature_window_seconds,
            rate_per_minute=settings.rate_limit_per_minute,
            burst=settings.rate_limit_burst,
        )
        self._journal: IntakeJournal | None = None

    @abstractmethod
    def map_body(self, body: Any) -> Mapped:
        """The parsed JSON body as items to journal; raises ``BodyRefused`` when the body as a
        whole is not what this source takes."""

    # --- Source --------------------------------------------------------------------------------

    def poll(self, cursor: str | None, open_ids: Sequence[str]) -> PollResult:
        """Nothing to poll: problems and recoveries both arrive by push."""
        return PollResult(items=[], cursor=cursor)

    def acknowledge(self, external_id: str, ref: TicketRef, message: str) -> None:
        """The sender cannot be told."""
        return None  # a no-op on purpose, not a method left for subclasses

    def close(self) -> None:
        """Stop journaling."""
        self.unmount()

    # --- PushSource / MountableSource ----------------------------------------------------------

    def serve(self, journal: IntakeJournal) -> None:
        """Refuse to start without the shared server: this source has no port of its own."""
        raise SourceError(
            f"the {self.kind} source is served by the daemon's HTTP server: add an http: section (listen, port)",
            source=self.name,
        )

    def shutdown(self) -> None:
        """Stop journaling (the shared server has stopped routing requests here)."""
        self.unmount()

    def mount(self, journal: IntakeJournal, base_url: str) -> PushEndpoint:
        """Journal through ``journal`` and hand the shared server the endpoint to mount."""
        self._journal = journal
        log.info("%s: %s endpoint on %s%s", self.name, self.kind, base_url.rstrip("/"), self._path)
        return PushEndpoint(self, path=self._path, max_body_bytes=self._max_body_bytes)

    def unmount(self) -> None:
        """Stop journaling."""
        self._journal = None

    # --- what a body means (no HTTP here) ------------------------------------------------------

    def accept(self, body: bytes) -> HttpReply:
        """Journal one body's alerts and say what to answer."""
        journal = self._journal
        if journal is None:
            return HttpReply(503, {"status": "retry", "error": "not serving"}, {"Retry-After": "10"})
        try:
            parsed = loads_valid(body.decode("utf-8"))
        except TooDeep as exc:
            return self._reject(journal, f"body refused: {exc}", body)
        except ValueError as exc:  # UnicodeDecodeError and json's decode error are ValueErrors
            return self._reject(journal, f"body is not JSON: {_first_line(exc)}", body)
        try:
            mapped = self.map_body(parsed)
        except BodyRefused as exc:
            return self._reject(journal, str(exc), body)
        try:
            done = journal.ingest(mapped.items)
        except StoreError as exc:
            log.error("%s: a request was not journaled, %s will retry: %s", self.name, self.sender, exc)
            return HttpReply(503, {"status": "retry", "error": "not journaled"}, {"Retry-After": "10"})
        alerts = [item for item in mapped.items if isinstance(item, Alert)]
        refused = [item for item in mapped.items if isinstance(item, Rejected)]
        for item in refused:
            log.warning("%s: alert dead-lettered: %s", self.name, item.reason)
        log.info(
            "%s: %d alerts (%d problems, %d recoveries), %d new, %d dead-lettered",
            self.name,
            len(alerts),
            sum(a.recovered_at is None for a in alerts),
            sum(a.recovered_at is not None for a in alerts),
            done.new,
            len(refused),
        )
        return HttpReply(
            200,
            {
                "status": "accepted",
                "keys": [a.key for a in alerts],
                "rejected": [r.reason for r in refused],
                **mapped.reply,
            },
        )

    def _reject(self, journal: IntakeJournal, reason: str, body: bytes) -> HttpReply:
        sample = body[:DEAD_BODY_MAX].decode("utf-8", errors="replace").replace(self._secret, "***")
        try:
            journal.ingest([Rejected(self.name, None, reason, {"body": sample})])
        except StoreError as exc:
            log.error("%s: a refused request could not be dead-lettered: %s", self.name, exc)
            return HttpReply(503, {"status": "retry", "error": "not journaled"}, {"Retry-After": "10"})
        log.warning("%s: request dead-lettered: %s", self.name, reason)
        return HttpReply(400, {"status": "rejected", "error": reason})


class PushEndpoint:
    """A ``PushSource`` as an ``HttpEndpoint`` of the daemon's shared server: the HTTP checks, in order."""

    def __init__(self, source: PushSource, *, path: str, max_body_bytes: int) -> None:
        self.source = source
        self.name = source.name
        self.max_body_bytes = max_body_bytes
        self.path = path

    def routes(self) -> Sequence[str]:
        """``POST <path>`` only."""
        return (self.path,)

    def handle(self, request: HttpRequest) -> HttpReply:
        """Answer one request."""
        if request.path != self.path:
            return HttpReply(404, {"status": "error", "error": "not found"})
        if request.method != "POST":
            return HttpReply(405, {"status": "error", "error": "method not allowed"}, {"Allow": "POST"})
        headers = HeaderView(request.header)
        refused = self.source.gate.screen(headers)
        if refused is not None:
            return self._refusal(refused, request.remote)
        if "chunked" in (request.header("Transfer-Encoding") or "").lower():
            return HttpReply(411, {"status": "error", "error": "send a Content-Length"})
        declared = (request.header("Content-Length") or "").strip()
        if request.content_length is None or not ascii_digits(declared):
            return HttpReply(411, {"status": "error", "error": "a valid Content-Length is required"})
        if request.content_length > self.max_body_bytes:
            log.warning(
                "%s: refused a %d-byte request from %s (413)", self.name, request.content_length, request.remote
            )
            return HttpReply(413, {"status": "error", "error": f"body larger than {self.max_body_bytes}"})
        if len(request.body) < request.content_length:
            return HttpReply(400, {"status": "error", "error": "body shorter than Content-Length"})
        refused = self.source.gate.verify(headers, request.body)
        if refused is not None:
            return self._refusal(refused, request.remote)
        return self.source.accept(request.body)

    def _refusal(self, refusal: Refusal, remote: str) -> HttpReply:
        """The answer to a refused caller, logged once (never the secret or what it was compared with)."""
        log.warning("%s: refused a request from %s: %s (%d)", self.name, remote, refusal.error, refusal.status)
        return HttpReply(refusal.status, {"status": "error", "error": refusal.error}, refusal.headers)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
