"""Helpdesk requests per repeated alert in a storm: ``python bench/storm_calls.py``.

One master (a station gateway unreachable), the duplicates the storm guard allows, then
``--repeats`` repeats of it ``--every`` seconds apart, through the real engine (journal, pipeline,
outbox, drain) on the local backend, whose requests are counted; then the master recovers. Run
twice: with the shipped ``storm_guard.note_interval_seconds`` and with it ``null`` (one note per
repeat, the behaviour before). Results go to ``bench/results/storm_calls.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.contracts.adapters import Resolution, TicketRef  # noqa: E402
from connector.contracts.plugin_manager import build_plugin_manager  # noqa: E402
from connector.domain.clock import FakeClock  # noqa: E402
from connector.domain.models import Alert, Ticket  # noqa: E402
from connector.plugins.local import LocalBackend  # noqa: E402
from connector.process.pipeline import Pipeline  # noqa: E402
from connector.rules.book import RuleBook  # noqa: E402
from connector.rules.loading import default_rulebook  # noqa: E402
from connector.runtime.engine import Engine  # noqa: E402
from connector.state.spool import Spool  # noqa: E402
from connector.state.store import Store  # noqa: E402

RESULTS = ROOT / "bench" / "results"


class CountingBackend(LocalBackend):
    """The local backend, counting the requests a helpdesk would get."""

    calls: Counter[str]

    def create_ticket(self, ticket: Ticket, *, actor: str | None = None) -> TicketRef:
        self.calls["create"] += 1
        return super().create_ticket(ticket, actor=actor)

    def add_note(self, ticket_id: str, text: str, *, actor: str | None = None) -> None:
        self.calls["note"] += 1
        super().add_note(ticket_id, text, actor=actor)

    def update_ticket(self, ticket_id: str, changes: dict[str, Any], note: str | None = None, **kw: Any) -> None:
        self.calls["update"] += 1
        super().update_ticket(ticket_id, changes, note, **kw)

    def resolve_ticket(self, ticket_id: str, resolution: Resolution, *, actor: str | None = None) -> None:
        self.calls["resolve"] += 1
        super().resolve_ticket(ticket_id, resolution, actor=actor)


def run(rules: RuleBook, repeats: int, every: float) -> dict[str, Any]:
    clock = FakeClock(datetime(2026, 12, 6, 2, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp:
        backend = CountingBackend(Path(tmp) / "tickets.db", clock)
        backend.calls = Counter()
        engine = Engine(
            store=Store(Path(tmp) / "state.db"),
            backend=backend,
            sources={},
            pipeline=Pipeline.from_manager(build_plugin_manager(), rules),
            clock=clock,
            spool=Spool(Path(tmp) / "spool"),
        )

        def alert(eid: int, **extra: Any) -> Alert:
            fields = {
                "source": "zabbix",
                "external_id": str(eid),
                "title": "Station gateway unreachable (ICMP)",
                "ci": "station-gw-l2-07",
                "host_groups": ["Metro/Stations"],
                "severity": 4,
                "occurred_at": clock.now(),
                **extra,
            }
            return Alert.model_validate(fields)

        def feed(item: Alert) -> None:
            engine.ingest(item.source, [item])
            engine.process_pending()
            engine.drain_outbox()

        master = alert(1)
        feed(master)
        allowed = rules.dedup.storm_max or 0
        for n in range(2, 2 + allowed):
            clock.advance(seconds=every)
            feed(alert(n))
        before = Counter(backend.calls)
        for n in range(2 + allowed, 2 + allowed + repeats):
            clock.advance(seconds=every)
            feed(alert(n))
            if n % 60 == 0:
                engine.sweep()
                engine.drain_outbox()
        during = backend.calls - before
        clock.advance(seconds=every)
        feed(master.model_copy(update={"recovered_at": clock.now()}))
        total = backend.calls - before
        engine.store.close()
        backend.close()
    return {
        "repeats": repeats,
        "requests_during_storm": dict(during),
        "requests_per_repeat": round(sum(during.values()) / repeats, 4),
        "requests_including_resolution": dict(total),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between repeats")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    book = default_rulebook()
    interval = book.dedup.storm_note_interval
    before = dataclasses.replace(book, dedup=dataclasses.replace(book.dedup, storm_note_interval=None))
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "every_seconds": args.every,
        "note_interval_seconds": interval.total_seconds() if interval else None,
        "coalesced": run(book, args.repeats, args.every),
        "one_note_per_repeat": run(before, args.repeats, args.every),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "storm_calls.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "storm_calls.md").write_text(render(results))
    print(render(results))
    return 0


def _calls(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {kind}" for kind, n in sorted(counts.items())) or "none"


def render(r: dict[str, Any]) -> str:
    c, o = r["coalesced"], r["one_note_per_repeat"]
    return f"""# Storm repeats: helpdesk requests per repeated alert ({r["when"]})

`python bench/storm_calls.py` — {c["repeats"]:,} repeats past the storm guard, one every \
{r["every_seconds"]:g} s, through the engine (journal, pipeline, outbox, drain; the sweep every \
minute) on the local backend, counting its requests; {r["machine"]["platform"]}, Python {r["machine"]["python"]}.

| `storm_guard.note_interval_seconds` | requests during the storm | per repeat | with the master's resolution |
|---|---|---|---|
| {r["note_interval_seconds"]:g} (shipped) | {_calls(c["requests_during_storm"])} | {c["requests_per_repeat"]} | \
{_calls(c["requests_including_resolution"])} |
| null (one note per repeat, before) | {_calls(o["requests_during_storm"])} | {o["requests_per_repeat"]} | \
{_calls(o["requests_including_resolution"])} |

Target (issue 15): at most 0.05 backend requests per repeated alert. The count of every repeat is
written (tests/unit/test_storm_notes.py adds up the counts in the notes).
"""


if __name__ == "__main__":
    raise SystemExit(main())
