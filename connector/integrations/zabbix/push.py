"""``ZabbixWebhookSource``: an HTTP endpoint the connector's Zabbix media type posts events to.

What a request to the endpoint means (the HTTP plumbing is ``webhook_http``: mounted on the
daemon's one server when the config has an ``http:`` section — ``mount`` — else, deprecated,
a stdlib ``http.server`` of its own on the section's ``listen``/``port`` — ``serve``). For ``POST /zabbix``
it checks, in this order, before anything is stored:

1. ``Authorization: Bearer <secret>`` (constant-time compare), or a signed request's timestamp
   inside the window, then the rate limit (``util.webhook_auth``) — else **401** / **429**,
   body unread; a signed body's HMAC is checked once read (**401**, **409** for a replay);
2. ``Content-Length`` present and at most ``max_body_bytes`` — else **411** / **413**, body
   unread (drained a little so the client sees the answer);
3. the body is a JSON object nested at most ``MAX_DEPTH`` (64) levels — else **400**, and the
   body goes to the dead-letter table with the reason.

Then ``connector.integrations.zabbix.webhook.classify`` says what it is, and the answer is given only after
the journal transaction committed (``IntakeJournal.ingest``): **200** with the connector key
and a link (``tags``, stored on the event by the media type's ``process_tags``); **422** for a
payload that cannot become an alert (dead-lettered); **503** when it could not be journaled
now, or an update arrives before its ticket exists — Zabbix retries the alert (media type
*Attempts*), which the journal's de-duplication makes harmless.

The ticket does not exist yet when the endpoint answers (the engine creates it a moment later),
so the link stored on the event points back here: ``GET /ticket/<key>?sig=<hmac>`` redirects to
the helpdesk ticket once it exists and says "being created" until then. The signature (HMAC of
the key with the secret) means nobody can walk the connector's tickets by guessing keys.
"""

from __future__ import annotations

__all__ = ["WEBHOOK_PATH", "ZabbixWebhookSource", "ticket_signature"]

import hashlib
import hmac
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from connector.contracts.adapters import IntakeJournal, PollResult, Rejected
from connector.domain.clock import Clock
from connector.domain.errors import SourceError, StoreError
from connector.domain.models import Alert, TicketRef
from connector.integrations.zabbix.mapping import INTERNAL_TAG_PREFIX
from connector.integrations.zabbix.webhook import Ignored, Update, classify
from connector.integrations.zabbix.webhook_http import (
    TICKET_PATH,
    WEBHOOK_PATH,
    Reply,
    WebhookEndpoint,
    WebhookHandler,
    WebhookServer,
    page,
)
from connector.integrations.zabbix.webhook_settings import ZabbixWebhookSettings
from connector.util.unicode_text import TooDeep, loads_valid
from connector.util.webhook_auth import WebhookGate

log = logging.getLogger(__name__)

#: tags the answer asks Zabbix to store on the event (read by the media type's event menu)
KEY_TAG = f"{INTERNAL_TAG_PREFIX}key"
URL_TAG = f"{INTERNAL_TAG_PREFIX}url"
#: most of a bad body kept in the dead-letter table
DEAD_BODY_MAX = 64 * 1024


def ticket_signer(secret: str) -> Callable[[str], str]:
    """``ticket_signature`` with its secret: the HMAC keyed once and copied per key (a link is
    signed on every accepted request)."""
    keyed = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)

    def sign(key: str) -> str:
        mac = keyed.copy()
        mac.update(key.encode("utf-8"))
        return mac.hexdigest()[:32]

    return sign


def ticket_signature(secret: str, key: str) -> str:
    """The ``sig`` of a ticket link: HMAC-SHA256 of the key, first 32 hex digits."""
    return ticket_signer(secret)(key)


