"""Built-in plugin: the ``zabbix_webhook`` source type (Zabbix pushes problem, update and recovery
events to an HTTP endpoint of the daemon, through the media type in ``zabbix/``).

Reads each ``sources:`` entry with ``type: zabbix_webhook``; its section is validated against
``connector.integrations.zabbix.webhook_settings.ZabbixWebhookSettings`` (listen address and port, secret,
body limit, the paired poll source's name). Building it opens no port: the daemon starts the
endpoint (``PushSource.serve``) when it runs.
"""

from __future__ import annotations

__all__ = ["build_zabbix_webhook_source", "register_source_types"]

from typing import Any

from connector import hookimpl
from connector.contracts.adapters import PluginContext, SourceType
from connector.integrations.zabbix.push import ZabbixWebhookSource
from connector.integrations.zabbix.webhook_settings import ZabbixWebhookSettings


def build_zabbix_webhook_source(settings: Any, ctx: PluginContext) -> ZabbixWebhookSource:
    """Build the source for one validated section; registers the secret with the log redactor."""
    if not isinstance(settings, ZabbixWebhookSettings):
        settings = ZabbixWebhookSettings.model_validate(settings)
    ctx.register_secret(settings.secret.get_secret_value())
    return ZabbixWebhookSource(settings, name=ctx.name, clock=ctx.clock)


@hookimpl(trylast=True)
def register_source_types() -> list[SourceType]:
    """Offer the ``zabbix_webhook`` source type."""
    return [
        SourceType(
            name="zabbix_webhook",
            settings=ZabbixWebhookSettings,
            factory=build_zabbix_webhook_source,
            description="HTTP endpoint for the Zabbix webhook media type: problems, updates and recoveries "
            "pushed as they happen",
        )
    ]
