"""A generic JSON webhook as a source of alerts: any tool that can POST JSON, its fields mapped
by JSONPath expressions in the config.

``settings`` is the config section (the paths compiled at load), ``mapping`` the pure body →
Alerts translation, ``endpoint`` the source and the ``HttpEndpoint`` it mounts.
``connector.plugins.json_webhook`` plugs it into the host.
"""

from connector.integrations.json_webhook.endpoint import JsonWebhookEndpoint, JsonWebhookSource
from connector.integrations.json_webhook.mapping import PayloadError, map_body, map_item
from connector.integrations.json_webhook.settings import FieldPaths, JsonWebhookSettings

__all__ = [
    "FieldPaths",
    "JsonWebhookEndpoint",
    "JsonWebhookSettings",
    "JsonWebhookSource",
    "PayloadError",
    "map_body",
    "map_item",
]
