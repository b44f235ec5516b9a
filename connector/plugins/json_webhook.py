"""Built-in plugin: the ``json_webhook`` source type (any tool that POSTs JSON — Grafana, Uptime
Kuma, a script — to the daemon's HTTP server, mapped by JSONPath).

Reads each ``sources:`` entry with ``type: json_webhook``; its section is validated against
``connector.integrations.json_webhook.JsonWebhookSettings`` (path, secret, body limit, the
JSONPath of each alert field). Building it opens nothing: the daemon mounts its endpoint on the
``http:`` server when it runs.
"""

from __future__ import annotations

__all__ = ["build_json_webhook_source", "register_source_types"]

from typing import Any

from connector import hookimpl
from connector.contracts.adapters import PluginContext, SourceType
from connector.integrations.json_webhook import JsonWebhookSettings, JsonWebhookSource


def build_json_webhook_source(settings: Any, ctx: PluginContext) -> JsonWebhookSource:
    """Build the source for one validated section; registers the secret with the log redactor."""
    if not isinstance(settings, JsonWebhookSettings):
        settings = JsonWebhookSettings.model_validate(settings)
    ctx.register_secret(settings.secret.get_secret_value())
    return JsonWebhookSource(settings, name=ctx.name, clock=ctx.clock)


@hookimpl(trylast=True)
def register_source_types() -> list[SourceType]:
    """Offer the ``json_webhook`` source type."""
    return [
        SourceType(
            name="json_webhook",
            settings=JsonWebhookSettings,
            factory=build_json_webhook_source,
            description="HTTP endpoint for any JSON webhook (Grafana, Uptime Kuma, …): alert fields read "
            "by JSONPath expressions from the config",
        )
    ]
