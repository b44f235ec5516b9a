"""Which helpdesk ticket a mail answers, if any (``Alert.reply_to``).

In order of trust:

1. a Message-ID the connector sent, ``<itsm.<ticket_id>.<random>@domain>``, in ``In-Reply-To``
   or ``References`` (the reply button keeps it, whatever the user does to the subject);
2. the connector's notice tag ``[ITSM #123]`` in the subject;
3. a helpdesk's own notification subject: Redmine ``[Project - Tracker #123]``, GLPI
   ``[GLPI #0000123]``;
4. a Redmine notification Message-ID, ``<redmine.issue-123.…@host>``, in the references.

The subject patterns match anywhere (``Re: 回复: [ITSM #12] …``). Ticket ids are numbers;
leading zeros are dropped.
"""

from __future__ import annotations

__all__ = ["CONNECTOR_MESSAGE_ID", "reply_ticket"]

import re
from collections.abc import Sequence

#: how the connector's own Message-IDs look (the notifier must send exactly this shape)
CONNECTOR_MESSAGE_ID = re.compile(r"^itsm\.(\d+)\.[A-Za-z0-9._-]+@[^\s<>@]+$", re.IGNORECASE)
_REDMINE_MESSAGE_ID = re.compile(r"^redmine\.issue-(\d+)\.[^\s<>@]+@[^\s<>@]+$", re.IGNORECASE)
_SUBJECT_PATTERNS = (
    re.compile(r"\[ITSM\s*#\s*(\d+)\]", re.IGNORECASE),
    re.compile(r"\[[^\[\]#]+? - [^\[\]#]+? #(\d+)\]"),  # Redmine: [Project - Tracker #123]
    re.compile(r"\[GLPI\s*#\s*(\d+)\]", re.IGNORECASE),
)


def _number(text: str) -> str | None:
    stripped = text.lstrip("0")
    return stripped if stripped.isdigit() and len(stripped) <= 18 else None


def reply_ticket(subject: str, in_reply_to: Sequence[str], references: Sequence[str]) -> str | None:
    """The helpdesk ticket id the mail is about, or ``None`` for a new report."""
    ids = [*in_reply_to, *reversed(references)]
    for message_id in ids:
        match = CONNECTOR_MESSAGE_ID.match(message_id)
        if match and (found := _number(match.group(1))):
            return found
    for pattern in _SUBJECT_PATTERNS:
        match = pattern.search(subject)
        if match and (found := _number(match.group(1))):
            return found
    for message_id in ids:
        match = _REDMINE_MESSAGE_ID.match(message_id)
        if match and (found := _number(match.group(1))):
            return found
    return None
