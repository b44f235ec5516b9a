"""Knowledge in the running connector (issue 13): what it owes after a ticket is created or
adopted, and what it learns when the sync-back reads a solved ticket.

* ``owe_after_create`` — once a ticket's create has landed (the helpdesk has it, its id is in
  the state file) or a desk-made ticket was adopted: a ``ci_link`` operation when the backend
  links configuration items and the ticket names a CI, and the *similar incidents* note
  (``connector.process.similar``) as an ordinary ``note`` operation of its own. A separate
  operation rather than part of the create: the create stays one write that either landed or
  did not, and the note is delivered, retried and made idempotent like every note.
* ``learn_from_sync`` — after the sync-back applied a ticket's events: a resolved or closed
  ticket with a solution is remembered in the ``solved`` table (the next lookup finds it), and a
  close that ``knowledge.yaml`` says makes a knowledge-base candidate owes one ``kb_candidate``
  operation — claimed in the store first, so it is owed once per ticket however often the close
  is read again.

Neither may hold up an incident: every exception is logged with its traceback and skipped
(the ticket was created, the events were applied; only the knowledge is missing).
"""

from __future__ import annotations

__all__ = ["learn_from_sync", "owe_after_create"]

import logging
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.domain.ledger import TicketState
from connector.domain.models import ClosureCode, TicketStatus
from connector.process.knowledge import kb_candidate, solved_from
from connector.process.similar import Incident, find_similar, similar_note
from connector.runtime.outbox_ops import BACKEND, OpKind

if TYPE_CHECKING:
    from connector.runtime.engine import Engine

log = logging.getLogger("connector.runtime.knowledge")


def owe_after_create(engine: Engine, key: str, now: datetime) -> None:
    """Queue the CI link and the similar-incident note of the new ticket ``key`` (see the module
    docstring); never raises."""
    store = engine.store
    try:
        state = store.get(key)
        ci = _ci(state)
        if state is not None and ci and engine.capabilities.ci_links is not None and state.master_key is None:
            with store.transaction():
                store.enqueue(BACKEND, OpKind.CI_LINK, key, {"ci": ci}, now)
    except Exception as exc:  # knowledge never holds up an incident
        log.warning("%s → CI link skipped: %s", key, exc, exc_info=True)
    try:
        state = store.get(key)
        if state is None or state.master_key is not None:
            return  # a duplicate: its master's note speaks for it
        content = state.content
        incident = Incident(
            key=key,
            title=_text(content.get("title")) or key,
            ci=_ci(state),
            fingerprint=state.fingerprint,
            category=_text(content.get("category")),
        )
        matches = find_similar(incident, store, engine.pipeline.rules.knowledge.similar, now)
        note = similar_note(matches)
        if note is None:
            return
        with store.transaction():
            store.enqueue(BACKEND, OpKind.NOTE, key, {"text": note}, now)
        named = ", ".join(m.solved.ticket_id or m.solved.key for m in matches)
        log.info("%s → similar incidents: %s", key, named, extra={"key": key, "action": "similar"})
    except Exception as exc:  # knowledge never holds up an incident
        log.warning("%s → similar incidents skipped: %s", key, exc, exc_info=True)


def learn_from_sync(engine: Engine, key: str, fields: Mapping[str, Any], now: datetime) -> None:
    """Remember what the solved ticket ``key`` taught and owe its knowledge-base candidate (see
    the module docstring); ``fields`` are the ticket's as the helpdesk holds them (its snapshot's,
    with its history's where it has one); never raises."""
    store = engine.store
    try:
        state = store.get(key)
        if state is None or not state.status.is_done:
            return
        taught = solved_from(state, fields.get("solution"), now)
        with store.transaction():
            if taught is not None:
                store.remember_solved(taught)
            if state.status is not TicketStatus.CLOSED or engine.capabilities.knowledge_base is None:
                return
            rules = engine.pipeline.rules.knowledge.kb_candidate
            article = kb_candidate(state, taught or store.solved(key), _closure(fields), rules)
            if article is None or not store.claim_kb_candidate(key, now):
                return
            store.enqueue(BACKEND, OpKind.KB_CANDIDATE, key, asdict(article), now)
        log.info("%s → knowledge-base candidate owed", key, extra={"key": key, "action": "kb_candidate"})
    except Exception as exc:  # knowledge never holds up the sync-back
        log.warning("%s → knowledge not kept: %s", key, exc, exc_info=True)


def _ci(state: TicketState | None) -> str | None:
    return None if state is None else state.ci or _text(state.content.get("ci"))


def _closure(fields: Mapping[str, Any]) -> ClosureCode | None:
    value = fields.get("closure_code")
    try:
        return ClosureCode(value) if value is not None else None
    except ValueError:
        return None


def _text(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None
