"""``JsonWebhookSource``: any tool that POSTs JSON, on the daemon's HTTP server at ``path``.

Served only on the daemon's one server (the ``http:`` section; ``MountableSource``). The HTTP
checks and answers are every push source's (``connector.integrations.push_http``: bearer secret
or signature, rate limit, ``Content-Length``); a body that is not JSON, or whose ``items`` path
finds no objects, is answered **400** and dead-lettered. Then every item is journaled (an item
without id or title is dead-lettered beside the others) and **200** is answered only once the
journal committed; **503** when it could not be, and the sender retries.
"""

from __future__ import annotations

__all__ = ["JsonWebhookEndpoint", "JsonWebhookSource"]

from typing import Any

from connector.domain.clock import Clock
from connector.integrations.json_webhook.mapping import PayloadError, map_body
from connector.integrations.json_webhook.settings import JsonWebhookSettings
from connector.integrations.push_http import BodyRefused, Mapped, PushEndpoint, PushSource

#: the shared server's endpoint for this source (the checks are every push source's)
JsonWebhookEndpoint = PushEndpoint


class JsonWebhookSource(PushSource):
    """A push ``Source`` (and ``MountableSource``) fed by any tool that POSTs JSON."""

    kind = "json_webhook"
    sender = "the sender"

    def __init__(self, settings: JsonWebhookSettings, *, name: str, clock: Clock) -> None:
        super().__init__(settings, name=name, clock=clock)
        self.settings = settings

    def map_body(self, body: Any) -> Mapped:
        """The body's items through the configured JSONPath fields; an alert without a time of
        its own gets the time the request arrived."""
        try:
            return Mapped(map_body(body, source=self.name, settings=self.settings, now=self._clock.now()))
        except PayloadError as exc:
            raise BodyRefused(str(exc)) from exc
