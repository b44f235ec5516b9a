"""The outbox against the GLPI contract double behind the fault proxy (issue 17, Deliver 2 and
3): the double is served on a loopback socket (``tests/faults/glpi_http.py``) and the proxy
fails requests the way networks do — 503, 429 with Retry-After, reset, no answer past the
timeout, and "GLPI committed it, then the answer was lost" (reset, 500, no answer). Every event
becomes one ticket with each of its follow-ups, solutions and links once; backoff runs on the
fake clock, so only the timeout of the "no answer" faults passes in real time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.domain.clock import FakeClock
from connector.domain.models import Alert
from connector.integrations.glpi import GlpiBackend, GlpiSettings
from connector.runtime.engine import BACKEND, Engine
from connector.runtime.retry import RetryPolicy
from tests.conformance.harness import make_engine
from tests.contract.glpi_fake import USER_TOKEN, GlpiFake
from tests.faults.glpi_http import GlpiOverHttp
from tests.faults.proxy import Fault, FaultProxy

CAP = 16.0


@dataclass
class Rig:
    fake: GlpiFake
    proxy: FaultProxy
    engine: Engine


@pytest.fixture
def rig(clock: FakeClock, tmp_path: Path) -> Iterator[Rig]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru(re.compile(r"http://127\.0\.0\.1:\d+/"))
        fake = GlpiFake(rsps, clock)
        served = GlpiOverHttp()
        proxy = FaultProxy(("127.0.0.1", served.port), hold_seconds=2)
        settings = GlpiSettings(url=proxy.url + "/apirest.php", user_token=SecretStr(USER_TOKEN), timeout_seconds=1)
        backend = GlpiBackend(settings, clock=clock, session=requests.Session())
        engine = make_engine(backend, clock, tmp_path / "state.db")
        engine.retry = RetryPolicy(initial_seconds=CAP / 8, max_seconds=CAP)
        try:
            yield Rig(fake, proxy, engine)
        finally:
            engine.store.close()
            backend.close()
            proxy.close()
            served.close()


def alerts(clock: FakeClock, base: int, count: int) -> list[Alert]:
    return [
        Alert(
            source="zabbix",
            external_id=str(base + n),
            title=f"Disk full on glpi{base + n}",
            ci=f"glpi{base + n}",
            severity=4,
            occurred_at=clock.now(),
        )
        for n in range(count)
    ]


def drain(rig: Rig, clock: FakeClock, limit: float = 600) -> float:
    """Drain once per fake second until nothing is owed; the fake seconds it took."""
    start = clock.now()
    while True:
        rig.engine.drain_outbox()
        if rig.engine.store.outbox_counts().get("pending", 0) == 0:
            return (clock.now() - start).total_seconds()
        assert (clock.now() - start).total_seconds() < limit, rig.engine.store.outbox_rows()
        clock.advance(seconds=1)


def assert_once(rig: Rig, count: int) -> None:
    assert not rig.engine.store.dead_letters()
    assert len(rig.fake.tickets) == count
    for tid in rig.fake.tickets:
        notes = rig.fake.followups_of(tid)
        assert len(notes) == len(set(notes)), f"#{tid}: a follow-up is doubled: {notes}"
        assert len(rig.fake.solutions_of(tid)) <= 1


FAULTS = [
    (Fault.STATUS_503, 3),
    (Fault.STATUS_429, 2),
    (Fault.RESET, 3),
    (Fault.HANG, 2),
    (Fault.FORWARD_RESET, 3),
    (Fault.FORWARD_HANG, 2),
    (Fault.FORWARD_500, 3),
]


@pytest.mark.parametrize(("fault", "times"), FAULTS, ids=[f.value for f, _ in FAULTS])
def test_every_event_lands_once_through_the_fault(rig: Rig, clock: FakeClock, fault: Fault, times: int) -> None:
    events = alerts(clock, 500, 3)
    for phase in (events, [a.model_copy(update={"recovered_at": clock.now()}) for a in events]):
        rig.proxy.inject(fault, times=times, retry_after=3)
        rig.engine.ingest("zabbix", phase)
        rig.engine.process_pending()
        assert drain(rig, clock) <= 2 * CAP + 10 * times  # each planned fault costs at most one backoff step
        assert rig.proxy.pending() == 0
        clock.advance(minutes=5)
    assert_once(rig, 3)
    assert all(rig.fake.solutions_of(tid) for tid in rig.fake.tickets)


WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST /apirest.php/ITILFollowup/", "note", {"text": "hands off, the vendor is on site"}),
    ("POST /apirest.php/ITILSolution/", "resolve", {"note": "recovered", "at": "2026-11-26T03:00:00+00:00"}),
    ("POST /apirest.php/Ticket_Ticket/", "link", {"relation": "relates"}),
]


@pytest.mark.parametrize("fault", [Fault.FORWARD_RESET, Fault.FORWARD_500, Fault.FORWARD_HANG], ids=lambda f: f.value)
@pytest.mark.parametrize(("match", "op", "payload"), WRITES, ids=[w[1] for w in WRITES])
def test_a_write_glpi_committed_is_not_doubled_by_the_retry(
    rig: Rig, clock: FakeClock, fault: Fault, match: str, op: str, payload: dict[str, Any]
) -> None:
    first, second = alerts(clock, 700, 2)
    rig.engine.ingest("zabbix", [first, second])
    rig.engine.process_pending()
    drain(rig, clock)
    if op == "link":
        payload = {**payload, "related_key": second.key}
    with rig.engine.store.transaction():
        rig.engine.store.enqueue(BACKEND, op, first.key, payload, clock.now())
    rig.proxy.inject(fault, match=match)
    drain(rig, clock)
    assert rig.proxy.seen(match)[0].forwarded  # the first try reached GLPI
    assert_once(rig, 2)
    (tid,) = [t for t, row in rig.fake.tickets.items() if first.external_id in str(row.get("name"))]
    if op == "note":
        assert sum("vendor" in n for n in rig.fake.followups_of(tid)) == 1
    elif op == "resolve":
        assert len(rig.fake.solutions_of(tid)) == 1
    else:
        assert len(rig.fake.links) == 1  # the retry's refusal (one link per pair) counted as done


def test_glpi_gone_mid_stream_loses_and_doubles_nothing(rig: Rig, clock: FakeClock) -> None:
    events = alerts(clock, 900, 4)
    rig.engine.ingest("zabbix", events[:2])
    rig.engine.process_pending()
    drain(rig, clock)
    rig.proxy.down()
    rig.engine.ingest("zabbix", events[2:])
    rig.engine.ingest("zabbix", [a.model_copy(update={"recovered_at": clock.now()}) for a in events[:2]])
    rig.engine.process_pending()
    for _ in range(90):
        rig.engine.drain_outbox()
        clock.advance(seconds=1)
    assert rig.engine.store.outbox_counts().get("pending", 0) > 0
    rig.proxy.up()
    assert drain(rig, clock) <= 2 * CAP
    assert_once(rig, 4)
