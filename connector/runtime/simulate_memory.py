"""What keeps ``simulate``'s memory bounded on a long stream: the rule book's horizon and the
compact store of old event keys.

Why: ``simulate`` answers an exact repeat with the line that first carried the event, however
old, and the ledger used to keep every ticket for the whole run, so a million alerts held
about a gigabyte. A finished ticket older than every window of the rule book
(``forget_horizon``) can no longer take part in a decision and is forgotten by the ledger
(``MemoryLedger.forget``); an event key older than that horizon moves from a dictionary (about
200 bytes an entry) into ``OldEvents``: sorted arrays of a 64-bit digest and the line number,
16 bytes an entry, still answering "exact repeat of line N" exactly (two event keys sharing a
64-bit digest is about one chance in 10^7 after a million alerts — documented, not ignored).
"""

from __future__ import annotations

__all__ = ["OldEvents", "SeenEvents", "forget_horizon"]

from array import array
from bisect import bisect_left
from datetime import datetime, timedelta
from hashlib import blake2b

from connector.process.escalation import SweepRules
from connector.rules.book import RuleBook


def forget_horizon(rules: RuleBook, sweep: SweepRules | None) -> timedelta:
    """The longest window in which a rule reads a *finished* ticket from the ledger: a master
    ticket finished longer ago than this can change no decision and no step.

    Each window is read from the book, never written here: the de-duplication window, the
    recurrence window (``dedup.yaml``), flapping's window and quiet time, topology's and the
    storm's windows, the storm guard's note interval and, with the sweep, its horizon for
    resolved tickets. Problems' same-root-cause window (``itil_links.yaml``) and similar
    incidents' look-back (``knowledge.yaml``) are not among them: those rules read their own
    stores (``SimulatedLinks``, ``SimKnowledge``), never this ledger, so keeping a ticket a year
    for them would only hold memory. The confirmation wait is not a window either: a ticket
    waiting for it is resolved, not closed, and ``MemoryLedger.forget`` keeps it."""
    dedup = rules.dedup
    windows = [dedup.window, dedup.recurrence_window]
    if dedup.flapping is not None:
        windows.append(dedup.flapping.window + dedup.flapping.quiet)
    if dedup.topology is not None:
        windows += [dedup.topology.window, dedup.topology.storm_window]
    if dedup.storm_note_interval is not None:
        windows.append(dedup.storm_note_interval)
    if sweep is not None:
        windows.append(sweep.resolved_horizon)
    return max(windows)


def _digest(source: str, event_key: str) -> int:
    raw = blake2b(f"{source}\x00{event_key}".encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big", signed=True)


class OldEvents:
    """Event keys older than the horizon: runs of sorted (digest, line) arrays, merged as they
    pile up (like a log-structured tree), so a lookup is a few bisections and a key costs 16
    bytes."""

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        self._runs: list[tuple[array[int], array[int]]] = []

    def __len__(self) -> int:
        return sum(len(digests) for digests, _ in self._runs)

    def add(self, items: list[tuple[int, int]]) -> None:
        """Store ``(digest, line)`` pairs; a run is merged with the one before it while that is
        not more than twice as long, so there are about log2(n) runs."""
        if not items:
            return
        items.sort()
        run = (array("q", (d for d, _ in items)), array("q", (n for _, n in items)))
        while self._runs and len(self._runs[-1][0]) <= 2 * len(run[0]):
            last = self._runs.pop()
            merged = sorted(zip(last[0], last[1], strict=True))
            merged += zip(run[0], run[1], strict=True)
            merged.sort()
            run = (array("q", (d for d, _ in merged)), array("q", (n for _, n in merged)))
        self._runs.append(run)

    def line(self, digest: int) -> int | None:
        """The first line with this digest, or ``None``."""
        found: int | None = None
        for digests, lines in self._runs:
            at = bisect_left(digests, digest)
            if at < len(digests) and digests[at] == digest:
                candidate = lines[at]
                found = candidate if found is None else min(found, candidate)
        return found


class SeenEvents:
    """Every (source, event key) ``simulate`` has received and the line that carried it first:
    recent ones in a dictionary, older ones in ``OldEvents``."""

    __slots__ = ("_old", "_recent")

    def __init__(self) -> None:
        self._recent: dict[tuple[str, str], tuple[int, datetime]] = {}
        self._old = OldEvents()

    def __len__(self) -> int:
        return len(self._recent) + len(self._old)

    @property
    def recent(self) -> int:
        """How many keys are held in full (the rest cost 16 bytes each)."""
        return len(self._recent)

    def first_line(self, source: str, event_key: str) -> int | None:
        seen = self._recent.get((source, event_key))
        if seen is not None:
            return seen[0]
        if not self._old._runs:
            return None
        return self._old.line(_digest(source, event_key))

    def add(self, source: str, event_key: str, lineno: int, at: datetime) -> None:
        self._recent[(source, event_key)] = (lineno, at)

    def age(self, cutoff: datetime) -> int:
        """Move the keys received before ``cutoff`` to the compact store; how many moved."""
        old = [key for key, (_, at) in self._recent.items() if at < cutoff]
        self._old.add([(_digest(*key), self._recent.pop(key)[0]) for key in old])
        return len(old)
