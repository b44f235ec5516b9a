"""``itsm-connector run``: the scheduled jobs, until SIGTERM/SIGINT.

The daemon owns its own ``schedule.Scheduler`` (never the module default). Each job is a
one-line call into the engine, wrapped so an exception is logged with its traceback and the
loop goes on. A signal only sets a flag: the operation in flight finishes, then ``run``
returns 0. Jobs catch up from the store (journal, outbox), so a missed run loses nothing.

Push sources (``PushSource``: the Zabbix webhook) are started before the first poll with a
``ThreadedJournal`` of their own on the same state file, and stopped after the loop. What they
journal wakes the loop, which decides and delivers it at once instead of at the next poll.
"""

from __future__ import annotations

__all__ = ["Daemon"]

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

import schedule

from connector.contracts.adapters import PushSource
from connector.domain.errors import ConnectorError, StoreError
from connector.runtime.engine import Engine
from connector.runtime.intake import ThreadedJournal

log = logging.getLogger("connector.runtime.daemon")


class Daemon:
    """Runs the poll, drain and sweep jobs for one engine on its own scheduler."""

    def __init__(
        self,
        engine: Engine,
        *,
        poll_seconds: float,
        drain_seconds: float,
        sweep_seconds: float = 60.0,
        sync_seconds: float = 60.0,
        sync: Callable[[], object] | None = None,
        reports: Callable[[], object] | None = None,
    ) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.drain_seconds = drain_seconds
        self.sweep_seconds = sweep_seconds
        self.sync_seconds = sync_seconds
        self._sync = sync
        self._reports = reports
        self.scheduler = schedule.Scheduler()
        self._stop = engine.stopping
        self._wake = threading.Event()  # set by push intake: new input is journaled

    def stop(self) -> None:
        """Ask the loop to finish what it is doing and return."""
        self._stop.set()
        self._wake.set()

    def _guard(self, name: str, job: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            if self._stop.is_set():
                return
            try:
                job()
            except Exception:
                log.exception("job %s failed; it runs again at its next time", name)

        return run

    def run(self, install_signals: bool = True) -> int:
        """Run until stopped; returns the exit code (0 after a clean stop)."""
        if install_signals:
            self._install_signals()
        poll = self._guard("poll", self.engine.poll_sources)
        drain = self._guard("drain", self.engine.drain_outbox)
        self.scheduler.every(self.poll_seconds).seconds.do(poll)  # type: ignore[arg-type]  # floats work
        self.scheduler.every(self.drain_seconds).seconds.do(drain)  # type: ignore[arg-type]
        sweep = self._guard("sweep", self.engine.sweep)
        self.scheduler.every(self.sweep_seconds).seconds.do(sweep)  # type: ignore[arg-type]
        if self._sync is not None:
            sync = self._guard("sync", self._sync)
            self.scheduler.every(self.sync_seconds).seconds.do(sync)  # type: ignore[arg-type]
        if self._reports is not None:
            reports = self._guard("reports", self._reports)
            self.scheduler.every(1).hours.do(reports)
        log.info(
            "running: %d source(s), backend %s, poll every %.0fs, drain every %.0fs",
            len(self.engine.sources),
            self.engine.backend.name,
            self.poll_seconds,
            self.drain_seconds,
        )
        pushed = self._guard("pushed", self._process_pushed)
        try:
            journal, pushers = self._start_push()
        except ConnectorError as exc:
            log.error("cannot start: %s", exc)
            return 1
        try:
            poll()
            sweep()  # catches up at once after a downtime: missed steps fire now, marked late
            drain()
            while not self._stop.is_set():
                if self._wake.is_set():
                    self._wake.clear()
                    pushed()
                self.scheduler.run_pending()
                idle = self.scheduler.idle_seconds
                self._wake.wait(timeout=max(0.05, min(1.0, idle if idle is not None else 1.0)))
        finally:
            self._stop_push(journal, pushers)
        self.scheduler.clear()
        log.info("stopped cleanly")
        return 0

    def _process_pushed(self) -> None:
        self.engine.process_pending()
        self.engine.drain_outbox()

    def _start_push(self) -> tuple[ThreadedJournal | None, list[PushSource]]:
        """Start every push source; on a failure stop those already started and raise."""
        engine = self.engine
        pushers = [push for name in engine.sources if (push := engine.source_capabilities(name).push) is not None]
        if not pushers:
            return None, []
        if self.engine.store.path == ":memory:":
            raise StoreError("push sources need a state file: an in-memory state cannot be shared with them")
        journal = ThreadedJournal(self.engine.store.path, self.engine.clock, on_new=self._wake.set)
        started: list[PushSource] = []
        try:
            for source in pushers:
                source.serve(journal)
                started.append(source)
        except BaseException:
            self._stop_push(journal, started)
            raise
        return journal, started

    def _stop_push(self, journal: ThreadedJournal | None, pushers: list[PushSource]) -> None:
        for source in pushers:
            try:
                source.shutdown()
            except Exception:
                name = next((n for n, s in self.engine.sources.items() if id(s) == id(source)), repr(source))
                log.exception("stopping push source %s failed", name)
        if journal is not None:
            journal.close()

    def _install_signals(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("received %s: finishing the operation in flight", signal.Signals(signum).name)
            self.stop()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, handler)
            signal.signal(signal.SIGINT, handler)
