"""Webhook ingest to the durable journal: ``python bench/ingest.py``.

The Zabbix webhook endpoint (``ZabbixWebhookSource.serve``, the HTTP code the daemon runs) is
served on a loopback port, journaling through ``ThreadedJournal`` into a state file
(``synchronous=FULL``: a request is answered 200 only once its entry is durable). ``--clients``
client processes POST ``--alerts`` problem payloads between them (each a new Zabbix event, the
media type's own shape), each client one request at a time on a kept-alive session, like a Zabbix
server's alerters. The figure is journal rows per wall second, counted in the state file after
the last answer. ``--state`` names the state (a file path; a PostgreSQL URL once the pgstore
branch is in: the one flag). Results: ``bench/results/ingest.json`` and ``.md``.

The clients run on the same machine (2 cores shared with the server): the figure is a floor.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.domain.clock import SystemClock  # noqa: E402
from connector.integrations.zabbix.push import ZabbixWebhookSource  # noqa: E402
from connector.integrations.zabbix.webhook_settings import ZabbixWebhookSettings  # noqa: E402
from connector.runtime.intake import ThreadedJournal  # noqa: E402
from connector.state.store import Store  # noqa: E402
from connector.util.secrets import SecretSource  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SECRET = "bench-secret-for-the-webhook-0123456789"
PROBLEM: dict[str, str] = {
    "event_source": "0",
    "event_value": "1",
    "event_update_status": "0",
    "event_nseverity": "4",
    "event_opdata": "down (2)",
    "event_tags": '[{"tag":"service","value":"票务管理系统"}]',
    "event_date": "2026.12.06",
    "event_time": "03:15:03",
    "event_recovery_id": "{EVENT.RECOVERY.ID}",
    "event_recovery_date": "{EVENT.RECOVERY.DATE}",
    "event_recovery_time": "{EVENT.RECOVERY.TIME}",
    "event_update_action": "{EVENT.UPDATE.ACTION}",
    "event_update_message": "{EVENT.UPDATE.MESSAGE}",
    "event_update_date": "{EVENT.UPDATE.DATE}",
    "event_update_time": "{EVENT.UPDATE.TIME}",
    "event_update_user": "{USER.FULLNAME}",
    "host_id": "10580",
    "host_groups": "Metro/Network core",
    "trigger_id": "23154",
}


def client(url: str, first: int, count: int) -> int:
    """POST ``count`` new problems (event ids from ``first``); how many were answered 200."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {SECRET}"
    ok = 0
    for n in range(first, first + count):
        body = {
            **PROBLEM,
            "event_id": str(n),
            "event_name": f"Interface Gi0/{n % 48} down on switch {n % 500}",
            "host_host": f"sw-{n % 500:03d}",
            "host_name": f"switch {n % 500}",
        }
        answer = session.post(url, json=body, timeout=60)
        ok += answer.status_code == 200
    return ok


def run(state: str, alerts: int, clients: int) -> dict[str, Any]:
    journal = ThreadedJournal(state, SystemClock(), timeout=60)
    settings = ZabbixWebhookSettings.model_validate(
        {
            "secret": SecretSource(SECRET),
            "port": 0,
            "source_name": "zabbix",
            # the limits' ceilings: the bench measures the journal, not the limiter
            "rate_limit_per_minute": 100_000,
            "rate_limit_burst": 100_000,
        }
    )
    source = ZabbixWebhookSource(settings, name="zabbix-push", clock=SystemClock())
    source.serve(journal)
    url = f"http://127.0.0.1:{source.port}/zabbix"
    share = alerts // clients
    try:
        with multiprocessing.get_context("spawn").Pool(clients) as pool:
            client(url, 10_000_000, 20)  # warm up (its rows are not counted below)
            start = time.perf_counter()
            answered = sum(pool.starmap(client, [(url, 1 + i * share, share) for i in range(clients)]))
            wall = time.perf_counter() - start
    finally:
        source.shutdown()
        journal.close()
    store = Store(state)
    rows = store.journal_counts().get("pending", 0) - 20
    store.close()
    return {
        "alerts": share * clients,
        "clients": clients,
        "answered_200": answered,
        "journal_rows": rows,
        "wall_seconds": round(wall, 2),
        "alerts_per_second": round(rows / wall),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--state", default=None, help="state file path (default: a temporary file)")
    parser.add_argument("--label", default="head")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = args.state or str(Path(tmp) / "state.db")
        Store(state).close()
        figure = run(state, args.alerts, args.clients)
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": args.label,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
        },
        "state": "SQLite file, synchronous=FULL" if args.state is None else args.state,
        **figure,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
