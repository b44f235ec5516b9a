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

Group commit: a ``synchronous=FULL`` commit is an fsync, the cost of a webhook request. Requests
that arrive while the writer is busy wait in a queue; the writer journals all of them in one
transaction, one fsync, and only then answers each (so none is answered before its entry is
durable). If that shared transaction fails, each request is tried again in a transaction of its
own, so one bad request cannot fail the others. Metrics and log lines are written after the
commit that made them true.
"""

from __future__ import annotations

__all__ = ["ThreadedJournal", "alert_payload", "reject_event_key"]

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from functools import partial
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
        # requests waiting for the next group commit, and whether a commit task is queued
        self._lock = threading.Lock()
        self._waiting: list[tuple[list[Alert | Rejected], Future[Journaled]]] = []
        self._scheduled = False
        self._received_inc: dict[str, Callable[[], None]] = {}
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
        """Journal alerts and rejects in one transaction (shared with the requests waiting beside
        this one), like ``Engine.ingest``; returns once it is committed."""
        future: Future[Journaled] = Future()
        with self._lock:
            self._waiting.append((list(items), future))
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            try:
                self._executor.submit(self._commit_waiting)
            except RuntimeError as exc:  # submit after close
                with self._lock:
                    self._scheduled = False
                raise StoreError("the intake journal is closed") from exc
        try:
            result = future.result(timeout=self._timeout)
        except FutureTimeout as exc:
            raise StoreError(f"the state database did not answer within {self._timeout:g}s") from exc
        if result.new and self._on_new is not None:
            try:
                self._on_new()
            except Exception:  # a wake-up that fails must not turn an accepted input into an error
                log.exception("intake: the new-input callback failed")
        return result

    def _commit_waiting(self) -> None:
        """On the writer thread: journal every waiting request in one transaction, then answer
        each; repeated while requests keep arriving."""
        while True:
            with self._lock:
                batch, self._waiting = self._waiting, []
                if not batch:
                    self._scheduled = False
                    return
            store = self._store
            if store is None:
                for _, future in batch:
                    future.set_exception(StoreError("the intake journal is closed"))
                continue
            now = self._clock.now()
            done: list[tuple[Journaled, list[Callable[[], None]]]] = []
            try:
                with store.transaction():
                    for items, _ in batch:
                        effects: list[Callable[[], None]] = []
                        done.append((self._ingest(store, items, now, effects), effects))
            except Exception as exc:  # one request's failure must not fail the others: each on its own
                if len(batch) == 1:
                    self._settle(batch[0][1], None, exc)
                    continue
                for items, future in batch:
                    effects = []
                    try:
                        with store.transaction():
                            result = self._ingest(store, items, now, effects)
                    except Exception as exc:
                        self._settle(future, None, exc)
                    else:
                        self._run(effects)
                        self._settle(future, result, None)
                continue
            for (result, effects), (_, future) in zip(done, batch, strict=True):
                self._run(effects)
                self._settle(future, result, None)

    @staticmethod
    def _settle(future: Future[Journaled], result: Journaled | None, error: BaseException | None) -> None:
        if error is not None:
            future.set_exception(error)
        else:
            assert result is not None
            future.set_result(result)

    @staticmethod
    def _run(effects: list[Callable[[], None]]) -> None:
        for effect in effects:
            try:
                effect()
            except Exception:  # a metric or log line must not turn a committed input into an error
                log.exception("intake: recording a journaled input failed")

    def _ingest(
        self, store: Store, items: list[Alert | Rejected], now: datetime, effects: list[Callable[[], None]]
    ) -> Journaled:
        """Journal ``items`` (inside the caller's transaction); what to record once it is
        committed is appended to ``effects``."""
        new = repeats = dead = 0
        metrics = self._metrics
        with store.transaction():
            for item in items:
                if isinstance(item, Rejected):
                    payload, event_key = reject_event_key(item)
                    if store.journal_dead(item.source, event_key, item.external_id, payload, item.reason, now):
                        dead += 1
                        effects.append(partial(_rejected, metrics, item))
                    continue
                if store.journal_add(item.source, item.event_key, item.external_id, alert_payload(item), now):
                    new += 1
                    if metrics is not None:
                        effects.append(self._received(metrics, item.source))
                else:
                    repeats += 1
                    said = "%s:%s → skipped because it was already received"
                    effects.append(partial(log.info, said, item.source, item.event_key))
        return Journaled(new=new, repeats=repeats, dead=dead)

    def _received(self, metrics: Metrics, source: str) -> Callable[[], None]:
        """``alerts_received{source}``'s ``inc``, looked up once per source (on the writer thread)."""
        inc = self._received_inc.get(source)
        if inc is None:
            inc = self._received_inc[source] = metrics.alerts_received.labels(source).inc
        return inc

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


def _rejected(metrics: Metrics | None, item: Rejected) -> None:
    """Count and log a reject once its dead letter is committed."""
    if metrics is not None:
        metrics.alerts_rejected.labels(item.source).inc()
        metrics.dead_lettered.labels("intake").inc()
    log.warning("%s:%s → dead letter: %s", item.source, item.external_id or "?", item.reason)
