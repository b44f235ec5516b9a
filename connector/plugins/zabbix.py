"""Built-in plugin: the ``zabbix`` source type (Zabbix 6.0 problems → alerts, acknowledgements back).

Reads each ``sources:`` entry with ``type: zabbix``; its section is validated against
``connector.integrations.zabbix.ZabbixSettings`` (url, api_token or user + password, polling and
acknowledgement options). Nothing is built unless such an entry exists.
"""

from __future__ import annotations

__all__ = ["build_zabbix_source", "register_source_types"]

from typing import Any

import requests

from connector import hookimpl
from connector.contracts.adapters import PluginContext, SourceType
from connector.integrations.zabbix import ZabbixSettings, ZabbixSource


def build_zabbix_source(settings: Any, ctx: PluginContext) -> ZabbixSource:
    """Build the source for one validated section; registers its secrets with the log redactor."""
    if not isinstance(settings, ZabbixSettings):
        settings = ZabbixSettings.model_validate(settings)
    for secret in (settings.api_token, settings.password):
        if secret is not None:
            ctx.register_secret(secret.get_secret_value())
    return ZabbixSource(
        settings,
        name=ctx.name,
        clock=ctx.clock,
        session=requests.Session(),
        register_secret=ctx.register_secret,
    )


@hookimpl(trylast=True)
def register_source_types() -> list[SourceType]:
    """Offer the ``zabbix`` source type."""
    return [
        SourceType(
            name="zabbix",
            settings=ZabbixSettings,
            factory=build_zabbix_source,
            description="Zabbix 6.0 API: polls problem events and recoveries, acknowledges problems "
            "with the ticket number",
        )
    ]
