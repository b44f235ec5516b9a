"""How long one sweep pass takes over many open tickets: ``python bench/sweep.py``.

``--tickets`` open tickets (default 100,000; priorities P1–P4, created over the last ``--days``
days) are written to a fresh state file, then the engine's sweep (``Engine.sweep``: every open
ticket read, its due escalation/notice/SLA steps fired once each, field 21 reconciled, a
transaction per ticket) runs twice on a fixed clock: the first pass fires the steps that fell due
(a daemon back after a long stop; it reads every ticket, as the first pass after start-up does),
the second is the steady state — nothing new is due — and the third comes a minute later, with
that minute's steps due, which is what almost every pass of a running daemon is (both read only
the tickets with something due, ``runtime/sweep_pass.py``). Wall and CPU seconds of each, best of
``--repeat`` for the second. ``--state`` takes the state file's path (a PostgreSQL URL once the
pgstore branch is in). Results: ``bench/results/sweep.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.contracts.plugin_manager import build_plugin_manager  # noqa: E402
from connector.domain.clock import FakeClock  # noqa: E402
from connector.domain.ledger import TicketState  # noqa: E402
from connector.domain.models import Impact, Priority, TicketStatus, Urgency  # noqa: E402
from connector.plugins.local import LocalBackend  # noqa: E402
from connector.process.escalation import SweepRules  # noqa: E402
from connector.process.pipeline import Pipeline  # noqa: E402
from connector.rules.loading import default_rulebook  # noqa: E402
from connector.runtime.engine import Engine  # noqa: E402
from connector.state.spool import Spool  # noqa: E402
from connector.state.store import Store  # noqa: E402

RESULTS = ROOT / "bench" / "results"
NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def fill(store: Store, tickets: int, days: float, seed: int = 15) -> None:
    """``tickets`` open tickets, created over ``days`` before ``NOW``."""
    rng = random.Random(seed)
    with store.transaction():
        for n in range(tickets):
            created = NOW - timedelta(seconds=rng.uniform(0, days * 86400))
            priority = Priority(rng.choice((1, 2, 2, 3, 3, 3, 4, 4)))
            store.ticket_add(
                TicketState(
                    key=f"bench:{n}",
                    ticket_id=str(n + 1),
                    status=TicketStatus.OPEN,
                    fingerprint=f"fp{n}",
                    created_at=created,
                    occurred_at=created,
                    source="bench",
                    external_id=str(n),
                    impact=Impact(min(int(priority), 4)),
                    urgency=Urgency(min(int(priority), 4)),
                    priority=priority,
                    ci=f"host-{n % 5000}",
                ),
                "local",
            )


def timed(run: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--state", type=Path, default=None, help="state file (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rules = default_rulebook()
    pm = build_plugin_manager()
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(NOW)
        store = Store(args.state or Path(tmp) / "state.db")
        fill_wall, _, _ = timed(lambda: fill(store, args.tickets, args.days))
        engine = Engine(
            store=store,
            backend=LocalBackend(Path(tmp) / "tickets.db", clock),
            sources={},
            pipeline=Pipeline.from_manager(pm, rules),
            clock=clock,
            spool=Spool(Path(tmp) / "spool"),
            sweep_rules=SweepRules.of(rules, None),
        )
        first = timed(engine.sweep)
        steady = min((timed(engine.sweep) for _ in range(args.repeat)), key=lambda t: t[0])
        minute = []
        for _ in range(args.repeat):  # what a running daemon's pass meets: one minute more of due steps
            clock.advance(timedelta(minutes=1))
            minute.append(timed(engine.sweep))
        later = min(minute, key=lambda t: t[0])
        store.close()
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
        },
        "tickets": args.tickets,
        "fill_seconds": round(fill_wall, 1),
        "first_pass": {"wall_seconds": round(first[0], 2), "cpu_seconds": round(first[1], 2), "fired": first[2]},
        "steady_pass": {"wall_seconds": round(steady[0], 2), "cpu_seconds": round(steady[1], 2), "fired": steady[2]},
        "minute_later_pass": {"wall_seconds": round(later[0], 2), "cpu_seconds": round(later[1], 2), "fired": later[2]},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sweep.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "sweep.md").write_text(render(results))
    print(render(results))
    return 0


def render(r: dict[str, Any]) -> str:
    f, s, n = r["first_pass"], r["steady_pass"], r["minute_later_pass"]
    m = r["machine"]
    return f"""# Sweep over {r["tickets"]:,} open tickets ({r["when"]})

`python bench/sweep.py` on {m["platform"]}, {m["cores"]} cores, Python {m["python"]}; load average at \
start {", ".join(f"{x:.2f}" for x in m["load_average_at_start"])} (shared machine).

| pass | wall s | CPU s | steps fired |
|---|---|---|---|
| first (steps that fell due while stopped) | {f["wall_seconds"]} | {f["cpu_seconds"]} | {f["fired"]:,} |
| steady (nothing new due) | {s["wall_seconds"]} | {s["cpu_seconds"]} | {s["fired"]:,} |
| a minute later (what a running daemon meets) | {n["wall_seconds"]} | {n["cpu_seconds"]} | {n["fired"]:,} |

Target (issue 15): at most 2 s per pass over 100k open tickets.
"""


if __name__ == "__main__":
    raise SystemExit(main())
