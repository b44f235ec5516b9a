"""Pure: how the connector's values are spelled in Redmine requests, and read back.

Redmine is lenient in ways that lose data quietly (an over-long subject is a 422, a leading
``~`` in a filter value is an operator, ``|`` splits a value, a path in a file name is kept), so
each value that crosses is shaped here, in one place the contract tests pin down.
"""

from __future__ import annotations

__all__ = [
    "PAGE_SIZE",
    "RELATION_TYPES",
    "SUBJECT_MAX",
    "canonical",
    "iso",
    "issue_id",
    "key_filter",
    "safe_filename",
    "same_relation",
    "subject",
]

import re
from collections.abc import Callable
from datetime import datetime

from connector.contracts.adapters import Relation
from connector.domain.clock import ensure_utc
from connector.domain.errors import BackendRejected
from connector.integrations.redmine.schema import IssueRelation

PAGE_SIZE = 100  # Redmine's maximum page size
SUBJECT_MAX = 255  # issues.subject is a varchar(255); longer gives 422
RELATION_TYPES = {Relation.DUPLICATES: "duplicates", Relation.RELATES: "relates"}
_REVERSE_TYPES = {
    "duplicated": "duplicates",
    "blocked": "blocks",
    "follows": "precedes",
    "copied_from": "copied_to",
}


def issue_id(ticket_id: str, *, backend: str, operation: str) -> int:
    """The Redmine issue id ``ticket_id`` names; ``BackendRejected`` (no request made) when it names none."""
    if not re.fullmatch(r"[1-9][0-9]*", str(ticket_id)):
        raise BackendRejected(f"not a Redmine issue id: {ticket_id!r}", backend=backend, operation=operation)
    return int(ticket_id)


def key_filter(key: str, *, backend: str, operation: str) -> tuple[str, Callable[[str], bool]]:
    """The ``cf_N`` filter value for ``key``, and a test that every issue it returns must pass
    (case-insensitively: the database may compare that way)."""
    if "|" not in key:
        folded = key.casefold()
        return "=" + key, lambda value: value.casefold() == folded
    part = max(key.split("|"), key=len)
    tokens = part.casefold().split()
    if not tokens:
        raise BackendRejected(f"cannot search Redmine for the key {key!r}", backend=backend, operation=operation)
    return "~" + part, lambda value: all(token in value.casefold() for token in tokens)


def subject(title: str) -> str:
    """The title as an issue subject: one line, at most ``SUBJECT_MAX`` characters."""
    text = " ".join(title.split())
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 1] + "…"


def canonical(issue_id: int, issue_to_id: int, relation_type: str) -> tuple[int, int, str]:
    """A relation as Redmine stores it: reverse types flipped, ``relates`` ordered by id."""
    if relation_type in _REVERSE_TYPES:
        return issue_to_id, issue_id, _REVERSE_TYPES[relation_type]
    if relation_type == "relates":
        return min(issue_id, issue_to_id), max(issue_id, issue_to_id), relation_type
    return issue_id, issue_to_id, relation_type


def same_relation(stored: IssueRelation, issue_id: int, other: int, relation_type: str) -> bool:
    """Whether ``stored`` is the relation ``issue_id`` → ``other`` of ``relation_type``, however
    Redmine turned it round."""
    return canonical(stored.issue_id, stored.issue_to_id, stored.relation_type) == canonical(
        issue_id, other, relation_type
    )


def safe_filename(filename: str) -> str:
    """A file name Redmine stores as given: no path, no control characters, at most 255 chars."""
    base = re.split(r"[/\\]", filename)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip() or "attachment"
    return base[-255:]


def iso(value: datetime) -> str:
    """A time as Redmine's filters take it: UTC, whole seconds."""
    return ensure_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
