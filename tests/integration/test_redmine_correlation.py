"""Duplicates and recurrences through the real Redmine 5: a duplicate is linked to its master with a
``duplicates`` relation and is resolved when the master is resolved; closing the master in
Redmine closes it too (Redmine's own rule); a recurrence is a new issue related to the closed
original. Every check reads Redmine back with plain requests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest
import requests
from pydantic import SecretStr

from connector.domain.clock import FakeClock
from connector.domain.ledger import record_status
from connector.domain.models import Alert, TicketStatus
from connector.integrations.redmine import RedmineBackend, RedmineSettings
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from tests.state_backend import make_store

pytestmark = [pytest.mark.integration, pytest.mark.both_states]

T0 = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)


class Api:
    def __init__(self, env: dict[str, str]) -> None:
        self.url = env["REDMINE_URL"]
        self.session = requests.Session()
        self.session.headers["X-Redmine-API-Key"] = env["REDMINE_API_KEY"]

    def issue(self, issue_id: str, include: str = "relations,journals") -> dict[str, Any]:
        response = self.session.get(f"{self.url}/issues/{issue_id}.json", params={"include": include}, timeout=30)
        response.raise_for_status()
        return dict(response.json()["issue"])

    def set_status(self, issue_id: str, name: str) -> None:
        statuses = self.session.get(f"{self.url}/issue_statuses.json", timeout=30).json()["issue_statuses"]
        status_id = next(s["id"] for s in statuses if s["name"] == name)
        response = self.session.put(
            f"{self.url}/issues/{issue_id}.json", json={"issue": {"status_id": status_id}}, timeout=30
        )
        response.raise_for_status()


@pytest.fixture
def setup(
    tmp_path: Path, redmine_env: dict[str, str], pm: pluggy.PluginManager
) -> Iterator[tuple[Engine, FakeClock, Api, str]]:
    clock = FakeClock(T0)
    backend = RedmineBackend(
        RedmineSettings(
            url=redmine_env["REDMINE_URL"],
            api_key=SecretStr(redmine_env["REDMINE_API_KEY"]),
            project=redmine_env["REDMINE_PROJECT"],
            timeout_seconds=30,
        ),
        clock=clock,
    )
    engine = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
    )
    yield engine, clock, Api(redmine_env), uuid.uuid4().hex[:8]
    backend.close()
    engine.store.close()


def switch_down(run: str, eid: str, at: datetime, **extra: Any) -> Alert:
    return Alert(
        source="zabbix",
        external_id=f"{run}-{eid}",
        title=f"Interface Gi1/0/1 (uplink to Line 2) down on core-sw-{run}",
        ci=f"core-sw-{run}",
        host_groups=("Metro/Network core",),
        severity=5,
        occurred_at=at,
        **extra,
    )


def feed(engine: Engine, clock: FakeClock, alert: Alert) -> None:
    clock.set(alert.recovered_at or alert.occurred_at)
    engine.ingest("zabbix", [alert])
    engine.process_pending()
    engine.drain_outbox()
    assert engine.store.outbox_counts().get("pending", 0) == 0, engine.store.outbox_rows("pending")


def ticket_id(engine: Engine, key: str) -> str:
    ref = engine.store.ticket_ref(key)
    assert ref is not None, key
    return ref[0]


def test_a_duplicate_is_linked_and_resolved_with_its_master(setup: tuple[Engine, FakeClock, Api, str]) -> None:
    engine, clock, api, run = setup
    master = switch_down(run, "1", T0)
    feed(engine, clock, master)
    feed(engine, clock, switch_down(run, "2", T0 + timedelta(minutes=3)))
    master_id = ticket_id(engine, f"zabbix:{run}-1")
    dup_id = ticket_id(engine, f"zabbix:{run}-2")

    dup = api.issue(dup_id)
    assert [(r["issue_id"], r["issue_to_id"], r["relation_type"]) for r in dup["relations"]] == [
        (int(dup_id), int(master_id), "duplicates")
    ]
    fields = {cf["name"]: cf.get("value") for cf in dup["custom_fields"]}
    assert fields["Duplicate of 重复于"] == f"zabbix:{run}-1"
    assert fields["Category 事件分类"] == "网络"
    # why it is a duplicate is in the create itself, below the description (no note PUT after it)
    assert "duplicate #1 of master" in dup["description"]
    assert not any("duplicate #1 of master" in (j.get("notes") or "") for j in dup["journals"])

    feed(engine, clock, master.model_copy(update={"recovered_at": T0 + timedelta(minutes=25)}))
    assert api.issue(master_id)["status"]["name"] == "Resolved"
    resolved_dup = api.issue(dup_id)
    assert resolved_dup["status"]["name"] == "Resolved"
    assert any(f"Resolved with its master zabbix:{run}-1" in (j.get("notes") or "") for j in resolved_dup["journals"])


def test_closing_the_master_in_redmine_closes_the_duplicate(setup: tuple[Engine, FakeClock, Api, str]) -> None:
    engine, clock, api, run = setup
    feed(engine, clock, switch_down(run, "1", T0))
    feed(engine, clock, switch_down(run, "2", T0 + timedelta(minutes=1)))
    master_id = ticket_id(engine, f"zabbix:{run}-1")
    dup_id = ticket_id(engine, f"zabbix:{run}-2")
    api.set_status(master_id, "Closed")  # the desk closes the master in Redmine's UI
    assert api.issue(dup_id)["status"]["name"] == "Closed"


def test_a_recurrence_is_a_new_issue_related_to_the_closed_original(setup: tuple[Engine, FakeClock, Api, str]) -> None:
    engine, clock, api, run = setup
    first = switch_down(run, "1", T0, description="optic replaced on Gi1/0/1")
    feed(engine, clock, first)
    feed(engine, clock, first.model_copy(update={"recovered_at": T0 + timedelta(minutes=40)}))
    original_id = ticket_id(engine, f"zabbix:{run}-1")
    api.set_status(original_id, "Closed")
    # what the sync-back records when it reads the close from Redmine
    with engine.store.transaction():
        record_status(engine.store, f"zabbix:{run}-1", TicketStatus.CLOSED, T0 + timedelta(hours=1))

    feed(engine, clock, switch_down(run, "9", T0 + timedelta(days=2)))
    new_id = ticket_id(engine, f"zabbix:{run}-9")
    assert new_id != original_id
    issue = api.issue(new_id)
    assert [r["relation_type"] for r in issue["relations"]] == ["relates"]
    assert {issue["relations"][0]["issue_id"], issue["relations"][0]["issue_to_id"]} == {int(new_id), int(original_id)}
    assert issue["status"]["name"] == "New"
    assert "复发事件 recurrence of" in issue["description"] and "optic replaced on Gi1/0/1" in issue["description"]
    fields = {cf["name"]: cf.get("value") for cf in issue["custom_fields"]}
    assert fields["Recurrence of 复发于"] == f"zabbix:{run}-1"
    assert "the fix did not hold" in issue["description"]  # written in the create
