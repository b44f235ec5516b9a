"""GLPI's ``time_to_own`` is the response deadline of the rule book's ``sla.yaml``: registration
plus the response target of the ticket's priority, through the one function the SLA rules give
(``connector.rules.sla.response_deadline``) — a site's own targets reach GLPI through the
plugin context, and the old ``time_to_own_minutes`` setting no longer decides anything."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
from pydantic import SecretStr

from connector.contracts.adapters import PluginContext
from connector.domain.clock import FakeClock
from connector.domain.models import Priority
from connector.integrations.glpi import GlpiSettings
from connector.plugins import glpi as plugin
from connector.rules.loading import default_rulebook, load_rulebook, shipped_rules_dir
from connector.rules.sla import response_deadline
from connector.state.spool import Spool
from tests.contract.glpi_fake import URL, USER_TOKEN, GlpiFake
from tests.contract.test_glpi_contract import a_ticket, sent

T0 = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)  # 10:40 in GLPI's zone (UTC+8)


def created_time_to_own(tmp_path: Path, clock: FakeClock, rules_dir: Path | None, **settings: object) -> str:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = GlpiFake(rsps, clock)
        ctx = PluginContext(
            clock=clock,
            name="glpi",
            data_dir=tmp_path,
            register_secret=lambda _: None,
            spool=Spool(tmp_path / "spool"),
            rules=load_rulebook(rules_dir),
        )
        values = {"url": URL, "user_token": SecretStr(USER_TOKEN), "timezone": "Asia/Shanghai", **settings}
        backend = plugin.build_backend(GlpiSettings.model_validate(values), ctx)
        backend.create_ticket(a_ticket(priority=Priority.HIGH, registered_at=T0))
        backend.close()
        [item] = sent(fake, "POST", "Ticket/")
        return str(item["time_to_own"])


def test_time_to_own_follows_the_rule_books_response_target(tmp_path: Path, clock: FakeClock) -> None:
    assert created_time_to_own(tmp_path, clock, None) == "2026-11-26 10:55:00"  # P2: 15 minutes, shipped

    site = tmp_path / "rules"
    site.mkdir()
    sla = (shipped_rules_dir() / "sla.yaml").read_text(encoding="utf-8")
    assert sla.count("response: {warning: 10, breach: 15}") == 1
    (site / "sla.yaml").write_text(sla.replace("response: {warning: 10, breach: 15}", "response: {breach: 25}"))
    assert created_time_to_own(tmp_path, clock, site) == "2026-11-26 11:05:00"  # the site's P2: 25 minutes


def test_the_old_minutes_setting_is_ignored_with_a_warning(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        own = created_time_to_own(tmp_path, clock, None, time_to_own_minutes={2: 90})
    assert own == "2026-11-26 10:55:00"
    assert "time_to_own_minutes is deprecated and ignored" in caplog.text


def test_one_function_gives_the_response_deadline() -> None:
    policy = default_rulebook().sla
    assert response_deadline(Priority.HIGHEST, policy, T0) == T0 + timedelta(minutes=10)
    assert response_deadline(Priority.LOW, policy, T0) == T0 + timedelta(minutes=15)  # P4 takes P3's
