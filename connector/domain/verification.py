"""How a verification of a closed record is written in a helpdesk (seed §3.1.3.10.2: the
duty-group leader verifies closed records): the lines a leader writes in a note, and the line the
connector writes once it accepted one.

A leader verifies in the helpdesk itself with a note (a Redmine journal note, a GLPI follow-up)
holding one of these lines on its own (case and surrounding blanks do not matter):

* ``verified`` / ``verify: ok`` / ``已核查`` — the record is verified;
* ``verify: reopen <reason>`` / ``核查退回: <reason>`` — it goes back (reopened) with the reason.

Anything else in the note is left alone, so a note that merely mentions verifying is not one.
The sync-back reads such a line as a ``verify`` event; the lifecycle accepts it only from a
holder of ``lifecycle.yaml``'s ``verification.roles`` and answers with a note starting with
``VERIFIED_MARK`` — which is what the reports count (``connector.kpi.rebuild``), so a
verification by anyone else, refused, is never counted.
"""

from __future__ import annotations

__all__ = ["SENT_BACK_MARK", "VERIFIED_MARK", "Verdict", "verdict_in"]

import re
from dataclasses import dataclass

#: the start of the connector's note once a leader's verification was accepted
VERIFIED_MARK = "已核查 verified by the duty-group leader"
#: the start of the connector's note once a leader sent a record back
SENT_BACK_MARK = "核查退回 verification:"

_OK = re.compile(r"^\s*(verified|verify\s*[:：]\s*ok|已核查)\s*$", re.IGNORECASE)
_REOPEN = re.compile(r"^\s*(verify\s*[:：]\s*reopen|核查退回\s*[:：])\s*(?P<reason>.*?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    """A leader's verification line: ``reopen`` sends the record back, with ``reason``."""

    reopen: bool
    reason: str = ""


def verdict_in(note: str) -> Verdict | None:
    """The verification a note's lines give (the last such line wins), or ``None``."""
    found = None
    for line in note.splitlines():
        if _OK.match(line):
            found = Verdict(reopen=False)
        elif (match := _REOPEN.match(line)) is not None:
            found = Verdict(reopen=True, reason=match.group("reason"))
    return found
