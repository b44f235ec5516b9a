"""Zabbix 6.0 as a source of alerts: polling problems and recoveries, acknowledging them.

``settings`` is the config section, ``mapping`` the pure event → Alert translation, ``source``
the poll and acknowledgement logic, ``connection`` the pyzabbix client and its one error
boundary. ``connector.plugins.zabbix`` plugs it into the host.
"""

from connector.integrations.zabbix.mapping import SEVERITY_NAMES, event_clock, map_problem, map_recovery, merge_tags
from connector.integrations.zabbix.settings import ACK_MESSAGE_FIELDS, ZabbixSettings
from connector.integrations.zabbix.source import ZabbixSource

__all__ = [
    "ACK_MESSAGE_FIELDS",
    "SEVERITY_NAMES",
    "ZabbixSettings",
    "ZabbixSource",
    "event_clock",
    "map_problem",
    "map_recovery",
    "merge_tags",
]
