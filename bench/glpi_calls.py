"""How many HTTP calls a run costs on GLPI: 500 generated alerts through the real engine.

The engine (``connector.runtime.engine.Engine`` with the default rules) ingests the alerts in polls of
50, decides, and drains its outbox into the GLPI backend, which talks to the stateful fake of
GLPI 10's documented REST API (``tests/contract/glpi_fake.py``) — GLPI itself cannot be
installed here. Every HTTP request is counted by endpoint. The budget is 1.1 calls per new
incident: one GLPI session for the whole run, one POST per ticket, the dropdown lookups cached.

Two runs: ``steady`` (one session), and ``expiring`` (GLPI drops the session every 100 tickets,
as its session lifetime would over a long night: one more ``initSession`` each time).

    .venv/bin/python bench/glpi_calls.py            # writes bench/results/glpi_calls.{json,md}

Exits 1 if a run goes over the budget.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import responses  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from connector.contracts.plugin_manager import build_plugin_manager  # noqa: E402
from connector.domain.clock import FakeClock  # noqa: E402
from connector.domain.models import Alert  # noqa: E402
from connector.integrations.glpi import GlpiBackend, GlpiSettings  # noqa: E402
from connector.process.pipeline import Pipeline  # noqa: E402
from connector.rules.loading import default_rulebook  # noqa: E402
from connector.runtime.engine import Engine  # noqa: E402
from connector.state.store import Store  # noqa: E402
from tests.contract.glpi_fake import URL, USER_TOKEN, GlpiFake  # noqa: E402

ALERTS = 500
POLL = 50
BUDGET = 1.1
START = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)
RESULTS = ROOT / "bench" / "results"

_TRIGGERS = [
    ("ICMP ping loss 100% on {host}", 5),
    ("Interface {port} down on {host}", 4),
    ("Free disk space below 5% on {host}:/var", 3),
    ("CPU load above 90% for 5m on {host}", 2),
    ("NTP offset above 1s on {host}", 1),
]
_GROUPS = ["Metro/Network core", "Metro/Line 1 stations", "Metro/Line 2 stations", "Metro/Data center"]


def generate_alerts(count: int, seed: int = 5) -> list[Alert]:
    """A night of a metro operator's Zabbix problems: mostly distinct, about 10% exact resends
    of an event already sent (Zabbix repeats; the journal drops them at intake)."""
    rng = random.Random(seed)
    alerts: list[Alert] = []
    for n in range(count):
        if alerts and rng.random() < 0.1:
            alerts.append(rng.choice(alerts))
            continue
        host = f"{rng.choice(['cs', 'as', 'srv', 'sw'])}-{rng.randint(1, 80):02d}"
        text, severity = rng.choice(_TRIGGERS)
        title = text.format(host=host, port=f"ge-0/0/{rng.randint(0, 47)}")
        alerts.append(
            Alert(
                source="zabbix",
                external_id=str(700000 + n),
                title=title,
                description=f"Zabbix trigger fired: {title}",
                ci=host,
                service=rng.choice(["AFC", "PIS", "OA", "CCTV"]),
                host_groups=(rng.choice(_GROUPS),),
                severity=severity,
                occurred_at=START,
            )
        )
    return alerts


def run(alerts: list[Alert], *, expire_every: int | None = None) -> dict[str, Any]:
    """One run through the engine; returns the call counts."""
    clock = FakeClock(START)
    with tempfile.TemporaryDirectory() as tmp, responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = GlpiFake(rsps, clock)
        fake.add("RequestType", name="Monitoring")
        backend = GlpiBackend(
            GlpiSettings(url=URL, user_token=SecretStr(USER_TOKEN)), clock=clock, session=requests.Session()
        )
        store = Store(Path(tmp) / "state.db")
        engine = Engine(
            store=store,
            backend=backend,
            sources={},
            pipeline=Pipeline.from_manager(build_plugin_manager(), default_rulebook()),
            clock=clock,
        )
        started = time.perf_counter()
        expired_at = 0
        for offset in range(0, len(alerts), POLL):
            engine.ingest("zabbix", alerts[offset : offset + POLL])
            engine.process_pending()
            engine.drain_outbox()
            clock.advance(seconds=30)
            if expire_every and len(fake.tickets) - expired_at >= expire_every:
                fake.expire_sessions()
                expired_at = len(fake.tickets)
        backend.close()
        elapsed = time.perf_counter() - started
        store.close()
        created = len(fake.tickets)
        by_endpoint = Counter(f"{method} {path.split('/')[0]}" for method, path in fake.calls)
        total = len(rsps.calls)
        assert total == len(fake.calls), "every HTTP call reached the fake"
    return {
        "alerts": len(alerts),
        "distinct_problems": len({a.external_id for a in alerts}),
        "tickets_created": created,
        "http_calls": total,
        "calls_per_ticket": round(total / created, 4),
        "sessions_opened": by_endpoint["GET initSession"],
        "calls_by_endpoint": dict(sorted(by_endpoint.items())),
        "seconds": round(elapsed, 2),
        "within_budget": total / created <= BUDGET,
    }


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
    }


def _markdown(result: dict[str, Any]) -> str:
    lines = [
        "# GLPI: HTTP calls per new incident",
        "",
        f"{ALERTS} generated Zabbix alerts (about 10% exact resends) through the real engine and default rules "
        "into the GLPI backend, against the fake of GLPI 10's documented REST API "
        "(`tests/contract/glpi_fake.py`). Budget: "
        f"≤ {BUDGET} calls per created ticket. Produced by `bench/glpi_calls.py`.",
        "",
        "| run | alerts | tickets | HTTP calls | calls/ticket | sessions | within budget |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result["runs"].items():
        lines.append(
            f"| {name} | {r['alerts']} | {r['tickets_created']} | {r['http_calls']} | {r['calls_per_ticket']} | "
            f"{r['sessions_opened']} | {'yes' if r['within_budget'] else 'NO'} |"
        )
    lines += ["", "Calls by endpoint (steady run):", ""]
    lines += [f"- `{k}`: {v}" for k, v in result["runs"]["steady"]["calls_by_endpoint"].items()]
    m = result["machine"]
    lines += [
        "",
        f"Machine: {m['platform']}, {m['machine']}, Python {m['python']} ({m['implementation']}), "
        f"{m['cpu_count']} CPUs; recorded {result['recorded']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    alerts = generate_alerts(ALERTS)
    runs = {"steady": run(alerts), "expiring": run(alerts, expire_every=100)}
    result: dict[str, Any] = {
        "benchmark": "glpi_calls",
        "budget_calls_per_ticket": BUDGET,
        "recorded": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "glpi_calls.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / "glpi_calls.md").write_text(_markdown(result))
    for name, r in runs.items():
        print(f"{name}: {r['tickets_created']} tickets, {r['http_calls']} calls, {r['calls_per_ticket']} per ticket")
    return 0 if all(r["within_budget"] for r in runs.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
