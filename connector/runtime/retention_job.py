"""The retention job: prune the state file's finished rows, a small batch per transaction.

``RetentionJob.run`` is one pass — the daemon calls it every ``retention.every_minutes`` and
``itsm-connector state prune`` once (``dry_run`` only counts). It is a plain callable with no
scheduling of its own, so whatever runs the periodic jobs (the daemon's loop today) can run it.

Each batch (``retention.batch`` rows, 500 by default) is its own short transaction, so the intake
thread and the other jobs wait for one batch at most, never for the whole pass; a stop request
(SIGTERM) is honoured between two batches. What may go is decided in SQL by
``connector.state.retention``; here only the ages become cutoffs — with one guard: a ticket row
is kept at least as long as the rule book's recurrence window (``dedup.yaml``), because a
recurrence is found by the ticket it repeats.

The file does not shrink by itself: SQLite keeps the freed pages and reuses them for new rows,
so under a steady alert rate the file stops growing once pruning keeps pace (docs/operations.md,
"Retention", says how to give the space back with ``VACUUM`` while the daemon is stopped).
"""

from __future__ import annotations

__all__ = ["PruneResult", "RetentionJob", "age"]

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.domain.clock import Clock
from connector.runtime.config import RetentionSettings
from connector.state.retention import RULES, Cutoffs
from connector.state.store import Store

log = logging.getLogger("connector.retention")


def age(days: float | None) -> timedelta | None:
    """A retention age from its setting: ``None`` or ``0`` keeps the rows forever."""
    return None if not days else timedelta(days=days)


@dataclass
class PruneResult:
    """What one pass deleted (or, dry, would delete), per table, and in how many transactions
    (``batches``: those that deleted something)."""

    deleted: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    dry_run: bool = False
    cutoffs: Cutoffs = field(default_factory=Cutoffs)

    @property
    def total(self) -> int:
        """Rows deleted over every table."""
        return sum(self.deleted.values())

    def add(self, counts: dict[str, int]) -> None:
        """Count one batch's (or one rule's) rows in."""
        for table, n in counts.items():
            self.deleted[table] = self.deleted.get(table, 0) + n

    def summary(self) -> str:
        """``12 journal, 3 outbox`` — the tables with something, or ``nothing``."""
        return ", ".join(f"{n} {table}" for table, n in sorted(self.deleted.items()) if n) or "nothing"


@dataclass
class RetentionJob:
    """One pass over the retention rules for one state file."""

    store: Store
    clock: Clock
    settings: RetentionSettings
    #: the rule book's recurrence window, read at each pass (a SIGHUP reload may change it)
    recurrence_window: Callable[[], timedelta | None] = lambda: None
    #: asked between batches; ``True`` ends the pass (the daemon's stop request)
    stopping: Callable[[], bool] = lambda: False

    def cutoffs(self, now: datetime) -> Cutoffs:
        """The cutoffs of a pass at ``now`` (tickets kept at least the recurrence window)."""
        s = self.settings
        tickets = age(s.tickets_days)
        window = self.recurrence_window()
        if tickets is not None and window is not None and tickets < window:
            tickets = window
        return Cutoffs.at(
            now,
            journal=age(s.journal_days),
            outbox=age(s.outbox_days),
            steps=age(s.steps_days),
            dead_letter=age(s.dead_letter_days),
            tickets=tickets,
        )

    def run(self, dry_run: bool = False) -> PruneResult:
        """One pass: every rule in order, batch by batch; ``dry_run`` counts and deletes nothing."""
        cutoffs = self.cutoffs(self.clock.now())
        result = PruneResult(dry_run=dry_run, cutoffs=cutoffs)
        for rule in RULES:
            cutoff = cutoffs.of(rule)
            if cutoff is None:
                continue
            if dry_run:
                result.add(self.store.count_prunable(rule, cutoff))
                continue
            while True:
                if self.stopping():  # between two batches: what is deleted stays deleted
                    return self._done(result)
                with self.store.transaction():
                    gone = self.store.delete_prunable(rule, cutoff, self.settings.batch)
                result.batches += any(gone.values())  # transactions that deleted something
                result.add(gone)
                if gone.get(rule, 0) < self.settings.batch:
                    break
        return self._done(result)

    def _done(self, result: PruneResult) -> PruneResult:
        if result.total and not result.dry_run:
            log.info("retention: deleted %s in %d batch(es)", result.summary(), result.batches)
        return result
