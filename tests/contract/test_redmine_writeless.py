"""What the connector reads from and writes to Redmine per transition (issue 15, "write less"),
counted on a stateful Redmine 5 double (``redmine_fake``) under the real engine and sync-back:

* an issue whose last update is the connector's own create is not history-fetched, and one
  read is not read again when the next pass's overlap lists it again;
* the sync-back reads incrementally: a new state from ``first_lookback`` ago, then from the
  last update it saw (less the overlap);
* a resolve is one PUT, with the SLA target (field 21) cleared in it, and the sweep owes no
  second write for it;
* a duplicate's create carries why it is one (no note PUT after it);
* the workflow is asked once per expiry, not before every status change.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pluggy
import pytest
import requests
import responses
from pydantic import SecretStr

from connector.domain.clock import FakeClock
from connector.domain.models import Alert, TicketStatus
from connector.integrations.redmine import RedmineBackend, RedmineSettings
from connector.integrations.redmine.workflow import WORKFLOW_EXPIRY
from connector.process.escalation import SweepRules
from connector.process.pipeline import Pipeline
from connector.rules.ladder import load_escalation, load_notification_rules
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.runtime.syncback import OVERLAP, SyncBack
from connector.state.store import Store
from tests.contract.redmine_fake import RedmineFake
from tests.contract.test_redmine_contract import CF_IDS, KEY, URL

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
HISTORY = "journals"
WORKFLOW = "allowed_statuses"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def redmine(clock: FakeClock) -> Iterator[RedmineFake]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield RedmineFake(rsps, clock)


@pytest.fixture
def engine(redmine: RedmineFake, clock: FakeClock, tmp_path: Path, pm: pluggy.PluginManager) -> Iterator[Engine]:
    settings = RedmineSettings(url=URL, api_key=SecretStr(KEY), project="ops")
    backend = RedmineBackend(settings, clock=clock, session=requests.Session())
    book = default_rulebook()
    made = Engine(
        store=Store(tmp_path / "state.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(pm, book),
        clock=clock,
        sweep_rules=SweepRules(book.sla, load_escalation(), load_notification_rules()),
    )
    yield made
    made.store.close()


def problem(clock: FakeClock, eid: str, host: str | None = None, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "source": "zabbix",
        "external_id": eid,
        "title": f"Disk full on {host or 'web' + eid}",
        "ci": host or f"web{eid}",
        "severity": 4,
        "occurred_at": clock.now(),
    }
    values.update(fields)
    return Alert.model_validate(values)


def feed(engine: Engine, *alerts: Alert) -> None:
    engine.ingest("zabbix", list(alerts))
    engine.process_pending()
    engine.drain_outbox()


def issue_path(number: int) -> str:
    return f"/issues/{number}.json"


def test_an_issue_last_written_by_the_connector_is_not_history_fetched(
    engine: Engine, redmine: RedmineFake, clock: FakeClock
) -> None:
    feed(engine, problem(clock, "1"))
    assert redmine.count("POST", "/issues.json") == 1
    sync = SyncBack(engine)
    clock.advance(seconds=30)
    assert sync.run() == 0
    assert redmine.count("GET", issue_path(1), HISTORY) == 0  # its only change is the create

    clock.advance(seconds=5)
    redmine.person_changes(1, status_id=2)  # the desk takes it: In Progress
    clock.advance(seconds=30)
    assert sync.run() == 1  # the desk's change is read and applied as before
    assert redmine.count("GET", issue_path(1), HISTORY) == 1
    state = engine.store.get("zabbix:1")
    assert state is not None and state.status is TicketStatus.IN_PROGRESS

    clock.advance(seconds=20)  # the next pass's overlap lists it again: nothing new, no read
    assert sync.run() == 0
    assert redmine.count("GET", issue_path(1), HISTORY) == 1


def test_a_change_in_the_second_of_the_listing_is_read_again(
    engine: Engine, redmine: RedmineFake, clock: FakeClock
) -> None:
    """A listing in the same second as the last update cannot prove that no other change of
    that second follows: the issue is read again on the next pass."""
    feed(engine, problem(clock, "1"))
    sync = SyncBack(engine)
    clock.advance(seconds=30)
    redmine.person_changes(1, status_id=2)
    assert sync.run() == 1  # listed in the very second of the change
    redmine.person_changes(1, status_id=3)  # …and another change in that same second
    clock.advance(seconds=20)
    assert sync.run() == 1
    assert redmine.count("GET", issue_path(1), HISTORY) == 2
    state = engine.store.get("zabbix:1")
    assert state is not None and state.status is TicketStatus.RESOLVED


def test_without_a_date_header_a_create_tells_how_redmines_clock_stands(
    redmine: RedmineFake, engine: Engine, clock: FakeClock
) -> None:
    """Redmine's own server sends no ``Date``: the create's answer (saved at its ``updated_on``)
    is the lower bound of Redmine's clock, and a read is remembered as well."""
    redmine.dates = False
    feed(engine, problem(clock, "1"))
    sync = SyncBack(engine)
    clock.advance(seconds=5)
    redmine.person_changes(1, status_id=2)
    clock.advance(seconds=30)
    assert sync.run() == 1
    clock.advance(seconds=20)
    assert sync.run() == 0  # listed again by the overlap: not read again
    assert redmine.count("GET", issue_path(1), HISTORY) == 1


