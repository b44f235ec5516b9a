"""A second SIGTERM/SIGINT while the daemon stops (a double Ctrl-C): said in the log, and the
stop goes on as it was — the job in flight finishes once, nothing runs again, ``run`` returns 0.
A stop asked before the daemon was ready never tells systemd READY=1 after STOPPING=1.

The signal handlers ``run`` installs are caught with a fake ``signal.signal`` and called
directly, from inside the job in flight (the moment a real signal would come): no process, no
sleeps; the only waits are on the daemon's own events, bounded in case it broke.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import connector.runtime.daemon as daemon_module
from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import FakeClock
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.daemon import Daemon
from connector.runtime.engine import Engine
from tests.state_backend import make_store

NOW = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)
Handler = Callable[[int, FrameType | None], Any]
STOPPING = ("STOPPING=1", "STATUS=stopping: finishing the operation in flight")


@dataclass
class Run:
    """What one ``Daemon.run`` did: its exit code, the job's turns (was the stop asked when each
    began), what systemd was told, what the daemon logged."""

    code: int
    turns: list[bool] = field(default_factory=list)
    told: list[tuple[str, ...]] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    handlers: dict[int, Handler] = field(default_factory=dict)


def _run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, signals: list[signal.Signals]
) -> Run:
    """Run a daemon whose one leased job, on its first turn, receives ``signals[0]``, waits until
    the main thread acted on it (the stop began), then receives the rest."""
    result = Run(code=-1)

    def fake_signal(signum: int, handler: Handler) -> None:
        result.handlers[signum] = handler

    monkeypatch.setattr(signal, "signal", fake_signal)
    monkeypatch.setattr(daemon_module, "notify", lambda *states: result.told.append(states) or True)
    clock = FakeClock(NOW)
    engine = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=LocalBackend(tmp_path / "tickets.db", clock),
        sources={},
        pipeline=Pipeline.from_manager(build_plugin_manager(), default_rulebook()),
        clock=clock,
    )

    def in_flight() -> None:
        result.turns.append(engine.stopping.is_set())
        if len(result.turns) > 1:
            return
        first, *later = signals
        result.handlers[first](first, None)
        assert engine.stopping.wait(30), f"{first.name} did not start the stop"
        for signum in later:  # while the main thread waits for this job to finish
            result.handlers[signum](signum, None)

    daemon = Daemon(engine, poll_seconds=3600, drain_seconds=3600, sweep_seconds=3600, prune=in_flight)
    caplog.set_level(logging.INFO, logger="connector.runtime.daemon")
    try:
        result.code = daemon.run()
    finally:
        engine.store.close()
    result.said = [r.getMessage() for r in caplog.records if r.name == "connector.runtime.daemon"]
    return result


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_while_stopping_is_said_and_the_stop_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, second: signal.Signals
) -> None:
    run = _run(tmp_path, monkeypatch, caplog, [signal.SIGTERM, second])
    assert run.code == 0
    assert set(run.handlers) == {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    assert run.turns == [False]  # the job in flight finished once; nothing ran after the stop began
    assert "received SIGTERM: finishing the operation in flight" in run.said
    assert f"received {second.name} again: already stopping, the operation in flight finishes" in run.said
    assert run.said[-1] == "stopped cleanly"
    assert [s for s in run.told if "STOPPING=1" in s] == [STOPPING]  # said once
    # a signal after run returned (the process exiting) only writes to the wake pipe: no error
    run.handlers[signal.SIGTERM](signal.SIGTERM, None)


def test_a_stop_before_the_daemon_was_ready_never_says_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # the job's first turn is part of start-up (READY=1 waits for every job's first turn)
    run = _run(tmp_path, monkeypatch, caplog, [signal.SIGINT])
    assert run.code == 0 and run.turns == [False]
    assert run.told == [STOPPING]  # not STOPPING=1 and then READY=1: systemd was stopping it
    assert "received SIGINT: finishing the operation in flight" in run.said
