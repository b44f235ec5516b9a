"""Webhook payloads as the connector's media type posts them (captured from Zabbix 6.0.14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MEDIA_TYPE = Path(__file__).resolve().parents[2] / "zabbix" / "itsm_connector_media_type.yaml"

_PROBLEM: dict[str, str] = {
    "event_source": "0",
    "event_id": "32",
    "event_value": "1",
    "event_update_status": "0",
    "event_name": "Interface Gi0/1 down on Core switch 01",
    "event_nseverity": "4",
    "event_opdata": "down (2)",
    "event_tags": '[{"tag":"service","value":"票务管理系统"},{"tag":"scope","value":"a"}]',
    "event_date": "2026.12.01",
    "event_time": "18:15:03",
    "event_recovery_id": "{EVENT.RECOVERY.ID}",
    "event_recovery_date": "{EVENT.RECOVERY.DATE}",
    "event_recovery_time": "{EVENT.RECOVERY.TIME}",
    "event_update_action": "{EVENT.UPDATE.ACTION}",
    "event_update_message": "{EVENT.UPDATE.MESSAGE}",
    "event_update_date": "{EVENT.UPDATE.DATE}",
    "event_update_time": "{EVENT.UPDATE.TIME}",
    "event_update_user": "{USER.FULLNAME}",
    "host_id": "10580",
    "host_host": "core-sw-01",
    "host_name": "Core switch 01",
    "host_groups": "Metro/Network core, Zabbix servers",
    "trigger_id": "23154",
}


def problem_payload(**changes: Any) -> dict[str, Any]:
    """A new problem (value 1, no update)."""
    return {**_PROBLEM, **changes}


def recovery_payload(**changes: Any) -> dict[str, Any]:
    """The recovery of that problem (value 0)."""
    recovery = {
        "event_value": "0",
        "event_recovery_id": "33",
        "event_recovery_date": "2026.12.01",
        "event_recovery_time": "18:15:12",
    }
    return {**_PROBLEM, **recovery, **changes}


def update_payload(**changes: Any) -> dict[str, Any]:
    """A person acknowledged the problem with a message."""
    update = {
        "event_update_status": "1",
        "event_update_action": "acknowledged and commented",
        "event_update_message": "switch replaced, watching",
        "event_update_date": "2026.12.01",
        "event_update_time": "18:20:00",
        "event_update_user": "Zabbix Administrator (Admin)",
    }
    return {**_PROBLEM, **update, **changes}
