"""Knowledge through the real Redmine 5 (issue 13): the incident is related to its CI's issue; a
successful close with a solution and a root cause writes one wiki page, a KB candidate under the
configured parent, however often it is read back; a new incident on the same CI gets the
similar-incidents note naming the earlier issue and its solution. A person's changes go through
the API as that person (``X-Redmine-Switch-User``); every check reads Redmine back."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy
import pytest
from pydantic import SecretStr

from connector.domain.clock import SystemClock
from connector.domain.models import Alert, TicketStatus
from connector.integrations.redmine import RedmineBackend, RedmineSettings
from connector.integrations.redmine.settings import RedmineKnowledgeSettings
from connector.process.pipeline import Pipeline
from connector.process.similar import NOTE_HEADING
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack
from tests.integration.conftest import RedmineApi, after_this_second
from tests.state_backend import make_store

pytestmark = [pytest.mark.integration, pytest.mark.both_states]


@dataclass
class Kb:
    engine: Engine
    sync: SyncBack
    api: RedmineApi
    person: str
    run: str
    parent: str
    fields: dict[str, int]
    statuses: dict[TicketStatus, int]

    def read_back(self) -> None:
        self.sync.run()
        self.engine.drain_outbox()
        self.engine.drain_outbox()  # what the sync-back's reading owed after the first pass

    def alert(self, eid: str) -> str:
        alert = Alert(
            source="zabbix",
            external_id=f"{self.run}-{eid}",
            title=f"Disk full on kn-{self.run}",
            ci=f"kn-{self.run}",
            severity=4,
            occurred_at=SystemClock().now(),
        )
        self.engine.ingest("zabbix", [alert])
        self.engine.process_pending()
        self.engine.drain_outbox()
        self.engine.drain_outbox()  # the CI link and the similar note, owed once the create landed
        ref = self.engine.store.ticket_ref(alert.key)
        assert ref is not None
        return ref[0]

    def wiki(self, title: str) -> dict[str, Any]:
        return dict(self.api.call("GET", f"/projects/{self.api.project}/wiki/{title}.json")["wiki_page"])


@pytest.fixture
def kb(
    tmp_path: Path,
    redmine_env: dict[str, str],
    redmine_api: RedmineApi,
    redmine_people: Callable[..., dict[str, Any]],
    pm: pluggy.PluginManager,
) -> Iterator[Kb]:
    run = uuid.uuid4().hex[:8]
    person = redmine_people("kb", "芳", "王")["login"]
    parent = f"KB_candidates_{run}"
    backend = RedmineBackend(
        RedmineSettings(
            url=redmine_env["REDMINE_URL"],
            api_key=SecretStr(redmine_env["REDMINE_API_KEY"]),
            project=redmine_env["REDMINE_PROJECT"],
            timeout_seconds=30,
            knowledge=RedmineKnowledgeSettings(
                kb_wiki_parent=parent, ci_tracker="Feature", ci_project=redmine_env["REDMINE_PROJECT"]
            ),
        )
    )
    engine = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=SystemClock(),
    )
    found = backend.discover()
    yield Kb(
        engine,
        SyncBack(engine),
        redmine_api,
        person,
        run,
        parent,
        {name: found.fields[name].id for name in ("solution", "closure_code")},
        {s: found.statuses[s].id for s in TicketStatus},
    )
    backend.close()
    engine.store.close()


def test_ci_link_kb_candidate_once_and_the_similar_note_in_redmine(kb: Kb) -> None:
    api = kb.api
    trackers = api.call("GET", "/trackers.json")["trackers"]
    feature = next(t["id"] for t in trackers if t["name"] == "Feature")
    ci_issue = api.call(
        "POST", "/issues.json", {"issue": {"project_id": api.project, "tracker_id": feature, "subject": f"kn-{kb.run}"}}
    )["issue"]["id"]
    kb.read_back()  # adoption starts here

    first = kb.alert("1")
    relations = api.call("GET", f"/issues/{first}/relations.json")["relations"]
    assert any(
        r["relation_type"] == "relates" and {r["issue_id"], r["issue_to_id"]} == {int(first), ci_issue}
        for r in relations
    ), relations

    after_this_second()  # a person acts after the create's second (see after_this_second)
    solution = f"Root cause: log rotation off on kn-{kb.run} <pre>*x*</pre>\nRotated the logs, rotation on."
    api.call(
        "PUT",
        f"/issues/{first}.json",
        {
            "issue": {
                "status_id": kb.statuses[TicketStatus.RESOLVED],
                "custom_fields": [{"id": kb.fields["solution"], "value": solution}],
            }
        },
        as_user=kb.person,
    )
    api.call(
        "PUT",
        f"/issues/{first}.json",
        {
            "issue": {
                "status_id": kb.statuses[TicketStatus.CLOSED],
                "custom_fields": [{"id": kb.fields["closure_code"], "value": "success"}],
            }
        },
        as_user=kb.person,
    )
    kb.read_back()
    page = kb.wiki(f"KB_candidate_{first}")
    assert page["parent"]["title"] == kb.parent
    assert "Rotated the logs, rotation on." in page["text"] and f"#{first}" in page["text"]
    assert "<pre>*x*</pre>" not in page["text"]  # the ticket's text cannot close the literal block
    version = page["version"]

    api.call("PUT", f"/issues/{first}.json", {"issue": {"notes": "thanks"}}, as_user=kb.person)
    kb.read_back()  # the closed issue is read again
    assert kb.wiki(f"KB_candidate_{first}")["version"] == version  # written once
    assert kb.engine.store.pending_ops(100) == []

    second = kb.alert("2")  # the same trigger on the same CI
    journals = api.call("GET", f"/issues/{second}.json?include=journals")["issue"]["journals"]
    [note] = [j["notes"] for j in journals if NOTE_HEADING in (j.get("notes") or "")]
    assert f"#{first} Disk full on kn-{kb.run}" in note and "Rotated the logs, rotation on." in note
