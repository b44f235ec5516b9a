"""No seed rule is a Python constant: the SLA and escalation minutes of ``rules/defaults/*.yaml``
and the reassignment limit live in the YAML only, so a site's rules directory changes them
everywhere (issue 14: the limit of 2 and GLPI's time-to-own used to be written in Python too).

The numbers are read from the shipped rule book, then ``connector/`` (except
``connector/rules/defaults/``) is searched for them *used as rules* — not for every digit:

* ``timedelta(minutes=N)`` / ``timedelta(hours=H)``, and a minutes helper such as
  ``_minutes(N`` — N a minute of sla.yaml (breach or warning), escalation.yaml or the timed
  notices of notifications.yaml, H a restore deadline of sla.yaml in hours;
* the reassignment limit L of lifecycle.yaml: a comparison with L on a line that speaks of
  reassignments (``reassignments > 2``, ``2 < reassign_count``), a default or assignment of L
  to a name that does (``max_reassignments: int = 2``), or to a ``max_…``/``…_limit`` name.

``ALLOWED`` lists the few lines that match and are not rules, each with its reason; a new match
anywhere else fails with its file and line.
"""

from __future__ import annotations

import re
from pathlib import Path

from connector.rules.loading import default_rulebook

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "connector"
DEFAULTS = PACKAGE / "rules" / "defaults"

#: (file, the line stripped) → why it is not a rule
ALLOWED = {
    ("connector/integrations/glpi/lookup.py", "MISS_TTL = timedelta(minutes=10)"): (
        "how long a dropdown name GLPI lacks is remembered: a cache, not a process rule"
    ),
    ("connector/notify/render.py", "estimated_restore=at + timedelta(hours=8),"): (
        "a sample notice the templates are checked against at start-up, never sent"
    ),
}


def seed_numbers() -> tuple[set[int], set[int], int]:
    """The SLA/escalation minutes, the restore hours and the reassignment limit of the shipped book."""
    book = default_rulebook()
    minutes: set[int] = set()
    for stages in book.sla.targets.values():
        for target in stages.values():
            for delta in (target.breach, target.warning):
                if delta is not None:
                    minutes.add(int(delta.total_seconds() // 60))
    for row in book.escalation.minutes.values():
        minutes.update(m for m in row if m is not None)
    for row in book.notices.timed.minutes.values():
        minutes.update(m for m in row if m is not None)
    hours = {int(delta.total_seconds() // 3600) for delta in book.sla.restore.values()}
    return minutes, hours, book.lifecycle.reassignment.limit


def patterns(minutes: set[int], hours: set[int], limit: int) -> list[tuple[str, re.Pattern[str]]]:
    """What a seed number used as a rule looks like in Python (see the module docstring)."""
    m = "|".join(str(n) for n in sorted(minutes))
    h = "|".join(str(n) for n in sorted(hours))
    cmp = r"(?:<=?|>=?|==|!=)"
    return [
        ("an SLA/escalation minute", re.compile(rf"timedelta\([^)]*\bminutes\s*=\s*(?:{m})(?:\.0*)?\s*[,)]")),
        ("an SLA restore deadline", re.compile(rf"timedelta\([^)]*\bhours\s*=\s*(?:{h})(?:\.0*)?\s*[,)]")),
        ("a minutes table", re.compile(rf"\b_?minutes\(\s*(?:{m})(?:\.0*)?\s*[,)]")),
        (
            "the reassignment limit",
            re.compile(rf"(?=.*reassign).*(?:{cmp}\s*{limit}\b(?!\.\d)|(?<![\w.]){limit}\s*{cmp})", re.IGNORECASE),
        ),
        ("the reassignment limit", re.compile(rf"\w*reassign\w*\s*(?::\s*[\w\[\]| ]+)?=\s*{limit}\b(?!\.\d)")),
        ("the reassignment limit", re.compile(rf"\b(?:max_\w+|\w+_limit)\s*(?::\s*[\w\[\]| ]+)?=\s*{limit}\b(?!\.\d)")),
    ]


def offences(source: str, rules: list[tuple[str, re.Pattern[str]]]) -> list[tuple[int, str, str]]:
    """``(line, what, text)`` of each line of ``source`` that uses a seed number as a rule."""
    found = []
    for number, line in enumerate(source.splitlines(), start=1):
        code = line.split("#", 1)[0]
        for what, pattern in rules:
            if pattern.search(code):
                found.append((number, what, line.strip()))
                break
    return found


def test_the_patterns_catch_seed_constants_and_nothing_else() -> None:
    """The search is only as good as its patterns: they find the ways a rule was (or could be)
    written in Python, and leave mechanics and unrelated numbers alone."""
    rules = patterns(*seed_numbers())
    caught = [
        "window = timedelta(minutes=30)",
        "due = registered_at + timedelta(minutes=15.0)",
        "Stage.RESPONSE: _minutes(10, 5),",
        "Urgency.URGENT: timedelta(hours=24),",
        "if count > 2 and reassignments:",
        "if state.reassignments >= 2:",
        "def apply_event(state, event, roster, *, max_reassignments: int = 2) -> Outcome:",
        "reassignment_limit = 2",
        "if 2 < reassign_count:",
    ]
    left = [
        "lateness: timedelta = timedelta(minutes=2)",
        "OVERLAP = timedelta(minutes=1)",
        "timedelta(minutes=300)",
        "count = state.reassignments + 1",
        "if len(parts) >= 2:",
        "escalation = f'more than {limit}'",
        "x = 2  # reassignments are counted elsewhere",
        "limit: int = Field(ge=0)",
    ]
    assert [text for text in caught if not offences(text, rules)] == []
    assert [text for text in left if offences(text, rules)] == []


def test_no_seed_rule_is_a_python_constant() -> None:
    rules = patterns(*seed_numbers())
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if DEFAULTS in path.parents:
            continue
        name = path.relative_to(ROOT).as_posix()
        for line, what, text in offences(path.read_text(encoding="utf-8"), rules):
            if (name, text) not in ALLOWED:
                found.append(f"{name}:{line}: {what} written in Python: {text}")
    assert found == [], "seed rules belong in rules/defaults/*.yaml:\n" + "\n".join(found)


def test_every_allowed_line_still_exists() -> None:
    """An exception that no longer matches anything is removed, so the list stays honest."""
    for (name, text), _why in ALLOWED.items():
        lines = [line.strip() for line in (ROOT / name).read_text(encoding="utf-8").splitlines()]
        assert text in lines, f"{name} no longer has {text!r}: drop it from ALLOWED"
