"""The shape of a notifier (a way to reach people: e-mail, a phone gateway, a chat robot).

A plugin hands the host a ``NotifierType``: a name, a pydantic model of its config entry and a
factory, exactly like a ``BackendType``. The host validates each ``notify.channels`` entry
against the type's model (errors name file:line) and builds the notifier only when a channel
asks for that type. The host then calls ``Notifier.send`` with a rendered ``OutgoingMessage``
and the recipients it resolved from ``people.yaml``; a notifier never decides who gets a notice.
"""

from __future__ import annotations

__all__ = ["AddressKind", "Notifier", "NotifierType", "OutgoingMessage", "Recipient"]

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from connector.contracts.adapters import PluginContext

#: which handle of a person a channel delivers to (the fields of a person in ``people.yaml``)
AddressKind = Literal["email", "phone", "wecom", "dingtalk"]


@dataclass(frozen=True)
class Recipient:
    """One person a notice goes to on one channel: who (for logs and ``simulate``) and where."""

    person: str  # the id in people.yaml, or "user" for the ticket's own contact
    name: str
    address: str  # an e-mail address, a phone number, a WeCom/DingTalk mobile or user id


@dataclass(frozen=True)
class OutgoingMessage:
    """One notice rendered in every format a channel may use; each notifier picks its own.

    ``subject`` is one line without the ``[ITSM #id]`` tag (the e-mail notifier adds it, so a
    site template cannot lose it). ``data`` is the notice as JSON, for gateways that build
    their own text.
    """

    subject: str
    text: str  # plain text (e-mail text part, robot text messages)
    html: str  # HTML e-mail part
    markdown: str  # WeCom / DingTalk markdown
    short: str  # one short paragraph for SMS / voice gateways
    ticket_key: str
    ticket_id: str | None = None
    url: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ticket_tag(self) -> str:
        """What people and reply-mapping see as the ticket number: the helpdesk id when known."""
        return self.ticket_id or self.ticket_key


class Notifier(Protocol):
    """Something that delivers a rendered message to a list of recipients.

    ``send`` is one attempt; it raises ``NotifierUnavailable`` when trying again later can help
    (refused, timeout, 5xx, rate limited) and ``NotifierRejected`` when it cannot (bad recipient,
    invalid key). Every network call has an explicit timeout, so a notifier that is down delays
    only its own notices. ``needs_recipients`` is false for group robots, which post to their
    group whether or not anyone is mentioned.
    """

    name: str
    needs_recipients: bool

    def send(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> None:
        """Deliver ``message`` once to ``recipients``."""
        ...

    def close(self) -> None:
        """Release sessions and connections."""
        ...


@dataclass(frozen=True)
class NotifierType:
    """A kind of notifier a plugin can build, and the config entry it reads.

    ``address`` is the handle of a person its channels deliver to unless the channel entry says
    otherwise; ``channel`` is the channel name an entry of this type gets when it has no
    ``name`` (``smtp`` → ``email``, so the default rule files' ``email`` works as configured).
    """

    name: str
    settings: type[BaseModel]
    factory: Callable[[Any, PluginContext], Notifier]
    address: AddressKind
    channel: str
    description: str = ""
