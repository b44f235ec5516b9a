"""``ThreadedJournal`` group commit: requests that wait while the writer is busy share one
transaction (one fsync), each is answered only after that commit, and one request that fails
does not fail the others sharing its transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from connector.contracts.adapters import Journaled
from connector.domain.clock import FakeClock
from connector.domain.errors import StoreError
from connector.domain.models import Alert
from connector.runtime.intake import ThreadedJournal
from connector.state.store import Store


def alert(clock: FakeClock, eid: str, source: str = "zabbix") -> Alert:
    return Alert(source=source, external_id=eid, title=f"problem {eid}", occurred_at=clock.now())


def writer_store(journal: ThreadedJournal) -> Store:
    found: list[Store] = []
    journal._with_store(found.append)
    return found[0]


def count_commits(store: Store) -> list[int]:
    """Patch ``store`` to count its outermost transactions that committed."""
    commits = [0]
    inner = store.transaction

    @contextmanager
    def counted() -> Iterator[None]:
        outer = store._depth == 0
        with inner():
            yield
        if outer:
            commits[0] += 1

    store.transaction = counted  # type: ignore[method-assign]
    return commits


def held_writer(journal: ThreadedJournal) -> threading.Event:
    """Keep the writer thread busy until the returned event is set."""
    release = threading.Event()
    journal._executor.submit(release.wait, 30)
    return release


def send_all(journal: ThreadedJournal, batches: list[list[Alert]]) -> list[Any]:
    results: list[Any] = [None] * len(batches)

    def send(i: int) -> None:
        try:
            results[i] = journal.ingest(batches[i])
        except Exception as exc:  # the test looks at what each caller got
            results[i] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    return [threads, results]


def wait_for_waiting(journal: ThreadedJournal, count: int) -> None:
    for _ in range(3000):
        with journal._lock:
            if len(journal._waiting) >= count:
                return
        threading.Event().wait(0.01)
    raise AssertionError("the requests never queued")


def test_waiting_requests_share_one_commit_and_each_gets_its_own_answer(tmp_path: Path, clock: FakeClock) -> None:
    journal = ThreadedJournal(tmp_path / "state.db", clock)
    commits = count_commits(writer_store(journal))
    release = held_writer(journal)
    batches = [[alert(clock, str(n))] for n in range(20)] + [[alert(clock, "3")]]  # the last repeats one
    threads, results = send_all(journal, batches)
    wait_for_waiting(journal, len(batches))
    assert all(r is None for r in results)  # nobody is answered before the commit
    release.set()
    for t in threads:
        t.join(timeout=60)
    assert commits[0] == 1
    assert results[:20] == [Journaled(new=1, repeats=0, dead=0)] * 20
    assert results[20] == Journaled(new=0, repeats=1, dead=0)
    journal.close()
    store = Store(tmp_path / "state.db")
    assert store.journal_counts() == {"pending": 20}
    store.close()


def test_one_failing_request_does_not_fail_the_others(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = ThreadedJournal(tmp_path / "state.db", clock)
    store = writer_store(journal)
    real_add = store.journal_add

    def journal_add(source: str, *args: Any, **kwargs: Any) -> bool:
        if source == "broken":
            raise StoreError("disk says no")
        return real_add(source, *args, **kwargs)

    monkeypatch.setattr(store, "journal_add", journal_add)
    release = held_writer(journal)
    batches = [[alert(clock, "1")], [alert(clock, "2", source="broken")], [alert(clock, "3")]]
    threads, results = send_all(journal, batches)
    wait_for_waiting(journal, len(batches))
    release.set()
    for t in threads:
        t.join(timeout=60)
    assert results[0] == Journaled(new=1, repeats=0, dead=0)
    assert isinstance(results[1], StoreError)
    assert results[2] == Journaled(new=1, repeats=0, dead=0)
    journal.close()
    check = Store(tmp_path / "state.db")
    assert check.journal_counts() == {"pending": 2}
    check.close()
