"""Where a notice goes (plan), sending it on one channel, and the notify config's validation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pluggy
import pytest

from connector.contracts.adapters import PluginContext
from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import FakeClock
from connector.domain.errors import ConfigError, NotifierRejected
from connector.domain.models import Priority
from connector.domain.notice import Contact, NoticeKind, StatusEvent
from connector.notify.dispatch import Channel, plan, send_notice
from connector.notify.render import Renderer
from connector.notify.settings import build_notifications, load_notify, notifier_types
from connector.rules.ladder import load_notification_rules
from connector.state.spool import Spool
from tests.notify_helpers import PEOPLE_EXAMPLE, directory, notice


class Capture:
    """A notifier that records its sends."""

    def __init__(self, name: str, needs_recipients: bool = True) -> None:
        self.name = name
        self.needs_recipients = needs_recipients
        self.sent: list[tuple[OutgoingMessage, list[Recipient]]] = []

    def send(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> None:
        self.sent.append((message, list(recipients)))

    def close(self) -> None:
        pass


def channels(robot_needs_recipients: bool = False) -> dict[str, Channel]:
    return {
        "email": Channel("email", "email", Capture("email")),
        "phone": Channel("phone", "phone", Capture("phone")),
        "wecom": Channel("wecom", "wecom", Capture("wecom", needs_recipients=robot_needs_recipients)),
    }


def test_plan_lists_the_priority_channels_with_their_recipients() -> None:
    rules = load_notification_rules()
    p1 = plan(notice(), rules, directory(), channels())
    assert [(d.channel, [r.person for r in d.recipients], d.sent) for d in p1] == [
        ("phone", ["chen.gang", "wang.fang"], True),
        ("email", ["chen.gang", "wang.fang"], True),
    ]
    p3 = plan(notice(priority=Priority.MEDIUM), rules, directory(), channels())
    assert [d.channel for d in p3] == ["email"]


def test_plan_shows_what_cannot_be_reached() -> None:
    rules = load_notification_rules()
    status = notice(kind=NoticeKind.STATUS, status=StatusEvent.OPEN, roles=("user", "service_desk"))
    [email] = plan(status, rules, directory(), channels())  # status notices: e-mail only
    assert [r.person for r in email.recipients] == ["desk"] and email.missing == ("user: no email",)
    only_email = {"email": channels()["email"]}
    phone, _ = plan(notice(), rules, directory(), only_email)
    assert (phone.channel, phone.sent, phone.missing) == ("phone", False, ("channel 'phone' is not configured",))


def test_send_notice_renders_and_sends_once() -> None:
    configured = channels()
    renderer = Renderer(service_desk="desk", directory=directory())
    n = notice(contact=Contact(email="reporter@example.com"), roles=("user", "maintenance_engineer"))
    delivery = send_notice(n, "email", directory=directory(), channels=configured, renderer=renderer)
    email = configured["email"].notifier
    assert isinstance(email, Capture) and len(email.sent) == 1
    message, recipients = email.sent[0]
    assert [r.address for r in recipients] == ["reporter@example.com", "wu.lei@metro.example"]
    assert message.ticket_tag == "42" and "核心交换机" in message.subject
    assert delivery.sent and delivery.recipients == tuple(recipients)
    phone = configured["phone"].notifier
    assert isinstance(phone, Capture) and phone.sent == []  # only the channel asked for


def test_nobody_to_reach_sends_nothing_except_on_a_group_robot() -> None:
    configured = channels()
    renderer = Renderer(service_desk="desk", directory=directory())
    n = notice(roles=("duty_group_leader",))  # 周敏 has e-mail only
    delivery = send_notice(n, "phone", directory=directory(), channels=configured, renderer=renderer)
    assert not delivery.sent and delivery.missing == ("zhou.min: no phone",)
    assert configured["phone"].notifier.sent == []  # type: ignore[attr-defined]
    robot = send_notice(n, "wecom", directory=directory(), channels=configured, renderer=renderer)
    assert robot.sent and robot.recipients == ()
    assert len(configured["wecom"].notifier.sent) == 1  # type: ignore[attr-defined]


def test_an_unconfigured_channel_is_rejected() -> None:
    renderer = Renderer(service_desk="desk")
    with pytest.raises(NotifierRejected, match="no channel 'fax' is configured"):
        send_notice(notice(), "fax", directory=directory(), channels=channels(), renderer=renderer)


# --- the notify config ----------------------------------------------------------------------


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "people.yaml").write_text(PEOPLE_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    path = tmp_path / "notify.yaml"
    path.write_text("people: people.yaml\nservice_desk: desk 8888\n" + body, encoding="utf-8")
    return path


def test_channel_entries_are_validated_with_lines(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    path = _write(
        tmp_path,
        "channels:\n"  # 3
        "  - {type: smpt, host: h}\n"  # 4
        "  - type: smtp\n"  # 5
        "    hots: relay\n"  # 6
        "    sender: ITSM <itsm@metro.example>\n"  # 7
        "  - type: webhook\n"  # 8
        "    url: https://gw.example/sms\n"  # 9
        "    hmac_secret: written-in-the-file\n",  # 10
    )
    with pytest.raises(ConfigError) as caught:
        load_notify(path, notifier_types(pm), env={})
    problems = [str(p) for p in caught.value.problems]
    assert problems[0].startswith(f"{path}:4: unknown notifier type 'smpt' (did you mean 'smtp'?)")
    assert f"{path}:6: unknown key 'channels.1.hots' (did you mean 'host'?)" in problems
    assert f"{path}:5: missing required key 'channels.1.host'" in problems
    assert any(
        p.startswith(f"{path}:10: channels.2.hmac_secret: a secret must be given as ${{ENV_VAR}}") for p in problems
    )
    assert not any("written-in-the-file" in p for p in problems)  # a pasted secret is not echoed


def test_secrets_come_from_the_environment(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    path = _write(tmp_path, "channels:\n  - {type: webhook, url: 'https://gw/x', hmac_secret: '${GW_SECRET}'}\n")
    loaded = load_notify(path, notifier_types(pm), env={"GW_SECRET": "s3cr3t-value"})
    [channel] = loaded.channels
    assert (channel.name, channel.address) == ("phone", "phone")
    assert channel.settings.hmac_secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" in loaded.secrets  # handed to the log redactor
    assert "s3cr3t-value" not in repr(channel.settings)


def test_two_channels_with_one_name(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    path = _write(
        tmp_path, "channels:\n  - {type: webhook, url: 'https://a/'}\n  - {type: webhook, url: 'https://b/'}\n"
    )
    with pytest.raises(ConfigError, match=r"notify.yaml:5: two channels named 'phone'"):
        load_notify(path, notifier_types(pm), env={})


def test_rules_are_cross_checked_against_people_and_channels(
    tmp_path: Path, pm: pluggy.PluginManager, clock: FakeClock
) -> None:
    types = notifier_types(pm)

    def ctx(name: str) -> PluginContext:
        return PluginContext(clock, name, tmp_path, lambda s: None, Spool(tmp_path / "spool"))

    path = _write(tmp_path, "channels:\n  - {type: smtp, host: relay, sender: 'ITSM <itsm@metro.example>'}\n")
    with pytest.raises(ConfigError) as caught:  # P1 goes by phone, and no phone channel exists
        build_notifications(load_notify(path, types, env={}), types, ctx)
    [problem] = caught.value.problems
    assert problem.file.endswith("notifications.yaml") and "channels.1.0: not a known channel" in problem.reason

    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "notifications.yaml").write_text(
        "channels: {1: [email], 2: [email], 3: [email]}\n"
        "timed: {roles: [project_manager], minutes: {1: [5], 2: [10], 3: [15]}}\n"
        "sla: {breach: [incident_managr]}\n"
        "reassignment: [incident_manager]\n",
        encoding="utf-8",
    )
    path.write_text(path.read_text(encoding="utf-8") + "rules_dir: rules\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rules/notifications.yaml:3: sla.breach.0: not a known role"):
        build_notifications(load_notify(path, types, env={}), types, ctx)

    (tmp_path / "rules" / "notifications.yaml").write_text(
        (tmp_path / "rules" / "notifications.yaml").read_text().replace("incident_managr", "incident_manager")
    )
    kit = build_notifications(load_notify(path, types, env={}), types, ctx)
    assert [d.channel for d in kit.plan(notice())] == ["email"]
    assert kit.escalation.ladder(Priority.HIGHEST)[0].role == "project_manager"  # shipped ladder: no site file
    kit.close()
