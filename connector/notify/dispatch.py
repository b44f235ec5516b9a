"""Where a notice goes (``plan``) and sending it through one channel (``send_notice``).

The outbox keeps one operation per (notice, channel), so a channel that is down delays only its
own copies and a retry never re-sends on a channel that already delivered. ``plan`` lists the
channels of a notice (from ``notifications.yaml``: its kind and priority) with the recipients
each would reach, without sending — what ``simulate`` prints. ``send_notice`` renders and sends
one of them; it raises ``NotifierUnavailable`` (retry later) or ``NotifierRejected`` (dead-letter),
and returns the ``Delivery`` it made.

Both are plain functions over what they are given (directory, rules, renderer, channels), so
they hold no state and read no clock.
"""

from __future__ import annotations

__all__ = ["Channel", "Delivery", "plan", "recipients_on", "send_notice"]

from collections.abc import Mapping
from dataclasses import dataclass

from connector.contracts.notifiers import AddressKind, Notifier, Recipient
from connector.domain.errors import NotifierRejected
from connector.domain.notice import Notice
from connector.notify.people import Directory
from connector.notify.render import Renderer
from connector.rules.ladder import NotificationRules


@dataclass(frozen=True)
class Channel:
    """A configured channel: its name (what rule files say), the handle it uses, its notifier."""

    name: str
    address: AddressKind
    notifier: Notifier


@dataclass(frozen=True)
class Delivery:
    """A notice on one channel: who it reaches, who it cannot reach and why, and whether it is
    (or would be) sent at all — a channel that needs recipients sends nothing without any."""

    channel: str
    recipients: tuple[Recipient, ...]
    missing: tuple[str, ...]
    sent: bool


def recipients_on(notice: Notice, channel: str, address: AddressKind, directory: Directory) -> Delivery:
    """The recipients of ``notice``'s roles on a channel that delivers to ``address`` handles
    (``sent`` is left false: nothing went out)."""
    found, missing = directory.recipients(notice.roles, address, notice)
    return Delivery(channel, tuple(found), tuple(missing), sent=False)


def plan(
    notice: Notice,
    rules: NotificationRules,
    directory: Directory,
    channels: Mapping[str, Channel],
) -> list[Delivery]:
    """Every channel ``notice`` goes out on, each with its recipients; sends nothing.

    ``sent`` says whether ``send_notice`` would send on it. A channel the rules name but the
    config lacks is listed with the reason in ``missing``.
    """
    out = []
    for name in rules.channels_for(notice.kind, notice.priority):
        channel = channels.get(name)
        if channel is None:
            out.append(Delivery(name, (), (f"channel {name!r} is not configured",), sent=False))
            continue
        found = recipients_on(notice, name, channel.address, directory)
        would = bool(found.recipients) or not channel.notifier.needs_recipients
        out.append(Delivery(name, found.recipients, found.missing, sent=would))
    return out


def send_notice(
    notice: Notice,
    channel: str,
    *,
    directory: Directory,
    channels: Mapping[str, Channel],
    renderer: Renderer,
) -> Delivery:
    """Render ``notice`` and send it once on ``channel``.

    Returns the delivery; when nobody on the notice's roles has a handle for this channel and
    the channel needs recipients, nothing is sent and ``sent`` is false (the caller logs
    ``missing``: a monitoring ticket has no user to tell, which is not an error).

    :raises NotifierUnavailable: the channel cannot take it now; retry later.
    :raises NotifierRejected: it can never go out this way (no such channel, a refused key or
        recipient, a broken site template); dead-letter it.
    """
    configured = channels.get(channel)
    if configured is None:
        known = ", ".join(sorted(channels)) or "none"
        raise NotifierRejected(
            f"no channel {channel!r} is configured (configured: {known})", notifier=channel, operation="send"
        )
    delivery = recipients_on(notice, channel, configured.address, directory)
    if not delivery.recipients and configured.notifier.needs_recipients:
        return delivery
    message = renderer.render(notice)
    configured.notifier.send(message, delivery.recipients)
    return Delivery(channel, delivery.recipients, delivery.missing, sent=True)
