"""Every Redmine write, committed by the real Redmine 5 and then failed on the way back, is not
doubled by the outbox's retry (issue 17, Deliver 2).

A fault proxy (tests/faults/proxy.py) sits between the backend and Redmine. For each write it
lets the request through, Redmine commits it, and the answer is then lost: a reset, a 500, or
no answer until the backend's timeout. The backend raises ``BackendUnavailable`` (the outbox
would retry), the retry runs as the outbox runs it (``delivering(op, retry=True)``), and the
issue is read back straight from Redmine: one copy of every write. docs/idempotency.md lists
the writes and how each is recognised.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from pydantic import SecretStr

from connector.contracts.adapters import Relation, Resolution
from connector.contracts.delivery import delivering
from connector.domain.clock import SystemClock
from connector.domain.errors import BackendUnavailable
from connector.domain.models import Impact, Priority, Ticket, TicketSource, Urgency
from connector.integrations.redmine import RedmineBackend, RedmineSettings
from connector.integrations.redmine.client import RedmineClient
from connector.integrations.redmine.wiki import ReportFile, publish_files
from tests.faults.proxy import Fault, FaultProxy

pytestmark = pytest.mark.integration

#: the faults that come after Redmine committed the write
AFTER_COMMIT = [Fault.FORWARD_RESET, Fault.FORWARD_500, Fault.FORWARD_HANG]
TIMEOUT = 2.0


@pytest.fixture
def proxy(redmine_env: dict[str, str]) -> Iterator[FaultProxy]:
    where = urlsplit(redmine_env["REDMINE_URL"])
    assert where.hostname is not None and where.port is not None
    proxy = FaultProxy((where.hostname, where.port), hold_seconds=TIMEOUT + 1)
    yield proxy
    proxy.close()


@pytest.fixture
def backend(redmine_env: dict[str, str], proxy: FaultProxy) -> Iterator[RedmineBackend]:
    settings = RedmineSettings(
        url=proxy.url,
        api_key=SecretStr(redmine_env["REDMINE_API_KEY"]),
        project=redmine_env["REDMINE_PROJECT"],
        timeout_seconds=TIMEOUT,
    )
    instance = RedmineBackend(settings)
    instance.check()  # ids looked up through the proxy before any fault is planned
    instance.discover()
    yield instance
    instance.close()


def a_ticket(**overrides: Any) -> Ticket:
    key = f"zabbix:{uuid.uuid4()}"
    values: dict[str, Any] = {
        "title": f"Disk full on web01 ({key})",
        "description": "free space < 5% on /var",
        "key": key,
        "impact": Impact.SEVERE,
        "urgency": Urgency.URGENT,
        "priority": Priority.HIGH,
        "source": TicketSource.MONITORING,
        "ci": "web01",
    }
    values.update(overrides)
    return Ticket(**values)


def journals(env: dict[str, str], ticket_id: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{env['REDMINE_URL']}/issues/{ticket_id}.json",
        params={"include": "journals,attachments,relations"},
        headers={"X-Redmine-API-Key": env["REDMINE_API_KEY"]},
        timeout=30,
    )
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["issue"]["journals"]
    return found


def issue(env: dict[str, str], ticket_id: str) -> dict[str, Any]:
    response = requests.get(
        f"{env['REDMINE_URL']}/issues/{ticket_id}.json",
        params={"include": "journals,attachments,relations"},
        headers={"X-Redmine-API-Key": env["REDMINE_API_KEY"]},
        timeout=30,
    )
    response.raise_for_status()
    found: dict[str, Any] = response.json()["issue"]
    return found


def notes_with(env: dict[str, str], ticket_id: str, text: str) -> list[str]:
    return [j["notes"] for j in journals(env, ticket_id) if text in (j.get("notes") or "")]


def fail_then_retry(proxy: FaultProxy, fault: Fault, match: str, op_id: int, write: Any) -> None:
    """The write's first try is committed and its answer lost; the retry then succeeds."""
    proxy.inject(fault, match=match)
    with delivering(op_id, retry=False), pytest.raises(BackendUnavailable):
        write()
    assert proxy.pending() == 0, "the planned fault did not happen"
    assert [s.forwarded for s in proxy.seen(match)] == [True]
    with delivering(op_id, retry=True):
        write()


def op_id() -> int:
    """An outbox operation id no other test run uses (Redmine outlives test runs)."""
    return uuid.uuid4().int % 10**9


@pytest.mark.parametrize("fault", AFTER_COMMIT, ids=lambda f: f.value)
def test_create_is_found_by_its_key_on_retry(
    backend: RedmineBackend, proxy: FaultProxy, redmine_env: dict[str, str], fault: Fault
) -> None:
    ticket = a_ticket()
    proxy.inject(fault, match="POST /issues.json")
    with pytest.raises(BackendUnavailable):
        backend.create_ticket(ticket)
    # the engine's retry of a create that went out: find_by_key before creating again
    ref = backend.find_by_key(ticket.key)
    assert ref is not None
    assert len(proxy.seen("POST /issues.json")) == 1


