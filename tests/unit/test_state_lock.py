"""One connector per state file (issue 17): a second ``run``/``once`` is refused naming the pid
that holds the lock, the lock dies with its process, and processes opening a new state file at
the same moment do not race on creating the schema. Real processes, no sleeps: each child says
when it is ready on stdout and waits for its cue on stdin."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from connector.cli.main import main
from connector.state.lock import StateLock, StateLocked, lock_path
from connector.state.store import MIGRATIONS, Store

CONFIG = """\
state: {path: state.db}
backend: {type: local, path: tickets.db}
sources: [{type: replay, name: feed, path: alerts.jsonl}]
"""

HOLDER = textwrap.dedent(
    """
    import sys
    from connector.state.lock import StateLock
    lock = StateLock(sys.argv[1], command="run")
    lock.acquire()
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    """
)

OPENER = textwrap.dedent(
    """
    import sys
    from connector.state.store import Store
    print("ready", flush=True)
    sys.stdin.readline()  # the cue: every opener starts at once
    Store(sys.argv[1]).close()
    print("opened", flush=True)
    """
)


def child(script: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "ITSM_CONNECTOR_FAILPOINT"}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_a_second_lock_in_the_same_process_is_refused_with_the_pid(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with StateLock(state, command="once"):
        assert lock_path(state).read_text() == f"{os.getpid()} once\n"
        with pytest.raises(StateLocked, match=f"pid {os.getpid()}, once") as info:
            StateLock(state).acquire()
        assert info.value.pid == os.getpid()
    with StateLock(state):  # released: free again
        pass


def test_once_and_run_are_refused_beside_a_running_connector_naming_its_pid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    (tmp_path / "alerts.jsonl").write_text("")
    holder = child(HOLDER, str(tmp_path / "state.db"))
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert main(["once", "--config", str(tmp_path / "c.yaml")]) == 1
        assert main(["run", "--config", str(tmp_path / "c.yaml")]) == 1
        assert capsys.readouterr().err.count(f"is in use by another itsm-connector (pid {holder.pid}, run)") == 2
        assert not (tmp_path / "state.db").exists()  # refused before anything was opened
    finally:
        holder.communicate(timeout=30)  # closes its stdin: it exits
    assert main(["once", "--config", str(tmp_path / "c.yaml")]) == 0  # the holder is gone


def test_the_lock_dies_with_a_killed_process(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    holder = child(HOLDER, str(state))
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    with pytest.raises(StateLocked):
        StateLock(state).acquire()
    holder.kill()  # SIGKILL: no cleanup ran
    holder.communicate(timeout=30)
    with StateLock(state):
        pass


def test_processes_creating_a_new_state_at_once_do_not_race(tmp_path: Path) -> None:
    # before the fix about 2 rounds in 5 failed ("table journal already exists"): six rounds of
    # four openers make a regression all but certain to show
    for round_ in range(6):
        state = tmp_path / f"state-{round_}.db"
        openers = [child(OPENER, str(state)) for _ in range(4)]
        for proc in openers:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        for proc in openers:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in openers:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0 and out == "opened\n", err
        store = Store(state)
        assert store.schema_version == len(MIGRATIONS)
        store.close()
