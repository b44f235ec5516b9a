"""Built-in plugin: the ``dingtalk`` notifier type (a 钉钉 custom robot, optionally 加签-signed).

Reads each ``notify.channels`` entry with ``type: dingtalk`` (validated against
``connector.notify.dingtalk.DingtalkSettings``); its channel is called ``dingtalk`` and
@-mentions people by their ``dingtalk`` handle. Nothing is built unless such an entry exists.
"""

from __future__ import annotations

__all__ = ["build_dingtalk", "register_notifier_types"]

from connector import hookimpl
from connector.contracts.adapters import PluginContext
from connector.contracts.notifiers import NotifierType
from connector.notify.dingtalk import DingtalkNotifier, DingtalkSettings


def build_dingtalk(settings: DingtalkSettings, ctx: PluginContext) -> DingtalkNotifier:
    """Build the notifier; the token and the signing secret go to the log redactor first."""
    ctx.register_secret(settings.access_token.get_secret_value())
    if settings.secret is not None:
        ctx.register_secret(settings.secret.get_secret_value())
    return DingtalkNotifier(settings, name=ctx.name, clock=ctx.clock)


@hookimpl(trylast=True)
def register_notifier_types() -> list[NotifierType]:
    """The ``dingtalk`` notifier type."""
    return [
        NotifierType(
            name="dingtalk",
            settings=DingtalkSettings,
            factory=build_dingtalk,
            address="dingtalk",
            channel="dingtalk",
            description="DingTalk (钉钉) custom robot: markdown with at.atMobiles, optional 加签 signature",
        )
    ]
