"""Daemons as real processes: two ``run`` on one state file share the work (each singleton job
held by one of them, every webhook event one ticket whichever daemon received it), a stopped
daemon hands its leases over at once, ``once`` is refused beside them; and a second (and third)
SIGTERM while a daemon is stopping neither hangs nor delays the stop."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

from connector.cli.main import main
from connector.state.store import Store
from tests.unit.service_process import Running, free_port, http_json, wait_for
from tests.unit.webhook_payloads import problem_payload

SECRET = "s3cret-for-the-daemons-test-0123456789"


def _config(directory: Path, state: Path, port: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "secret.txt").write_text(SECRET, encoding="utf-8")
    config = directory / "c.yaml"
    config.write_text(
        f"""\
state: {{path: {state}}}
backend: {{type: local, path: {state.parent / "tickets.db"}}}
sources:
  - {{type: zabbix_webhook, name: zabbix, secret_file: secret.txt, server_timezone: UTC}}
daemon: {{poll_seconds: 0.2, drain_seconds: 0.2, sweep_seconds: 1, lease_seconds: 3}}
http: {{listen: 127.0.0.1, port: {port}, probe_seconds: 1}}
""",
        encoding="utf-8",
    )
    return config


def _keys(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return [key for (key,) in conn.execute("SELECT key FROM tickets ORDER BY id")]
        except sqlite3.OperationalError:
            return []


def _holders(state: Path) -> dict[str, str | None]:
    store = Store(state)
    try:
        now = store.leases()
        return {row.name: row.holder for row in now}
    finally:
        store.close()


def test_two_daemons_on_one_state_share_the_work_and_hand_over_on_stop(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    ports = [free_port(), free_port()]
    runs = [Running(_config(tmp_path / f"d{n}", state, ports[n])) for n in (0, 1)]
    try:
        for run, port in zip(runs, ports, strict=True):
            run.wait_http(port)
        auth = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
        for n in range(10):  # alternately to both; the same event twice to both
            body = json.dumps(problem_payload(event_id=str(100 + n // 2), host_host=f"h-{'abcde'[n // 2]}"))
            status, answer = http_json(ports[n % 2], "/zabbix", body=body.encode(), headers=auth)
            assert status == 200, answer
        wait_for(lambda: len(_keys(tmp_path / "tickets.db")) == 5, "five tickets")
        assert sorted(_keys(tmp_path / "tickets.db")) == [f"zabbix:{100 + n}" for n in range(5)]
        wait_for(lambda: {"sweep", "poll:zabbix"} <= {k for k, v in _holders(state).items() if v}, "the leases")
        holders = _holders(state)
        pids = {run.proc.pid for run in runs}
        assert all(int(str(who).split(":")[1]) in pids for who in holders.values())  # each held by one of them
        # ``once`` beside running daemons is refused (it would do their leased jobs a second time)
        assert main(["once", "--config", str(tmp_path / "d0" / "c.yaml")]) == 1
        # a clean stop releases the leases: the other daemon takes them at its next turn
        first = next(run for run in runs if f":{run.proc.pid}:" in str(holders["sweep"]))
        assert first.stop() == 0
        survivor = (pids - {first.proc.pid}).pop()
        wait_for(lambda: f":{survivor}:" in str(_holders(state).get("sweep")), "the takeover", 10)
    finally:
        for run in runs:
            run.stop()


def test_a_second_sigterm_while_stopping_neither_hangs_nor_delays_the_stop(tmp_path: Path) -> None:
    port = free_port()
    run = Running(_config(tmp_path / "d", tmp_path / "state.db", port))
    try:
        run.readiness(port)
        run.signal(signal.SIGTERM)
        run.signal(signal.SIGTERM)  # a double Ctrl-C, and an impatient third
        run.signal(signal.SIGINT)
        code = run.proc.wait(timeout=30)
    finally:
        run.stop()
    log = run.text()
    assert code == 0, log
    # pending signals are handled in signal-number order (SIGINT first); one starts the stop,
    # the others are only said; the same signal sent twice may reach the process once
    assert log.count(": finishing the operation in flight") == 1
    assert "again: already stopping" in log and "stopped cleanly" in log
    assert "Traceback" not in log
