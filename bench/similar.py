"""What the similar-incident lookup costs per new incident: ``python bench/similar.py``.

Issue 13 asks that the lookup (``connector.process.similar.find_similar`` over the daemon's SQLite
``Store``, ``knowledge.yaml`` as shipped) answer within 20 ms per new incident with 100,000
resolved tickets. The bench fills a state file with ``--solved`` solved tickets — ``--cis`` CIs,
a few symptoms each, 12 categories of which one (网络) holds half the rows, the worst case for
the category + title match, and titles made of a small vocabulary so many are alike — then
looks up ``--lookups`` new incidents, each with a CI, fingerprint and category that exist
(the CI + symptom query finds rows, the title match scores ``scan_limit`` candidates).

Times are wall-clock per lookup (``time.perf_counter``: the SQLite reads and the rapidfuzz
scoring) and the CPU time alone (``time.process_time``: what a busy shared machine does not
move), median, 95th percentile and maximum. Results go to ``bench/results/similar.json`` and ``similar.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.domain.knowledge import Solved  # noqa: E402
from connector.process.similar import Incident, find_similar  # noqa: E402
from connector.rules.loading import default_rulebook  # noqa: E402
from connector.state.store import Store  # noqa: E402

RESULTS = ROOT / "bench" / "results"
NOW = datetime(2026, 11, 26, tzinfo=UTC)
CATEGORIES = ["网络", "服务器", "存储和备份系统", "桌面终端", "其他"] + [f"应用系统/APP{n}" for n in range(7)]
_VOCABULARY = (
    "core switch port down link flapping high cpu load memory disk full filesystem service not responding "
    "login failure timeout database replication lag backup job failed certificate expired ups battery "
    "temperature fan power supply interface errors packet loss latency 端口 故障 登录失败 磁盘满"
)
WORDS = _VOCABULARY.split()


def _title(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7)))


def _category(rng: random.Random) -> str:
    return CATEGORIES[0] if rng.random() < 0.5 else rng.choice(CATEGORIES[1:])


def fill(store: Store, solved: int, cis: int, rng: random.Random) -> None:
    """``solved`` solved tickets over the last year."""
    with store.transaction():
        for n in range(solved):
            ci = f"ci-{rng.randrange(cis)}"
            store.remember_solved(
                Solved(
                    key=f"zabbix:{n}",
                    ticket_id=str(n),
                    title=_title(rng),
                    ci=ci,
                    fingerprint=f"{ci}/sym-{rng.randrange(4)}",
                    category=_category(rng),
                    solution="Root cause: " + _title(rng) + "\n" + " ".join(_title(rng) for _ in range(5)),
                    resolved_at=NOW - timedelta(minutes=rng.randrange(360 * 24 * 60)),
                )
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--solved", type=int, default=100_000)
    parser.add_argument("--cis", type=int, default=5_000)
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rng = random.Random(13)
    rules = default_rulebook().knowledge.similar
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "state.db")
        started = time.perf_counter()
        fill(store, args.solved, args.cis, rng)
        filled = time.perf_counter() - started
        times: dict[str, list[float]] = {"known CI": [], "new CI": []}
        cpu: dict[str, list[float]] = {"known CI": [], "new CI": []}
        named = 0
        for n in range(args.lookups):
            # half on a CI that was solved before (CI + symptom), half on a new one: the category
            # and title match then scores `scan_limit` titles — the slow path
            known = n % 2 == 0
            ci = f"ci-{rng.randrange(args.cis)}" if known else f"new-ci-{n}"
            incident = Incident(f"new:{n}", _title(rng), ci, f"{ci}/sym-{rng.randrange(4)}", _category(rng))
            t0, c0 = time.perf_counter(), time.process_time()
            found = find_similar(incident, store, rules, NOW)
            cpu["known CI" if known else "new CI"].append((time.process_time() - c0) * 1000)
            times["known CI" if known else "new CI"].append((time.perf_counter() - t0) * 1000)
            named += len(found)
        store.close()
    every = sorted(times["known CI"] + times["new CI"])

    def figures(values: list[float]) -> dict[str, float]:
        values = sorted(values)
        return {
            "median_ms": round(statistics.median(values), 2),
            "p95_ms": round(values[max(0, int(len(values) * 0.95) - 1)], 2),
            "max_ms": round(values[-1], 2),
        }

    result = {
        "solved": args.solved,
        "cis": args.cis,
        "lookups": args.lookups,
        "scan_limit": rules.scan_limit,
        "fill_seconds": round(filled, 1),
        "all": figures(every),
        "known CI": figures(times["known CI"]),
        "new CI": figures(times["new CI"]),
        "cpu": {name: figures(values) for name, values in cpu.items()},
        "mean_named": round(named / args.lookups, 2),
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "similar.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / "similar.md").write_text(
        "# Similar incidents: lookup per new incident\n\n"
        f"`python bench/similar.py` — {args.solved:,} solved tickets ({args.cis:,} CIs, half in one category), "
        f"{args.lookups} lookups, `scan_limit` {rules.scan_limit}; {result['machine']}.\n\n"
        "| new incident | median | 95th percentile | max |\n|---|---|---|---|\n"
        + "".join(
            f"| {name} | {f['median_ms']} ms | {f['p95_ms']} ms | {f['max_ms']} ms |\n"
            for name, f in (
                ("on a CI solved before", result["known CI"]),
                ("on a new CI (title match)", result["new CI"]),
                ("all", result["all"]),
            )
        )
        + "\nCPU time alone (`time.process_time`: what the lookup itself costs, whatever else the "
        "shared machine runs):\n\n| new incident | median | 95th percentile | max |\n|---|---|---|---|\n"
        + "".join(
            f"| {name} | {f['median_ms']} ms | {f['p95_ms']} ms | {f['max_ms']} ms |\n"
            for name, f in result["cpu"].items()
        )
        + f"\nIncidents named per lookup: {result['mean_named']} on average.\n\n"
        "Issue 13 asks for at most 20 ms per new incident with 100,000 resolved tickets.\n",
        encoding="utf-8",
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