class ZabbixWebhookSource:
    """A push ``Source`` (and ``PushSource``) fed by Zabbix's webhook media type.

    Building it opens nothing; ``serve`` binds the port and starts the server thread, and
    ``shutdown`` (also called by ``close``) stops it after the requests in flight.

    :param settings: the validated ``sources[]`` section.
    :param name: this source's instance name (logs; the alerts' name unless ``source_name``).
    :param clock: unused by the mapping (Zabbix sends the event times), kept for symmetry.
    """

    #: the engine must not ask this source to acknowledge: it cannot reach the Zabbix API
    acknowledge_enabled = False

    def __init__(self, settings: ZabbixWebhookSettings, *, name: str, clock: Clock) -> None:
        self.name = name
        self.settings = settings
        self.on_recovery = settings.on_recovery
        self.alert_source = settings.source_name or name
        self._clock = clock
        self._secret = settings.secret.get_secret_value()
        self._sign = ticket_signer(self._secret)
        #: authentication and rate limit, asked by the request path before and after the body
        self.gate = WebhookGate(
            self._secret,
            now=lambda: clock.now().timestamp(),
            signature=settings.signature,
            window_seconds=settings.signature_window_seconds,
            rate_per_minute=settings.rate_limit_per_minute,
            burst=settings.rate_limit_burst,
        )
        self._journal: IntakeJournal | None = None
        self._server: WebhookServer | None = None
        self._thread: threading.Thread | None = None
        self._public_url: str | None = settings.public_url

    # --- Source --------------------------------------------------------------------------------

    def poll(self, cursor: str | None, open_ids: Sequence[str]) -> PollResult:
        """Nothing to poll: events arrive by push (recoveries too)."""
        return PollResult(items=[], cursor=cursor)

    def acknowledge(self, external_id: str, ref: TicketRef, message: str) -> None:
        """Not possible without the Zabbix API; the paired poll source acknowledges."""

    def close(self) -> None:
        """Stop the server if it runs."""
        self.shutdown()

    # --- PushSource ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port actually listened on (differs from the setting when that is 0)."""
        if self._server is None:
            raise SourceError("the webhook endpoint is not serving", source=self.name)
        return int(self._server.server_address[1])

    @property
    def public_url(self) -> str:
        """Base URL of this endpoint as Zabbix users' browsers reach it (``public_url``, else
        http://listen:port as bound)."""
        if self._public_url is None:
            raise SourceError("the webhook endpoint is not serving and has no public_url", source=self.name)
        return self._public_url

    def serve(self, journal: IntakeJournal) -> None:
        """Bind the port and start answering; raises ``SourceError`` when it cannot bind."""
        if self._server is not None:
            return
        self._journal = journal
        try:
            server = WebhookServer((self.settings.listen, self.settings.port), WebhookHandler, self)
        except OSError as exc:
            raise SourceError(
                f"cannot listen on {self.settings.listen}:{self.settings.port}: {exc.strerror or exc}",
                source=self.name,
            ) from exc
        self._server = server
        if self._public_url is None:
            listen = self.settings.listen
            host = socket.getfqdn() if listen in ("0.0.0.0", "::", "") else listen  # once: it may ask the DNS
            self._public_url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"webhook-{self.name}", daemon=True
        )
        self._thread.start()
        log.info("%s: Zabbix webhook endpoint on %s%s", self.name, self.public_url, WEBHOOK_PATH)

    def mount(self, journal: IntakeJournal, base_url: str) -> WebhookEndpoint:
        """Journal through ``journal`` and hand the daemon's shared server the endpoint to mount
        (``MountableSource``): no port of its own. Links go to ``public_url``, else ``base_url``."""
        self._journal = journal
        if self._public_url is None:
            self._public_url = base_url.rstrip("/")
        log.info("%s: Zabbix webhook endpoint on %s%s (shared server)", self.name, self.public_url, WEBHOOK_PATH)
        return WebhookEndpoint(self, self.name)

    def unmount(self) -> None:
        """Stop journaling (the shared server no longer routes requests here)."""
        self._journal = None

    def shutdown(self) -> None:
        """Stop accepting requests and wait for those in flight."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()  # joins the request threads
        if self._thread is not None:
            self._thread.join(timeout=30)
        log.info("%s: webhook endpoint stopped", self.name)

    # --- what a request means (no HTTP here: the fuzz tests call these directly) --------------

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries the secret (constant time)."""
        return self.gate.bearer(header)

    def ticket_link(self, key: str) -> str:
        """The link stored on the event: redirects to the ticket once it exists."""
        return f"{self.public_url}{TICKET_PATH}{quote(key, safe='')}?sig={self._sign(key)}"

    def accept(self, body: bytes) -> Reply:
        """Journal one request body and say what to answer."""
        journal = self._journal
        if journal is None:
            return Reply(503, {"status": "retry", "error": "not serving"})
        try:
            payload = loads_valid(body.decode("utf-8"))
        except TooDeep as exc:
            reason = f"body refused: {exc}"
            return self._reject(journal, Rejected(self.alert_source, None, reason, {"body": self._sample(body)}), 400)
        except (UnicodeDecodeError, ValueError) as exc:
            reason = f"body is not JSON: {_first_line(exc)}"
            return self._reject(journal, Rejected(self.alert_source, None, reason, {"body": self._sample(body)}), 400)
        if not isinstance(payload, dict):
            reason = f"body is JSON but not an object: {type(payload).__name__}"
            return self._reject(journal, Rejected(self.alert_source, None, reason, {"body": self._sample(body)}), 400)
        # copied only when there is a key to drop: one search of the keys joined ("secret" holds no
        # newline, so the join cannot make it out of two keys)
        if "secret" in "\n".join(map(str, payload)).lower():
            payload = {k: v for k, v in payload.items() if "secret" not in str(k).lower()}
        outcome = classify(
            payload,
            source=self.alert_source,
            tz=self.settings.zone,
            ignore_update_prefixes=self.settings.ignore_update_prefixes,
            ignore_update_users=self.settings.ignore_update_users,
        )
        if isinstance(outcome, Ignored):
            log.info("%s: %s", self.name, outcome.reason)
            return Reply(200, {"status": "ignored", "reason": outcome.reason, "tags": {}})
        if isinstance(outcome, Rejected):
            return self._reject(journal, outcome, 422)
        if isinstance(outcome, Update):
            return self._update(journal, outcome)
        return self._alert(journal, outcome)

    def _sample(self, body: bytes) -> str:
        """What of a bad body is kept for a person to look at: the start, without the secret."""
        return body[:DEAD_BODY_MAX].decode("utf-8", errors="replace").replace(self._secret, "***")

    def _alert(self, journal: IntakeJournal, alert: Alert) -> Reply:
        try:
            done = journal.ingest([alert])
        except StoreError as exc:
            log.error("%s: event %s not journaled, Zabbix will retry: %s", self.name, alert.external_id, exc)
            return Reply(503, {"status": "retry", "error": "not journaled"}, {"Retry-After": "10"})
        # DEBUG, like the poll path's per-event lines: at INFO a line per request cost more CPU than
        # the mapping, and at thousands a second floods (and is dropped by) journald's rate limit;
        # a repeat is logged at INFO by the journal, every new one counted in alerts_received
        what = "recovery" if alert.recovered_at is not None else "problem"
        log.debug(
            "%s: %s of event %s → %s", self.name, what, alert.external_id, "journaled" if done.new else "already had it"
        )
        answer: dict[str, Any] = {"status": "accepted", "key": alert.key, "tags": {}}
        if alert.recovered_at is None:
            link = self.ticket_link(alert.key)
            answer.update(url=link, tags={KEY_TAG: alert.key, URL_TAG: link})
        return Reply(200, answer)

    def _update(self, journal: IntakeJournal, update: Update) -> Reply:
        try:
            ref = journal.ticket_ref(update.ticket_key)
            if ref is None:
                log.info("%s: update of event %s waits for its ticket; Zabbix will retry", self.name, update.event_id)
                return Reply(503, {"status": "retry", "error": "the ticket is not created yet"}, {"Retry-After": "30"})
            done = journal.ingest([update.alert(ref.ticket_id)])
        except StoreError as exc:
            log.error("%s: update of event %s not journaled, Zabbix will retry: %s", self.name, update.event_id, exc)
            return Reply(503, {"status": "retry", "error": "not journaled"}, {"Retry-After": "10"})
        log.info(
            "%s: update of event %s → %s for ticket #%s",
            self.name,
            update.event_id,
            "journaled" if done.new else "already had it",
            ref.ticket_id,
        )
        return Reply(200, {"status": "accepted", "key": update.ticket_key, "tags": {}})

    def _reject(self, journal: IntakeJournal, rejected: Rejected, status: int) -> Reply:
        try:
            journal.ingest([rejected])
        except StoreError as exc:
            log.error("%s: a refused request could not be dead-lettered: %s", self.name, exc)
            return Reply(503, {"status": "retry", "error": "not journaled"}, {"Retry-After": "10"})
        return Reply(status, {"status": "rejected", "error": rejected.reason})

    def ticket_page(self, key: str, sig: str) -> Reply:
        """Where the event's ticket link leads: the ticket, or "being created" until it exists."""
        if not key or not hmac.compare_digest(sig.encode("utf-8"), self._sign(key).encode()):
            return Reply(404, page("Not found", "There is no such ticket link."))
        journal = self._journal
        try:
            ref = journal.ticket_ref(key) if journal is not None else None
        except StoreError:
            ref = None
        if ref is None:
            return Reply(
                404,
                page("Ticket being created", f"The ticket for {key} is not in the helpdesk yet. This page reloads."),
                {"Refresh": "10", "Retry-After": "10"},
            )
        if ref.url.startswith(("http://", "https://")) and ref.url.isprintable() and " " not in ref.url:
            return Reply(302, page("Ticket", f"Ticket #{ref.ticket_id}: {ref.url}"), {"Location": ref.url})
        return Reply(200, page(f"Ticket #{ref.ticket_id}", f"Ticket #{ref.ticket_id} is at {ref.url}"))


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
