"""Knowledge out (issue 13, item 5) and what a solved ticket teaches: pure.

``solved_from`` turns a resolved or closed ticket the sync-back read (its ledger state and the
helpdesk's solution field) into the ``Solved`` row the similar-incident lookup
(``connector.process.similar``) reads later; a duplicate of a master teaches nothing of its own
(its master's row speaks for both), and a ticket without a solution teaches nothing.

``kb_candidate`` says whether a close makes a knowledge-base candidate, and with what text:
``knowledge.yaml``'s ``kb_candidate`` — a closure code it names (default: success), a solution,
and (unless ``require_root_cause: false``) a root cause, the solution's line that begins with one
of ``root_cause_prefixes``. Never for a duplicate. *Once per ticket* is the store's part
(``claim_kb_candidate``): this module says what, not whether it was already done.
"""

from __future__ import annotations

__all__ = ["kb_candidate", "solved_from"]

from datetime import datetime
from typing import Any

from connector.domain.knowledge import KbArticle, Solved
from connector.domain.ledger import TicketState
from connector.domain.models import ClosureCode
from connector.rules.knowledge import KbCandidateModel, root_cause


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def solved_from(state: TicketState, solution: Any, at: datetime) -> Solved | None:
    """What ticket ``state`` taught, solved at ``at`` with ``solution`` (the helpdesk's field);
    ``None`` for a duplicate, an unsolved ticket or a blank solution."""
    text = _text(solution)
    if text is None or state.master_key is not None or not state.status.is_done:
        return None
    content = state.content
    return Solved(
        key=state.key,
        ticket_id=state.ticket_id,
        title=_text(content.get("title")) or state.key,
        ci=state.ci or _text(content.get("ci")),
        fingerprint=state.fingerprint,
        category=_text(content.get("category")),
        solution=text,
        resolved_at=state.resolved_at or at,
    )


def kb_candidate(
    state: TicketState, solved: Solved | None, closure_code: ClosureCode | None, rules: KbCandidateModel
) -> KbArticle | None:
    """The knowledge-base candidate this close makes, or ``None`` (see the module docstring)."""
    if not rules.enabled or solved is None or state.master_key is not None or state.ticket_id is None:
        return None
    if closure_code is None or closure_code not in rules.closure_codes:
        return None
    cause = root_cause(solved.solution, rules)
    if cause is None and rules.require_root_cause:
        return None
    return KbArticle(
        key=state.key,
        ticket_id=state.ticket_id,
        title=solved.title,
        ci=solved.ci,
        category=solved.category,
        symptom=_text(state.content.get("description")) or solved.title,
        root_cause=cause or "",
        solution=solved.solution,
    )
