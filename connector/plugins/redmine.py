"""Plugs in the Redmine helpdesk backend: the backend type ``redmine``.

Reads the ``backend:`` section when its ``type`` is ``redmine`` (validated against
``connector.integrations.redmine.RedmineSettings``). Nothing is built, and no connection is made, unless the
config asks for this type.
"""

from __future__ import annotations

__all__ = ["build_backend", "register_backend_types"]

from connector import hookimpl
from connector.contracts.adapters import BackendType, PluginContext
from connector.integrations.redmine import RedmineBackend, RedmineSettings


def build_backend(settings: RedmineSettings, ctx: PluginContext) -> RedmineBackend:
    """Build the backend; first hand the API key to the log redactor so no line can show it."""
    ctx.register_secret(settings.api_key.get_secret_value())
    return RedmineBackend(settings, name=ctx.name, clock=ctx.clock)


@hookimpl(trylast=True)
def register_backend_types() -> list[BackendType]:
    """The ``redmine`` backend type."""
    return [
        BackendType(
            name="redmine",
            settings=RedmineSettings,
            factory=build_backend,
            description="Redmine 5+ issues over the REST API (custom fields per `setup redmine`)",
        )
    ]
