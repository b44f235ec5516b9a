"""The daemon's periodic jobs, each on a thread of its own, the singleton ones under a lease.

Before, every job ran in the daemon's one loop, so a minute of sync-back held back intake's
decisions and the drain. Now each ``Job`` has its own thread and schedule beside the intake
threads: a slow helpdesk read delays only itself. A *leased* job (a source's poll, the sweep,
sync-back, reports) runs only while this daemon holds the lease of that name
(``connector.state.leases``), so with several daemons on one state exactly one runs it; an
unleased job (deciding and delivering, the helpdesk probe) runs on every daemon.

``LeaseKeeper`` renews the held leases on a thread of its own, every ``renew_seconds``, and
knows until when each is safely ours: the time a renewal *started* plus the lease time, less
one renew interval. A job checks ``lease_lost()`` between two units of work (the sweep between
two tickets) and stops once that time passed — so a daemon that cannot reach the state (a
network split) stops its leased jobs before the lease can expire and another daemon take it.
A daemon that does not hold a lease reads it every ``STANDBY_SECONDS`` (a read takes no write
lock) and takes it over within that time of its expiry.

A job's exception is logged with its traceback and counted (``itsm_jobs_total{result="failed"}``);
the job runs again at its next time and the daemon goes on. ``stop`` joins every thread (each
finishes the item in flight) and then releases the leases, so another daemon takes over at once.
Each thread uses its own state connection (``connector.state.per_thread``) and closes it.
"""

from __future__ import annotations

__all__ = ["Job", "JobRunner", "LeaseKeeper", "lease_lost"]

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.domain.clock import Clock
from connector.domain.errors import StoreError
from connector.runtime.metrics import Metrics
from connector.state.store import Store

log = logging.getLogger("connector.runtime.jobs")

_current = threading.local()

#: how often a daemon that does not hold a job's lease asks for it again (seconds)
STANDBY_SECONDS = 1.0


def lease_lost() -> bool:
    """Whether the leased job on this thread must stop now: its lease could not be renewed and
    may expire soon. Always ``False`` outside a leased job."""
    check: Callable[[], bool] | None = getattr(_current, "holds", None)
    return check is not None and not check()


@dataclass
class Job:
    """One periodic job: its name (also its lease's), its period and what it does."""

    name: str
    every: float
    run: Callable[[], object]
    #: ``False``: it runs on every daemon (deciding and delivering, the probe)
    leased: bool = True
    #: set to run it now instead of at its next time (push intake wakes the decide job)
    wake: threading.Event = field(default_factory=threading.Event)
    #: called at its time when another daemon holds the lease (and so runs it): the sweep's
    #: readiness check then counts the holder's sweep instead of failing on this daemon
    elsewhere: Callable[[], object] | None = None


