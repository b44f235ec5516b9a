"""Zabbix pushes, end to end on the real servers: the shipped media type is imported into
Zabbix 6.0 (``configuration.import``), a trigger action sends to it, ``zabbix_sender`` fires the
trigger, Zabbix's alerter calls the running daemon's endpoint, and a Redmine issue appears;
the event carries the ticket tags, the connector's own acknowledgement comes back and is
ignored, the recovery resolves the issue, and the poll path would have journaled nothing new.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from connector.domain.clock import SystemClock
from connector.integrations.zabbix import ZabbixSettings, ZabbixSource
from tests.integration.test_zabbix_to_redmine import Redmine
from tests.integration.zabbix_helpers import ZabbixLab, unique_name, wait_until
from tests.state_backend import make_store, state_yaml

pytestmark = [pytest.mark.integration, pytest.mark.both_states]

ROOT = Path(__file__).resolve().parents[2]
MEDIA_TYPE = ROOT / "zabbix" / "itsm_connector_media_type.yaml"
SECRET = f"webhook-{uuid.uuid4().hex}"
#: the poll source starts past every event: it acknowledges and checks recoveries of our
#: tickets only, and never picks up other tests' problems on the shared server
FAR_CURSOR = "999999999999"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WebhookSetup:
    """A uniquely named media type (imported from the shipped file), recipient user and action."""

    def __init__(self, lab: ZabbixLab, hostid: str, endpoint: str) -> None:
        self.api = lab.api
        self.name = unique_name("itsm-media")
        self.made: dict[str, str] = {}
        try:
            self._create(lab, hostid, endpoint)
        except BaseException:
            self.cleanup()
            raise

    def _create(self, lab: ZabbixLab, hostid: str, endpoint: str) -> None:
        text = MEDIA_TYPE.read_text(encoding="utf-8")
        assert "    - name: itsm-connector\n" in text
        imported = self.api.configuration["import"](
            format="yaml",
            source=text.replace("    - name: itsm-connector\n", f"    - name: {self.name}\n", 1),
            rules={"mediaTypes": {"createMissing": True, "updateExisting": False}},
        )
        assert imported is True
        (media,) = self.api.mediatype.get(filter={"name": self.name}, output="extend")
        self.made["mediatype"] = media["mediatypeid"]
        assert media["process_tags"] == "1" and media["show_event_menu"] == "1"
        # what an admin does instead of setting {$ITSM.CONNECTOR.URL} / {$ITSM.CONNECTOR.SECRET}
        values = {"itsm_url": endpoint, "itsm_secret": SECRET}
        params = [{"name": p["name"], "value": values.get(p["name"], p["value"])} for p in media["parameters"]]
        self.api.mediatype.update(mediatypeid=media["mediatypeid"], parameters=params)
        # the recipient must not be the API user: Zabbix sends no update notice to its author
        media_entry = {
            "mediatypeid": media["mediatypeid"],
            "sendto": "itsm-connector",
            "active": 0,
            "severity": 63,
            "period": "1-7,00:00-24:00",
        }
        self.made["user"] = self.api.user.create(
            username=unique_name("itsm-hook"),
            passwd=f"Zx!{uuid.uuid4().hex}",
            roleid="3",
            usrgrps=[{"usrgrpid": "7"}],
            medias=[media_entry],
        )["userids"][0]
        self.made["action"] = self.api.action.create(
            name=unique_name("itsm-action"),
            eventsource=0,
            status=0,
            esc_period="1h",
            filter={"evaltype": 0, "conditions": [{"conditiontype": 1, "operator": 0, "value": hostid}]},
            operations=[
                {
                    "operationtype": 0,
                    "opmessage": {"default_msg": 1, "mediatypeid": media["mediatypeid"]},
                    "opmessage_usr": [{"userid": self.made["user"]}],
                }
            ],
            recovery_operations=[{"operationtype": 11, "opmessage": {"default_msg": 1}}],
            update_operations=[{"operationtype": 12, "opmessage": {"default_msg": 1}}],
        )["actionids"][0]
        lab.reload_config_cache()  # an action the server has not cached yet sends nothing

    def cleanup(self) -> None:
        for kind in ("action", "user", "mediatype"):
            if kind in self.made:
                getattr(self.api, kind).delete(self.made.pop(kind))


@pytest.fixture
def lab(zabbix_env: dict[str, str]) -> Iterator[ZabbixLab]:
    handle = ZabbixLab(zabbix_env)
    try:
        yield handle
    finally:
        handle.cleanup()


def write_config(tmp_path: Path, port: int, zabbix_env: dict[str, str], redmine_env: dict[str, str]) -> Path:
    path = tmp_path / "connector.yaml"
    path.write_text(
        f"""
state: {state_yaml(tmp_path / "state.db")}
backend:
  type: redmine
  url: {redmine_env["REDMINE_URL"]}
  api_key: ${{REDMINE_API_KEY}}
  project: {redmine_env["REDMINE_PROJECT"]}
  timeout_seconds: 20
sources:
  - type: zabbix
    url: {zabbix_env["ZABBIX_API_URL"]}
    api_token: ${{ZABBIX_API_TOKEN}}
  - type: zabbix_webhook
    name: zabbix-push
    listen: 127.0.0.1
    port: {port}
    secret: ${{ITSM_WEBHOOK_SECRET}}
    source_name: zabbix
daemon:
  poll_seconds: 3600   # tickets can only come from the push
  drain_seconds: 1
