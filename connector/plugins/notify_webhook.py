"""Built-in plugin: the ``webhook`` notifier type (a JSON POST to an SMS / voice gateway).

Reads each ``notify.channels`` entry with ``type: webhook`` (validated against
``connector.notify.webhook.WebhookSettings``); its channel is called ``phone`` and delivers
to people's phone numbers unless the entry says otherwise. Nothing is built unless such an
entry exists.
"""

from __future__ import annotations

__all__ = ["build_webhook", "register_notifier_types"]

from connector import hookimpl
from connector.contracts.adapters import PluginContext
from connector.contracts.notifiers import NotifierType
from connector.notify.webhook import WebhookNotifier, WebhookSettings


def build_webhook(settings: WebhookSettings, ctx: PluginContext) -> WebhookNotifier:
    """Build the notifier; its token and HMAC secret go to the log redactor first."""
    for secret in (settings.bearer_token, settings.hmac_secret):
        if secret is not None:
            ctx.register_secret(secret.get_secret_value())
    return WebhookNotifier(settings, name=ctx.name, clock=ctx.clock)


@hookimpl(trylast=True)
def register_notifier_types() -> list[NotifierType]:
    """The ``webhook`` notifier type."""
    return [
        NotifierType(
            name="webhook",
            settings=WebhookSettings,
            factory=build_webhook,
            address="phone",
            channel="phone",
            description="JSON POST to an SMS/voice gateway, with optional bearer token and HMAC signature",
        )
    ]
