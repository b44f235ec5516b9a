"""``itsm-connector run``: the scheduled jobs, until SIGTERM/SIGINT.

The daemon owns its own ``schedule.Scheduler`` (never the module default). Each job is a
one-line call into the engine, wrapped so an exception is logged with its traceback and the
loop goes on. A signal only sets a flag: the operation in flight finishes, then ``run``
returns 0. Jobs catch up from the store (journal, outbox), so a missed run loses nothing.

Push sources (``PushSource``: the Zabbix webhook) are started before the first poll with a
``ThreadedJournal`` of their own on the same state file, and stopped after the loop. What they
journal wakes the loop, which decides and delivers it at once instead of at the next poll.

With an ``http:`` section (``http=``) the daemon runs one HTTP server (``DaemonHttp``, waitress)
before the first poll: ``/healthz``, ``/readyz``, ``/metrics``, and every push source that can
be mounted (``MountableSource``) is mounted there instead of opening a port of its own. A probe
job asks the backend every ``probe_seconds`` whether it answers (``/readyz``), and the loop
refreshes the state-file gauges of ``/metrics`` every few seconds.

Retention (``prune=``, ``connector.runtime.retention_job``) runs every ``prune_seconds`` like any
other job: each of its batches is a short transaction of its own, so intake is never held long.

systemd (``Type=notify``, ``connector.runtime.systemd_notify``): ``READY=1`` once the server and
the push sources listen and the first cycle ran, ``RELOADING=1`` … ``READY=1`` around a SIGHUP
reload, ``STOPPING=1`` when a stop was asked, ``STATUS=`` saying what it does. SIGHUP only
sets a flag too: the loop reloads between two jobs (``reload=``, ``App.reload``), and a reload
that fails (a broken rule file) is logged and the old rules stay.
"""

from __future__ import annotations

__all__ = ["Daemon"]

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

import schedule

from connector.contracts.adapters import PushSource
from connector.contracts.http import MountableSource
from connector.domain.errors import ConnectorError, StoreError
from connector.runtime.config import HttpSettings
from connector.runtime.engine import Engine
from connector.runtime.intake import ThreadedJournal
from connector.runtime.probe import probe_backend
from connector.runtime.systemd_notify import notify

if TYPE_CHECKING:
    from connector.runtime.http_server import DaemonHttp

log = logging.getLogger("connector.runtime.daemon")

#: how often the loop re-reads the state file's gauges for /metrics (seconds)
GAUGE_SECONDS = 5.0


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
        http: HttpSettings | None = None,
        reload: Callable[[], str] | None = None,
        prune: Callable[[], object] | None = None,
        prune_seconds: float = 3600.0,
    ) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.drain_seconds = drain_seconds
        self.sweep_seconds = sweep_seconds
        self.sync_seconds = sync_seconds
        self._sync = sync
        self._reports = reports
        self._prune = prune  # retention (connector.runtime.retention_job): a plain callable job
        self.prune_seconds = prune_seconds
        self.scheduler = schedule.Scheduler()
        self._stop = engine.stopping
        self._wake = threading.Event()  # set by push intake: new input is journaled
        self.http_settings = http
        self._reload = reload
        self._reload_asked = threading.Event()  # set by SIGHUP; the loop reloads between jobs
        self.http: DaemonHttp | None = None  # the running server (tests read its port)
        self._gauges_at = 0.0
        self._mounted: list[MountableSource] = []

    def request_reload(self) -> None:
        """Ask the loop to re-read the rule book and people.yaml between two jobs (SIGHUP)."""
        self._reload_asked.set()
        self._wake.set()

    def stop(self) -> None:
        """Ask the loop to finish what it is doing and return."""
        if not self._stop.is_set():
            notify("STOPPING=1", "STATUS=stopping: finishing the operation in flight")
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
        if self._prune is not None:
            prune = self._guard("prune", self._prune)
            self.scheduler.every(self.prune_seconds).seconds.do(prune)  # type: ignore[arg-type]
        if self.http_settings is not None:
            probe = self._guard("probe", lambda: probe_backend(self.engine))
            self.scheduler.every(self.http_settings.probe_seconds).seconds.do(probe)  # type: ignore[arg-type]
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
            if self.http_settings is not None:
                self._guard("probe", lambda: probe_backend(self.engine))()
            poll()
            sweep()  # catches up at once after a downtime: missed steps fire now, marked late
            drain()
            self._refresh_gauges(force=True)
            self.engine.health.mark_started()
            notify("READY=1", f"STATUS={self._status()}")
            while not self._stop.is_set():
                if self._reload_asked.is_set():
                    self._reload_asked.clear()
                    self._do_reload()
                if self._wake.is_set():
                    self._wake.clear()
                    pushed()
                self.scheduler.run_pending()
                self._refresh_gauges()
                idle = self.scheduler.idle_seconds
                self._wake.wait(timeout=max(0.05, min(1.0, idle if idle is not None else 1.0)))
        finally:
            self._stop_push(journal, pushers)
        self.scheduler.clear()
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
        """The state-file gauges of /metrics, at most every ``GAUGE_SECONDS`` (read on this
        thread: the store's connection is this thread's)."""
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

    def _process_pushed(self) -> None:
        self.engine.process_pending()
        self.engine.drain_outbox()

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
                self.engine.store.target, self.engine.clock, on_new=self._wake.set, metrics=self.engine.metrics
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
        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("received %s: finishing the operation in flight", signal.Signals(signum).name)
            self.stop()

        def hangup(signum: int, frame: FrameType | None) -> None:
            log.info("received SIGHUP: reloading the rule book and people.yaml between two jobs")
            self.request_reload()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, handler)
            signal.signal(signal.SIGINT, handler)
            signal.signal(signal.SIGHUP, hangup)