def test_without_any_clock_of_redmines_every_change_is_read_again(
    redmine: RedmineFake, engine: Engine, clock: FakeClock
) -> None:
    """No ``Date`` and no create of this backend yet: nothing proves a listing came after the
    update's second, so a listed issue is read as before (never skipped wrongly)."""
    redmine.dates = False
    feed(engine, problem(clock, "1"))
    engine.backend.close()
    fresh = RedmineBackend(
        RedmineSettings(url=URL, api_key=SecretStr(KEY), project="ops"), clock=clock, session=requests.Session()
    )
    engine.backend = fresh
    sync = SyncBack(engine)
    clock.advance(seconds=5)
    redmine.person_changes(1, status_id=2)
    clock.advance(seconds=30)
    assert sync.run() == 1
    clock.advance(seconds=20)
    assert sync.run() == 0  # the same history changes nothing…
    assert redmine.count("GET", issue_path(1), HISTORY) == 2  # …but it was read again


def listings(redmine: RedmineFake) -> list[str]:
    """The ``updated_on`` filter of every sync-back listing (not the lookups' sample)."""
    out = []
    for call in redmine.rsps.calls:
        parts = urlsplit(call.request.url)
        params = parse_qs(parts.query)
        if call.request.method == "GET" and parts.path == "/issues.json" and "updated_on" in params:
            out.append(params["updated_on"][0])
    return out


def test_the_read_back_is_incremental_and_a_new_state_starts_now_ish(
    engine: Engine, redmine: RedmineFake, clock: FakeClock
) -> None:
    sync = SyncBack(engine, first_lookback=timedelta(minutes=5))
    sync.run()
    first = T0 - timedelta(minutes=5) - OVERLAP
    assert listings(redmine) == [">=" + first.strftime("%Y-%m-%dT%H:%M:%SZ")]
    feed(engine, problem(clock, "1"))  # updated at T0
    clock.advance(minutes=3)
    redmine.person_changes(1, status_id=2)  # updated at T0 + 3 min
    clock.advance(minutes=1)
    sync.run()
    sync.run()
    # the last update it saw (nothing yet: where it started), less the overlap each time
    since = [first, T0 + timedelta(minutes=3) - OVERLAP]
    assert listings(redmine)[1:] == [">=" + at.strftime("%Y-%m-%dT%H:%M:%SZ") for at in since]


def test_a_resolve_is_one_put_with_the_sla_target_cleared(
    engine: Engine, redmine: RedmineFake, clock: FakeClock
) -> None:
    down = problem(clock, "1")
    feed(engine, down)
    state = engine.store.get("zabbix:1")
    assert state is not None and state.sla_due is not None  # field 21 shows a deadline
    sla_cf = next(cf for cf in redmine.issues[1]["custom_fields"] if cf["id"] == CF_IDS["sla_due"])
    assert sla_cf["value"]
    clock.advance(minutes=4)
    feed(engine, down.model_copy(update={"recovered_at": clock.now()}))
    puts = [c for c in redmine.rsps.calls if c.request.method == "PUT"]
    assert len(puts) == 1
    assert redmine.issues[1]["status"]["name"] == "Resolved"
    assert sla_cf["value"] == ""  # cleared in the same PUT
    clock.advance(minutes=2)
    engine.sweep()
    engine.drain_outbox()
    assert redmine.count("PUT", issue_path(1)) == 1  # the sweep owes nothing more
    assert engine.store.outbox_counts().get("pending", 0) == 0


def test_a_duplicate_create_carries_its_note(engine: Engine, redmine: RedmineFake, clock: FakeClock) -> None:
    feed(engine, problem(clock, "1", host="gw-07"))
    clock.advance(minutes=2)
    feed(engine, problem(clock, "2", host="gw-07"))  # the same problem again: a duplicate
    assert len(redmine.issues) == 2
    description = redmine.issues[2]["description"]
    assert "duplicate #" in description and "(rule dedup.window)" in description
    assert redmine.count("PUT", issue_path(2)) == 0  # no note PUT after the create
    assert redmine.count("POST", "/issues/2/relations.json") == 1
    assert engine.store.dead_letters() == []


def test_the_workflow_is_asked_once_per_expiry(engine: Engine, redmine: RedmineFake, clock: FakeClock) -> None:
    downs = [problem(clock, str(n)) for n in range(1, 5)]
    feed(engine, *downs)
    clock.advance(minutes=1)
    feed(engine, *(d.model_copy(update={"recovered_at": clock.now()}) for d in downs[:2]))
    asked = sum(redmine.count("GET", issue_path(n), WORKFLOW) for n in range(1, 5))
    assert asked == 1  # the second resolve from New used what the first learned
    assert [redmine.issues[n]["status"]["name"] for n in (1, 2)] == ["Resolved", "Resolved"]
    clock.advance(WORKFLOW_EXPIRY)
    feed(engine, downs[2].model_copy(update={"recovered_at": clock.now()}))
    asked = sum(redmine.count("GET", issue_path(n), WORKFLOW) for n in range(1, 5))
    assert asked == 2  # expired: asked again
    feed(engine, downs[3].model_copy(update={"recovered_at": clock.now()}))
    assert sum(redmine.count("GET", issue_path(n), WORKFLOW) for n in range(1, 5)) == 2


def test_a_status_someone_else_set_is_checked_against_the_workflow_again(
    engine: Engine, redmine: RedmineFake, clock: FakeClock
) -> None:
    """What the listing shows moves the issue's known status: the facts of the status it is in
    now are asked for, not those of the status the connector created it in."""
    downs = [problem(clock, str(n)) for n in range(1, 3)]
    feed(engine, *downs)
    clock.advance(minutes=1)
    feed(engine, downs[0].model_copy(update={"recovered_at": clock.now()}))  # learns "from New"
    redmine.person_changes(2, status_id=4)  # Feedback
    clock.advance(seconds=30)
    SyncBack(engine).run()
    feed(engine, downs[1].model_copy(update={"recovered_at": clock.now()}))
    assert redmine.count("GET", issue_path(2), WORKFLOW) == 1
