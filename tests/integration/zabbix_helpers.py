"""Helpers for tests that drive the real Zabbix 6.0 (``zabbix_env`` fixture).

A test builds a uniquely named host group + host + trapper item + trigger, makes the server
accept the new item (config cache reload), pushes values with ``zabbix_sender`` and waits, with
a bounded poll loop, for the problem or its recovery to appear. ``ZabbixLab.cleanup`` deletes
everything the lab created, so tests can share one long-running server (and run in parallel
with other people's tests: every object name carries a random suffix).

Typical use::

    lab = ZabbixLab(zabbix_env)
    try:
        trap = lab.create_trapper_trigger(tags={"service": "mail"})
        problem = lab.fire(trap, 95)
        ...
    finally:
        lab.cleanup()
"""

from __future__ import annotations

__all__ = ["TrapperTrigger", "ZabbixLab", "unique_name", "wait_until"]

import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyzabbix.api import ZabbixAPI

T = TypeVar("T")

#: how long to wait for the server to accept a new item / raise or resolve a problem
DEFAULT_TIMEOUT = 60.0


def unique_name(prefix: str = "itsm-it") -> str:
    """A name no other test run uses: ``prefix`` plus a random suffix."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(what: str, probe: Callable[[], T | None], timeout: float = DEFAULT_TIMEOUT, step: float = 0.5) -> T:
    """Call ``probe`` until it returns something truthy, for at most ``timeout`` seconds.

    Zabbix processes values asynchronously (trapper -> history syncer -> trigger -> event), so
    tests must poll; the bound keeps a broken server from hanging the run.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


@dataclass(frozen=True)
class TrapperTrigger:
    """The objects ``ZabbixLab.create_trapper_trigger`` made (all ids are Zabbix strings)."""

    group: str
    groupid: str
    host: str  # technical name, what zabbix_sender addresses
    visible_name: str
    hostid: str
    key: str
    itemid: str
    triggerid: str
    description: str
    severity: int
    tags: dict[str, str] = field(default_factory=dict)


