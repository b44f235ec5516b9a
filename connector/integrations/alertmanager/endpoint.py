"""``AlertmanagerSource``: Alertmanager's ``webhook_configs`` posting to the daemon's HTTP server.

It is served only on the daemon's one server (the ``http:`` section; ``MountableSource``): a
new source gets no deprecated port of its own. The HTTP checks and answers are every push
source's (``connector.integrations.push_http``: bearer secret or signature, rate limit,
``Content-Length``); what is Alertmanager's is the body: a JSON object, version 4, with an
``alerts`` list — else **400**, and the body goes to the dead-letter table with the reason.

Each element of ``alerts[]`` is then journaled (an element that cannot become an alert is
dead-lettered beside the others) and **200** is answered only after the journal committed;
**503** when it could not be, and Alertmanager retries the notification, which the journal's
de-duplication makes harmless. A bad element does not fail the notification: retrying would
not mend it, and the good alerts of its group must not wait.
"""

from __future__ import annotations

__all__ = ["AlertmanagerEndpoint", "AlertmanagerSource"]

import logging
from typing import Any

from connector.domain.clock import Clock
from connector.integrations.alertmanager.mapping import PayloadError, map_payload
from connector.integrations.alertmanager.settings import AlertmanagerSettings
from connector.integrations.push_http import BodyRefused, Mapped, PushEndpoint, PushSource

log = logging.getLogger(__name__)

#: the shared server's endpoint for this source (the checks are every push source's)
AlertmanagerEndpoint = PushEndpoint


class AlertmanagerSource(PushSource):
    """A push ``Source`` (and ``MountableSource``) fed by Alertmanager's webhook receiver."""

    kind = "alertmanager"
    sender = "Alertmanager"

    def __init__(self, settings: AlertmanagerSettings, *, name: str, clock: Clock) -> None:
        super().__init__(settings, name=name, clock=clock)
        self.settings = settings

    def map_body(self, body: Any) -> Mapped:
        """A version-4 notification's alerts; a group cut by the receiver's ``max_alerts`` is logged."""
        try:
            batch = map_payload(body, source=self.name, settings=self.settings)
        except PayloadError as exc:
            raise BodyRefused(str(exc)) from exc
        if batch.truncated:
            log.warning(
                "%s: receiver %r left out %d alerts of a group (its max_alerts): they make no tickets",
                self.name,
                batch.receiver,
                batch.truncated,
            )
        return Mapped(batch.items, {"truncated": batch.truncated})