class LeaseKeeper:
    """The leases one daemon holds: taking one, renewing them all, letting them go."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        holder: str,
        *,
        lease_seconds: float,
        renew_seconds: float,
        also: Callable[[], object] | None = None,
    ) -> None:
        #: renewed with the leases (the daemon: the claims of the outbox operations running now)
        self.also = also
        self.store = store
        self.clock = clock
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self._safe_until: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def _take(self, name: str) -> bool:
        started = self.clock.now()
        try:
            won = self.store.lease_acquire(name, self.holder, started, self.lease_seconds)
        except StoreError as exc:
            log.warning("lease %s: the state could not be reached (%s); the job waits", name, exc)
            return False
        with self._lock:
            had = name in self._safe_until
            if won:
                margin = min(self.renew_seconds, self.lease_seconds / 2)
                self._safe_until[name] = started + timedelta(seconds=self.lease_seconds - margin)
            else:
                self._safe_until.pop(name, None)
        if won and not had:
            log.info("lease %s taken: this daemon runs the job now", name)
        elif had and not won:
            log.warning("lease %s lost to another daemon: the job stops here", name)
        return won

    def holds(self, name: str) -> bool:
        """Whether lease ``name`` is safely ours now (it was renewed recently enough)."""
        with self._lock:
            until = self._safe_until.get(name)
        return until is not None and self.clock.now() < until

    def acquire(self, name: str) -> bool:
        """Hold lease ``name`` now: ``True`` when it is ours (already, or taken now). A lease
        another daemon holds is only read (no write lock): a standby asks often, cheaply."""
        if self.holds(name):
            return True
        try:
            other = self.store.lease_holder(name, self.clock.now())
        except StoreError as exc:
            log.warning("lease %s: the state could not be reached (%s); the job waits", name, exc)
            return False
        if other is not None and other != self.holder:
            with self._lock:
                had = self._safe_until.pop(name, None) is not None
            if had:
                log.warning("lease %s lost to another daemon: the job stops here", name)
            return False
        return self._take(name)

    def held(self) -> list[str]:
        """The leases held (safely or not) now."""
        with self._lock:
            return sorted(self._safe_until)

    def renew_all(self) -> None:
        """Renew every held lease (the keeper thread, every ``renew_seconds``). A renewal that
        fails for want of the state keeps the old safe time, which then runs out."""
        for name in self.held():
            self._take(name)
        if self.also is not None:
            try:
                self.also()
            except StoreError as exc:
                log.warning("claims could not be renewed (they expire instead): %s", exc)

    def release_all(self) -> None:
        """Let every lease go (a clean stop): another daemon takes each over at once."""
        for name in self.held():
            try:
                self.store.lease_release(name, self.holder)
            except StoreError as exc:
                log.warning("lease %s could not be released (it expires instead): %s", name, exc)
            with self._lock:
                self._safe_until.pop(name, None)


class JobRunner:
    """Runs ``jobs`` on one thread each until ``stop``."""

    def __init__(
        self,
        jobs: list[Job],
        keeper: LeaseKeeper,
        *,
        stopping: threading.Event,
        metrics: Metrics,
        close_thread: Callable[[], object] | None = None,
    ) -> None:
        self.jobs = {job.name: job for job in jobs}
        self.keeper = keeper
        self.stopping = stopping
        self.metrics = metrics
        self._close_thread = close_thread
        self._threads: list[threading.Thread] = []
        self._first = {job.name: threading.Event() for job in jobs}
        self._busy = 0
        self._paused = False
        self._gate = threading.Condition()

    # --- one step (the threads loop over it; tests call it directly) ---------------------------

    def tick(self, job: Job) -> bool:
        """Run ``job`` once if this daemon may (its lease, when it has one); ``True`` when it ran.
        An exception is logged and counted, never raised."""
        if self.stopping.is_set():
            return False
        if job.leased and not self.keeper.acquire(job.name):
            self.metrics.leases_held.labels(job.name).set(0)
            if job.elsewhere is not None:
                job.elsewhere()
            return False
        if job.leased:
            self.metrics.leases_held.labels(job.name).set(1)
        with self._running():
            _current.holds = (lambda: self.keeper.holds(job.name)) if job.leased else None
            try:
                job.run()
            except Exception:
                self.metrics.jobs.labels(job.name, "failed").inc()
                log.exception("job %s failed; it runs again at its next time", job.name)
            else:
                self.metrics.jobs.labels(job.name, "ok").inc()
            finally:
                _current.holds = None
        return True

    @contextmanager
    def _running(self) -> Iterator[None]:
        with self._gate:
            while self._paused:
                self._gate.wait()
            self._busy += 1
        try:
            yield
        finally:
            with self._gate:
                self._busy -= 1
                self._gate.notify_all()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No job runs inside (a SIGHUP reload swaps the rules between two runs, as before)."""
        with self._gate:
            self._paused = True
            while self._busy:
                self._gate.wait()
        try:
            yield
        finally:
            with self._gate:
                self._paused = False
                self._gate.notify_all()

    # --- the threads ---------------------------------------------------------------------------

    def start(self) -> None:
        """One thread per job, and the lease keeper's."""
        for job in self.jobs.values():
            self._spawn(f"job-{job.name}", lambda job=job: self._loop(job))  # type: ignore[misc]
        self._spawn("lease-keeper", self._keep)

    def wait_first(self, timeout: float) -> bool:
        """Wait until every job had its first turn (ran, or found its lease held elsewhere)."""
        deadline = time.monotonic() + timeout
        return all(event.wait(max(0.0, deadline - time.monotonic())) for event in self._first.values())

    def wake(self, name: str) -> None:
        """Run job ``name`` now instead of at its next time."""
        job = self.jobs.get(name)
        if job is not None:
            job.wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop every thread (each finishes its item in flight), then release the leases."""
        self.stopping.set()
        for job in self.jobs.values():
            job.wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        self.keeper.release_all()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        def run() -> None:
            try:
                target()
            finally:
                if self._close_thread is not None:
                    self._close_thread()

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _loop(self, job: Job) -> None:
        first = self._first[job.name]
        while not self.stopping.is_set():
            ran = self.tick(job)
            first.set()
            # a standby asks for the lease every second (a read), so it takes a dead holder's
            # job over within a second of the lease's expiry, not at its next period
            job.wake.wait(job.every if ran or not job.leased else min(job.every, STANDBY_SECONDS))
            job.wake.clear()
        first.set()

    def _keep(self) -> None:
        while not self.stopping.wait(self.keeper.renew_seconds):
            self.keeper.renew_all()
