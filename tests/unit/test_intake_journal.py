"""``ThreadedJournal``: many threads journal through one connection of their own; repeats and
rejects behave as in ``Engine.ingest``; a closed journal refuses with ``StoreError``."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from connector.contracts.adapters import Journaled, Rejected
from connector.domain.clock import FakeClock
from connector.domain.errors import StoreError
from connector.domain.models import Alert
from connector.runtime.intake import ThreadedJournal
from tests.state_backend import make_store, state_target


def alert(clock: FakeClock, eid: str) -> Alert:
    return Alert(source="zabbix", external_id=eid, title=f"problem {eid}", occurred_at=clock.now())


def test_threads_journal_concurrently_and_each_event_once(tmp_path: Path, clock: FakeClock) -> None:
    woken = threading.Event()
    journal = ThreadedJournal(state_target(tmp_path / "state.db"), clock, on_new=woken.set)
    results: list[Journaled] = []
    lock = threading.Lock()

    def send(start: int) -> None:
        for n in range(start, start + 20):
            done = journal.ingest([alert(clock, str(n % 30))])  # overlapping ids across threads
            with lock:
                results.append(done)

    threads = [threading.Thread(target=send, args=(i * 10,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    journal.close()
    assert woken.is_set()
    assert sum(r.new for r in results) == 30 and sum(r.repeats for r in results) == 50
    store = make_store(tmp_path / "state.db")
    assert store.journal_counts() == {"pending": 30}
    store.close()


def test_rejects_are_dead_lettered_once_and_the_engine_reads_the_rest(tmp_path: Path, clock: FakeClock) -> None:
    journal = ThreadedJournal(state_target(tmp_path / "state.db"), clock)
    bad = Rejected("zabbix", None, "body is not JSON", {"body": "{oops"})
    first = journal.ingest([bad, alert(clock, "1")])
    again = journal.ingest([bad])
    journal.close()
    assert (first.new, first.dead, again.dead) == (1, 1, 0)
    store = make_store(tmp_path / "state.db")
    (dead,) = store.dead_letters()
    (entry,) = store.journal_pending()
    store.close()
    assert dead["reason"] == "body is not JSON"
    assert Alert.model_validate_json(entry.payload).external_id == "1"


def test_text_that_utf8_cannot_hold_is_journaled_mended_not_refused(tmp_path: Path, clock: FakeClock) -> None:
    # pydantic keeps a lone surrogate in an unconstrained field; a plugin source may hand one over
    odd = Alert(
        source="zabbix",
        external_id="2",
        title="t",
        description="d \udade",
        raw={"k": "\ud800"},
        occurred_at=clock.now(),
    )
    bad = Rejected("zabbix", None, "not an alert", {"body": "\udade"})
    journal = ThreadedJournal(state_target(tmp_path / "state.db"), clock)
    done = journal.ingest([odd, bad])
    journal.close()
    assert (done.new, done.dead) == (1, 1)
    store = make_store(tmp_path / "state.db")
    (entry,) = store.journal_pending()
    (dead,) = store.dead_letters()
    store.close()
    again = Alert.model_validate_json(entry.payload)
    assert (again.description, again.raw) == ("d \ufffd", {"k": "\ufffd"})
    assert "\ufffd" in dead["payload"]


def test_ticket_ref_and_a_closed_journal(tmp_path: Path, clock: FakeClock) -> None:
    journal = ThreadedJournal(state_target(tmp_path / "state.db"), clock)
    assert journal.ticket_ref("zabbix:1") is None
    journal.close()
    with pytest.raises(StoreError, match="closed"):
        journal.ingest([alert(clock, "1")])
