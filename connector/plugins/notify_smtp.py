"""Built-in plugin: the ``smtp`` notifier type (e-mail notices through the site's relay).

Reads each ``notify.channels`` entry with ``type: smtp`` (validated against
``connector.notify.smtp.SmtpSettings``); its channel is called ``email`` unless the entry
names it. Nothing is built, and no connection is made, unless such an entry exists.
"""

from __future__ import annotations

__all__ = ["build_smtp", "register_notifier_types"]

from connector import hookimpl
from connector.contracts.adapters import PluginContext
from connector.contracts.notifiers import NotifierType
from connector.notify.smtp import SmtpNotifier, SmtpSettings


def build_smtp(settings: SmtpSettings, ctx: PluginContext) -> SmtpNotifier:
    """Build the notifier; the password goes to the log redactor first."""
    if settings.password is not None:
        ctx.register_secret(settings.password.get_secret_value())
    return SmtpNotifier(settings, name=ctx.name, clock=ctx.clock)


@hookimpl(trylast=True)
def register_notifier_types() -> list[NotifierType]:
    """The ``smtp`` notifier type."""
    return [
        NotifierType(
            name="smtp",
            settings=SmtpSettings,
            factory=build_smtp,
            address="email",
            channel="email",
            description="e-mail (text + HTML) through an SMTP relay: ssl, starttls or none",
        )
    ]
