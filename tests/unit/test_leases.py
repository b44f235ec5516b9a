"""Leases, lock rows and outbox claims (issue 15, several daemons on one state): taking, renewing,
expiry, takeover, release, and two holders racing on one SQLite file from two connections. Time
is a FakeClock; the race uses two real threads released together by a barrier."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from connector.domain.clock import FakeClock
from connector.domain.errors import StoreError
from connector.runtime.config import DaemonSettings
from connector.runtime.holders import free_dead_holders
from connector.state.leases import DECIDE_LOCK, holder_id, stamp
from connector.state.store import MIGRATIONS, Store

A, B = "host-a:1:aaaa", "host-b:2:bbbb"


@pytest.fixture
def two(tmp_path: Path) -> tuple[Store, Store]:
    """Two connections to one state file, as two daemons have."""
    return Store(tmp_path / "state.db"), Store(tmp_path / "state.db")


def test_the_schema_has_the_lease_tables(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    assert store.schema_version == len(MIGRATIONS)
    assert store.leases() == []


def test_acquire_renew_expire_takeover_release(two: tuple[Store, Store], clock: FakeClock) -> None:
    a, b = two
    assert a.lease_acquire("sweep", A, clock.now(), 30)
    assert not b.lease_acquire("sweep", B, clock.now(), 30)  # held
    assert b.lease_holder("sweep", clock.now()) == A
    clock.advance(seconds=20)
    assert a.lease_acquire("sweep", A, clock.now(), 30)  # a renewal: now until t+50
    clock.advance(seconds=29)
    assert not b.lease_acquire("sweep", B, clock.now(), 30)  # t+49: the renewal still holds it
    clock.advance(seconds=1)
    assert b.lease_holder("sweep", clock.now()) is None  # t+50: expired
    assert b.lease_acquire("sweep", B, clock.now(), 30)  # taken over
    assert not a.lease_acquire("sweep", A, clock.now(), 30)  # and the old holder cannot renew it
    (row,) = a.leases()
    assert row.holder == B and row.acquired_at == clock.now() and row.expires_at == clock.now() + timedelta(seconds=30)
    assert not a.lease_release("sweep", A)  # not A's to release
    assert b.lease_release("sweep", B)
    assert a.lease_acquire("sweep", A, clock.now(), 30)  # released: taken at once, no waiting


def test_leases_are_independent(two: tuple[Store, Store], clock: FakeClock) -> None:
    a, b = two
    assert a.lease_acquire("sweep", A, clock.now(), 30)
    assert b.lease_acquire("poll:zabbix", B, clock.now(), 30)
    assert {row.name: row.holder for row in a.leases()} == {"poll:zabbix": B, "sweep": A}


def test_stamps_compare_as_text_in_time_order(clock: FakeClock) -> None:
    t = clock.now().replace(microsecond=0)
    later = [t, t + timedelta(microseconds=1), t + timedelta(seconds=1), t + timedelta(days=400)]
    assert [stamp(x) for x in later] == sorted(stamp(x) for x in later)


def test_two_holders_racing_on_one_file_never_both_win(tmp_path: Path, clock: FakeClock) -> None:
    rounds = 60
    barrier = threading.Barrier(2)
    wins: dict[str, list[int]] = {A: [], B: []}
    errors: list[BaseException] = []

    def race(holder: str) -> None:
        store = Store(tmp_path / "state.db")  # each thread its own connection
        try:
            for n in range(rounds):
                barrier.wait(timeout=30)
                if store.lease_acquire(f"race:{n}", holder, clock.now(), 30):
                    wins[holder].append(n)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            store.close()

    Store(tmp_path / "state.db").close()  # the schema first, so the threads only race on leases
    threads = [threading.Thread(target=race, args=(h,)) for h in (A, B)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(wins[A] + wins[B]) == list(range(rounds))  # every lease won exactly once


def test_a_lock_row_serialises_and_an_unknown_one_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    with store.transaction():
        store.take_lock(DECIDE_LOCK)
    with pytest.raises(StoreError, match="no lock row"), store.transaction():
        store.take_lock("nothing")


def test_outbox_claims(two: tuple[Store, Store], clock: FakeClock) -> None:
    a, b = two
    op = a.enqueue("backend", "create", "zabbix:1", {"x": 1}, clock.now())
    assert a.op_claim(op, A, clock.now(), 120)
    assert a.op_claim(op, A, clock.now(), 120)  # again by its holder: still A's
    assert not b.op_claim(op, B, clock.now(), 120)
    clock.advance(seconds=120)
    assert b.op_claim(op, B, clock.now(), 120)  # A died with it: taken over once expired
    assert not a.op_claim(op, A, clock.now(), 120)
    b.op_retry(op, clock.now() + timedelta(seconds=5), "down")  # a retry lets the claim go
    assert a.op_claim(op, A, clock.now(), 120)
    a.op_done(op, clock.now())
    assert not b.op_claim(op, B, clock.now() + timedelta(days=1), 120)  # done: nobody's to run
    other = a.enqueue("backend", "note", "zabbix:1", {"text": "x"}, clock.now())
    assert a.op_claim(other, A, clock.now(), 120)
    a.op_unclaim(other, A)
    assert b.op_claim(other, B, clock.now(), 120)


def test_a_dead_holders_leases_and_claims_are_freed(two: tuple[Store, Store], clock: FakeClock) -> None:
    a, b = two
    op = a.enqueue("backend", "create", "zabbix:1", {"x": 1}, clock.now())
    assert a.lease_acquire("sweep", A, clock.now(), 30) and a.op_claim(op, A, clock.now(), 120)
    assert b.holders() == {A}
    b.drop_holder(A)
    assert b.holders() == set()
    assert b.lease_acquire("sweep", B, clock.now(), 30) and b.op_claim(op, B, clock.now(), 120)


def test_holder_ids_name_host_and_pid_and_differ() -> None:
    first, second = holder_id(), holder_id()
    host, pid, _ = first.split(":")
    assert pid == str(os.getpid()) and host and first != second


def test_free_dead_holders_frees_only_dead_local_processes(tmp_path: Path, clock: FakeClock) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = holder_id().split(":")[0]
    gone, alive, remote = f"{host}:{dead.stdout.strip()}:dead", f"{host}:{os.getppid()}:live", "elsewhere:1:x"
    store = Store(tmp_path / "state.db")
    for name, who in (("a", gone), ("b", alive), ("c", remote)):
        assert store.lease_acquire(name, who, clock.now(), 30)
    assert free_dead_holders(store, holder_id()) == [gone]
    assert {row.name: row.holder for row in store.leases()} == {"a": None, "b": alive, "c": remote}


def test_lease_settings() -> None:
    settings = DaemonSettings()
    assert settings.lease_seconds == 30 and settings.renew_every == 10
    assert DaemonSettings(lease_seconds=60, renew_seconds=20).renew_every == 20
    with pytest.raises(ValidationError, match="at most half"):
        DaemonSettings(lease_seconds=30, renew_seconds=20)
