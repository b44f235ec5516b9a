"""The outbox's operations as types: where each goes (its target), what kinds there are, and
the payload each kind carries.

A row of the ``outbox`` table holds the kind as text (``op``) and the payload as JSON; the
drain turns the text into an ``OpKind`` and the JSON into the kind's payload model before a
handler (``connector.runtime.handlers``) sees it. An unknown kind or a payload that does not
fit is dead-lettered with the reason, never an ``AttributeError`` in the middle of a drain.
The models read the JSON the connector has always written (unknown keys are ignored, so a
row written by a newer connector still reads), and planners keep writing plain JSON.
"""

from __future__ import annotations

__all__ = [
    "BACKEND",
    "NOTIFY_PREFIX",
    "SOURCE_PREFIX",
    "AckPayload",
    "CiLinkPayload",
    "CreatePayload",
    "KbCandidatePayload",
    "LinkPayload",
    "NotePayload",
    "NoticePayload",
    "OpKind",
    "ProblemPayload",
    "ResolvePayload",
    "UpdatePayload",
    "source_target",
]

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from connector.contracts.adapters import Relation
from connector.domain.links import ProblemRecord
from connector.domain.models import Ticket
from connector.domain.notice import Notice

#: the helpdesk (there is one backend per connector)
BACKEND = "backend"
#: a source's own writes (``source:zabbix``: acknowledgements)
SOURCE_PREFIX = "source:"
#: one notice channel (``notify:email``): a channel that is down blocks only its own notices
NOTIFY_PREFIX = "notify:"


def source_target(name: str) -> str:
    """The outbox target of source ``name``."""
    return f"{SOURCE_PREFIX}{name}"


class OpKind(StrEnum):
    """Every kind of operation the outbox can owe (the ``op`` column)."""

    CREATE = "create"  # backend: open the ticket (after asking for the key, on a retry)
    LINK = "link"  # backend: duplicate/relates link to another of the connector's tickets
    NOTE = "note"  # backend: a note on the ticket
    ATTACH = "attach"  # backend: a spooled file onto the ticket
    UPDATE = "update"  # backend: fields (and a note in the same change)
    RESOLVE = "resolve"  # backend: resolved, with the outage end
    ACK = "ack"  # source: tell it the ticket exists (Zabbix event.acknowledge)
    NOTICE = "notice"  # notifier: one notice on one channel
    KB_CANDIDATE = "kb_candidate"  # backend: a knowledge-base candidate of a closed ticket (issue 13)
    CI_LINK = "ci_link"  # backend: link the ticket to its configuration item's object (issue 13)
    PROBLEM = "problem"  # backend: open the problem record (once) and link the incident to it

    @property
    def target_kind(self) -> str:
        """Which target this kind goes to: ``backend``, ``source`` or ``notify``."""
        if self is OpKind.ACK:
            return "source"
        if self is OpKind.NOTICE:
            return "notify"
        return BACKEND


class _Payload(BaseModel):
    # ignore what this connector does not know: a row written by a newer one still reads
    model_config = ConfigDict(frozen=True, extra="ignore")


class CreatePayload(_Payload):
    """``create``: the ticket as decided, the source it came from (``""``: none, e.g. a
    ticket the lifecycle opens for a rejected solution), and a note that belongs to its
    creation (why it duplicates or recurs: written into the new ticket's description, below
    its own text, so the create is the only write)."""

    ticket: Ticket
    source: str = ""
    note: str | None = None


class LinkPayload(_Payload):
    """``link``: the connector key of the other ticket, and how they relate."""

    related_key: str
    relation: Relation


class NotePayload(_Payload):
    """``note``: the text (rendered by the backend, markup-safe)."""

    text: str


class UpdatePayload(_Payload):
    """``update``: ``Ticket`` field values in their JSON form, and an optional note."""

    changes: dict[str, Any] = {}
    note: str | None = None


class ResolvePayload(_Payload):
    """``resolve``: when (ISO time; the drain's now when absent), why, the outage end, and the
    ``Ticket`` fields changed with it (JSON form: the SLA target cleared), written in the same
    change where the backend can (``Resolution.changes``)."""

    note: str
    at: str | None = None
    outage_end: str | None = None
    changes: dict[str, Any] = {}


class AckPayload(_Payload):
    """``ack``: the source's id of the problem the ticket was made for."""

    external_id: str


class NoticePayload(_Payload):
    """``notice``: the notice, and the channel it goes out on."""

    notice: Notice
    channel: str


class KbCandidatePayload(_Payload):
    """``kb_candidate``: the article (``connector.domain.knowledge.KbArticle``), every text untrusted."""

    key: str
    ticket_id: str
    title: str
    ci: str | None = None
    category: str | None = None
    symptom: str
    root_cause: str
    solution: str


class CiLinkPayload(_Payload):
    """``ci_link``: the name of the configuration item the ticket is about."""

    ci: str
class ProblemPayload(_Payload):
    """``problem``: the problem the incident (the operation's ticket) joins; the record to open
    when this incident opens it (``None``: another incident's operation opens it), and a note
    for the problem (a later incident of the same root cause)."""

    problem_key: str
    record: ProblemRecord | None = None
    note: str | None = None