@pytest.mark.parametrize("fault", AFTER_COMMIT, ids=lambda f: f.value)
def test_a_note_is_written_once(
    backend: RedmineBackend, proxy: FaultProxy, redmine_env: dict[str, str], fault: Fault
) -> None:
    ref = backend.create_ticket(a_ticket())
    text = f"the operator says {uuid.uuid4()}"
    fail_then_retry(
        proxy, fault, f"PUT /issues/{ref.ticket_id}.json", op_id(), lambda: backend.add_note(ref.ticket_id, text)
    )
    (note,) = notes_with(redmine_env, ref.ticket_id, text)
    assert note.rstrip().splitlines()[-1].startswith("[itsm-op:")
    history = backend.ticket_history(ref.ticket_id)
    said = [c.new for c in history.changes if c.kind.value == "note" and c.new and text in c.new]
    assert said and said[0].endswith("</pre>")  # the marker is not what was said


@pytest.mark.parametrize("fault", AFTER_COMMIT, ids=lambda f: f.value)
def test_a_status_change_with_its_note_is_written_once(
    backend: RedmineBackend, proxy: FaultProxy, redmine_env: dict[str, str], fault: Fault
) -> None:
    ref = backend.create_ticket(a_ticket())
    text = f"recovered {uuid.uuid4()}"
    resolution = Resolution(at=datetime.now(UTC), note=text, solution="restarted the service")
    fail_then_retry(
        proxy,
        fault,
        f"PUT /issues/{ref.ticket_id}.json",
        op_id(),
        lambda: backend.resolve_ticket(ref.ticket_id, resolution),
    )
    assert len(notes_with(redmine_env, ref.ticket_id, text)) == 1
    status_changes = [d for j in journals(redmine_env, ref.ticket_id) for d in j["details"] if d["name"] == "status_id"]
    assert len(status_changes) == 1


@pytest.mark.parametrize("fault", AFTER_COMMIT, ids=lambda f: f.value)
def test_an_update_with_a_note_is_written_once(
    backend: RedmineBackend, proxy: FaultProxy, redmine_env: dict[str, str], fault: Fault
) -> None:
    ref = backend.create_ticket(a_ticket())
    text = f"priority raised {uuid.uuid4()}"
    fail_then_retry(
        proxy,
        fault,
        f"PUT /issues/{ref.ticket_id}.json",
        op_id(),
        lambda: backend.update_ticket(ref.ticket_id, {"priority": Priority.MEDIUM, "rule": "r-1"}, text),
    )
    assert len(notes_with(redmine_env, ref.ticket_id, text)) == 1


@pytest.mark.parametrize("fault", AFTER_COMMIT, ids=lambda f: f.value)
def test_an_attachment_is_uploaded_once(
    backend: RedmineBackend, proxy: FaultProxy, redmine_env: dict[str, str], fault: Fault
) -> None:
    ref = backend.create_ticket(a_ticket())
    name = f"trace-{uuid.uuid4().hex[:8]}.txt"
    fail_then_retry(
        proxy,
        fault,
        f"PUT /issues/{ref.ticket_id}.json",
        op_id(),
        lambda: backend.add_attachment(ref.ticket_id, name, b"stack trace\n", "text/plain"),
    )
    attachments = [a for a in issue(redmine_env, ref.ticket_id)["attachments"] if a["filename"] == name]
    assert len(attachments) == 1
    assert len(notes_with(redmine_env, ref.ticket_id, name)) == 1


@pytest.mark.parametrize("fault", AFTER_COMMIT, ids=lambda f: f.value)
def test_a_relation_is_made_once(
    backend: RedmineBackend, proxy: FaultProxy, redmine_env: dict[str, str], fault: Fault
) -> None:
    one = backend.create_ticket(a_ticket())
    two = backend.create_ticket(a_ticket())
    fail_then_retry(
        proxy,
        fault,
        f"POST /issues/{one.ticket_id}/relations.json",
        op_id(),
        lambda: backend.add_relation(one.ticket_id, two.ticket_id, Relation.DUPLICATES),
    )
    relations = issue(redmine_env, one.ticket_id)["relations"]
    assert len(relations) == 1


@pytest.mark.parametrize("fault", AFTER_COMMIT, ids=lambda f: f.value)
def test_a_wiki_page_keeps_one_copy_of_each_file(proxy: FaultProxy, redmine_env: dict[str, str], fault: Fault) -> None:
    client = RedmineClient(
        proxy.url, redmine_env["REDMINE_API_KEY"], backend="redmine", clock=SystemClock(), timeout=TIMEOUT
    )
    project, title = redmine_env["REDMINE_PROJECT"], f"Faults_{uuid.uuid4().hex[:8]}"
    files = [ReportFile("report.csv", b"a,b\n1,2\n", "text/csv")]
    match = f"PUT /projects/{project}/wiki/{title}.json"
    proxy.inject(fault, match=match)
    with pytest.raises(BackendUnavailable):
        publish_files(client, project, title, "first", files, comment="try 1")
    page = publish_files(client, project, title, "first", files, comment="try 2")
    assert page.created is False  # the first try made it
    response = requests.get(
        f"{redmine_env['REDMINE_URL']}/projects/{project}/wiki/{title}.json",
        params={"include": "attachments"},
        headers={"X-Redmine-API-Key": redmine_env["REDMINE_API_KEY"]},
        timeout=30,
    )
    response.raise_for_status()
    attachments = response.json()["wiki_page"]["attachments"]
    assert [a["filename"] for a in attachments] == ["report.csv"]
    client.close()
