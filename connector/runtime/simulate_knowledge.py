"""What ``simulate`` shows of knowledge (issue 13): a ``similar`` line after a ticket is made
(the incidents solved before that its note would name), a ``kb_candidate`` line when a close
makes a knowledge-base candidate, and the ``kb_used`` control line.

The same pure parts as the daemon (``connector.process.similar``, ``connector.process.knowledge``)
over an in-memory ``MemorySolved`` instead of the state file's ``solved`` table. Solutions come
from the control lines, as the sync-back reads them from the helpdesk: a ``resolve`` or ``close``
line's ``"solution"`` is remembered when the ticket is resolved or closed. A failing lookup
prints nothing, as the daemon's writes no note: the ticket's own line is never held up.
"""

from __future__ import annotations

__all__ = ["SimKnowledge"]

import logging
from datetime import datetime
from typing import Any

from connector.domain.clock import isoformat
from connector.domain.ledger import TicketState
from connector.domain.models import ClosureCode
from connector.process.knowledge import kb_candidate, solved_from
from connector.process.similar import Incident, MemorySolved, find_similar
from connector.rules.knowledge import KnowledgeFile
from connector.runtime.simulate_lines import from_state, new_line

log = logging.getLogger("connector.runtime.simulate")

#: the control line a handler marks "knowledge used" with (KPI 15)
KB_USED = "kb_used"


class SimKnowledge:
    """The solved incidents ``simulate`` has seen, and the lines it prints about them."""

    def __init__(self, rules: KnowledgeFile) -> None:
        self.rules = rules
        self.index = MemorySolved()

    def _line(
        self, lineno: int, action: str, state: TicketState, external_id: str | None, reason: str, now: datetime
    ) -> dict[str, Any]:
        out = new_line(lineno, external_id, state.source, action, reason=reason, at=isoformat(now))
        out.update(ticket=state.key, ticket_id=state.ticket_id, fingerprint=state.fingerprint)
        from_state(out, state)
        return out

    def after_create(
        self, lineno: int, state: TicketState | None, external_id: str | None, now: datetime
    ) -> list[dict[str, Any]]:
        """The ``similar`` line of a new (or adopted) ticket, if its note would name anything."""
        if state is None or state.master_key is not None:
            return []
        try:
            content = state.content
            incident = Incident(
                key=state.key,
                title=str(content.get("title") or state.key),
                ci=state.ci or content.get("ci"),
                fingerprint=state.fingerprint,
                category=content.get("category"),
            )
            matches = find_similar(incident, self.index, self.rules.similar, now)
        except Exception as exc:  # as in the daemon: no note, the ticket stands
            log.warning("%s → similar incidents skipped: %s", state.key, exc, exc_info=True)
            return []
        if not matches:
            return []
        named = ", ".join(f"#{m.solved.ticket_id or m.solved.key} ({m.kind}, {m.score:.0f})" for m in matches)
        out = self._line(lineno, "similar", state, external_id, f"solved before: {named}", now)
        out["similar"] = [
            {
                "ticket": m.solved.key,
                "ticket_id": m.solved.ticket_id,
                "match": m.kind,
                "score": round(m.score, 1),
                "title": m.solved.title,
                "solution": m.solved.solution,
            }
            for m in matches
        ]
        return [out]

    def after_control(
        self, lineno: int, state: TicketState, data: dict[str, Any], external_id: str | None, now: datetime
    ) -> list[dict[str, Any]]:
        """Remember a solution given with a ``resolve``/``close`` line; the ``kb_candidate`` line
        of a close that makes one (once per ticket)."""
        taught = solved_from(state, data.get("solution"), now)
        if taught is not None:
            self.index.remember_solved(taught)
        if state.status.value != "closed":
            return []
        try:
            code = ClosureCode(data.get("closure_code", "success"))
        except ValueError:
            return []
        article = kb_candidate(state, taught or self.index.solved(state.key), code, self.rules.kb_candidate)
        if article is None or not self.index.claim_kb_candidate(state.key, now):
            return []
        out = self._line(
            lineno, "kb_candidate", state, external_id, f"knowledge-base candidate of #{article.ticket_id}", now
        )
        out.update(title=article.title, root_cause=article.root_cause, solution=article.solution)
        return [out]

    def kb_used(
        self, lineno: int, state: TicketState, data: dict[str, Any], external_id: str | None, now: datetime
    ) -> dict[str, Any]:
        """The line of a ``kb_used`` control line: the handler says the knowledge base solved it."""
        who = data.get("by") or "the handler"
        out = self._line(
            lineno, KB_USED, state, external_id, f"knowledge used 使用知识库, marked by {who} (KPI 15)", now
        )
        out["type"] = KB_USED
        return out
