"""What the connector learns from a solved incident (``Solved``) and what it gives back to people
(``KbArticle``, a knowledge-base candidate): plain values, so the store, the process, simulate
and the backends speak of them the same way (issue 13, items 4 and 5)."""

from __future__ import annotations

__all__ = ["KbArticle", "Solved"]

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Solved:
    """One solved ticket as the similar-incident lookup reads it: the connector key, the helpdesk
    id (``None`` while unknown), what it was about, and how it was solved."""

    key: str
    ticket_id: str | None
    title: str
    ci: str | None
    fingerprint: str | None
    category: str | None
    solution: str
    resolved_at: datetime


@dataclass(frozen=True)
class KbArticle:
    """A knowledge-base candidate: written once per ticket, unpublished, for people to edit and
    publish. Every text is untrusted (it came from a person or an alert): the backend escapes it
    where it lands. ``key`` is the ticket's connector key, the article's identity (a retried
    create finds the article it already made by it)."""

    key: str
    ticket_id: str
    title: str
    ci: str | None
    category: str | None
    symptom: str
    root_cause: str
    solution: str
