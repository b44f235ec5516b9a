"""``simulate``'s problem records and changes (issue 13, item 6): the ``problem`` and ``change``
output lines, from the same pure rules the daemon's links job applies
(``connector.process.problems``, ``connector.process.changes``), over an in-memory
``LinkLedger``.

* with ``--until`` (the clock runs, as the daemon's sync-back does the raising), a ``problem``
  event line follows the line that made an incident due one (a P1 made or raised, a close
  "success but with a problem"): the fields of an event line (as ``auto_close``'s) plus
  ``problem``, the problem's connector key, and ``opens``, whether this incident opens it
  (``false``: it joins an open problem of the same root cause). Without ``--until`` the output
  stays one line per input line, as scripts expect;
* a ``link_change`` control line (``{"type": "link_change", "external_id", "at", "by",
  "ref"}``) answers with a ``change`` line: the incident pending change, ``change`` the ref;
* a ``change_closed`` control line (``{"type": "change_closed", "ref", "at"}``) answers with
  one ``change`` line: the incidents that waited for that change alone back in progress
  (``ticket`` the first, ``tickets`` all of them).
"""

from __future__ import annotations

__all__ = ["SimulatedLinks", "problem_line"]

from datetime import datetime
from typing import Any

from connector.domain.clock import isoformat
from connector.domain.ledger import TicketState
from connector.domain.links import MemoryLinks
from connector.domain.models import ClosureCode
from connector.process.problems import ProblemStep, problem_step, record_problem
from connector.rules.links import LinksFile


def problem_line(external_id: str | None, state: TicketState, step: ProblemStep, at: datetime) -> dict[str, Any]:
    """The ``problem`` event line of an incident that raises or joins a problem: an event line's
    fields (``channel`` ``None``, no recipients: it is not a notice) plus ``problem`` and ``opens``."""
    return {
        "type": "problem",
        "external_id": external_id,
        "ticket": state.key,
        "ticket_id": state.ticket_id,
        "at": isoformat(at),
        "due": isoformat(at),
        "late": False,
        "priority": None if state.priority is None else int(state.priority),
        "level": None,
        "role": None,
        "stage": None,
        "status": state.status.value,
        "detail": step.incident_note,
        "channel": None,
        "recipients": [],
        "problem": step.problem_key,
        "opens": step.opens,
    }


class SimulatedLinks:
    """The problems raised and the changes linked during one ``simulate`` run."""

    def __init__(self, rules: LinksFile | None) -> None:
        self.rules = rules
        self.ledger = MemoryLinks()

    def problems(
        self,
        external_id: str | None,
        state: TicketState | None,
        now: datetime,
        closure_code: ClosureCode | None = None,
    ) -> list[dict[str, Any]]:
        """The ``problem`` event line of ``state`` when it is due one now (else nothing)."""
        if self.rules is None or state is None:
            return []
        step = problem_step(state, self.ledger, self.rules, now, closure_code=closure_code)
        if step is None or not record_problem(self.ledger, step, now):
            return []
        return [problem_line(external_id, state, step, now)]

    def link(self, key: str, ref: str, now: datetime) -> bool:
        """Remember the change ``ref`` linked to ``key``; ``False`` when it was already."""
        return self.ledger.change_link_add(key, ref, now)

    def close(self, ref: str, now: datetime) -> list[str]:
        """The change ``ref`` closed: the incidents that no longer wait for any change."""
        waiting = self.ledger.open_change_links()
        keys = [key for key, change in waiting if change == ref]
        for key in keys:
            self.ledger.change_link_close(key, ref, now)
        still = {key for key, change in self.ledger.open_change_links()}
        return [key for key in keys if key not in still]
