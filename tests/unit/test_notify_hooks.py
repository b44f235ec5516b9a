"""The notifier hook: a small plugin's notifier type is configurable and receives the notices."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pluggy
import pytest
from pydantic import BaseModel, ConfigDict

from connector import hookimpl
from connector.contracts.adapters import PluginContext
from connector.contracts.notifiers import NotifierType, OutgoingMessage, Recipient
from connector.domain.clock import FakeClock
from connector.domain.models import Priority
from connector.domain.notice import Notice, NoticeKind, TicketLink
from connector.notify.settings import build_notifications, load_notify, notifier_types
from connector.state.spool import Spool

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def register(pm: pluggy.PluginManager) -> Iterator[pluggy.PluginManager]:
    """The fresh manager; plugins registered under ``test-*`` names are removed at teardown."""
    yield pm
    for name, _ in list(pm.list_name_plugin()):
        if name.startswith("test-"):
            pm.unregister(name=name)


class PagerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prefix: str


class Pager:
    """A notifier that keeps what it was asked to send."""

    needs_recipients = True

    def __init__(self, settings: PagerSettings, ctx: PluginContext) -> None:
        self.name = ctx.name
        self.prefix = settings.prefix
        self.sent: list[tuple[str, list[str]]] = []

    def send(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> None:
        self.sent.append((self.prefix + message.short, [r.address for r in recipients]))

    def close(self) -> None:
        pass


def test_hook_register_notifier_types(register: pluggy.PluginManager, tmp_path: Path, clock: FakeClock) -> None:
    class Plugin:
        @hookimpl
        def register_notifier_types(self) -> list[NotifierType]:
            return [NotifierType("pager", PagerSettings, Pager, address="phone", channel="phone")]

    register.register(Plugin(), name="test-pager")
    types = notifier_types(register)
    assert {"pager", "smtp", "webhook", "wecom", "dingtalk"} <= set(types)

    (tmp_path / "people.yaml").write_text((ROOT / "config" / "people.example.yaml").read_text(encoding="utf-8"))
    notify_file = tmp_path / "notify.yaml"
    notify_file.write_text(
        "people: people.yaml\nservice_desk: desk 8888\nchannels:\n"
        "  - {type: pager, prefix: 'PAGE '}\n"
        "  - {type: pager, name: email, address: email, prefix: 'MAIL '}\n",
        encoding="utf-8",
    )
    loaded = load_notify(notify_file, types, env={})
    kit = build_notifications(
        loaded, types, lambda name: PluginContext(clock, name, tmp_path, lambda s: None, Spool(tmp_path / "sp"))
    )
    notice = Notice(
        kind=NoticeKind.ESCALATION,
        ticket=TicketLink(key="zabbix:9", ticket_id="9"),
        priority=Priority.HIGHEST,
        title="核心交换机宕机",
        roles=("project_manager",),
        level=1,
        due_at=clock.now() + timedelta(minutes=10),
    )
    assert [d.channel for d in kit.plan(notice)] == ["phone", "email"]  # P1: phone + e-mail
    kit.send(notice, "phone")
    phone = kit.channels["phone"].notifier
    assert isinstance(phone, Pager)
    assert len(phone.sent) == 1
    text, addresses = phone.sent[0]
    assert text.startswith("PAGE ") and "核心交换机宕机" in text
    assert sorted(addresses) == ["+86 138 0000 0010", "+86 138 0000 0030"]  # both project managers
