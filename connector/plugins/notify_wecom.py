"""Built-in plugin: the ``wecom`` notifier type (a 企业微信 group robot).

Reads each ``notify.channels`` entry with ``type: wecom`` (validated against
``connector.notify.wecom.WecomSettings``); its channel is called ``wecom`` and mentions people
by their ``wecom`` handle. Nothing is built unless such an entry exists.
"""

from __future__ import annotations

__all__ = ["build_wecom", "register_notifier_types"]

from connector import hookimpl
from connector.contracts.adapters import PluginContext
from connector.contracts.notifiers import NotifierType
from connector.notify.wecom import WecomNotifier, WecomSettings


def build_wecom(settings: WecomSettings, ctx: PluginContext) -> WecomNotifier:
    """Build the notifier; the robot key goes to the log redactor first."""
    ctx.register_secret(settings.key.get_secret_value())
    return WecomNotifier(settings, name=ctx.name, clock=ctx.clock)


@hookimpl(trylast=True)
def register_notifier_types() -> list[NotifierType]:
    """The ``wecom`` notifier type."""
    return [
        NotifierType(
            name="wecom",
            settings=WecomSettings,
            factory=build_wecom,
            address="wecom",
            channel="wecom",
            description="WeCom (企业微信) group robot: text with mentioned mobiles, or markdown",
        )
    ]
