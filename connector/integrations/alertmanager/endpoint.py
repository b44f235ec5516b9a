"""``AlertmanagerSource``: Alertmanager's ``webhook_configs`` posting to the daemon's HTTP server.

It is served only on the daemon's one server (the ``http:`` section; ``MountableSource``): a
new source gets no deprecated port of its own. For ``POST <path>`` the endpoint checks, in this
order, before anything is stored — the same checks and answers as the Zabbix webhook:

1. ``Authorization: Bearer <secret>`` (Alertmanager's ``http_config.authorization``; constant
   time), or a signed request's timestamp, then the rate limit (``util.webhook_auth``) — else
   **401** / **429**; a signed body's HMAC once read (**401**, **409** for a replay);
2. ``Content-Length`` present and at most ``max_body_bytes`` — else **411** / **413**;
3. the body is a JSON object, version 4, with an ``alerts`` list — else **400**, and the body
   goes to the dead-letter table with the reason.

Each element of ``alerts[]`` is then journaled (an element that cannot become an alert is
dead-lettered beside the others) and **200** is answered only after the journal committed;
**503** when it could not be, and Alertmanager retries the notification, which the journal's
de-duplication makes harmless. A bad element does not fail the notification: retrying would
not mend it, and the good alerts of its group must not wait.
"""

from __future__ import annotations

__all__ = ["AlertmanagerEndpoint", "AlertmanagerSource"]

import logging
from collections.abc import Callable, Sequence

from connector.contracts.adapters import IntakeJournal, PollResult, Rejected
from connector.contracts.http import HttpReply, HttpRequest
from connector.domain.clock import Clock
from connector.domain.errors import SourceError, StoreError
from connector.domain.models import Alert, TicketRef
from connector.integrations.alertmanager.mapping import PayloadError, map_payload
from connector.integrations.alertmanager.settings import AlertmanagerSettings
from connector.util.unicode_text import TooDeep, ascii_digits, loads_valid
from connector.util.webhook_auth import Refusal, WebhookGate

log = logging.getLogger(__name__)

#: most of a bad body kept in the dead-letter table
DEAD_BODY_MAX = 64 * 1024


class _HeaderView:
    """A header reader as ``util.webhook_auth`` asks for one (``get(name)``)."""

    def __init__(self, header: Callable[[str], str | None]) -> None:
        self._header = header

    def get(self, name: str, default: None = None, /) -> str | None:
        value = self._header(name)
        return value if value is not None else default


