"""What the connector hands problem management and reads back from change management
(PROCESS §12, seed §3.1.3.11; issue 13): a problem record, and a change linked to an incident.

Plain values, so a backend plugin builds and reads them without knowing the process: the
connector decides *when* a problem is due and *which* one an incident joins
(``connector.process.problems``); the backend only writes it (``ProblemTracker`` in
``connector.contracts.capabilities``) and says which changes people linked (``ChangeTracker``).
"""

from __future__ import annotations

__all__ = ["ChangeLink", "LinkLedger", "MemoryLinks", "ProblemRecord", "problem_key"]

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

#: the connector key of a problem is its first incident's key behind this prefix
PROBLEM_KEY_PREFIX = "problem:"


def problem_key(incident_key: str) -> str:
    """The connector key of the problem an incident opens: stable, so a retry of the create
    (after a restart, a lost answer) finds the problem instead of opening a second."""
    return f"{PROBLEM_KEY_PREFIX}{incident_key}"


@dataclass(frozen=True)
class ProblemRecord:
    """A problem record to open: what problem management needs of its first incident.

    ``description`` is plain text (the backend quotes it for its markup: it holds the alert's
    words); ``ci``/``service``/``category`` are also given apart for helpdesks with fields.
    """

    key: str
    title: str
    description: str
    ci: str | None = None
    service: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class ChangeLink:
    """A change request people linked to an incident in the helpdesk: the incident's and the
    change's helpdesk ids, the change's title, and whether the change is closed."""

    ticket_id: str
    change_id: str
    title: str = ""
    closed: bool = False


class LinkLedger(Protocol):
    """What the connector remembers of problems and changes: which problem each incident joined
    (once), the problems it opened by root cause, and the changes linked to incidents. The state
    file's ``Store`` (``connector.state.links``) and ``MemoryLinks`` (``simulate``) hold it."""

    def problem_of(self, incident_key: str) -> str | None:
        """The key of the problem the incident is linked to, if any."""
        ...

    def problem_for_root(self, root: str, since: datetime) -> str | None:
        """The newest problem of root cause ``root`` opened at or after ``since``."""
        ...

    def problem_add(self, key: str, root: str | None, opened_at: datetime) -> None:
        """Remember a problem the connector opens."""
        ...

    def problem_link(self, incident_key: str, problem_key: str, at: datetime) -> bool:
        """Link the incident to the problem; ``False`` when it was linked to one already."""
        ...

    def change_link_add(self, incident_key: str, change_id: str, at: datetime) -> bool:
        """Remember a change linked to the incident; ``False`` when it was known."""
        ...

    def open_change_links(self) -> list[tuple[str, str]]:
        """``(incident key, change id)`` of every linked change not closed yet, oldest first."""
        ...

    def change_link_close(self, incident_key: str, change_id: str, at: datetime) -> None:
        """Remember that the change closed."""
        ...


@dataclass
class MemoryLinks:
    """``LinkLedger`` in dictionaries, for ``simulate``."""

    problems: dict[str, tuple[str | None, datetime]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    changes: dict[tuple[str, str], datetime | None] = field(default_factory=dict)

    def problem_of(self, incident_key: str) -> str | None:
        """See ``LinkLedger``."""
        return self.links.get(incident_key)

    def problem_for_root(self, root: str, since: datetime) -> str | None:
        """See ``LinkLedger``."""
        found = [(at, key) for key, (r, at) in self.problems.items() if r == root and at >= since]
        return max(found)[1] if found else None

    def problem_add(self, key: str, root: str | None, opened_at: datetime) -> None:
        """See ``LinkLedger``."""
        self.problems.setdefault(key, (root, opened_at))

    def problem_link(self, incident_key: str, problem_key: str, at: datetime) -> bool:
        """See ``LinkLedger``."""
        if incident_key in self.links:
            return False
        self.links[incident_key] = problem_key
        return True

    def change_link_add(self, incident_key: str, change_id: str, at: datetime) -> bool:
        """See ``LinkLedger``."""
        if (incident_key, change_id) in self.changes:
            return False
        self.changes[(incident_key, change_id)] = None
        return True

    def open_change_links(self) -> list[tuple[str, str]]:
        """See ``LinkLedger``."""
        return [pair for pair, closed in self.changes.items() if closed is None]

    def change_link_close(self, incident_key: str, change_id: str, at: datetime) -> None:
        """See ``LinkLedger``."""
        if (incident_key, change_id) in self.changes:
            self.changes[(incident_key, change_id)] = at
