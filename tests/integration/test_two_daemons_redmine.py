"""Several daemons, one truth (issue 15), on the real Redmine: two ``itsm-connector run``
processes on one state, Zabbix webhook events sent alternately to both (an event whose daemon
is down goes to the other, as a load balancer does), while one daemon or the other is killed
with SIGKILL at random moments and started again. At the end every problem has exactly one
Redmine issue, and none is lost.

The size is a parameter: ``ITSM_TWO_DAEMONS_EVENTS`` (default 200) and ``ITSM_TWO_DAEMONS_KILLS``
(default 2) — small enough for CI. The issue's run is the documented command

    ITSM_TWO_DAEMONS_EVENTS=2000 ITSM_TWO_DAEMONS_KILLS=5 \\
      .venv/bin/pytest -q -p no:cacheprovider tests/integration/test_two_daemons_redmine.py

with its result kept in ``bench/results/two-daemons.md``. ``ITSM_TWO_DAEMONS_SEED`` fixes the
kill moments. The state is a fresh schema of the test PostgreSQL when one is given
(``ITSM_TEST_PG_URL``, exported by scripts/test.sh, or ``ITSM_TEST_STATE_URL``) — the issue's
"two daemons against one PostgreSQL" — else one SQLite file both processes share. Each run makes a Redmine
project of its own and deletes it at the end.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.state.store import open_store
from tests.state_backend import drop_schemas, fresh_schema, in_schema
from tests.unit.service_process import Running, free_port, wait_for
from tests.unit.webhook_payloads import problem_payload

pytestmark = pytest.mark.integration

EVENTS = int(os.environ.get("ITSM_TWO_DAEMONS_EVENTS", "200"))
KILLS = int(os.environ.get("ITSM_TWO_DAEMONS_KILLS", "2"))
SEED = int(os.environ.get("ITSM_TWO_DAEMONS_SEED", "15"))
SAMPLE = 200  # issues whose notes are read back at the end (each a GET with its journals)
SECRET = f"two-daemons-{uuid.uuid4().hex}"


class Project:
    """A Redmine project of this run's own, with the connector's trackers and custom fields."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = env["REDMINE_URL"]
        self.session = requests.Session()
        self.session.headers["X-Redmine-API-Key"] = env["REDMINE_API_KEY"]
        self.identifier = f"two-daemons-{uuid.uuid4().hex[:10]}"
        fields = self.session.get(f"{self.url}/custom_fields.json", timeout=30).json()["custom_fields"]
        trackers = [int(t.split(":")[0]) for t in env["REDMINE_TRACKER_IDS"].split(",")]
        body = {
            "project": {
                "name": self.identifier,
                "identifier": self.identifier,
                "enabled_module_names": ["issue_tracking"],
                "tracker_ids": trackers,
                "issue_custom_field_ids": [f["id"] for f in fields if f["customized_type"] == "issue"],
            }
        }
        made = self.session.post(f"{self.url}/projects.json", json=body, timeout=30)
        assert made.status_code == 201, made.text
        self.cf = env["REDMINE_CF_EXTERNAL_ID"]

    def external_ids(self) -> list[str]:
        """The External ID of every issue in the project (all statuses)."""
        found: list[str] = []
        offset = 0
        while True:
            page = self.session.get(
                f"{self.url}/issues.json",
                params={"project_id": self.identifier, "status_id": "*", "limit": 100, "offset": offset},
                timeout=30,
            ).json()
            for issue in page["issues"]:
                found += [c["value"] for c in issue["custom_fields"] if c["id"] == int(self.cf)]
            offset += len(page["issues"])
            if not page["issues"] or offset >= page["total_count"]:
                return found

    def issue_ids(self) -> list[int]:
        """The id of every issue in the project (all statuses)."""
        ids: list[int] = []
        while True:
            page = self.session.get(
                f"{self.url}/issues.json",
                params={"project_id": self.identifier, "status_id": "*", "limit": 100, "offset": len(ids)},
                timeout=30,
            ).json()
            ids += [issue["id"] for issue in page["issues"]]
            if not page["issues"] or len(ids) >= page["total_count"]:
                return ids

    def notes(self, issue_id: int) -> list[str]:
        """The notes written on one issue, oldest first."""
        issue = self.session.get(
            f"{self.url}/issues/{issue_id}.json", params={"include": "journals"}, timeout=30
        ).json()["issue"]
        return [j["notes"] for j in issue["journals"] if j.get("notes")]

    def delete(self) -> None:
        self.session.delete(f"{self.url}/projects/{self.identifier}.json", timeout=120)


