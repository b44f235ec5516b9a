"""What keeps ``simulate``'s memory bounded on a long stream: the rule book's horizon and the
compact store of old event keys.

Why: ``simulate`` answers an exact repeat with the line that first carried the event, however
old, and the ledger used to keep every ticket for the whole run, so a million alerts held
about a gigabyte. A finished ticket older than every window of the rule book that
reads it (``forget_horizon``) can no longer take part in a decision and is forgotten by the ledger
(``MemoryLedger.forget``); event keys move, a batch at a time, from a dictionary (about
200 bytes an entry) into ``OldEvents``: sorted arrays of a 64-bit digest and the line number,
12 bytes an entry (16 past four billion lines), still answering "exact repeat of line N"
exactly (two event keys sharing a 64-bit digest is about one chance in 10^7 after a million
alerts — documented, not ignored).
"""

from __future__ import annotations

__all__ = ["OldEvents", "SeenEvents", "forget_horizon"]

from array import array
from bisect import bisect_left
from datetime import timedelta
from hashlib import blake2b

from connector.rules.book import RuleBook


def forget_horizon(rules: RuleBook) -> timedelta:
    """The longest window in which a rule reads a finished ticket other than the last finished
    master of its fingerprint (``MemoryLedger.forget`` keeps that one at any age): a ticket
    finished longer ago than this can change no decision and no step.

    Each window is read from the book, never written here: the de-duplication window, flapping's
    window and quiet time, topology's and the storm's windows, the storm guard's note interval
    (a few minutes to an hour in the shipped book). Not among them, and why:

    - recurrence (``dedup.yaml``'s ``recurrence``) reads only the last finished master of a
      fingerprint (``last_done``), which is kept;
    - the sweep's horizon for resolved tickets reads resolved tickets, and with the sweep a
      resolved ticket is kept until it is closed (it waits for its confirmation);
    - problems' same-root-cause window (``itil_links.yaml``) and similar incidents' look-back
      (``knowledge.yaml``) read their own stores (``SimulatedLinks``, ``SimKnowledge``), never
      this ledger: keeping tickets a year for them would only hold memory.
    """
    dedup = rules.dedup
    windows = [dedup.window]
    if dedup.flapping is not None:
        windows.append(dedup.flapping.window + dedup.flapping.quiet)
    if dedup.topology is not None:
        windows += [dedup.topology.window, dedup.topology.storm_window]
    if dedup.storm_note_interval is not None:
        windows.append(dedup.storm_note_interval)
    return max(windows)


def _digest(source: str, event_key: str) -> int:
    raw = blake2b(f"{source}\x00{event_key}".encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big", signed=True)


#: array type codes of the line numbers: 32-bit while they fit, 64-bit past that
_LINES_SMALL, _LINES_LARGE = "I", "q"


def _lines_code(largest: int) -> str:
    return _LINES_SMALL if largest < 1 << (8 * array(_LINES_SMALL).itemsize) else _LINES_LARGE


class OldEvents:
    """Event keys older than the horizon: runs of sorted (digest, line) arrays, merged as they
    pile up (like a log-structured tree), so a lookup is a few bisections and a key costs 12
    bytes (a 64-bit digest, a 32-bit line number; 64-bit past four billion lines)."""

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        self._runs: list[tuple[array[int], array[int]]] = []

    def __len__(self) -> int:
        return sum(len(digests) for digests, _ in self._runs)

    def add(self, items: list[tuple[int, int]]) -> None:
        """Store ``(digest, line)`` pairs; a run is merged with the one before it while that is
        not more than twice as long, so there are about log2(n) runs and a key is merged about
        log2(n) times. The merge walks two arrays (no list of pairs: that would briefly cost
        ten times the arrays)."""
        if not items:
            return
        items.sort()
        code = _lines_code(max(n for _, n in items))
        run = (array("q", (d for d, _ in items)), array(code, (n for _, n in items)))
        while self._runs and len(self._runs[-1][0]) <= 2 * len(run[0]):
            run = _merge(self._runs.pop(), run)
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


def _merge(a: tuple[array[int], array[int]], b: tuple[array[int], array[int]]) -> tuple[array[int], array[int]]:
    (ad, al), (bd, bl) = a, b
    if al.typecode != bl.typecode:  # one run went past 32-bit line numbers: both 64-bit
        al, bl = array(_LINES_LARGE, al), array(_LINES_LARGE, bl)
    digests: array[int] = array("q")
    lines: array[int] = array(al.typecode)
    i = j = 0
    while i < len(ad) and j < len(bd):
        if bd[j] < ad[i]:
            digests.append(bd[j])
            lines.append(bl[j])
            j += 1
        else:
            digests.append(ad[i])
            lines.append(al[i])
            i += 1
    digests.extend(ad[i:])
    lines.extend(al[i:])
    digests.extend(bd[j:])
    lines.extend(bl[j:])
    return digests, lines


class SeenEvents:
    """Every (source, event key) ``simulate`` has received and the line that carried it first:
    the newest ``batch`` in a dictionary, the rest in ``OldEvents`` (exact at any age: no
    window of the rule book limits how late an exact repeat may come)."""

    __slots__ = ("_batch", "_old", "_recent")

    def __init__(self, batch: int = 4096) -> None:
        self._recent: dict[tuple[str, str], int] = {}
        self._old = OldEvents()
        self._batch = batch  # how many keys wait in the dictionary: a cost, not a rule

    def __len__(self) -> int:
        return len(self._recent) + len(self._old)

    @property
    def recent(self) -> int:
        """How many keys are held in full (the rest cost 12 bytes each)."""
        return len(self._recent)

    def first_line(self, source: str, event_key: str) -> int | None:
        seen = self._recent.get((source, event_key))
        if seen is not None:
            return seen
        if not self._old._runs:
            return None
        return self._old.line(_digest(source, event_key))

    def add(self, source: str, event_key: str, lineno: int) -> None:
        self._recent[(source, event_key)] = lineno
        if len(self._recent) >= self._batch:
            self._old.add([(_digest(*key), line) for key, line in self._recent.items()])
            self._recent.clear()
