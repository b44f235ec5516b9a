"""Journaling for push sources: inputs that arrive on other threads (HTTP requests, IDLE).

``Store`` is one connection (SQLite or PostgreSQL) and is not shared between threads, and the
engine's store belongs to the engine's thread. ``ThreadedJournal`` therefore owns a second
connection to the same state (on SQLite, WAL lets both work) inside one writer thread; callers on any thread hand it
their work and wait for the commit. Writes are serialised anyway by SQLite, so one writer
thread costs nothing and keeps every transaction on the thread that opened the connection.

The connection runs with ``synchronous=FULL``: a push source answers "accepted" right after
``ingest`` returns and the sender forgets the event, so the commit must survive a power cut,
not only a crash of this process. What ``ingest`` writes is exactly what ``Engine.ingest``
writes (same ``journal_add`` / ``journal_dead`` calls, same reject keys), so the engine's
``process_pending`` picks it up like any polled alert.
"""

from __future__ import annotations

__all__ = ["ThreadedJournal", "alert_payload", "reject_event_key"]

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TypeVar

from pydantic_core import PydanticSerializationError

from connector.contracts.adapters import Journaled, Rejected
from connector.domain.clock import Clock
from connector.domain.errors import StoreError
from connector.domain.models import Alert, TicketRef
from connector.runtime.metrics import Metrics
from connector.state.store import StateTarget, Store, open_store
from connector.util.unicode_text import valid_text, valid_tree

log = logging.getLogger("connector.runtime.intake")

T = TypeVar("T")


def alert_payload(alert: Alert) -> str:
    """The JSON an alert is journaled as. An alert holding a lone surrogate (``unicode_text``)
    cannot be written as UTF-8; it is journaled with U+FFFD in its place rather than failing
    the whole poll on every retry. Only that rare alert pays for the walk."""
    try:
        return alert.model_dump_json()
    except PydanticSerializationError:
        return json.dumps(valid_tree(alert.model_dump(mode="json")), ensure_ascii=False)


def reject_event_key(item: Rejected) -> tuple[str, str]:
    """The (payload, event key) a reject is journaled under, by ``Engine.ingest`` and here alike,
    so a repeated bad input (a webhook retried by its sender) is dead-lettered once."""
    payload = valid_text(json.dumps(item.raw, ensure_ascii=False, default=str))
    digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
    return payload, f"rejected:{item.external_id or digest}"


class ThreadedJournal:
    """An ``IntakeJournal`` usable from any thread.

    :param path: the state store (the engine's ``Store.target``; a SQLite path as before): this
        thread's own connection to it.
    :param clock: stamps ``received_at``.
    :param on_new: called (on the writer thread) after a commit that journaled something new,
        so the daemon can process it now instead of at its next poll.
    :param metrics: counts what it journals (alerts received, rejected) for ``/metrics``.
    :param timeout: how long a caller waits for its commit before giving up with ``StoreError``
        (the work may still commit; the caller must then answer "not accepted" and let its
        sender retry, which the journal's de-duplication makes harmless).
    """

    def __init__(
        self,
        path: Path | str | StateTarget,
        clock: Clock,
        *,
        on_new: Callable[[], None] | None = None,
        timeout: float = 10.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._clock = clock
        self._metrics = metrics
        self._on_new = on_new
        self._timeout = timeout
        self._store: Store | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-journal")
        # open the connection on the writer thread itself: sqlite3 refuses cross-thread use
        self._call(lambda: self._open(path))

    def _open(self, path: Path | str | StateTarget) -> None:
        self._store = open_store(path)

    def _call(self, work: Callable[[], T]) -> T:
        try:
            future = self._executor.submit(work)
        except RuntimeError as exc:  # submit after close
            raise StoreError("the intake journal is closed") from exc
        try:
            return future.result(timeout=self._timeout)
        except FutureTimeout as exc:
            raise StoreError(f"the state database did not answer within {self._timeout:g}s") from exc

    def _with_store(self, work: Callable[[Store], T]) -> T:
        def run() -> T:
            if self._store is None:
                raise StoreError("the intake journal is closed")
            return work(self._store)

        return self._call(run)

    def ingest(self, items: Sequence[Alert | Rejected]) -> Journaled:
        """Journal alerts and rejects in one transaction, like ``Engine.ingest``."""
        result = self._with_store(lambda store: self._ingest(store, list(items)))
        if result.new and self._on_new is not None:
            try:
                self._on_new()
            except Exception:  # a wake-up that fails must not turn an accepted input into an error
                log.exception("intake: the new-input callback failed")
        return result

    def _ingest(self, store: Store, items: list[Alert | Rejected]) -> Journaled:
        now = self._clock.now()
        new = repeats = dead = 0
        with store.transaction():
            for item in items:
                if isinstance(item, Rejected):
                    payload, event_key = reject_event_key(item)
                    if store.journal_dead(item.source, event_key, item.external_id, payload, item.reason, now):
                        dead += 1
                        if self._metrics is not None:
                            self._metrics.alerts_rejected.labels(item.source).inc()
                            self._metrics.dead_lettered.labels("intake").inc()
                        log.warning("%s:%s → dead letter: %s", item.source, item.external_id or "?", item.reason)
                    continue
                if store.journal_add(item.source, item.event_key, item.external_id, alert_payload(item), now):
                    new += 1
                    if self._metrics is not None:
                        self._metrics.alerts_received.labels(item.source).inc()
                else:
                    repeats += 1
                    log.info("%s:%s → skipped because it was already received", item.source, item.event_key)
        return Journaled(new=new, repeats=repeats, dead=dead)

    def ticket_ref(self, key: str) -> TicketRef | None:
        """The helpdesk ticket of connector key ``key`` once it is created, else ``None``."""
        found = self._with_store(lambda store: store.ticket_ref(key))
        return None if found is None else TicketRef(ticket_id=found[0], url=found[1])

    def close(self) -> None:
        """Close the connection and stop the writer thread (waits for queued work)."""

        def shut() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        try:
            self._executor.submit(shut).result(timeout=self._timeout)
        except (RuntimeError, FutureTimeout):
            log.warning("intake: the journal did not close cleanly")
        self._executor.shutdown(wait=True)
