"""Plugs in the GLPI helpdesk backend: the backend type ``glpi``.

Reads the ``backend:`` section when its ``type`` is ``glpi`` (validated against
``connector.integrations.glpi.GlpiSettings``). Nothing is built, and no connection is made, unless the
config asks for this type; the GLPI session is opened on the first call.
"""

from __future__ import annotations

__all__ = ["build_backend", "register_backend_types"]

from connector import hookimpl
from connector.contracts.adapters import BackendType, PluginContext
from connector.integrations.glpi import GlpiBackend, GlpiSettings


def build_backend(settings: GlpiSettings, ctx: PluginContext) -> GlpiBackend:
    """Build the backend; the tokens (and each session token GLPI hands out) go to the log
    redactor first, so no line can show them."""
    ctx.register_secret(settings.user_token.get_secret_value())
    if settings.app_token is not None:
        ctx.register_secret(settings.app_token.get_secret_value())
    sla = ctx.rules.sla if ctx.rules is not None else None  # time_to_own: the rule book's response targets
    return GlpiBackend(settings, name=ctx.name, clock=ctx.clock, register_secret=ctx.register_secret, sla=sla)


@hookimpl(trylast=True)
def register_backend_types() -> list[BackendType]:
    """The ``glpi`` backend type."""
    return [
        BackendType(
            name="glpi",
            settings=GlpiSettings,
            factory=build_backend,
            description="GLPI 10 tickets over the REST API (apirest.php; categories per `setup glpi`)",
        )
    ]
