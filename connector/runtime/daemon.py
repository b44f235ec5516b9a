"""``itsm-connector run``: the periodic jobs, each on its own thread, until SIGTERM/SIGINT.

Every job (a source's poll, deciding and delivering, the sweep, sync-back, reports, the probe)
runs on a thread of its own and its own schedule (``connector.runtime.jobs.JobRunner``), so a
slow one — a minute of sync-back against a slow helpdesk — never holds back intake, decisions
or the drain. A job's exception is logged with its traceback and counted; the job runs again at
its next time. A stop signal only wakes the main thread: every job finishes the operation in
flight, the leases are released, then ``run`` returns 0. Jobs catch up from the store (journal, outbox),
so a missed run loses nothing.

Several daemons may run on one state (docs/several-daemons.md): deciding and delivering, the
probe and push intake run on every daemon (decisions serialised by the decide lock row, outbox
operations claimed one by one); the singleton jobs run only on the daemon that holds their
lease (``connector.state.leases``), renewed on a thread of its own. A daemon that cannot renew
stops its leased jobs before the lease can expire.

Push sources (``PushSource``: the Zabbix webhook) are started before the first poll with a
``ThreadedJournal`` of their own on the same state file, and stopped first at the end. What
they journal wakes the decide job, which wakes the deliver job once it decided.

With an ``http:`` section (``http=``) the daemon runs one HTTP server (``DaemonHttp``, waitress)
before the first poll: ``/healthz``, ``/readyz``, ``/metrics``, and every push source that can
be mounted (``MountableSource``) is mounted there instead of opening a port of its own. A probe
job asks the backend every ``probe_seconds`` whether it answers (``/readyz``), and the main
thread refreshes the state-file gauges of ``/metrics`` every few seconds.

Retention (``prune=``, ``connector.runtime.retention_job``) runs every ``prune_seconds`` like any
other job: each of its batches is a short transaction of its own, so intake is never held long.

systemd (``Type=notify``, ``connector.runtime.systemd_notify``): ``READY=1`` once the server and
the push sources listen and every job had its first turn, ``RELOADING=1`` … ``READY=1`` around
a SIGHUP reload, ``STOPPING=1`` when a stop was asked, ``STATUS=`` saying what it does. SIGHUP
only wakes the main thread too: it reloads while no job runs (``JobRunner.paused``), and a
reload that fails (a broken rule file) is logged and the old rules stay. A second SIGTERM while
stopping only says that the stop is under way (in the log once the operation in flight finished,
which the main thread waits for): it neither restarts nor delays it. A stop asked before the
daemon was ready (a job's first turn still running) never says ``READY=1`` after ``STOPPING=1``.

Why this module is long: it is the daemon's life from start to stop in one place — which jobs
exist and on what schedule, the HTTP server and push sources started before them and stopped
after, the signals and what each does, the reload between jobs — and each of those is a few
lines of wiring whose order matters. The jobs themselves live in ``connector.runtime.jobs``.
"""

from __future__ import annotations

__all__ = ["Daemon"]

import contextlib
import logging
import os
import select
import signal
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from connector.contracts.adapters import PushSource
from connector.contracts.http import MountableSource
from connector.domain.errors import ConnectorError, SourceError, StoreError
from connector.runtime.config import HttpSettings
from connector.runtime.engine import Engine
from connector.runtime.holders import free_dead_holders
from connector.runtime.intake import ThreadedJournal
from connector.runtime.jobs import Job, JobRunner, LeaseKeeper
from connector.runtime.probe import probe_backend
from connector.runtime.systemd_notify import notify
from connector.state.per_thread import per_thread

if TYPE_CHECKING:
    from connector.runtime.http_server import DaemonHttp

log = logging.getLogger("connector.runtime.daemon")

#: how often the main thread re-reads the state file's gauges for /metrics (seconds)
GAUGE_SECONDS = 5.0

#: what a thread (not a signal) pokes the main thread with; signals poke their own number
_STOP, _RELOAD = 0, 255

#: the report job's period (it publishes once a month; the run checks whether it is due)
REPORT_SECONDS = 3600.0