class ZabbixLab:
    """A handle on the test Zabbix: an API client (token auth), zabbix_sender and cleanup."""

    def __init__(self, env: Mapping[str, str], timeout: float = 30.0) -> None:
        self.env = dict(env)
        self.api: Any = ZabbixAPI(self.env["ZABBIX_API_URL"], timeout=timeout)
        self.api.login(api_token=self.env["ZABBIX_API_TOKEN"])
        self._hostids: list[str] = []
        self._groupids: list[str] = []

    # --- objects -------------------------------------------------------------------------------

    def create_trapper_trigger(
        self,
        *,
        prefix: str = "itsm-it",
        severity: int = 4,
        threshold: float = 90,
        tags: Mapping[str, str] | None = None,
        group: str | None = None,
        key: str = "itsm.test.value",
        reload: bool = True,
    ) -> TrapperTrigger:
        """Create host group + host + trapper item + trigger ``last(/host/key)>threshold``.

        ``group`` names an existing or new group (default: a new unique one, deleted by
        ``cleanup``). With ``reload`` the server's config cache is reloaded so the item is
        accepted soon; still use ``send_until_accepted`` for the first value.
        """
        name = unique_name(prefix)
        group_name = group or f"{name} group"
        found = self.api.hostgroup.get(filter={"name": [group_name]}, output=["groupid"])
        if found:
            groupid = found[0]["groupid"]
        else:
            groupid = self.api.hostgroup.create(name=group_name)["groupids"][0]
            self._groupids.append(groupid)
        visible = f"{name} visible"
        hostid = self.api.host.create(host=name, name=visible, groups=[{"groupid": groupid}])["hostids"][0]
        self._hostids.append(hostid)
        itemid = self.api.item.create(hostid=hostid, name="itsm test value", key_=key, type=2, value_type=3)["itemids"][
            0
        ]
        description = f"Value too high on {{HOST.NAME}} ({name})"
        tag_list = [{"tag": k, "value": v} for k, v in (tags or {}).items()]
        triggerid = self.api.trigger.create(
            description=description,
            expression=f"last(/{name}/{key})>{threshold:g}",
            priority=severity,
            manual_close=1,
            tags=tag_list,
        )["triggerids"][0]
        if reload:
            self.reload_config_cache()
        return TrapperTrigger(
            group=group_name,
            groupid=groupid,
            host=name,
            visible_name=visible,
            hostid=hostid,
            key=key,
            itemid=itemid,
            triggerid=triggerid,
            description=description.replace("{HOST.NAME}", visible),
            severity=severity,
            tags=dict(tags or {}),
        )

    def cleanup(self) -> None:
        """Delete every host and group this lab created (hosts first: groups must be empty)."""
        if self._hostids:
            self.api.host.delete(*self._hostids)
            self._hostids.clear()
        if self._groupids:
            self.api.hostgroup.delete(*self._groupids)
            self._groupids.clear()

    # --- server side ---------------------------------------------------------------------------

    def reload_config_cache(self) -> None:
        """Ask the running zabbix_server to reload its configuration cache (needs root).

        Without it a new trapper item is rejected ("processed: 0; failed: 1") until the next
        periodic sync, which may be a minute away.
        """
        subprocess.run(
            ["/usr/sbin/zabbix_server", "-c", self.env["ZABBIX_SERVER_CONF"], "-R", "config_cache_reload"],
            check=False,
            capture_output=True,
            timeout=30,
        )

    def send(self, host: str, key: str, value: float | str) -> bool:
        """Push one value with zabbix_sender; True when the server processed it."""
        out = subprocess.run(
            [
                self.env.get("ZABBIX_SENDER", "zabbix_sender"),
                "-z",
                self.env["ZABBIX_SERVER_HOST"],
                "-p",
                self.env["ZABBIX_SERVER_PORT"],
                "-s",
                host,
                "-k",
                key,
                "-o",
                str(value),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return "processed: 1;" in out.stdout

    def send_until_accepted(self, host: str, key: str, value: float | str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Send ``value`` until the server accepts it (a new item is refused until the cache syncs)."""
        wait_until(
            f"the server to accept {key}={value} for {host}",
            lambda: self.send(host, key, value),
            timeout,
            1.0,
        )

    def fire(self, trap: TrapperTrigger, value: float, timeout: float = 90.0) -> dict[str, Any]:
        """Send ``value`` until Zabbix has made a problem event of ``trap``'s trigger; return it.

        A value can be accepted for a new item before the trigger is in the server's cache (the
        value then never fires it), so when no event follows within a few seconds the cache is
        reloaded and the value sent again. A trigger already in PROBLEM makes no second event.
        """
        give_up = time.monotonic() + timeout
        self.send_until_accepted(trap.host, trap.key, value)
        while True:
            try:
                return self.wait_for_problem(trap.triggerid, timeout=10.0)
            except AssertionError:
                if time.monotonic() >= give_up:
                    raise
            self.reload_config_cache()
            self.send(trap.host, trap.key, value)

    # --- events --------------------------------------------------------------------------------

    def wait_for_problem(self, triggerid: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The newest problem event of ``triggerid``, once Zabbix has created it."""

        def probe() -> dict[str, Any] | None:
            events = self.api.event.get(
                objectids=triggerid,
                source=0,
                object=0,
                value=1,
                output="extend",
                selectHosts=["hostid", "host", "name"],
                selectTags="extend",
                sortfield="eventid",
                sortorder="DESC",
                limit=1,
            )
            return events[0] if events else None

        return wait_until(f"a problem event of trigger {triggerid}", probe, timeout)

    def wait_for_recovery(self, eventid: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The recovery event of problem ``eventid``, once Zabbix has resolved it."""

        def probe() -> dict[str, Any] | None:
            events = self.api.event.get(eventids=eventid, output=["eventid", "r_eventid"])
            if not events or events[0]["r_eventid"] == "0":
                return None
            recovery = self.api.event.get(eventids=events[0]["r_eventid"], output="extend")
            return recovery[0] if recovery else None

        return wait_until(f"the recovery of event {eventid}", probe, timeout)

    def acknowledges(self, eventid: str) -> list[dict[str, Any]]:
        """The acknowledge entries (message, action, clock, …) of ``eventid``, oldest first.

        Zabbix returns them newest first by ``clock`` (whole seconds), so two entries of the
        same second come in either order; ``acknowledgeid`` is the real order.
        """
        events = self.api.event.get(eventids=eventid, output=["eventid"], select_acknowledges="extend")
        entries = list(events[0]["acknowledges"]) if events else []
        return sorted(entries, key=lambda a: int(a["acknowledgeid"]))
