"""What the daemon counts, in Prometheus terms (``GET /metrics``; docs/operations.md lists them).

One ``Metrics`` per engine, on a registry of its own (never prometheus-client's global one):
two engines in one test process, or a rebuilt engine after a reload, never add to each other's
numbers. Counters are bumped where the thing happens (``Engine.ingest``, the intake thread,
``Engine._commit``, the drain, the sweep); the gauges that describe the state file (outbox
depth and age, dead letters) are refreshed by the daemon's loop — ``refresh`` — because the
store's connection belongs to the loop's thread and a scrape must not wait for the database.

Label values are names from the config (sources, channels, backend operations) or fixed words
(actions, results, priorities), never text from an alert, so the series stay few.
"""

from __future__ import annotations

__all__ = ["Metrics"]

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from connector.state.store import Store

#: backend latency buckets (seconds): a local file to a slow helpdesk behind a proxy
_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The connector's counters and gauges on their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.alerts_received = Counter(
            "itsm_alerts_received", "Events journaled as new, by source", ["source"], registry=r
        )
        self.alerts_rejected = Counter(
            "itsm_alerts_rejected", "Inputs refused and dead-lettered at intake, by source", ["source"], registry=r
        )
        self.decisions = Counter("itsm_decisions", "Pipeline decisions, by action", ["action"], registry=r)
        self.backend_requests = Counter(
            "itsm_backend_requests", "Helpdesk operations tried, by operation", ["backend", "operation"], registry=r
        )
        self.backend_errors = Counter(
            "itsm_backend_errors", "Helpdesk operations that failed, by operation", ["backend", "operation"], registry=r
        )
        self.backend_latency = Histogram(
            "itsm_backend_request_seconds",
            "Time one helpdesk operation took, by operation",
            ["backend", "operation"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.notices = Counter(
            "itsm_notices",
            "Notices tried, by channel and result (sent, retry, failed)",
            ["channel", "result"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "itsm_dead_lettered",
            "Items put in the dead-letter table, by kind (intake, rule, outbox)",
            ["kind"],
            registry=r,
        )
        self.sla_breaches = Counter(
            "itsm_sla_breaches", "SLA stages that passed their target, by priority", ["priority"], registry=r
        )
        self.outbox_depth = Gauge("itsm_outbox_depth", "Operations owed (pending) in the outbox", registry=r)
        self.outbox_oldest_age = Gauge(
            "itsm_outbox_oldest_age_seconds", "Age of the oldest owed operation (0: none)", registry=r
        )
        self.dead_letters = Gauge("itsm_dead_letters", "Rows in the dead-letter table", registry=r)
        self.sweep_lag = Gauge(
            "itsm_sweep_lag_seconds", "How far the last completed sweep is behind its schedule", registry=r
        )
        self.reloads = Counter("itsm_reloads", "SIGHUP reloads of the rule book, by result", ["result"], registry=r)
        self.maintenance_held = Gauge(
            "itsm_maintenance_held",
            "Alerts held in maintenance (maintenance.yaml, Zabbix suppression): still held, recovered while held, "
            "opened when the window ended",
            ["state"],
            registry=r,
        )
        # several daemons (docs/several-daemons.md): each job's runs, and which leases this one holds
        self.jobs = Counter(
            "itsm_jobs",
            "Runs of the daemon's periodic jobs, by task (the job's name) and result (ok, failed)",
            ["task", "result"],
            registry=r,
        )
        self.leases_held = Gauge(
            "itsm_leases_held", "1 while this daemon holds the job's lease (runs it), else 0", ["task"], registry=r
        )

    @contextmanager
    def backend_call(self, backend: str, operation: str) -> Iterator[None]:
        """Count and time one helpdesk operation; an exception counts as an error and is re-raised."""
        self.backend_requests.labels(backend, operation).inc()
        started = time.monotonic()  # a duration, so the monotonic clock (not the injected wall clock)
        try:
            yield
        except BaseException:
            self.backend_errors.labels(backend, operation).inc()
            raise
        finally:
            self.backend_latency.labels(backend, operation).observe(time.monotonic() - started)

    def refresh(self, store: Store, now: datetime) -> None:
        """Read the state file's gauges (on the thread that owns ``store``)."""
        depth, oldest = store.outbox_backlog()
        self.outbox_depth.set(depth)
        self.outbox_oldest_age.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
        self.dead_letters.set(store.dead_letter_count())
        for state, count in store.hold_counts().items():
            self.maintenance_held.labels(state).set(count)

    def exposition(self) -> bytes:
        """The text format a Prometheus scrape reads."""
        return generate_latest(self.registry)