@pytest.fixture
def project(redmine_env: dict[str, str]) -> Iterator[Project]:
    made = Project(redmine_env)
    try:
        yield made
    finally:
        made.delete()


@pytest.fixture
def state_url() -> Iterator[str | None]:
    """The daemons' shared state: a fresh schema of the test PostgreSQL (``ITSM_TEST_PG_URL``,
    which scripts/test.sh exports, or ``ITSM_TEST_STATE_URL``), dropped afterwards; ``None``
    (one shared SQLite file) when no PostgreSQL is given."""
    base = os.environ.get("ITSM_TEST_STATE_URL") or os.environ.get("ITSM_TEST_PG_URL")
    if not base:
        yield None
        return
    schema = fresh_schema(base)
    try:
        yield in_schema(base, schema)
    finally:
        drop_schemas(base, [schema])


def write_config(
    directory: Path, redmine_env: dict[str, str], project: Project, port: int, state_url: str | None
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    state = f"url: {json.dumps(state_url)}" if state_url else f"path: {directory.parent / 'state.db'}"
    path = directory / "connector.yaml"
    path.write_text(
        f"""
state: {{{state}}}
backend:
  type: redmine
  url: {redmine_env["REDMINE_URL"]}
  api_key: ${{REDMINE_API_KEY}}
  project: {project.identifier}
  timeout_seconds: 20
sources:
  - type: zabbix_webhook
    name: zabbix
    secret: ${{ITSM_WEBHOOK_SECRET}}
    rate_limit_burst: 100000
http: {{listen: 127.0.0.1, port: {port}}}
daemon: {{poll_seconds: 3600, drain_seconds: 0.5, sweep_seconds: 60, sync_seconds: 3600,
          lease_seconds: 3, claim_seconds: 5}}
outbox: {{backoff_initial_seconds: 0.5, backoff_max_seconds: 2}}
""",
        encoding="utf-8",
    )
    return path


class Pair:
    """The two daemons: started, killed with SIGKILL, started again."""

    def __init__(self, configs: list[Path], ports: list[int], env: dict[str, str]) -> None:
        self.configs, self.ports, self.env = configs, ports, env
        self.running: list[Running | None] = [None, None]
        self.lock = threading.Lock()
        self.logs: list[str] = []

    def start(self, n: int) -> None:
        run = Running(self.configs[n], env=self.env)
        run.wait_http(self.ports[n])
        with self.lock:
            self.running[n] = run

    def kill(self, n: int) -> None:
        with self.lock:
            run, self.running[n] = self.running[n], None
        if run is not None:
            run.proc.send_signal(signal.SIGKILL)
            run.proc.wait(timeout=30)
            run._handle.close()  # what Running.stop does after its SIGTERM
            self.logs.append(run.text())
            run.log.rename(run.log.with_name(f"run-killed-{len(self.logs)}.log"))

    def stop_all(self) -> None:
        for n in (0, 1):
            with self.lock:
                run, self.running[n] = self.running[n], None
            if run is not None:
                assert run.stop() == 0, run.text()


def post(port: int, payload: dict[str, Any]) -> bool:
    """One webhook delivery; ``True`` when the daemon accepted it (journaled)."""
    try:
        answer = requests.post(
            f"http://127.0.0.1:{port}/zabbix",
            data=json.dumps(payload),
            headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
            timeout=10,
        )
    except requests.RequestException:
        return False
    return answer.status_code == 200


def letters(n: int) -> str:
    """``n`` in letters: the symptom rules read digits as values (``#``), so a number would make
    every problem the same symptom, and duplicates of the first."""
    text = ""
    while True:
        n, digit = divmod(n, 26)
        text = chr(ord("a") + digit) + text
        if not n:
            return text


def event(n: int) -> dict[str, Any]:
    """Problem ``n``: a host, trigger and event of its own (so no two are duplicates)."""
    return problem_payload(
        event_id=str(1_000_000 + n),
        event_name=f"two daemons: problem {letters(n)}",
        host_id=str(500_000 + n),
        host_host=f"two-daemons-{letters(n)}",
        host_name=f"Two daemons host {letters(n)}",
        host_groups=f"Metro/Two daemons {n % 7}",
        trigger_id=str(900_000 + n),
        event_tags="[]",
    )


def test_two_daemons_killed_at_random_make_one_issue_per_problem_and_lose_none(
    tmp_path: Path, redmine_env: dict[str, str], project: Project, state_url: str | None
) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    ports = [free_port(), free_port()]
    configs = [write_config(tmp_path / f"d{n}", redmine_env, project, ports[n], state_url) for n in (0, 1)]
    env = {"REDMINE_API_KEY": redmine_env["REDMINE_API_KEY"], "ITSM_WEBHOOK_SECRET": SECRET}
    pair = Pair(configs, ports, env)
    pair.start(0)
    pair.start(1)
    kill_after = sorted(rng.sample(range(EVENTS // 10, EVENTS - EVENTS // 10), KILLS))
    restart: threading.Thread | None = None
    first_victim = rng.choice((0, 1))
    kills: list[int] = []
    try:
        for n in range(EVENTS):
            if kill_after and n == kill_after[0]:
                kill_after.pop(0)
                if restart is not None:
                    restart.join(60)  # the one killed before is back: both may be the victim
                victim = (len(kills) + first_victim) % 2  # each in turn, the first at random
                kills.append(victim)
                pair.kill(victim)
                restart = threading.Thread(target=pair.start, args=(victim,), daemon=True)
                restart.start()  # back soon, while the events go on
            payload, target = event(n), n % 2
            deadline = time.monotonic() + 60
            while not post(ports[target], payload):  # down or not yet up: the other one, as an LB does
                assert time.monotonic() < deadline, f"event {n} accepted by neither daemon"
                target = 1 - target
                time.sleep(0.05)
        wait_for(lambda: all(r is not None for r in pair.running), "the restarted daemon", 60)
        watch = open_store(state_url if state_url else tmp_path / "state.db")

        def settled() -> bool:
            return not watch.journal_counts().get("pending") and not watch.outbox_counts().get("pending")

        # the helpdesk sets the pace (about one issue a second per daemon on a shared test Redmine)
        wait_for(settled, "the journal and the outbox to drain", max(120.0, EVENTS * 1.5))
        keys = project.external_ids()
        wanted = {f"zabbix:{1_000_000 + n}" for n in range(EVENTS)}
        doubles = {k: c for k, c in Counter(keys).items() if c > 1}
        assert not doubles, f"issues made twice: {doubles}"
        assert set(keys) == wanted, f"lost: {sorted(wanted - set(keys))[:10]}"
        assert watch.journal_counts() == {"done": EVENTS}
        assert not watch.dead_letters()
        # every escalation/notice step written once: the state holds each step once (its primary
        # key); in Redmine no note of a sampled issue is there twice (a step's write run by both
        # daemons would be), and the sampled issues show the escalation steps the sweep fired
        sample = rng.sample(project.issue_ids(), min(EVENTS, SAMPLE))
        twice = {i: [n for n, c in Counter(notes).items() if c > 1] for i in sample if (notes := project.notes(i))}
        assert not any(twice.values()), f"notes written twice: { {i: n for i, n in twice.items() if n} }"
        fired = watch._exec("SELECT COUNT(*) AS n FROM steps").fetchone()["n"]
        print(f"two daemons: {fired} steps fired; {len(sample)} issues read back, no note twice")
        watch.close()
    finally:
        pair.stop_all()
    elapsed = time.monotonic() - started
    print(f"two daemons: {EVENTS} events, {KILLS} kills, {elapsed:.1f}s, one issue per problem")
