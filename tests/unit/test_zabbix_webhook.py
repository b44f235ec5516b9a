"""What the media type posts → Alerts: the same keys as the poll path, updates, our own acks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from connector.contracts.adapters import Rejected
from connector.domain.models import Alert
from connector.integrations.push_http import PushHttpSettings, WebhookGateSettings
from connector.integrations.zabbix.mapping import map_problem, merge_tags
from connector.integrations.zabbix.webhook import WEBHOOK_FIELDS, Ignored, Update, classify, update_user
from connector.integrations.zabbix.webhook_settings import ZabbixWebhookSettings
from connector.util.secrets import SecretSource
from tests.unit.webhook_payloads import MEDIA_TYPE, problem_payload, recovery_payload, update_payload

UTC_ZONE = ZoneInfo("UTC")


def test_problem_gives_the_alert_the_poll_path_gives() -> None:
    payload = problem_payload()
    pushed = classify(payload, source="zabbix", tz=UTC_ZONE)
    polled = map_problem(
        {
            "eventid": "32",
            "name": payload["event_name"],
            "clock": str(int(datetime(2026, 12, 1, 18, 15, 3, tzinfo=UTC).timestamp())),
            "ns": "941029740",
            "severity": "4",
            "hosts": [{"hostid": "10580", "host": "core-sw-01", "name": "Core switch 01"}],
            "tags": [{"tag": "service", "value": "票务管理系统"}, {"tag": "scope", "value": "a"}],
            "objectid": "23154",
        },
        source="zabbix",
        groups_by_hostid={"10580": ["Metro/Network core", "Zabbix servers"]},
    )
    assert isinstance(pushed, Alert) and isinstance(polled, Alert)
    same = ("source", "external_id", "title", "ci", "host_groups", "tags", "severity", "service", "origin")
    assert {f: getattr(pushed, f) for f in same} == {f: getattr(polled, f) for f in same}
    assert (pushed.key, pushed.event_key) == (polled.key, polled.event_key) == ("zabbix:32", "32")
    assert pushed.occurred_at == datetime(2026, 12, 1, 18, 15, 3, tzinfo=UTC)
    assert pushed.raw == {"webhook": payload}


def test_unresolved_macros_are_absent_and_our_own_tags_are_not_the_problems() -> None:
    payload = problem_payload(
        event_opdata="{EVENT.OPDATA}",
        event_tags='[{"tag":"service","value":"mail"},{"tag":"__itsm_key","value":"zabbix:32"}]',
    )
    alert = classify(payload, source="zabbix", tz=UTC_ZONE)
    assert isinstance(alert, Alert)
    assert alert.tags == {"service": "mail"}
    assert "{EVENT.OPDATA}" not in alert.description
    assert merge_tags([{"tag": "__itsm_url", "value": "http://x"}, {"tag": "a", "value": "1"}]) == {"a": "1"}


def test_event_time_is_the_zabbix_servers_local_time() -> None:
    payload = problem_payload(event_date="2026.11.26", event_time="10:40:00")
    alert = classify(payload, source="z", tz=ZoneInfo("Asia/Shanghai"))
    assert isinstance(alert, Alert)
    assert alert.occurred_at == datetime(2026, 11, 26, 2, 40, tzinfo=UTC)


def test_recovery_is_the_same_problem_recovered() -> None:
    alert = classify(recovery_payload(), source="zabbix", tz=UTC_ZONE)
    assert isinstance(alert, Alert)
    assert alert.key == "zabbix:32" and alert.event_key == "32/recovery"
    assert alert.recovered_at == datetime(2026, 12, 1, 18, 15, 12, tzinfo=UTC)


def test_recovery_before_the_problem_is_rejected_with_the_reason() -> None:
    result = classify(recovery_payload(event_recovery_time="18:00:00"), source="zabbix", tz=UTC_ZONE)
    assert isinstance(result, Rejected)
    assert result.external_id == "32" and "before the problem" in result.reason


def test_our_own_acknowledgement_is_ignored_by_prefix_and_by_user() -> None:
    own = update_payload(event_update_message="[itsm-connector] ticket #7: http://redmine/issues/7")
    by_prefix = classify(own, source="zabbix", tz=UTC_ZONE, ignore_update_prefixes=["[itsm-connector]"])
    assert isinstance(by_prefix, Ignored) and "own acknowledgement" in by_prefix.reason
    by_user = classify(update_payload(), source="zabbix", tz=UTC_ZONE, ignore_update_users=["Admin"])
    assert isinstance(by_user, Ignored) and "Admin" in by_user.reason


def test_a_persons_update_becomes_a_note_for_the_problems_ticket() -> None:
    update = classify(update_payload(), source="zabbix", tz=UTC_ZONE, ignore_update_prefixes=["[itsm-connector]"])
    assert isinstance(update, Update)
    assert update.ticket_key == "zabbix:32"
    again = classify(update_payload(), source="zabbix", tz=UTC_ZONE)
    assert isinstance(again, Update) and again.external_id == update.external_id  # a retry is a repeat
    other = classify(update_payload(event_update_message="still down"), source="zabbix", tz=UTC_ZONE)
    assert isinstance(other, Update) and other.external_id != update.external_id
    alert = update.alert("7")
    assert alert.reply_to == "7" and alert.event_key != "32" and alert.event_key != "32/recovery"
    assert "Zabbix Administrator (Admin) acknowledged and commented" in alert.description
    assert "switch replaced, watching" in alert.description


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event_id": "{EVENT.ID}"}, "event_id"),
        ({"event_id": "-4"}, "event_id"),
        ({"event_value": "2"}, "event_value"),
        ({"event_update_status": ""}, "event_update_status"),
        ({"event_date": "yesterday"}, "event_date"),
        ({"event_tags": "[{"}, "event_tags"),
        ({"event_name": ""}, "no name"),
        ({"host_host": "{HOST.HOST}"}, "no host"),
        ({"event_nseverity": "9"}, "severity"),
        ({"event_name": ["not", "text"]}, "not text"),
    ],
)
def test_a_payload_that_cannot_be_an_alert_says_which_field(changes: dict[str, Any], reason: str) -> None:
    result = classify(problem_payload(**changes), source="zabbix", tz=UTC_ZONE)
    assert isinstance(result, Rejected)
    assert reason in result.reason


def test_non_trigger_events_are_ignored() -> None:
    result = classify(problem_payload(event_source="3"), source="zabbix", tz=UTC_ZONE)
    assert isinstance(result, Ignored) and "not a trigger event" in result.reason


def test_update_user_is_the_login_in_parentheses() -> None:
    assert update_user("Zabbix Administrator (Admin)") == "Admin"
    assert update_user("ops") == "ops"


def test_the_media_type_posts_every_field_the_mapping_reads() -> None:
    exported = yaml.safe_load(MEDIA_TYPE.read_text(encoding="utf-8"))["zabbix_export"]
    assert exported["version"] == "6.0"
    (media,) = exported["media_types"]
    params = {p["name"]: p["value"] for p in media["parameters"]}
    assert {k: v for k, v in params.items() if not k.startswith("itsm_")} == WEBHOOK_FIELDS
    assert media["process_tags"] == "YES" and media["show_event_menu"] == "YES"
    assert media["event_menu_url"] == "{EVENT.TAGS.__itsm_url}"
    script = media["script"]
    assert "Authorization: Bearer " in script and "return JSON.stringify({tags:" in script
    assert {t["operation_mode"] for t in media["message_templates"]} == {"PROBLEM", "RECOVERY", "UPDATE"}


def test_settings_refuse_a_short_secret_an_unknown_zone_and_a_plain_secret() -> None:
    good = {"secret": SecretSource("x" * 24)}
    assert ZabbixWebhookSettings.model_validate(good).zone == ZoneInfo("UTC")
    with pytest.raises(ValidationError, match="at least 24"):
        ZabbixWebhookSettings.model_validate({"secret": SecretSource("short")})
    with pytest.raises(ValidationError, match="unknown time zone"):
        ZabbixWebhookSettings.model_validate({**good, "server_timezone": "Mars/Olympus"})
    with pytest.raises(ValidationError, match="never written in the file"):
        ZabbixWebhookSettings.model_validate({"secret": "x" * 30})


def test_the_gate_settings_are_the_pushed_endpoints_keys_and_messages() -> None:
    # issue 15: the Zabbix webhook's gate fields come from push_http's WebhookGateSettings, as the
    # shared server's sources' do: the same keys, defaults and refusals, one copy of the checks
    gate = set(WebhookGateSettings.model_fields)
    assert gate == {
        "secret",
        "max_body_bytes",
        "signature",
        "signature_window_seconds",
        "rate_limit_per_minute",
        "rate_limit_burst",
    }
    assert gate < set(ZabbixWebhookSettings.model_fields) and gate < set(PushHttpSettings.model_fields)
    assert "path" not in ZabbixWebhookSettings.model_fields  # the webhook's path is /zabbix, not a key
    good = {"secret": SecretSource("x" * 24)}
    defaults = ZabbixWebhookSettings.model_validate(good)
    assert (defaults.max_body_bytes, defaults.signature, defaults.signature_window_seconds) == (
        256 * 1024,
        "optional",
        300,
    )
    assert (defaults.rate_limit_per_minute, defaults.rate_limit_burst) == (600, 100)
    for bad in ({"rate_limit_burst": 0}, {"rate_limit_per_minute": 1_000_001}, {"signature": "maybe"}):
        messages = []
        for model, extra in ((ZabbixWebhookSettings, {}), (PushHttpSettings, {"path": "/alerts"})):
            with pytest.raises(ValidationError) as caught:
                model.model_validate({**good, **extra, **bad})
            messages.append([(e["loc"], e["msg"]) for e in caught.value.errors()])
        assert messages[0] == messages[1]
