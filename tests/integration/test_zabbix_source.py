"""ZabbixSource against the real Zabbix 6.0 server: problem → poll → acknowledge → recovery.

Every object is created with a unique name and deleted at the end; other tests may use the
same server at the same time, so assertions pick our own event out of each poll.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from connector.contracts.adapters import PollResult
from connector.domain.clock import SystemClock
from connector.domain.models import Alert, TicketRef, TicketSource
from connector.integrations.zabbix import ZabbixSettings, ZabbixSource
from tests.integration.zabbix_helpers import TrapperTrigger, ZabbixLab

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(zabbix_env: dict[str, str]) -> Iterator[ZabbixLab]:
    handle = ZabbixLab(zabbix_env)
    try:
        yield handle
    finally:
        handle.cleanup()


def token_source(env: dict[str, str], **overrides: object) -> ZabbixSource:
    settings = ZabbixSettings.model_validate(
        {"url": env["ZABBIX_API_URL"], "api_token": SecretStr(env["ZABBIX_API_TOKEN"]), **overrides}
    )
    return ZabbixSource(settings, name="zabbix-it", clock=SystemClock())


def ours(result: PollResult, eventid: str) -> list[Alert]:
    return [i for i in result.items if isinstance(i, Alert) and i.external_id == eventid]


def test_problem_ack_and_recovery_round_trip(zabbix_env: dict[str, str], lab: ZabbixLab) -> None:
    trap: TrapperTrigger = lab.create_trapper_trigger(tags={"service": "itsm-it-mail", "scope": "capacity"})
    source = token_source(zabbix_env, batch_limit=10_000)
    try:
        # 1. the problem
        event = lab.fire(trap, 95)
        eventid = event["eventid"]

        first = source.poll(None, [])

        (alert,) = ours(first, eventid)
        assert alert.source == "zabbix-it"
        assert alert.title == trap.description
        assert alert.ci == trap.host
        assert alert.host_groups == (trap.group,)
        assert alert.tags == {"service": "itsm-it-mail", "scope": "capacity"}
        assert alert.service == "itsm-it-mail"
        assert alert.severity == trap.severity == 4
        assert alert.origin is TicketSource.MONITORING
        started = datetime.fromtimestamp(int(event["clock"]), UTC)
        assert alert.occurred_at == started + timedelta(microseconds=int(event["ns"]) // 1000)
        assert abs(datetime.now(UTC) - alert.occurred_at) < timedelta(minutes=5)
        assert alert.recovered_at is None
        assert f"Host: {trap.visible_name} ({trap.host})" in alert.description
        assert first.cursor is not None and int(first.cursor) >= int(eventid)

        # 2. the acknowledgement, twice (the second only adds the message)
        ref = TicketRef(ticket_id="4242", url="http://helpdesk.invalid/issues/4242")
        source.acknowledge(eventid, ref, "")
        source.acknowledge(eventid, ref, "[itsm-connector] ticket #4242 updated")

        acks = lab.acknowledges(eventid)
        assert [a["message"] for a in acks] == [
            "[itsm-connector] ticket #4242: http://helpdesk.invalid/issues/4242",
            "[itsm-connector] ticket #4242 updated",
        ]
        assert int(acks[0]["action"]) & 6 == 6
        assert lab.api.event.get(eventids=eventid, output=["acknowledged"])[0]["acknowledged"] == "1"

        # 3. the recovery, found through open_ids
        assert lab.send(trap.host, trap.key, 10)
        recovery_event = lab.wait_for_recovery(eventid)

        second = source.poll(first.cursor, [eventid])

        (recovery,) = ours(second, eventid)
        assert recovery.recovered_at == datetime.fromtimestamp(int(recovery_event["clock"]), UTC) + timedelta(
            microseconds=int(recovery_event["ns"]) // 1000
        )
        assert recovery.recovered_at >= recovery.occurred_at
        assert (recovery.title, recovery.ci, recovery.host_groups) == (
            trap.description,
            trap.host,
            (trap.group,),
        )
        assert recovery.event_key == f"{eventid}/recovery"

        # 4. nothing new for us after the returned cursor
        assert second.cursor is not None
        third = source.poll(second.cursor, [])
        assert all(getattr(i, "ci", None) != trap.host for i in third.items)
        if not third.items:
            assert third.cursor == second.cursor
    finally:
        source.close()


def test_already_recovered_problem_arrives_as_problem_then_recovery(zabbix_env: dict[str, str], lab: ZabbixLab) -> None:
    trap = lab.create_trapper_trigger(severity=2)
    eventid = lab.fire(trap, 99)["eventid"]
    assert lab.send(trap.host, trap.key, 1)
    lab.wait_for_recovery(eventid)
    source = token_source(zabbix_env, batch_limit=10_000)
    try:
        result = source.poll(str(int(eventid) - 1), [])
    finally:
        source.close()

    problem, recovery = ours(result, eventid)
    assert (problem.recovered_at, problem.severity) == (None, 2)
    assert recovery.recovered_at is not None and recovery.recovered_at >= problem.occurred_at


def test_password_login_relogs_in_after_the_session_is_killed(zabbix_env: dict[str, str], lab: ZabbixLab) -> None:
    sessions: list[str] = []
    settings = ZabbixSettings(
        url=zabbix_env["ZABBIX_API_URL"],
        user=zabbix_env["ZABBIX_USER"],
        password=SecretStr(zabbix_env["ZABBIX_PASSWORD"]),
        min_severity=5,  # keep the answer small: nothing in this test is a disaster
    )
    source = ZabbixSource(settings, name="zabbix-it-pw", clock=SystemClock(), register_secret=sessions.append)
    try:
        source.poll("999999999", [])
        assert len(sessions) == 1
        # log that session out from the side, as an inactivity timeout would
        killer = ZabbixLab(zabbix_env).api
        killer.auth, killer.use_api_token = sessions[0], False
        assert killer.user.logout() is True

        result = source.poll("999999999", [])

        assert result.cursor == "999999999"
        assert len(sessions) == 2 and sessions[1] != sessions[0]
    finally:
        source.close()


def test_min_severity_filters_on_the_server(zabbix_env: dict[str, str], lab: ZabbixLab) -> None:
    trap = lab.create_trapper_trigger(severity=1)
    eventid = lab.fire(trap, 95)["eventid"]
    cursor = str(int(eventid) - 1)

    high_only = token_source(zabbix_env, min_severity=2, batch_limit=10_000)
    everything = token_source(zabbix_env, batch_limit=10_000)
    try:
        assert ours(high_only.poll(cursor, []), eventid) == []
        (found,) = ours(everything.poll(cursor, []), eventid)
        assert found.severity == 1
    finally:
        high_only.close()
        everything.close()
