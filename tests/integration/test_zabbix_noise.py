"""Alert noise on the real servers (issue 18): a switch and 20 hosts whose triggers depend on the
switch's trigger become one incident with 20 children in Redmine, resolved when they recover;
a problem on a host in a Zabbix maintenance period opens no issue, and opens one when the
period is over if it is still active. Each run makes uniquely named hosts, groups and periods
and deletes them afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.domain.clock import SystemClock
from tests.integration.test_zabbix_to_redmine import Redmine, run_once, write_config
from tests.integration.zabbix_helpers import TrapperTrigger, ZabbixLab, unique_name, wait_until
from tests.state_backend import make_store

pytestmark = pytest.mark.integration

HOSTS = 20


@pytest.fixture
def lab(zabbix_env: dict[str, str]) -> Iterator[ZabbixLab]:
    lab = ZabbixLab(zabbix_env)
    maintenances: list[str] = []
    lab.maintenances = maintenances  # type: ignore[attr-defined]
    yield lab
    if maintenances:
        lab.api.maintenance.delete(*maintenances)
    lab.cleanup()


@pytest.fixture
def env(zabbix_env: dict[str, str], redmine_env: dict[str, str]) -> dict[str, str]:
    return {"REDMINE_API_KEY": redmine_env["REDMINE_API_KEY"], "ZABBIX_API_TOKEN": zabbix_env["ZABBIX_API_TOKEN"]}


def config(tmp_path: Path, zabbix_env: dict[str, str], redmine_env: dict[str, str]) -> Path:
    path = write_config(tmp_path, redmine_env["REDMINE_URL"], zabbix_env, redmine_env)
    text = path.read_text(encoding="utf-8").replace(
        "    api_token: ${ZABBIX_API_TOKEN}\n", "    api_token: ${ZABBIX_API_TOKEN}\n    trigger_dependencies: true\n"
    )
    path.write_text(text, encoding="utf-8")
    return path


def start_cursor_before(config_path: Path, eventid: str) -> None:
    """Start the connector just before the test's first event (not other tests' problems)."""
    store = make_store(config_path.parent / "state.db")
    store.set_cursor("zabbix", str(int(eventid) - 1), SystemClock().now())
    store.close()


def once(config_path: Path, env: dict[str, str]) -> None:
    result = run_once(config_path, env)
    assert result.returncode == 0, result.stderr


def issue_of(redmine: Redmine, key: str) -> dict[str, Any]:
    (found,) = redmine.issues_with_key(key)
    full = redmine.session.get(
        f"{redmine.url}/issues/{found['id']}.json", params={"include": "relations,journals"}, timeout=30
    )
    full.raise_for_status()
    return dict(full.json()["issue"])


def test_a_switch_and_twenty_dependent_hosts_are_one_incident_with_twenty_children(
    tmp_path: Path, lab: ZabbixLab, redmine_env: dict[str, str], zabbix_env: dict[str, str], env: dict[str, str]
) -> None:
    path = config(tmp_path, zabbix_env, redmine_env)
    redmine = Redmine(redmine_env)
    group = unique_name("itsm-noise") + " group"
    switch = lab.create_trapper_trigger(prefix="itsm-sw", group=group, reload=False)
    hosts: list[TrapperTrigger] = [
        lab.create_trapper_trigger(prefix="itsm-host", group=group, reload=False) for _ in range(HOSTS)
    ]
    for host in hosts:
        lab.api.trigger.adddependencies(triggerid=host.triggerid, dependsOnTriggerid=switch.triggerid)
    lab.reload_config_cache()
    # the hosts alarm first (the switch is checked less often): Zabbix suppresses a dependent
    # trigger once its switch is in problem, so this is the order in which all 21 fire
    first = lab.fire(hosts[0], 95)
    problems = [first] + [lab.fire(h, 95) for h in hosts[1:]]
    switch_problem = lab.fire(switch, 95)
    start_cursor_before(path, str(first["eventid"]))
    once(path, env)

    parent = issue_of(redmine, f"zabbix:{switch_problem['eventid']}")
    children = [issue_of(redmine, f"zabbix:{p['eventid']}") for p in problems]
    for child in children:
        assert [(r["relation_type"], r["issue_to_id"]) for r in child["relations"]] == [("duplicates", parent["id"])], (
            child["relations"]
        )
    notes = [j.get("notes") or "" for j in parent["journals"]]
    assert sum("are now its children" in n for n in notes) == 1  # the desk is told once
    store = make_store(path.parent / "state.db")
    try:
        assert {s.key for s in store.sweep_tickets(SystemClock().now())} >= {f"zabbix:{switch_problem['eventid']}"}
        masters = {p["eventid"]: store.get(f"zabbix:{p['eventid']}") for p in problems}
        assert all(s is not None and s.master_key == f"zabbix:{switch_problem['eventid']}" for s in masters.values())
    finally:
        store.close()

    # the switch and the hosts recover: the incident and its children are resolved
    lab.send_until_accepted(switch.host, switch.key, 1)
    lab.wait_for_recovery(str(switch_problem["eventid"]))
    for host, problem in zip(hosts, problems, strict=True):
        lab.send_until_accepted(host.host, host.key, 1)
        lab.wait_for_recovery(str(problem["eventid"]))
    once(path, env)
    for issue in [parent, *children]:
        again = redmine.issue(issue["id"])
        assert again["status"]["id"] != issue["status"]["id"], (issue["id"], again["status"])  # no longer open
    store = make_store(path.parent / "state.db")
    try:
        ours = [f"zabbix:{switch_problem['eventid']}", *(f"zabbix:{p['eventid']}" for p in problems)]
        states = [store.get(key) for key in ours]  # other tests' problems may be open on the shared server
        assert all(s is not None and s.status.is_done for s in states), [
            s for s in states if s and not s.status.is_done
        ]
    finally:
        store.close()


def test_a_problem_in_a_maintenance_period_opens_its_issue_when_the_period_is_over(
    tmp_path: Path, lab: ZabbixLab, redmine_env: dict[str, str], zabbix_env: dict[str, str], env: dict[str, str]
) -> None:
    path = config(tmp_path, zabbix_env, redmine_env)
    redmine = Redmine(redmine_env)
    trap = lab.create_trapper_trigger(prefix="itsm-maint", severity=3)
    now = int(time.time())
    period = 150
    maintenanceid = lab.api.maintenance.create(
        name=unique_name("itsm-maint"),
        active_since=now - 60,
        active_till=now + period,
        hosts=[{"hostid": trap.hostid}],
        timeperiods=[{"timeperiod_type": 0, "start_date": now - 60, "period": 3600}],  # active_till ends it
    )["maintenanceids"][0]
    lab.maintenances.append(maintenanceid)  # type: ignore[attr-defined]
    # the server's timer applies maintenance once a minute: wait until the host is in it
    wait_until(
        "the host to enter its maintenance",
        lambda: (
            lab.api.host.get(hostids=trap.hostid, output=["maintenance_status"])[0]["maintenance_status"] == "1" or None
        ),
        timeout=120,
        step=2,
    )
    problem = lab.fire(trap, 95)
    assert str(problem.get("suppressed")) == "1"
    start_cursor_before(path, str(problem["eventid"]))
    once(path, env)
    key = f"zabbix:{problem['eventid']}"
    assert redmine.issues_with_key(key) == []
    store = make_store(path.parent / "state.db")
    try:
        assert store.hold_counts()["held"] == 1
    finally:
        store.close()
    # after the period, the still-active problem opens its issue (the sweep of a later run)
    wait_until(
        "the maintenance period to end", lambda: time.time() > now + period + 5 or None, timeout=period + 60, step=5
    )
    once(path, env)
    (issue,) = redmine.issues_with_key(key)
    assert issue["status"]["name"]
    lab.send_until_accepted(trap.host, trap.key, 1)


def test_after_a_storm_of_grouped_triggers_every_active_problem_has_an_open_ticket(
    tmp_path: Path, lab: ZabbixLab, redmine_env: dict[str, str], zabbix_env: dict[str, str], env: dict[str, str]
) -> None:
    """One host, triggers whose names differ only by a digit (the shipped dedup rule grouped such
    titles under one master before): some recover, the master's among them; every problem
    ``problem.get`` still reports active has an open ticket (its own, or the master it is counted on)."""
    path = config(tmp_path, zabbix_env, redmine_env)
    first = lab.create_trapper_trigger(prefix="itsm-grp", key="itsm.metric.1", reload=False)
    traps = [first]
    for n in range(2, 7):
        key = f"itsm.metric.{n}"
        lab.api.item.create(hostid=first.hostid, name=f"metric {n}", key_=key, type=2, value_type=3)
        triggerid = lab.api.trigger.create(
            description=f"metric {n} above 90", expression=f"last(/{first.host}/{key})>90", priority=3
        )["triggerids"][0]
        traps.append(TrapperTrigger(**{**first.__dict__, "key": key, "triggerid": triggerid}))
    lab.reload_config_cache()
    problems = [lab.fire(t, 95) for t in traps]
    start_cursor_before(path, str(min(int(p["eventid"]) for p in problems)))
    once(path, env)
    for trap, problem in zip(traps[:3], problems[:3], strict=True):  # the first (a master) and two more recover
        lab.send_until_accepted(trap.host, trap.key, 1)
        lab.wait_for_recovery(str(problem["eventid"]))
    once(path, env)
    active = lab.api.problem.get(hostids=first.hostid, output=["eventid"])
    assert {p["eventid"] for p in active} == {str(p["eventid"]) for p in problems[3:]}
    store = make_store(path.parent / "state.db")
    try:
        for problem in active:
            key = f"zabbix:{problem['eventid']}"
            holder = store.get(key) or store.get(store.alias_of(key) or "")
            assert holder is not None and not holder.status.is_done, (key, holder)
    finally:
        store.close()
    for trap in traps[3:]:
        lab.send_until_accepted(trap.host, trap.key, 1)
