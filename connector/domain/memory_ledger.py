"""``MemoryLedger``: the connector's memory of its tickets in dictionaries, for ``simulate`` and
the benchmark (the daemon's is the SQLite ``Store``; a test replays one stream through both and
compares what they answer).

Why this module is long: it answers every question of ``TicketIndex`` and ``TicketLedger`` the
way the store's SQL does, and its housekeeping (``prune`` for the benchmark, ``forget`` for
``simulate``'s bounded memory) must know every index those answers keep — an index kept in one
module and forgotten in another would leave a dangling key. Splitting it would scatter one
set of dictionaries over modules that must change together. How a ticket is held compactly
(shared strings, ``_Content``) is here too: ``ticket_add`` is the one place it is decided.
"""

from __future__ import annotations

__all__ = ["MemoryLedger"]

import sys
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from connector.domain.models import Alert, Impact, Priority, TicketStatus, Urgency
from connector.domain.ticket_state import LIFE_FIELDS, DoneAfter, TicketState

#: both senses of a finished ticket (``TicketState.done_at``)
_FINISHED: tuple[DoneAfter, ...] = ("resolved", "closed")
#: a duplicate's content: nothing copies from a duplicate, and one read-only empty mapping
#: serves them all (a dictionary each was 64 bytes per open duplicate)
_NO_CONTENT: Mapping[str, Any] = MappingProxyType({})
#: the fields of a ticket whose values repeat from ticket to ticket (a host's CI, a trigger's
#: fingerprint, a group): one string each, shared, instead of a copy per ticket
_SHARED_FIELDS = ("fingerprint", "source", "ci", "storm_key", "assignment_group")
#: the content fields whose values repeat (not the title and description, new text per problem)
_SHARED_CONTENT = frozenset({"category", "area", "subarea", "nature", "service", "ci", "assignment_group", "location"})


def _shared(value: Any) -> Any:
    """``value``, interned when it is a string (the same text becomes the same object)."""
    return sys.intern(value) if type(value) is str else value


class _Content(Mapping[str, Any]):
    """A master's content held as two tuples, its names and its values, read like the mapping
    it was made from (in the same order).

    Why: a content dictionary took about 270 bytes per master (its table sized for growth); the
    names come in a few orders only (``CONTENT_FIELDS`` less the empty ones), shared between
    tickets, so a master pays for its values' tuple and this object. Read-only: nothing writes
    into a ticket's content (``dict(content)`` makes a copy to change)."""

    __slots__ = ("_names", "_values")

    #: every order of names seen, shared (a handful)
    _layouts: dict[tuple[str, ...], tuple[str, ...]] = {}  # noqa: RUF012 - a cache, not a field

    def __init__(self, content: Mapping[str, Any]) -> None:
        names = tuple(content)
        self._names = self._layouts.setdefault(names, names)
        title = content.get("title")
        values = []
        for name, value in content.items():
            if name in _SHARED_CONTENT:
                value = _shared(value)
            elif name == "description" and value == title:
                value = title  # a monitoring ticket's description is often its title: held once
            values.append(value)
        self._values = tuple(values)

    def __getitem__(self, name: str) -> Any:
        try:
            return self._values[self._names.index(name)]
        except ValueError:
            raise KeyError(name) from None

    def get(self, name: str, default: Any = None) -> Any:
        names = self._names
        return self._values[names.index(name)] if name in names else default

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return repr(dict(zip(self._names, self._values, strict=True)))


class _KeysByStart:
    """Ticket keys in creation order with their problems' start times, for the topology's indexes.

    Why: a topology lookup wants the open incidents that started in the last few seconds, and a
    scan of every key ever added under one CI or storm key made a long stream's cost grow with
    its length (a storm key — one symptom — collects thousands of tickets a day). While the start
    times came in order too (alerts arrive in time order, the usual case) the keys that can
    qualify are the suffix found by bisection; once one came out of order the whole list is
    given, as before. Either way the caller filters the same keys in the same order."""

    __slots__ = ("keys", "ordered", "starts")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.starts: list[datetime] = []
        self.ordered = True

    def add(self, key: str, start: datetime) -> None:
        if self.starts and start < self.starts[-1]:
            self.ordered = False
        self.keys.append(key)
        self.starts.append(start)

    def since(self, since: datetime) -> list[str]:
        """Every key whose start may be at or after ``since`` (a superset, in creation order)."""
        if not self.ordered:
            return self.keys
        return self.keys[bisect_left(self.starts, since) :]


