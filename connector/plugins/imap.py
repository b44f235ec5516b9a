"""Built-in plugin: the ``imap`` source type (e-mail to the service desk → user-report alerts).

Reads each ``sources:`` entry with ``type: imap``; its section is validated against
``connector.integrations.mail.settings.ImapSettings`` (server, TLS, login, folders, sender policy, size
limits). Building the source opens no connection; each poll logs in, reads and logs out.
"""

from __future__ import annotations

__all__ = ["build_imap_source", "register_source_types"]

import logging
from typing import Any

from connector import hookimpl
from connector.contracts.adapters import PluginContext, SourceType
from connector.integrations.mail.settings import ImapSettings
from connector.integrations.mail.source import ImapSource

log = logging.getLogger("connector.integrations.mail")


def build_imap_source(settings: Any, ctx: PluginContext) -> ImapSource:
    """Build the source for one validated section; registers the password with the log redactor."""
    if not isinstance(settings, ImapSettings):
        settings = ImapSettings.model_validate(settings)
    ctx.register_secret(settings.password.get_secret_value())
    if settings.security == "none":
        log.warning(
            "%s: IMAP WITHOUT TLS to %s:%d (security: none) — password and mail travel in clear text; "
            "allowed only because the host is this machine",
            ctx.name,
            settings.host,
            settings.effective_port,
        )
    return ImapSource(settings, name=ctx.name, clock=ctx.clock, spool=ctx.spool)


@hookimpl(trylast=True)
def register_source_types() -> list[SourceType]:
    """Offer the ``imap`` source type."""
    return [
        SourceType(
            name="imap",
            settings=ImapSettings,
            factory=build_imap_source,
            description="a service-desk mailbox over IMAP (TLS): new mails open tickets, replies become notes",
        )
    ]
