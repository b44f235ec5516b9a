"""Whether the daemon can do its job now: the checks behind ``GET /readyz``.

``/healthz`` says the process answers; ``/readyz`` says it is worth sending work to, which
takes these checks, each named in the JSON body when it fails:

- ``startup``: the daemon finished its first cycle (probe, poll, sweep, drain) — the moment it
  tells systemd ``READY=1``; until then nothing below has been tried, so nothing is known;

- ``state``: the state store takes a write transaction (``probe_writable``: a connection of
  its own, ``BEGIN IMMEDIATE`` then ``ROLLBACK`` on SQLite, a read-write transaction on
  PostgreSQL; nothing written);
- ``backend:<name>`` and ``source:<name>``: at least one of the last ``attempts`` tries
  reached it (a helpdesk operation, the daemon's periodic probe, a poll). A refusal is an
  answer, so it counts as reached; only "could not reach it" counts against. Nothing tried
  yet is not a failure: the daemon probes the backend before it says READY;
- ``sweep``: the last completed sweep is at most ``sweep_late_seconds`` behind its schedule
  (a sweep that hangs on a slow helpdesk would otherwise let SLA steps pass unseen).

``Health`` is written by the loop thread and read by the HTTP threads, hence the lock.
"""

from __future__ import annotations

__all__ = ["Check", "Health", "probe_writable"]

import sqlite3
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from connector.domain.clock import Clock
from connector.state.target import StateTarget


@dataclass(frozen=True)
class Check:
    """One readiness check: its name, whether it passes, and why not."""

    name: str
    ok: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The check in the ``/readyz`` body."""
        return {"ok": self.ok, "detail": self.detail} if self.detail else {"ok": self.ok}


def probe_writable(state: str | StateTarget, timeout: float = 2.0) -> str | None:
    """``None`` when the state store takes a write transaction now, else why not. A SQLite file:
    ``BEGIN IMMEDIATE`` then ``ROLLBACK`` on a connection of its own. PostgreSQL: a connection of
    its own, ``BEGIN`` and ``SET TRANSACTION READ WRITE`` (refused by a read-only server, a
    standby), then ``ROLLBACK``; the message names the server, never the password."""
    target = state if isinstance(state, StateTarget) else StateTarget("sqlite", state)
    if target.engine == "postgresql":
        from connector.state.probe import probe_postgresql  # psycopg only loaded for PostgreSQL

        return probe_postgresql(target, timeout)
    path = target.location
    if path == ":memory:":
        return None
    if not Path(path).exists():
        return f"{path} does not exist"
    try:
        db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        return f"cannot open {path}: {exc}"
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        return f"{path} takes no write: {exc}"
    finally:
        db.close()
    return None


class Health:
    """The recent outcomes the readiness checks read.

    :param clock: the engine's clock (sweep times are its times).
    :param attempts: how many recent tries of a backend or source are looked at (N).
    :param sweep_seconds: the sweep's schedule; ``sweep_late_seconds`` is added to it.
    :param sweep_late_seconds: how far behind the sweep may fall before ``/readyz`` fails.
    """

    def __init__(
        self, clock: Clock, *, attempts: int = 3, sweep_seconds: float = 60.0, sweep_late_seconds: float = 300.0
    ) -> None:
        self._clock = clock
        self.attempts = attempts
        self.sweep_seconds = sweep_seconds
        self.sweep_late_seconds = sweep_late_seconds
        self._lock = threading.Lock()
        self._tries: dict[str, deque[tuple[bool, str]]] = {}
        self._started = clock.now()
        self._last_sweep: datetime | None = None
        self._started_up = False

    def mark_started(self) -> None:
        """The daemon's first cycle is done: from now on the other checks speak for it."""
        with self._lock:
            self._started_up = True

    def record(self, target: str, reached: bool, detail: str = "") -> None:
        """One try of ``target`` (``backend:<name>``, ``source:<name>``): reached or not."""
        with self._lock:
            tries = self._tries.setdefault(target, deque(maxlen=self.attempts))
            tries.append((reached, detail))

    def forget(self, target: str) -> None:
        """Drop what is known of ``target`` (a source or backend that is gone)."""
        with self._lock:
            self._tries.pop(target, None)

    def sweep_done(self, at: datetime | None = None) -> None:
        """A sweep completed (at ``at``, default now)."""
        with self._lock:
            self._last_sweep = at or self._clock.now()

    def sweep_lag(self, now: datetime | None = None) -> float:
        """Seconds the sweep is behind its schedule (0 when on time)."""
        now = now or self._clock.now()
        with self._lock:
            last = self._last_sweep or self._started
        return max(0.0, (now - last).total_seconds() - self.sweep_seconds)

    def checks(self, state_path: str | StateTarget | None = None) -> list[Check]:
        """Every readiness check, in a stable order."""
        found: list[Check] = []
        with self._lock:
            started = self._started_up
        if not started:
            found.append(Check("startup", False, "the daemon has not finished its first cycle yet"))
        if state_path is not None:
            problem = probe_writable(state_path)
            found.append(Check("state", problem is None, problem or ""))
        with self._lock:
            tries = {name: list(d) for name, d in sorted(self._tries.items())}
        for name, recent in tries.items():
            if not recent or any(ok for ok, _ in recent):
                found.append(Check(name, True))
            else:
                last = recent[-1][1]
                found.append(Check(name, False, f"not reached in its last {len(recent)} attempt(s): {last}"))
        lag = self.sweep_lag()
        if lag > self.sweep_late_seconds:
            found.append(Check("sweep", False, f"the sweep is {lag:.0f}s behind its schedule"))
        else:
            found.append(Check("sweep", True))
        return found