def _index_add(index: dict[str, _KeysByStart], names: Iterable[str], key: str, start: datetime) -> None:
    for name in names:
        found = index.get(name)
        if found is None:
            found = index[name] = _KeysByStart()
        found.add(key, start)


class MemoryLedger:
    """The ledger in dictionaries: ``simulate``'s state and the benchmark's.

    Answers exactly what the SQLite store answers (a test compares them): the newest open
    master is the most recently created one, the last finished ticket the one finished
    latest. A duplicate keeps no content (nothing copies from a duplicate). ``prune`` forgets
    finished tickets older than a horizon, so a long stream holds a bounded state.

    The ledger owns its ``TicketState`` records and updates them in place (a copy per change
    would be most of its cost): a state it returns is current until the next write.
    """

    def __init__(self) -> None:
        self._tickets: dict[str, TicketState] = {}
        self._aliases: dict[str, str] = {}
        # appended repeats holding a problem of their own, per master: key → (problem, recovered at)
        self._alias_problems: dict[str, dict[str, tuple[str, datetime | None]]] = {}
        self._masters_by_fp: dict[str, list[str]] = {}  # non-duplicates, in creation order
        self._duplicates: dict[str, list[str]] = {}
        self._by_ticket_id: dict[str, str] = {}
        self._steps: dict[str, dict[str, tuple[datetime, datetime, bool]]] = {}
        self._changes: dict[str, list[datetime]] = {}  # per fingerprint, in arrival order
        self._flapping: dict[str, None] = {}  # keys of tickets marked flapping, in order
        # problems held during maintenance: key → (alert, until, recovered) while held
        self._holds: dict[str, tuple[Alert, datetime | None, bool]] = {}
        # the topology's indexes (keys in creation order): per CI, per upstream, per storm key
        self._by_ci: dict[str, _KeysByStart] = {}
        self._by_upstream: dict[str, _KeysByStart] = {}
        self._by_storm: dict[str, _KeysByStart] = {}

    def __len__(self) -> int:
        return len(self._tickets)

    # --- TicketIndex ---------------------------------------------------------------------------

    def get(self, key: str) -> TicketState | None:
        return self._tickets.get(key)

    def alias_of(self, key: str) -> str | None:
        return self._aliases.get(key)

    def open_master(self, fingerprint: str) -> TicketState | None:
        for key in reversed(self._masters_by_fp.get(fingerprint, ())):
            state = self._tickets[key]
            if not state.status.is_done:
                return state
        return None

    def last_done(self, fingerprint: str, after: DoneAfter) -> TicketState | None:
        best: TicketState | None = None
        best_at: datetime | None = None
        for key in self._masters_by_fp.get(fingerprint, ()):
            state = self._tickets[key]
            at = state.done_at(after)
            if at is not None and (best_at is None or at >= best_at):
                best, best_at = state, at
        return best

    def key_for_ticket_id(self, ticket_id: str) -> str | None:
        return self._by_ticket_id.get(ticket_id)

    def held_problems(self, master: TicketState) -> list[str]:
        if master.problem is None:
            return []
        held = [
            k
            for k in self._duplicates.get(master.key, ())
            if not (s := self._tickets[k]).status.is_done
            and s.problem is not None
            and s.problem != master.problem
            and s.problem_recovered_at is None
        ]
        held += [
            k
            for k, (problem, recovered) in self._alias_problems.get(master.key, {}).items()
            if problem != master.problem and recovered is None
        ]
        return held

    def open_repeats(self, key: str) -> int:
        return sum(1 for _, recovered in self._alias_problems.get(key, {}).values() if recovered is None)

    def state_changes(self, fingerprint: str, since: datetime) -> int:
        return sum(1 for at in self._changes.get(fingerprint, ()) if at > since)

    def last_change(self, fingerprint: str) -> datetime | None:
        changes = self._changes.get(fingerprint)
        return max(changes) if changes else None

    def flapping_ticket(self, fingerprint: str) -> TicketState | None:
        for key in reversed(self._masters_by_fp.get(fingerprint, ())):
            state = self._tickets[key]
            if state.flapping_since is not None and not state.status.is_done:
                return state
        return None

    def is_held(self, key: str) -> bool:
        return key in self._holds

    def _incidents(self, keys: _KeysByStart | None, since: datetime, members: bool = False) -> list[TicketState]:
        if keys is None:
            return []
        states = (self._tickets.get(k) for k in keys.since(since))
        return [
            s
            for s in states
            if s is not None and (members or s.master_key is None) and not s.status.is_done and s.started_at >= since
        ]

    def open_incidents(self, cis: Sequence[str], since: datetime) -> dict[str, TicketState]:
        found = {}
        for ci in cis:
            incidents = self._incidents(self._by_ci.get(ci), since)
            if incidents:
                found[ci] = incidents[-1]
        return found

    def dependents(self, upstream: str, since: datetime) -> list[TicketState]:
        return self._incidents(self._by_upstream.get(upstream), since)

    def storm_incidents(self, storm_key: str, since: datetime) -> list[TicketState]:
        return self._incidents(self._by_storm.get(storm_key), since, members=True)

    # --- TicketLedger --------------------------------------------------------------------------

    def ticket_add(self, state: TicketState, backend: str) -> None:
        if state.key in self._tickets:
            return
        # the ledger's own record from here on (see the class): its repeated strings shared
        for name in _SHARED_FIELDS:
            object.__setattr__(state, name, _shared(getattr(state, name)))
        start = state.started_at
        if state.ci is not None:
            _index_add(self._by_ci, (state.ci,), state.key, start)
        if state.storm_key is not None:
            _index_add(self._by_storm, (state.storm_key,), state.key, start)
        _index_add(self._by_upstream, state.upstreams, state.key, start)
        object.__setattr__(state, "upstreams", ())  # indexed; a state read back has none (as the store's)
        if state.master_key is not None:
            self._duplicates.setdefault(state.master_key, []).append(state.key)
            object.__setattr__(state, "content", _NO_CONTENT)  # nothing copies from a duplicate
        else:
            object.__setattr__(state, "content", _Content(state.content))
            if state.fingerprint is not None:
                self._masters_by_fp.setdefault(state.fingerprint, []).append(state.key)
        self._tickets[state.key] = state

    def _update(self, key: str, **changes: Any) -> None:
        state = self._tickets.get(key)
        if state is not None:
            for name, value in changes.items():
                object.__setattr__(state, name, value)  # the ledger's own record (see the class)

    def ticket_set_status(self, key: str, status: TicketStatus, at: datetime) -> None:
        if status is TicketStatus.RESOLVED:
            self._update(key, status=status, resolved_at=at)
        elif status is TicketStatus.CLOSED:
            self._update(key, status=status, closed_at=at)
        else:  # open again: not finished
            self._update(key, status=status, resolved_at=None, closed_at=None)

    def ticket_bump_repeats(self, key: str) -> None:
        state = self._tickets.get(key)
        if state is not None:
            self._update(key, repeats=state.repeats + 1)

    def ticket_set_priority(self, key: str, impact: Impact, urgency: Urgency, priority: Priority) -> None:
        self._update(key, impact=impact, urgency=urgency, priority=priority)

    def alias_add(self, key: str, ticket_key: str, at: datetime, problem: str | None = None) -> None:
        if key in self._aliases:
            return
        self._aliases[key] = ticket_key
        if problem is not None:
            self._alias_problems.setdefault(ticket_key, {})[key] = (problem, None)

    def problem_recovered(self, key: str, at: datetime) -> None:
        hold = self._holds.get(key)
        if hold is not None:
            self._holds[key] = (hold[0], hold[1], True)
        state = self._tickets.get(key)
        if state is not None and state.problem_recovered_at is None:
            self._update(key, problem_recovered_at=at)
        master = self._aliases.get(key)
        held = self._alias_problems.get(master, {}) if master is not None else {}
        if key in held and held[key][1] is None:
            # a recovered repeat is never asked for again (held_problems and open_repeats want
            # the active ones): dropped, so a master open for weeks does not collect them
            del held[key]
            if not held and master is not None:
                del self._alias_problems[master]

    def open_duplicates(self, master_key: str) -> list[str]:
        return [k for k in self._duplicates.get(master_key, ()) if not self._tickets[k].status.is_done]

    def ticket_set_life(self, key: str, **changes: Any) -> None:
        unknown = set(changes) - LIFE_FIELDS
        if unknown:
            raise ValueError(f"not ticket-life fields: {sorted(unknown)}")
        self._update(key, **changes)
        if "ticket_id" in changes and changes["ticket_id"] is not None:
            self._by_ticket_id[str(changes["ticket_id"])] = key

    def change_add(self, fingerprint: str, at: datetime) -> None:
        self._changes.setdefault(fingerprint, []).append(at)

    def ticket_set_flapping(self, key: str, since: datetime | None) -> None:
        self._update(key, flapping_since=since)
        if since is None:
            self._flapping.pop(key, None)
        elif key in self._tickets:
            self._flapping[key] = None

    def flapping_tickets(self) -> list[TicketState]:
        states = (self._tickets.get(key) for key in self._flapping)
        return [s for s in states if s is not None and s.flapping_since is not None and not s.status.is_done]

    def flapping_quiet_since(self, cutoff: datetime) -> list[TicketState]:
        found = []
        for state in self.flapping_tickets():
            if state.problem_recovered_at is None or state.fingerprint is None or self.open_repeats(state.key):
                continue
            last = self.last_change(state.fingerprint)
            if last is not None and last <= cutoff:
                found.append(state)
        return found

    def ticket_set_master(self, key: str, master_key: str) -> None:
        state = self._tickets.get(key)
        if state is None or state.master_key == master_key:
            return
        self._update(key, master_key=master_key)
        self._duplicates.setdefault(master_key, []).append(key)
        if state.fingerprint is not None and key in self._masters_by_fp.get(state.fingerprint, ()):
            self._masters_by_fp[state.fingerprint].remove(key)  # no longer a master (as the store's query)

    def hold_add(self, alert: Alert, until: datetime | None, at: datetime) -> None:
        self._holds.setdefault(alert.key, (alert, until, False))

    def holds_due(self, at: datetime) -> list[Alert]:
        due = [(until, a) for a, until, recovered in self._holds.values() if not recovered and until and until <= at]
        return [a for _, a in sorted(due, key=lambda pair: pair[0])]

    def hold_release(self, key: str) -> None:
        self._holds.pop(key, None)

    def active_tickets(self) -> list[TicketState]:
        return [s for s in self._tickets.values() if s.status is not TicketStatus.CLOSED]

    def sweep_tickets(self, resolved_since: datetime) -> list[TicketState]:
        return [
            s
            for s in self._tickets.values()
            if s.status is not TicketStatus.CLOSED
            and s.master_key is None
            and (s.resolved_at is None or s.resolved_at >= resolved_since)
        ]

    def fired_steps(self, key: str) -> set[str]:
        return set(self._steps.get(key, ()))

    def record_step(self, key: str, step: str, due_at: datetime, fired_at: datetime, late: bool) -> bool:
        fired = self._steps.setdefault(key, {})
        if step in fired:
            return False
        fired[step] = (due_at, fired_at, late)
        return True

    # --- housekeeping --------------------------------------------------------------------------

    def set_ticket_id(self, key: str, ticket_id: str) -> None:
        """Record the helpdesk id of a ticket (``simulate`` numbers its tickets itself)."""
        if key in self._tickets:
            self.ticket_set_life(key, ticket_id=ticket_id)

    def prune(self, now: datetime, horizon: timedelta) -> int:
        """Forget tickets finished more than ``horizon`` before ``now`` (and what points at them).

        Correlation cannot use them any more (a recurrence needs a ticket finished within its
        window), so with ``horizon`` at least the recurrence window nothing it decides changes,
        except that a recovery arriving later than ``horizon`` finds no ticket.
        """
        cutoff = now - horizon
        gone = {k for k, s in self._tickets.items() if (d := s.done_at()) is not None and d < cutoff}
        self._drop(gone, cutoff, keep_last_change=False)
        return len(gone)

    def forget(self, now: datetime, horizon: timedelta, *, keep_resolved: bool) -> int:
        """Forget the finished tickets no line can name any more; how many were forgotten.

        ``simulate`` calls this with ``horizon`` the longest window of a rule that reads other
        finished tickets than the last finished master of a fingerprint
        (``connector.runtime.simulate_memory.forget_horizon``); unlike ``prune`` it changes no
        answer for a ticket something can still name. A ticket is forgotten when it finished
        more than ``horizon`` before ``now`` and: it is closed (or resolved, unless
        ``keep_resolved`` — a resolved ticket still waits for its confirmation); its own problem
        and the problem of every repeat appended to it recovered (so no recovery will look it
        up); it is neither held nor flapping; every duplicate of it is forgotten too (a
        duplicate's line names its master); and it is not the last finished master of its
        fingerprint in either sense of finished (correlation names that one at any age). What
        points at it goes with it; each fingerprint keeps its newest state change and the
        changes an open flapping ticket still counts.

        A limit kept on purpose: a mail reply or control line naming a ticket forgotten this
        way finds no ticket (the daemon's store still holds it)."""
        recent = now - horizon
        # the last finished master of each fingerprint (in either sense) stays, however old:
        # recurrence reads it, and correlation names it ("… is resolved but not closed", "…
        # closed N days ago") when an alert does not recur; one or two per fingerprint
        last = {found.key for fp in self._masters_by_fp for after in _FINISHED if (found := self.last_done(fp, after))}
        candidates = {
            key
            for key, state in self._tickets.items()
            if key not in last and self._forgettable(state, recent, keep_resolved)
        }
        gone = {key for key in candidates if all(dup in candidates for dup in self._duplicates.get(key, ()))}
        self._drop(gone, recent, keep_last_change=True)
        return len(gone)

    def _forgettable(self, state: TicketState, cutoff: datetime, keep_resolved: bool) -> bool:
        if state.status is not TicketStatus.CLOSED and (keep_resolved or state.status is not TicketStatus.RESOLVED):
            return False
        done = state.done_at()
        if done is None or done >= cutoff:
            return False
        if state.problem is not None and state.problem_recovered_at is None:
            return False
        key = state.key
        if key in self._holds or key in self._flapping:
            return False
        return all(recovered is not None for _, recovered in self._alias_problems.get(key, {}).values())

    def _drop(self, gone: set[str], cutoff: datetime, *, keep_last_change: bool) -> None:
        """Remove the tickets ``gone`` and every index entry naming them; the state changes
        before ``cutoff`` (all of them, or all but each fingerprint's newest)."""
        if not gone:
            return
        for key in gone:
            state = self._tickets.pop(key)
            self._steps.pop(key, None)
            if state.ticket_id is not None:
                self._by_ticket_id.pop(state.ticket_id, None)
        self._aliases = {k: v for k, v in self._aliases.items() if v not in gone}
        self._alias_problems = {m: v for m, v in self._alias_problems.items() if m not in gone}
        for index in (self._by_ci, self._by_upstream, self._by_storm):
            for name in list(index):
                old = index[name]
                rest = _KeysByStart()
                for k, start in zip(old.keys, old.starts, strict=True):
                    if k not in gone:
                        rest.add(k, start)
                rest.ordered = rest.ordered and old.ordered
                if rest.keys:
                    index[name] = rest
                else:
                    del index[name]
        # an open flapping ticket counts its fingerprint's changes since it began flapping, however
        # long ago: those stay (``forget`` only; ``prune`` keeps its old behaviour)
        floors: dict[str, datetime] = {}
        if keep_last_change:
            for state in self._tickets.values():
                if state.flapping_since is not None and not state.status.is_done and state.fingerprint is not None:
                    since = min(state.flapping_since, state.started_at)
                    floors[state.fingerprint] = min(since, floors.get(state.fingerprint, since))
        changes: dict[str, list[datetime]] = {}
        for fp, times in self._changes.items():
            floor = min(cutoff, floors.get(fp, cutoff))
            recent = [t for t in times if t >= floor]
            if not recent and keep_last_change and times:
                recent = [max(times)]
            if recent:
                changes[fp] = recent
        self._changes = changes
        self._duplicates = {
            m: [k for k in keys if k not in gone] for m, keys in self._duplicates.items() if m not in gone
        }
        self._masters_by_fp = {
            fp: kept for fp, keys in self._masters_by_fp.items() if (kept := [k for k in keys if k not in gone])
        }
