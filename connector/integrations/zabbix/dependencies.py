"""Trigger dependencies as the Zabbix source reads them (cause correlation, ``topology.yaml``).

A trigger in Zabbix may depend on others ("host down" depends on "switch down"); the hosts of
those triggers are the alert's upstreams (``Alert.depends_on``). They change rarely, so each
trigger's answer is cached for ``dependencies_refresh_minutes``; a poll asks only for the
triggers it has not got fresh: one ``trigger.get`` for their dependencies, one for the hosts
of the triggers they depend on. Dependencies of dependencies are Zabbix's own (a trigger's
dependency list is already the whole chain the server evaluates); the topology file adds more.
"""

from __future__ import annotations

__all__ = ["TriggerDependencies"]

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from connector.domain.clock import Clock
from connector.integrations.zabbix.connection import ZabbixConnection


class TriggerDependencies:
    """Trigger id → the hosts of the triggers it depends on, cached per trigger."""

    def __init__(self, connection: ZabbixConnection, clock: Clock, refresh: timedelta) -> None:
        self._zabbix = connection
        self._clock = clock
        self._refresh = refresh
        self._cache: dict[str, tuple[datetime, tuple[str, ...]]] = {}

    def upstream_hosts(self, triggerids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """For each trigger, the technical names of the hosts its dependencies are on."""
        now = self._clock.now()
        wanted = sorted({t for t in triggerids if t.isdigit()})
        stale = [t for t in wanted if t not in self._cache or now - self._cache[t][0] >= self._refresh]
        if stale:
            deps = self._dependencies(stale)
            hosts = self._hosts({d for ds in deps.values() for d in ds})
            for trigger in stale:
                found = dict.fromkeys(h for d in deps.get(trigger, ()) for h in hosts.get(d, ()))
                self._cache[trigger] = (now, tuple(found))
        return {t: self._cache[t][1] for t in wanted if t in self._cache}

    def _dependencies(self, triggerids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        params = {"triggerids": list(triggerids), "output": ["triggerid"], "selectDependencies": ["triggerid"]}
        out: dict[str, tuple[str, ...]] = {}
        for trigger in self._zabbix.list("trigger.get", params, "trigger dependencies"):
            if isinstance(trigger, Mapping):
                out[str(trigger.get("triggerid"))] = tuple(_ids(trigger.get("dependencies")))
        return out

    def _hosts(self, triggerids: set[str]) -> dict[str, tuple[str, ...]]:
        if not triggerids:
            return {}
        params = {"triggerids": sorted(triggerids), "output": ["triggerid"], "selectHosts": ["host"]}
        out: dict[str, tuple[str, ...]] = {}
        for trigger in self._zabbix.list("trigger.get", params, "hosts of trigger dependencies"):
            if isinstance(trigger, Mapping):
                hosts = trigger.get("hosts")
                names = [str(h.get("host")) for h in hosts if isinstance(h, Mapping)] if isinstance(hosts, list) else []
                out[str(trigger.get("triggerid"))] = tuple(n for n in names if n)
        return out


def _ids(entries: Any) -> list[str]:
    if not isinstance(entries, list):
        return []
    return [str(e.get("triggerid")) for e in entries if isinstance(e, Mapping) and e.get("triggerid")]
