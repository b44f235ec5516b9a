"""One behavioural test per hook: a small plugin implementing it changes what the connector does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pluggy
import pytest
from pydantic import BaseModel

from connector import hookimpl
from connector.contracts.adapters import BackendType, PluginContext, SourceType
from connector.domain.clock import FakeClock
from connector.domain.decision import Action, Decision
from connector.domain.models import Alert, Impact, Priority, Ticket, Urgency
from connector.plugins.local import LocalBackend
from connector.plugins.replay import ReplaySource
from connector.process.pipeline import Pipeline
from connector.rules.book import RuleBook, TicketIndex
from connector.rules.loading import default_rulebook
from connector.runtime.app import adapter_types
from connector.state.spool import Spool
from tests.state_backend import make_store


@pytest.fixture
def register(pm: pluggy.PluginManager) -> Iterator[pluggy.PluginManager]:
    """Register test plugins on a fresh manager; they are unregistered at teardown."""
    names: list[str] = []
    original = pm.register

    def tracked(plugin: object, name: str | None = None) -> str | None:
        result = original(plugin, name=name)
        names.append(result or "")
        return result

    pm.register = tracked  # type: ignore[method-assign]
    yield pm
    for name in names:
        pm.unregister(name=name)


def alert(clock: FakeClock, **changes: object) -> Alert:
    data: dict[str, object] = {
        "source": "zabbix",
        "external_id": "1",
        "title": "Disk full",
        "severity": 3,
        "occurred_at": clock.now(),
    }
    data.update(changes)
    return Alert.model_validate(data)


def decide(pm: pluggy.PluginManager, clock: FakeClock, tmp_path: Path, item: Alert) -> Decision:
    return Pipeline.from_manager(pm, default_rulebook()).decide(item, make_store(tmp_path / "s.db"), clock.now())


def test_hook_register_source_types(register: pluggy.PluginManager, tmp_path: Path) -> None:
    class Settings(BaseModel):
        path: Path

    class Plugin:
        @hookimpl
        def register_source_types(self) -> list[SourceType]:
            return [SourceType("lines", Settings, lambda s, c: ReplaySource(s.path, name=c.name))]

    register.register(Plugin(), name="lines-plugin")
    _, sources = adapter_types(register)
    assert {"lines", "replay", "zabbix"} <= set(sources)


def test_hook_register_backend_types(register: pluggy.PluginManager, tmp_path: Path, clock: FakeClock) -> None:
    class Settings(BaseModel):
        file: str

    def build(settings: Settings, ctx: PluginContext) -> LocalBackend:
        return LocalBackend(tmp_path / settings.file, ctx.clock, name=ctx.name)

    class Plugin:
        @hookimpl
        def register_backend_types(self) -> list[BackendType]:
            return [BackendType("sqlite-desk", Settings, build)]

    register.register(Plugin(), name="desk-plugin")
    backends, _ = adapter_types(register)
    made = backends["sqlite-desk"].factory(
        Settings(file="d.db"), PluginContext(clock, "desk", tmp_path, lambda s: None, Spool(tmp_path / "spool"))
    )
    assert made.name == "desk"


def test_hook_rule_classify(register: pluggy.PluginManager, clock: FakeClock, tmp_path: Path) -> None:
    class Plugin:
        @hookimpl
        def rule_classify(self, alert: Alert, draft: Ticket, rules: RuleBook) -> Ticket:
            return draft.model_copy(update={"category": "网络", "rule": "site-network"})

    register.register(Plugin(), name="classify")
    decision = decide(register, clock, tmp_path, alert(clock))
    assert decision.ticket is not None
    assert (decision.ticket.category, decision.ticket.rule) == ("网络", "site-network")


def test_hook_rule_prioritize(register: pluggy.PluginManager, clock: FakeClock, tmp_path: Path) -> None:
    class Plugin:
        @hookimpl
        def rule_prioritize(self, alert: Alert, draft: Ticket, rules: RuleBook) -> Ticket:
            return draft.model_copy(
                update={
                    "impact": Impact.VERY_IMPORTANT,
                    "urgency": Urgency.VERY_URGENT,
                    "priority": Priority.HIGHEST,
                    "priority_reason": "VIP",
                }
            )

    register.register(Plugin(), name="prioritize")
    decision = decide(register, clock, tmp_path, alert(clock))
    assert decision.ticket is not None and decision.ticket.priority is Priority.HIGHEST


def test_hook_rule_correlate(register: pluggy.PluginManager, clock: FakeClock, tmp_path: Path) -> None:
    class Plugin:
        @hookimpl
        def rule_correlate(
            self, alert: Alert, draft: Ticket, rules: RuleBook, index: TicketIndex, now: datetime
        ) -> Decision | None:
            if alert.severity is not None and alert.severity < 2:
                return Decision(Action.IGNORED, alert, None, "drop-info", "information only")
            return None

    register.register(Plugin(), name="correlate")
    assert decide(register, clock, tmp_path, alert(clock, severity=1)).action is Action.IGNORED
    assert decide(register, clock, tmp_path, alert(clock, external_id="2")).action is Action.CREATE


def test_hook_rule_sla(register: pluggy.PluginManager, clock: FakeClock, tmp_path: Path) -> None:
    class Plugin:
        @hookimpl
        def rule_sla(self, draft: Ticket, rules: RuleBook, now: datetime) -> Ticket:
            return draft.model_copy(update={"sla_due": now + timedelta(minutes=30)})

    register.register(Plugin(), name="sla")
    decision = decide(register, clock, tmp_path, alert(clock))
    assert decision.ticket is not None and decision.ticket.sla_due == clock.now() + timedelta(minutes=30)


def test_default_sla_is_the_first_response_deadline(pm: pluggy.PluginManager, clock: FakeClock, tmp_path: Path) -> None:
    decision = decide(pm, clock, tmp_path, alert(clock, severity=5))  # P1: respond within 10 min
    assert decision.ticket is not None and decision.ticket.sla_due == clock.now() + timedelta(minutes=10)
