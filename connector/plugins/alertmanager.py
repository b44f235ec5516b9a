"""Built-in plugin: the ``alertmanager`` source type (Prometheus Alertmanager's webhook receiver
posts firing and resolved alerts to the daemon's HTTP server).

Reads each ``sources:`` entry with ``type: alertmanager``; its section is validated against
``connector.integrations.alertmanager.AlertmanagerSettings`` (path, secret, body limit, which
labels name the CI, the severity table). Building it opens nothing: the daemon mounts its
endpoint on the ``http:`` server when it runs.
"""

from __future__ import annotations

__all__ = ["build_alertmanager_source", "register_source_types"]

from typing import Any

from connector import hookimpl
from connector.contracts.adapters import PluginContext, SourceType
from connector.integrations.alertmanager import AlertmanagerSettings, AlertmanagerSource


def build_alertmanager_source(settings: Any, ctx: PluginContext) -> AlertmanagerSource:
    """Build the source for one validated section; registers the secret with the log redactor."""
    if not isinstance(settings, AlertmanagerSettings):
        settings = AlertmanagerSettings.model_validate(settings)
    ctx.register_secret(settings.secret.get_secret_value())
    return AlertmanagerSource(settings, name=ctx.name, clock=ctx.clock)


@hookimpl(trylast=True)
def register_source_types() -> list[SourceType]:
    """Offer the ``alertmanager`` source type."""
    return [
        SourceType(
            name="alertmanager",
            settings=AlertmanagerSettings,
            factory=build_alertmanager_source,
            description="HTTP endpoint for Prometheus Alertmanager's webhook receiver: firing and resolved "
            "alerts pushed as they change",
        )
    ]
