"""The scheduled report job from a config: on 1 November the October report is rebuilt from the
helpdesk and mailed (its HTML page as the body) to the process owner, once — a second run, or a
restart, does not send it again."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import FakeClock
from connector.domain.models import Alert
from connector.runtime.app import build_app, load
from tests.integration.notify_servers import MailSink, mail_sink
from tests.state_backend import state_yaml

pytestmark = [pytest.mark.integration, pytest.mark.both_states]

ROOT = Path(__file__).resolve().parents[2]
OCTOBER = datetime(2026, 10, 14, 2, 0, tzinfo=UTC)


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with mail_sink() as server:
        yield server


def config(tmp_path: Path, sink: MailSink) -> Path:
    (tmp_path / "people.yaml").write_text((ROOT / "config" / "people.example.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "connector.yaml"
    path.write_text(
        f"""
state: {state_yaml(tmp_path / "state.db")}
backend: {{type: local, path: tickets.db}}
reports: {{publish: true, language: en}}
notify:
  people: people.yaml
  service_desk: "Service desk 021-6000-8888"
  channels:
    - {{type: smtp, host: 127.0.0.1, port: {sink.port}, security: none, sender: "ITSM <itsm@metro.example>"}}
    - {{type: webhook, name: phone, address: phone, url: "http://127.0.0.1:9/unused"}}
""",
        encoding="utf-8",
    )
    return path


def test_the_october_report_is_mailed_once_on_the_first(tmp_path: Path, sink: MailSink) -> None:
    path = config(tmp_path, sink)
    clock = FakeClock(OCTOBER)
    loaded, pm = load(path, build_plugin_manager())
    app = build_app(loaded, pm, clock=clock)
    try:
        for n, ci in enumerate(("core-sw01", "afc-db01", "erp-app02")):
            clock.set(OCTOBER + timedelta(days=n))
            app.engine.ingest(
                "zabbix",
                [
                    Alert(
                        source="zabbix",
                        external_id=str(n),
                        title=f"Down: {ci}",
                        ci=ci,
                        severity=4,
                        occurred_at=clock.now(),
                    )
                ],
            )
            app.engine.process_pending()
            app.engine.drain_outbox()
        sink.take()  # the tickets' own notices
        clock.set(datetime(2026, 10, 31, 21, 0, tzinfo=UTC))  # 05:00 on 1 November in Shanghai
        assert [p.label for p in app.reports.run()] == ["2026-09", "2026-Q3"]  # still September's turn
        sink.take()
        clock.set(datetime(2026, 10, 31, 23, 0, tzinfo=UTC))  # 07:00: October's is due
        assert [p.label for p in app.reports.run()] == ["2026-10"]
        (mail,) = [email.message_from_bytes(m.data, policy=email.policy.default) for m in sink.take()]
        assert mail["To"] == "廖清 <liao.qing@metro.example>" or "liao.qing@metro.example" in mail["To"]
        assert "Incident management report 2026-10" in mail["Subject"]
        html = mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
        assert "2026-10" in html and "<svg" in html  # the report page itself, charts inline
        assert app.reports.run() == []  # published: not again
    finally:
        app.close()
    again = build_app(*load(path, build_plugin_manager()), clock=clock)
    try:
        assert again.reports.run() == []  # nor after a restart: the state file remembers
    finally:
        again.close()
    assert sink.take() == []