outbox:
  backoff_initial_seconds: 1
""",
        encoding="utf-8",
    )
    return path


def tags_of(lab: ZabbixLab, eventid: str) -> dict[str, str]:
    (event,) = lab.api.event.get(eventids=eventid, output=["eventid"], selectTags="extend")
    return {t["tag"]: t["value"] for t in event["tags"]}


def test_zabbix_pushes_a_problem_that_becomes_a_redmine_issue_and_its_recovery_resolves_it(
    tmp_path: Path, lab: ZabbixLab, zabbix_env: dict[str, str], redmine_env: dict[str, str]
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, zabbix_env, redmine_env)
    store = make_store(tmp_path / "state.db")
    store.set_cursor("zabbix", FAR_CURSOR, SystemClock().now())
    store.close()
    # one config-cache reload (at the end of the setup) brings the item and the action in together,
    # so the value that fires the trigger cannot be accepted before the action is known
    trap = lab.create_trapper_trigger(severity=4, tags={"service": "票务管理系统"}, reload=False)
    setup = WebhookSetup(lab, trap.hostid, f"http://127.0.0.1:{port}/zabbix")
    redmine = Redmine(redmine_env)
    log_path = tmp_path / "daemon.log"
    env = {
        **{k: v for k, v in os.environ.items() if k != "ITSM_CONNECTOR_FAILPOINT"},
        "REDMINE_API_KEY": redmine_env["REDMINE_API_KEY"],
        "ZABBIX_API_TOKEN": zabbix_env["ZABBIX_API_TOKEN"],
        "ITSM_WEBHOOK_SECRET": SECRET,
    }
    with log_path.open("w", encoding="utf-8") as log_file:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "connector.cli.main", "run", "--config", str(config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_until("the endpoint", lambda: _healthy(port), timeout=60)

        problem = lab.fire(trap, 95)
        eventid = str(problem["eventid"])
        key = f"zabbix:{eventid}"
        issues: list[dict[str, Any]] = wait_until(
            "the Redmine issue", lambda: redmine.issues_with_key(key), timeout=120, step=1.0
        )
        (issue,) = issues
        assert issue["subject"] == trap.description
        assert issue["priority"]["name"] == "Urgent"  # severity 4 → P2

        # the answer's tags are on the event; the link redirects to the issue once it exists
        tags = wait_until("the ticket tags", lambda: tags_of(lab, eventid).get("__itsm_url") and tags_of(lab, eventid))
        assert tags["__itsm_key"] == key and tags["service"] == "票务管理系统"
        link = requests.get(tags["__itsm_url"], allow_redirects=False, timeout=30)
        assert link.status_code == 302
        assert link.headers["Location"] == f"{redmine_env['REDMINE_URL']}/issues/{issue['id']}"

        # our acknowledgement lands in Zabbix, comes back as an update notice, and is ignored
        wait_until(
            "the acknowledgement",
            lambda: [a for a in lab.acknowledges(eventid) if f"#{issue['id']}" in a["message"]],
            timeout=60,
        )
        wait_until(
            "the echo of our own acknowledgement",
            lambda: f"update of event {eventid} is the connector's own acknowledgement" in log_path.read_text(),
            timeout=90,
        )

        lab.send(trap.host, trap.key, 10)
        lab.wait_for_recovery(eventid)
        resolved = wait_until(
            "the issue resolved",
            lambda: (i := redmine.issue(issue["id"]))["status"]["name"] == "Resolved" and i,
            timeout=120,
            step=1.0,
        )
        fields = {c["name"]: c.get("value") for c in resolved["custom_fields"]}
        assert fields["Outage end 故障结束"]
        assert len(redmine.issues_with_key(key)) == 1
    except AssertionError as exc:
        alerts = lab.api.alert.get(actionids=setup.made["action"], output=["status", "error", "subject", "retries"])
        raise AssertionError(f"{exc}\nZabbix alerts: {alerts}\ndaemon log:\n{log_path.read_text()[-4000:]}") from exc
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            code = daemon.wait(timeout=60)
        finally:
            setup.cleanup()
    output = log_path.read_text()
    assert code == 0, output
    assert SECRET not in output and redmine_env["REDMINE_API_KEY"] not in output

    # poll and push both on: the poll path reads the same event under the same journal key
    store = make_store(tmp_path / "state.db")
    try:
        journal = store._exec("SELECT source, event_key, status FROM journal ORDER BY id").fetchall()
        assert [(r["source"], r["event_key"]) for r in journal] == [
            ("zabbix", eventid),
            ("zabbix", f"{eventid}/recovery"),
        ]
        assert all(r["status"] == "done" for r in journal)
        poller = ZabbixSource(
            ZabbixSettings(url=zabbix_env["ZABBIX_API_URL"], api_token=SecretStr(zabbix_env["ZABBIX_API_TOKEN"])),
            name="zabbix",
            clock=SystemClock(),
        )
        polled = [
            item
            for item in poller.poll(str(int(eventid) - 1), [eventid]).items
            if getattr(item, "external_id", None) == eventid
        ]
        poller.close()
        assert {getattr(a, "event_key", None) for a in polled} == {eventid, f"{eventid}/recovery"}
        now = SystemClock().now()
        for alert in polled:
            assert not store.journal_add(alert.source, alert.event_key, alert.external_id, "{}", now)
    finally:
        store.close()


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except requests.ConnectionError:
        time.sleep(0.2)
        return False
