"""The daemon's one HTTP server, end to end: ``run`` with an ``http:`` section serves
``/healthz``, ``/readyz`` and ``/metrics`` and the Zabbix webhook on one port; the counters
move as alerts flow; a backend that cannot be reached makes ``/readyz`` fail naming it."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.unit.service_process import Running, free_port, http, http_json, wait_for
from tests.unit.webhook_payloads import problem_payload

SECRET = "s3cret-for-the-service-test-0123456789"


def _metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = http(port, "/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _tickets(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return [json.loads(d)["title"] for (d,) in conn.execute("SELECT data FROM tickets ORDER BY id")]
        except sqlite3.OperationalError:
            return []


def test_one_port_serves_health_readiness_metrics_and_the_webhook(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "secret.txt").write_text(SECRET, encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"""\
state: {{path: state.db}}
backend: {{type: local, path: tickets.db}}
sources:
  - {{type: zabbix_webhook, name: zabbix, secret_file: secret.txt, server_timezone: UTC}}
daemon: {{poll_seconds: 0.2, drain_seconds: 0.2, sweep_seconds: 1}}
http: {{listen: 127.0.0.1, port: {port}, probe_seconds: 1}}
""",
        encoding="utf-8",
    )
    run = Running(config)
    try:
        run.wait_http(port)
        assert http_json(port, "/healthz") == (200, {"status": "ok"})
        status, ready = run.readiness(port)
        assert status == 200, ready
        assert ready["failing"] == [] and {"state", "backend:local", "sweep"} <= set(ready["checks"])
        before = _metrics(port)
        assert before.get(("itsm_alerts_received_total", (("source", "zabbix"),)), 0.0) == 0.0

        body = json.dumps(problem_payload()).encode("utf-8")
        auth = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
        status, answer = http_json(port, "/zabbix", body=body, headers=auth)
        assert status == 200 and answer["status"] == "accepted" and answer["key"] == "zabbix:32"
        assert answer["url"].startswith(f"http://127.0.0.1:{port}/ticket/")
        assert http(port, "/zabbix", body=body, headers={"Content-Type": "application/json"})[0] == 401
        status, refused = http_json(port, "/zabbix", body=b"[1, 2]", headers=auth)  # JSON, not an object
        assert status == 400 and refused["status"] == "rejected"
        wait_for(lambda: len(_tickets(tmp_path / "tickets.db")) == 1, "the ticket")

        def moved() -> bool:
            after = _metrics(port)
            return (
                after.get(("itsm_alerts_received_total", (("source", "zabbix"),)), 0.0) == 1.0
                and after.get(("itsm_alerts_rejected_total", (("source", "zabbix"),)), 0.0) == 1.0
                and sum(v for (n, _), v in after.items() if n == "itsm_decisions_total") == 1.0
                and after.get(("itsm_backend_requests_total", (("backend", "local"), ("operation", "create"))), 0) == 1
                and after.get(("itsm_dead_letters", ()), 0.0) == 1.0
            )

        wait_for(moved, "the counters to move")
        after = _metrics(port)
        assert after[("itsm_outbox_depth", ())] >= 0.0 and ("itsm_sweep_lag_seconds", ()) in after
        # the ticket link handed to Zabbix leads to the ticket
        link = answer["url"][len(f"http://127.0.0.1:{port}") :]
        assert http(port, link)[0] in (200, 302)
        assert http(port, "/nowhere")[0] == 404
    finally:
        code = run.stop()
    assert code == 0, run.text()
    assert "stopped cleanly" in run.text()


def test_readyz_names_a_backend_it_cannot_reach(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()  # nothing listens on `dead`: a helpdesk that is down
    (tmp_path / "key.txt").write_text("0123456789abcdef0123456789abcdef01234567", encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"""\
state: {{path: state.db}}
backend:
  type: redmine
  url: http://127.0.0.1:{dead}
  api_key_file: key.txt
  project: ops
  timeout_seconds: 2
daemon: {{poll_seconds: 60, drain_seconds: 60, sweep_seconds: 60}}
http: {{listen: 127.0.0.1, port: {port}, probe_seconds: 0.5, ready_attempts: 2}}
""",
        encoding="utf-8",
    )
    run = Running(config)
    try:
        run.wait_http(port)
        status, body = run.readiness(port)
        assert status == 503, body
        assert body["status"] == "not ready" and body["failing"] == ["backend:redmine"]
        assert "not reached" in body["checks"]["backend:redmine"]["detail"]
        assert body["checks"]["state"] == {"ok": True}
        assert http_json(port, "/healthz")[0] == 200  # alive, only not ready
        samples = _metrics(port)
        assert samples[("itsm_backend_errors_total", (("backend", "redmine"), ("operation", "probe")))] >= 1
    finally:
        run.signal(signal.SIGTERM)
        code = run.stop()
    assert code == 0, run.text()
