"""What the Redmine and GLPI ``setup`` checks share: a missing piece with its remedy, the
terminal width of CJK text, and the closing part of every report (problems, notes, verdict).

Both reports read the same way to an admin, whichever helpdesk they run, because this one
module writes the part that says what to fix.
"""

from __future__ import annotations

__all__ = ["Problem", "display_width", "problem_lines"]

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """Something the connector needs that the helpdesk lacks, and how an admin adds it.

    ``required`` problems stop the connector writing tickets; the others only warn.
    """

    what: str
    how: str
    required: bool


def display_width(text: str) -> int:
    """Terminal columns of ``text``: CJK (wide and full-width) characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def problem_lines(problems: Sequence[Problem], notes: Sequence[str]) -> list[str]:
    """The report's tail: required then optional problems with their fixes, the notes, and
    the verdict (OK unless a required problem is listed)."""
    lines: list[str] = []
    for title, required in (("Missing (required):", True), ("Missing or wrong (optional):", False)):
        listed = [p for p in problems if p.required is required]
        if listed:
            lines += ["", title]
            for problem in listed:
                lines += [f"  - {problem.what}", f"      fix: {problem.how}"]
    if notes:
        lines.append("")
        lines.extend(f"Note: {note}" for note in notes)
    ok = not any(problem.required for problem in problems)
    lines += [
        "",
        "OK: the connector can write tickets" if ok else "NOT OK: fix the required items above, then run this again",
    ]
    return lines