def _close_fds(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class Daemon:
    """Runs the poll, decide, deliver, sweep, sync-back and report jobs of one engine, one thread each."""

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
        http: HttpSettings | None = None,
        reload: Callable[[], str] | None = None,
        lease_seconds: float = 30.0,
        renew_seconds: float | None = None,
        claim_seconds: float | None = None,
        prune: Callable[[], object] | None = None,
        prune_seconds: float = 3600.0,
    ) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.drain_seconds = drain_seconds
        self.sweep_seconds = sweep_seconds
        self.sync_seconds = sync_seconds
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds if renew_seconds is not None else lease_seconds / 3
        if claim_seconds is not None:
            engine.claim_seconds = claim_seconds
        self._sync = sync
        self._reports = reports
        self._prune = prune  # retention (connector.runtime.retention_job): a leased job
        self.prune_seconds = prune_seconds
        self._stop = engine.stopping
        # wakes the main thread (a stop, a reload, a signal): a pipe, because a signal handler
        # may only write a byte to it — a lock (an Event's, logging's) taken inside a handler can
        # deadlock the very thread it interrupted; the main thread reads, logs and acts
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        weakref.finalize(self, _close_fds, self._wake_r, self._wake_w)
        self._signals_seen = 0
        self.http_settings = http
        self._reload = reload
        self._reload_asked = threading.Event()  # set by SIGHUP; reloaded while no job runs
        self.http: DaemonHttp | None = None  # the running server (tests read its port)
        self.runner: JobRunner | None = None  # the running jobs (tests read their leases)
        self._gauges_at = 0.0
        self._mounted: list[MountableSource] = []

    def request_reload(self) -> None:
        """Ask for the rule book and people.yaml to be read again while no job runs (SIGHUP)."""
        self._reload_asked.set()
        self._poke(_RELOAD)

    def stop(self) -> None:
        """Ask every job to finish what it is doing, and ``run`` to return."""
        if not self._stop.is_set():
            notify("STOPPING=1", "STATUS=stopping: finishing the operation in flight")
        self._stop.set()
        self._poke(_STOP)
        runner = self.runner
        if runner is not None:
            for job in runner.jobs.values():
                job.wake.set()

    def _poke(self, what: int) -> None:
        """Wake the main thread (from any thread, or a signal handler: one byte, no lock)."""
        # a full pipe: it is woken already; a closed one: the daemon ended
        with contextlib.suppress(OSError):
            os.write(self._wake_w, bytes([what]))

    def _wait_main(self, timeout: float) -> None:
        """Sleep until poked or ``timeout``; then act on what the signals asked."""
        ready, _, _ = select.select([self._wake_r], [], [], timeout)
        if not ready:
            return
        try:
            said = os.read(self._wake_r, 512)
        except BlockingIOError:
            return
        for what in said:
            if what in (signal.SIGTERM, signal.SIGINT):
                name = signal.Signals(what).name
                self._signals_seen += 1
                if self._signals_seen == 1:
                    log.info("received %s: finishing the operation in flight", name)
                else:
                    log.info("received %s again: already stopping, the operation in flight finishes", name)
                self.stop()
            elif what == signal.SIGHUP:
                log.info("received SIGHUP: reloading the rule book and people.yaml between two jobs")
                self._reload_asked.set()

    def jobs(self) -> list[Job]:
        """This daemon's jobs: every source's poll, decide, deliver, sweep, sync-back, reports, probe."""
        engine = self.engine
        jobs = [Job(f"poll:{name}", self.poll_seconds, self._poller(name)) for name in engine.sources]
        # two jobs, so that entries are decided while the drain waits on a slow helpdesk
        jobs.append(Job("decide", self.drain_seconds, self._decide, leased=False))
        jobs.append(Job("deliver", self.drain_seconds, engine.drain_outbox, leased=False))
        # on a daemon that does not hold the sweep, /readyz counts the holder's (its lease is live)
        jobs.append(Job("sweep", self.sweep_seconds, engine.sweep, elsewhere=engine.health.sweep_done))
        if self._sync is not None:
            jobs.append(Job("sync", self.sync_seconds, self._sync))
        if self._reports is not None:
            jobs.append(Job("reports", REPORT_SECONDS, self._reports))
        if self._prune is not None:
            jobs.append(Job("prune", self.prune_seconds, self._prune))
        if self.http_settings is not None:
            jobs.append(Job("probe", self.http_settings.probe_seconds, lambda: probe_backend(engine), leased=False))
        return jobs

    def _poller(self, name: str) -> Callable[[], None]:
        def poll() -> None:
            try:
                new = self.engine.poll(name)
            except SourceError as exc:
                log.warning("%s (will try again next cycle)", exc)
                return
            # a quiet source every minute is not news: INFO only when something came in
            log.log(logging.INFO if new else logging.DEBUG, "source %s: %d new event(s)", name, new)
            if new:
                self._wake("decide")

        return poll

    def _decide(self) -> None:
        """Decide what was journaled (by any daemon); what that owes is delivered at once."""
        if self.engine.decide_pending():
            self._wake("deliver")

    def _wake(self, job: str) -> None:
        runner = self.runner
        if runner is not None:
            runner.wake(job)

    def _journaled(self) -> None:
        self._wake("decide")

    def run(self, install_signals: bool = True) -> int:
        """Run until stopped; returns the exit code (0 after a clean stop)."""
        if install_signals:
            self._install_signals()
        engine = self.engine
        engine.store = per_thread(engine.store)  # each job thread gets a connection of its own
        free_dead_holders(engine.store, engine.holder)
        keeper = LeaseKeeper(
            engine.store,
            engine.clock,
            engine.holder,
            lease_seconds=self.lease_seconds,
            renew_seconds=self.renew_seconds,
            also=engine.renew_claims,  # an operation running long keeps its claim
        )
        close_thread = getattr(engine.store, "close_thread", None)
        self.runner = runner = JobRunner(
            self.jobs(), keeper, stopping=self._stop, metrics=engine.metrics, close_thread=close_thread
        )
        log.info(
            "running as %s: %d source(s), backend %s, poll every %.0fs, drain every %.0fs, leases of %.0fs",
            engine.holder,
            len(engine.sources),
            engine.backend.name,
            self.poll_seconds,
            self.drain_seconds,
            self.lease_seconds,
        )
        try:
            journal, pushers = self._start_push()
        except ConnectorError as exc:
            log.error("cannot start: %s", exc)
            return 1
        try:
            runner.start()
            while not self._stop.is_set() and not runner.wait_first(0):
                self._wait_main(0.2)
            if not self._stop.is_set():  # a stop during start-up: STOPPING=1 was said, never READY=1 after it
                self._refresh_gauges(force=True)
                engine.health.mark_started()
                notify("READY=1", f"STATUS={self._status()}")
            while not self._stop.is_set():
                if self._reload_asked.is_set():
                    self._reload_asked.clear()
                    with runner.paused():
                        self._do_reload()
                self._refresh_gauges()
                self._wait_main(1.0)
        finally:
            self._stop.set()
            self._stop_push(journal, pushers)
            runner.stop()
        self._wait_main(0)  # a signal that came while stopping is said, not acted on twice
        log.info("stopped cleanly")
        return 0

    def _status(self) -> str:
        sources = ", ".join(self.engine.sources) or "no sources"
        where = f"; HTTP on port {self.http.port}" if self.http is not None else ""
        return f"running: backend {self.engine.backend.name}, {sources}{where}"

    def _do_reload(self) -> None:
        """Reload between jobs; a failure keeps the old rules (and says why, in the log)."""
        if self._reload is None:
            log.warning("SIGHUP: nothing to reload in this daemon")
            return
        notify("RELOADING=1", "STATUS=reloading the rule book and people.yaml")
        try:
            what = self._reload()
        except ConnectorError as exc:
            self.engine.metrics.reloads.labels("failed").inc()
            problems = [str(p) for p in getattr(exc, "problems", ())] or [str(exc)]
            log.error("SIGHUP: reload refused, the previous rules stay in force: %s", problems[0])
            for problem in problems[1:]:
                log.error("  %s", problem)
            notify("READY=1", f"STATUS=reload failed (old rules kept); {self._status()}")
            return
        except Exception:
            self.engine.metrics.reloads.labels("failed").inc()
            log.exception("SIGHUP: reload failed, the previous rules stay in force")
            notify("READY=1", f"STATUS=reload failed (old rules kept); {self._status()}")
            return
        self.engine.metrics.reloads.labels("ok").inc()
        log.info("SIGHUP: reloaded %s", what)
        notify("READY=1", f"STATUS={self._status()}")

    def _refresh_gauges(self, force: bool = False) -> None:
        """The state-file gauges of /metrics, at most every ``GAUGE_SECONDS`` (read on the main
        thread, with its own connection)."""
        started = time.monotonic()
        if not force and started - self._gauges_at < GAUGE_SECONDS:
            return
        self._gauges_at = started
        engine = self.engine
        try:
            engine.metrics.refresh(engine.store, engine.clock.now())
            engine.metrics.sweep_lag.set(engine.health.sweep_lag())
        except StoreError as exc:
            log.warning("metrics: the state file could not be read: %s", exc)

    def _start_push(self) -> tuple[ThreadedJournal | None, list[PushSource]]:
        """Start the HTTP server (``http:``) and every push source — mounted on the server when
        it can be, else on a port of its own; on a failure stop those already started and raise."""
        engine = self.engine
        pushers = [push for name in engine.sources if (push := engine.source_capabilities(name).push) is not None]
        if self.http_settings is not None:
            self._start_http()
        if not pushers:
            return None, []
        try:
            if self.engine.store.target.is_memory:
                raise StoreError("push sources need a state file: an in-memory state cannot be shared with them")
            journal = ThreadedJournal(
                self.engine.store.target, self.engine.clock, on_new=self._journaled, metrics=self.engine.metrics
            )
        except BaseException:
            self._stop_http()
            raise
        started: list[PushSource] = []
        try:
            for source in pushers:
                if self.http is not None and isinstance(source, MountableSource):
                    self._warn_own_port(source)
                    self.http.mount(source.mount(journal, self.http.base_url))
                    self._mounted.append(source)
                else:
                    if self.http is None and isinstance(source, MountableSource):
                        log.warning(
                            "%s: listening on a port of its own is deprecated: add an http: section "
                            "(listen, port) and it is served there, beside /healthz, /readyz and /metrics",
                            getattr(source, "name", "a push source"),
                        )
                    source.serve(journal)
                started.append(source)
        except BaseException:
            self._stop_push(journal, started)
            raise
        return journal, started

    def _start_http(self) -> None:
        from connector.runtime.http_server import DaemonHttp

        assert self.http_settings is not None
        server = DaemonHttp(self.http_settings, self.engine.health, self.engine.metrics, self.engine.store.target)
        try:
            server.start()
        except OSError as exc:
            s = self.http_settings
            raise ConnectorError(f"http: cannot listen on {s.listen}:{s.port}: {exc.strerror or exc}") from exc
        self.http = server

    def _stop_http(self) -> None:
        server, self.http = self.http, None
        if server is not None:
            server.stop()
            server.unmount_all()

    def _warn_own_port(self, source: object) -> None:
        settings = getattr(source, "settings", None)
        fields: set[str] = set(getattr(settings, "model_fields_set", ()))
        if {"listen", "port"} & fields:
            log.warning(
                "%s: its listen/port are ignored (deprecated): the http: section's server serves it",
                getattr(source, "name", "a push source"),
            )

    def _stop_push(self, journal: ThreadedJournal | None, pushers: list[PushSource]) -> None:
        self._stop_http()  # first: no new request, those in flight answered
        mounted, self._mounted = self._mounted, []
        for mount in mounted:
            try:
                mount.unmount()
            except Exception:
                log.exception("unmounting a push source failed")
        for source in pushers:
            try:
                source.shutdown()
            except Exception:
                name = next((n for n, s in self.engine.sources.items() if id(s) == id(source)), repr(source))
                log.exception("stopping push source %s failed", name)
        if journal is not None:
            journal.close()

    def _install_signals(self) -> None:
        """SIGTERM/SIGINT stop, SIGHUP reloads. A handler only writes the signal's number to the
        wake pipe (``_wait_main`` logs and acts on it): a second SIGTERM while stopping can
        then never deadlock or break the stop it interrupts, it is only said in the log."""

        def handler(signum: int, frame: FrameType | None) -> None:
            self._poke(signum)

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, handler)
            signal.signal(signal.SIGINT, handler)
            signal.signal(signal.SIGHUP, handler)