class AlertmanagerSource:
    """A push ``Source`` (and ``MountableSource``) fed by Alertmanager's webhook receiver.

    :param settings: the validated ``sources[]`` section.
    :param name: this source's instance name: the alerts' ``source`` and the logs'.
    :param clock: the gate's clock (signature window, rate limit); the alerts carry their own times.
    """

    #: nothing to acknowledge to: Alertmanager has no API for "a ticket exists"
    acknowledge_enabled = False

    def __init__(self, settings: AlertmanagerSettings, *, name: str, clock: Clock) -> None:
        self.name = name
        self.settings = settings
        self.on_recovery = settings.on_recovery
        self._secret = settings.secret.get_secret_value()
        self.gate = WebhookGate(
            self._secret,
            now=lambda: clock.now().timestamp(),
            signature=settings.signature,
            window_seconds=settings.signature_window_seconds,
            rate_per_minute=settings.rate_limit_per_minute,
            burst=settings.rate_limit_burst,
        )
        self._journal: IntakeJournal | None = None

    # --- Source --------------------------------------------------------------------------------

    def poll(self, cursor: str | None, open_ids: Sequence[str]) -> PollResult:
        """Nothing to poll: firing and resolved alerts both arrive by push."""
        return PollResult(items=[], cursor=cursor)

    def acknowledge(self, external_id: str, ref: TicketRef, message: str) -> None:
        """Alertmanager cannot be told; silences are a person's decision."""

    def close(self) -> None:
        """Stop journaling."""
        self.unmount()

    # --- PushSource / MountableSource ----------------------------------------------------------

    def serve(self, journal: IntakeJournal) -> None:
        """Refuse to start without the shared server: this source has no port of its own."""
        raise SourceError(
            "the alertmanager source is served by the daemon's HTTP server: add an http: section (listen, port)",
            source=self.name,
        )

    def shutdown(self) -> None:
        """Stop journaling (the shared server has stopped routing requests here)."""
        self.unmount()

    def mount(self, journal: IntakeJournal, base_url: str) -> AlertmanagerEndpoint:
        """Journal through ``journal`` and hand the shared server the endpoint to mount."""
        self._journal = journal
        log.info("%s: Alertmanager webhook endpoint on %s%s", self.name, base_url.rstrip("/"), self.settings.path)
        return AlertmanagerEndpoint(self)

    def unmount(self) -> None:
        """Stop journaling."""
        self._journal = None

    # --- what a body means (no HTTP here) ------------------------------------------------------

    def accept(self, body: bytes) -> HttpReply:
        """Journal one notification and say what to answer."""
        journal = self._journal
        if journal is None:
            return HttpReply(503, {"status": "retry", "error": "not serving"}, {"Retry-After": "10"})
        try:
            batch = map_payload(loads_valid(body.decode("utf-8")), source=self.name, settings=self.settings)
        except TooDeep as exc:
            return self._reject(journal, f"body refused: {exc}", body)
        except PayloadError as exc:
            return self._reject(journal, str(exc), body)
        except (UnicodeDecodeError, ValueError) as exc:
            return self._reject(journal, f"body is not JSON: {_first_line(exc)}", body)
        if batch.truncated:
            log.warning(
                "%s: receiver %r left out %d alerts of a group (its max_alerts): they make no tickets",
                self.name,
                batch.receiver,
                batch.truncated,
            )
        try:
            done = journal.ingest(batch.items)
        except StoreError as exc:
            log.error("%s: a notification was not journaled, Alertmanager will retry: %s", self.name, exc)
            return HttpReply(503, {"status": "retry", "error": "not journaled"}, {"Retry-After": "10"})
        alerts = [item for item in batch.items if isinstance(item, Alert)]
        refused = [item for item in batch.items if isinstance(item, Rejected)]
        for item in refused:
            log.warning("%s: alert dead-lettered: %s", self.name, item.reason)
        log.info(
            "%s: %d alerts (%d firing, %d resolved), %d new, %d dead-lettered",
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
                "truncated": batch.truncated,
            },
        )

    def _reject(self, journal: IntakeJournal, reason: str, body: bytes) -> HttpReply:
        sample = body[:DEAD_BODY_MAX].decode("utf-8", errors="replace").replace(self._secret, "***")
        try:
            journal.ingest([Rejected(self.name, None, reason, {"body": sample})])
        except StoreError as exc:
            log.error("%s: a refused notification could not be dead-lettered: %s", self.name, exc)
            return HttpReply(503, {"status": "retry", "error": "not journaled"}, {"Retry-After": "10"})
        log.warning("%s: notification dead-lettered: %s", self.name, reason)
        return HttpReply(400, {"status": "rejected", "error": reason})


class AlertmanagerEndpoint:
    """The source as an ``HttpEndpoint`` of the daemon's shared server: the HTTP checks, in order."""

    def __init__(self, source: AlertmanagerSource) -> None:
        self.source = source
        self.name = source.name
        self.max_body_bytes = source.settings.max_body_bytes
        self.path = source.settings.path

    def routes(self) -> Sequence[str]:
        """``POST <path>`` only."""
        return (self.path,)

    def handle(self, request: HttpRequest) -> HttpReply:
        """Answer one request."""
        if request.path != self.path:
            return HttpReply(404, {"status": "error", "error": "not found"})
        if request.method != "POST":
            return HttpReply(405, {"status": "error", "error": "method not allowed"}, {"Allow": "POST"})
        headers = _HeaderView(request.header)
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
