"""The pure translations of the GLPI backend: the key marker, GLPI dates, the scales, and the
escaping of untrusted text (no HTTP here)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connector.domain.models import Impact, Priority, Ticket, TicketStatus, Urgency
from connector.integrations.glpi.fields import Scales, format_time, key_from_content, key_marker, parse_time_glpi
from connector.integrations.glpi.render import html_text, render_content
from connector.integrations.glpi.settings import GlpiSettings
from tests.contract.glpi_fake import sanitize


@given(st.text(min_size=1))
def test_the_key_marker_survives_glpis_encoding_and_is_safe_in_like(key: str) -> None:
    marker = key_marker(key)
    assert set(marker[len("[itsm-key:") : -1]) <= set("0123456789abcdef")
    assert key_from_content(marker) == key
    assert key_from_content(sanitize(f"<p>{html.escape(marker)}</p>")) == key


def test_a_prefix_key_does_not_match_a_longer_one() -> None:
    assert key_marker("zabbix:1") not in key_marker("zabbix:12")
    assert key_from_content("no marker here") is None and key_from_content("[itsm-key:zz]") is None


@given(st.text(max_size=200))
def test_untrusted_text_never_becomes_markup(text: str) -> None:
    rendered = html_text(text)
    assert "<" not in rendered.replace("<p>", "").replace("</p>", "").replace("<br>", "")
    shown = html.unescape(rendered.replace("<br>", "\n").replace("</p><p>", "\n\n").removeprefix("<p>"))
    assert shown.removesuffix("</p>").split() == text.replace("\r", "\n").split()


def test_the_content_ends_with_the_marker_after_the_untrusted_description() -> None:
    ticket = Ticket(title="t", description="[itsm-key:00] <b>", key="zabbix:1")
    content = render_content(ticket)
    assert content.startswith("<p>[itsm-key:00] &lt;b&gt;</p><hr>")
    assert content.endswith(f"<p>{key_marker('zabbix:1')}</p>") and key_from_content(content) == "zabbix:1"


def test_glpi_dates_are_in_its_time_zone_without_offset() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    moment = datetime(2026, 11, 26, 18, 30, 5, tzinfo=UTC)
    assert format_time(moment, zone) == "2026-11-27 02:30:05"
    assert parse_time_glpi("2026-11-27 02:30:05", zone) == moment
    assert parse_time_glpi("2026-11-26 18:30:05", ZoneInfo("UTC")) == moment


def test_the_scales_run_the_other_way_round_and_read_back() -> None:
    scales = Scales.of(GlpiSettings(url="https://glpi.example/apirest.php", user_token=SecretStr("t0ken")))
    assert [scales.urgency[u] for u in Urgency] == [5, 4, 3, 2]
    assert [scales.impact[i] for i in Impact] == [5, 4, 3, 2]
    assert [scales.priority[p] for p in Priority] == [5, 4, 3, 2]
    assert [scales.urgency_of(v) for v in (5, 4, 3, 2, 1)] == [*Urgency, None]
    assert [scales.priority_of(v) for v in (6, 5, 2)] == [None, Priority.HIGHEST, Priority.LOW]
    assert scales.status_of(3) is TicketStatus.IN_PROGRESS and scales.status_of(4) is TicketStatus.PENDING_CHANGE
    shared = Scales.of(
        GlpiSettings(url="https://glpi.example/apirest.php", user_token=SecretStr("t0ken"), urgency_map={2: 5})
    )
    assert shared.urgency_of(5) is Urgency.VERY_URGENT  # two process values on one GLPI value: the higher
