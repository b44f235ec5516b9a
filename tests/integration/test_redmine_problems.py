"""Problem records and changes through the real Redmine 5 (issue 13): a P1 alert opens its
incident and one issue of the Problem tracker related to it; a second incident of the same
fingerprint is related to that same problem, which gets a note; a person relating an issue of the
Change tracker to an incident moves it to the mapped pending-change status, and closing the
change moves it back. Each test works in a project of its own (the server is shared); every
check reads Redmine back with plain requests."""

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
from connector.domain.models import Alert, TicketStatus
from connector.integrations.redmine import RedmineBackend, RedmineSettings
from connector.integrations.redmine.settings import RedmineLinks
from connector.integrations.redmine.setup import inspect
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack
from tests.state_backend import make_store

pytestmark = [pytest.mark.integration, pytest.mark.both_states]


class Api:
    """The desk's and problem management's side: plain REST calls with the admin key."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = env["REDMINE_URL"]
        self.session = requests.Session()
        self.session.headers["X-Redmine-API-Key"] = env["REDMINE_API_KEY"]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        response = self.session.request(method, self.url + path, json=body, params=params, timeout=30)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def issue(self, issue_id: int | str) -> dict[str, Any]:
        return dict(self.call("GET", f"/issues/{issue_id}.json", include="relations,journals")["issue"])

    def id_of(self, kind: str, name: str) -> int:
        rows = self.call("GET", f"/{kind}.json")[kind]
        return int(next(r["id"] for r in rows if r["name"] == name))


@pytest.fixture
def setup(
    tmp_path: Path, redmine_env: dict[str, str], pm: pluggy.PluginManager
) -> Iterator[tuple[Engine, SyncBack, FakeClock, Api, str]]:
    api = Api(redmine_env)
    run = uuid.uuid4().hex[:8]
    trackers = [api.id_of("trackers", name) for name in ("Support", "Problem", "Change")]
    project = f"problems-{run}"
    api.call("POST", "/projects.json", {"project": {"name": project, "identifier": project, "tracker_ids": trackers}})
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    backend = RedmineBackend(
        RedmineSettings(
            url=redmine_env["REDMINE_URL"],
            api_key=SecretStr(redmine_env["REDMINE_API_KEY"]),
            project=project,
            timeout_seconds=30,
            links=RedmineLinks(),
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
    yield engine, SyncBack(engine), clock, api, project
    backend.close()
    engine.store.close()


def alert(project: str, eid: str, at: datetime, **more: Any) -> Alert:
    fields: dict[str, Any] = {
        "source": "zabbix",
        "external_id": f"{project}-{eid}",
        "title": f"core switch down on core-sw-{project}",
        "ci": f"core-sw-{project}",
        "host_groups": ("Metro/Network core",),
        "severity": 5,
        "occurred_at": at,
    }
    fields.update(more)
    return Alert(**fields)


def cycle(engine: Engine, sync: SyncBack, *alerts: Alert) -> None:
    if alerts:
        engine.ingest("zabbix", list(alerts))
        engine.process_pending()
    engine.drain_outbox()
    sync.run()
    engine.drain_outbox()
    assert engine.store.outbox_counts().get("pending", 0) == 0, engine.store.outbox_rows("pending")
    assert engine.store.dead_letters() == []


def issue_id(engine: Engine, key: str) -> int:
    ref = engine.store.ticket_ref(key)
    assert ref is not None, key
    return int(ref.ticket_id)


def related(issue: dict[str, Any]) -> set[int]:
    me = int(issue["id"])
    return {r["issue_to_id"] if r["issue_id"] == me else r["issue_id"] for r in issue["relations"]}


def test_a_p1_opens_one_problem_issue_related_to_it(setup: tuple[Engine, SyncBack, FakeClock, Api, str]) -> None:
    engine, sync, clock, api, project = setup
    first = alert(project, "1", clock.now())
    cycle(engine, sync, first)
    cycle(engine, sync)  # a second pass changes nothing
    incident = issue_id(engine, f"zabbix:{project}-1")
    problems = api.call(
        "GET", "/issues.json", project_id=project, tracker_id=api.id_of("trackers", "Problem"), status_id="*"
    )
    (problem,) = problems["issues"]
    assert related(api.issue(incident)) == {problem["id"]}
    description = problem["description"]
    assert f"core-sw-{project}" in description and "major incident P1" in description
    assert description.rstrip().endswith(f"[itsm-key:problem:zabbix:{project}-1]")
    assert any("problem record" in (j.get("notes") or "") for j in api.issue(incident)["journals"])

    # the incident recovers; the same fault two hours later is another incident of the same root cause
    clock.advance(minutes=20)
    cycle(engine, sync, first.model_copy(update={"recovered_at": clock.now()}))
    clock.advance(hours=2)
    cycle(engine, sync, alert(project, "2", clock.now()))
    second = issue_id(engine, f"zabbix:{project}-2")
    again = api.call(
        "GET", "/issues.json", project_id=project, tracker_id=api.id_of("trackers", "Problem"), status_id="*"
    )
    assert [p["id"] for p in again["issues"]] == [problem["id"]]
    problem_issue = api.issue(problem["id"])
    assert related(problem_issue) == {incident, second}
    notes = [j.get("notes") or "" for j in problem_issue["journals"]]
    assert sum(f"zabbix:{project}-2" in note for note in notes) == 1


def test_a_linked_change_holds_the_incident_until_the_change_closes(
    setup: tuple[Engine, SyncBack, FakeClock, Api, str],
) -> None:
    engine, sync, clock, api, project = setup
    cycle(engine, sync, alert(project, "7", clock.now(), severity=2, title=f"disk full on db-{project}"))
    incident = issue_id(engine, f"zabbix:{project}-7")
    change = api.call(
        "POST",
        "/issues.json",
        {
            "issue": {
                "project_id": project,
                "tracker_id": api.id_of("trackers", "Change"),
                "subject": "extend the volume",
            }
        },
    )["issue"]["id"]
    api.call(
        "POST", f"/issues/{change}/relations.json", {"relation": {"issue_to_id": incident, "relation_type": "relates"}}
    )
    clock.advance(minutes=5)
    cycle(engine, sync)
    assert api.issue(incident)["status"]["name"] == "Feedback"  # status_map.pending_change
    state = engine.store.get(f"zabbix:{project}-7")
    assert state is not None and state.status is TicketStatus.PENDING_CHANGE
    notes = [j.get("notes") or "" for j in api.issue(incident)["journals"]]
    assert sum(f"change #{change} extend the volume" in n for n in notes) == 1
    cycle(engine, sync)  # seen again: nothing new
    assert sum("pending change" in (j.get("notes") or "") for j in api.issue(incident)["journals"]) == 1

    clock.advance(hours=1)
    closed = api.id_of("issue_statuses", "Closed")
    api.call("PUT", f"/issues/{change}.json", {"issue": {"status_id": closed}})
    cycle(engine, sync)
    assert api.issue(incident)["status"]["name"] == "New"  # never accepted: back to open
    state = engine.store.get(f"zabbix:{project}-7")
    assert state is not None and state.status is TicketStatus.OPEN
    assert state.suspensions == ((clock.now() - timedelta(hours=1), clock.now()),)


def test_setup_names_a_missing_tracker_and_one_not_enabled_in_the_project(
    setup: tuple[Engine, SyncBack, FakeClock, Api, str], redmine_env: dict[str, str]
) -> None:
    _, _, _, api, project = setup
    bare = f"{project}-bare"
    api.call(
        "POST",
        "/projects.json",
        {"project": {"name": bare, "identifier": bare, "tracker_ids": [api.id_of("trackers", "Support")]}},
    )
    settings = RedmineSettings(
        url=redmine_env["REDMINE_URL"],
        api_key=SecretStr(redmine_env["REDMINE_API_KEY"]),
        project=bare,
        links=RedmineLinks(change_tracker="变更 Change request"),
    )
    report = inspect(settings)
    said = [p.what for p in report.problems]
    assert any("'变更 Change request' for backend.links.change_tracker" in what for what in said)
    assert any(f"tracker 'Problem' is not enabled in project '{bare}'" in what for what in said)
    assert report.ok  # incidents are still written; the report says what problem records lack
